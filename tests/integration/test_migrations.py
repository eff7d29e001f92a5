"""Migrations run on both engines (the `database_url` fixture migrates) and match the models exactly."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from crossbay.migrate import head_revision
from crossbay.models import Base


def test_schema_matches_models(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        assert context.get_current_revision() == head_revision()
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
