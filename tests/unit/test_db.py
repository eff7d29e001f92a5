"""The database layer keeps personal data out of error messages, and times in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from crossbay.db import UTCDateTime, make_engine


def test_sql_errors_do_not_carry_bound_values() -> None:
    engine = make_engine("sqlite://")
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE people (phone TEXT UNIQUE)")
        insert = sa.text("INSERT INTO people VALUES (:phone)")
        connection.execute(insert, {"phone": "+85261234567"})
        with pytest.raises(IntegrityError) as refused:
            connection.execute(insert, {"phone": "+85261234567"})
    assert "61234567" not in str(refused.value)


def test_times_come_back_aware_and_in_utc() -> None:
    engine = make_engine("sqlite://")
    table = sa.Table("stamps", sa.MetaData(), sa.Column("at", UTCDateTime()))
    table.metadata.create_all(engine)
    hong_kong_noon = datetime(2026, 11, 26, 12, 0, tzinfo=timezone(timedelta(hours=8)))
    with engine.begin() as connection:
        connection.execute(table.insert(), {"at": hong_kong_noon})
        stored = connection.scalar(sa.select(table.c.at))
    assert stored == hong_kong_noon and stored.tzinfo == UTC
    with pytest.raises(sa.exc.StatementError), engine.begin() as connection:
        connection.execute(table.insert(), {"at": datetime(2026, 1, 1)})
