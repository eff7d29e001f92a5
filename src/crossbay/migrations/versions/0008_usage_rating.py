"""usage records, rating and credit-control sessions

Revision ID: 0008
Revises: 0007
"""

import json

import sqlalchemy as sa
from alembic import op

import crossbay.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# As crossbay.usage.regions at the time of writing: a migration never imports code that may change.
_AREA_BITS = {"hk": 1, "mo": 2, "gd": 4, "cn_rest": 8}
_REGION_AREAS = {"hk": ("hk",), "mo": ("mo",), "gba": ("hk", "mo", "gd"), "cn": ("gd", "cn_rest")}


def upgrade() -> None:
    with op.batch_alter_table("bundles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("area_mask", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("validity_days", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("throttle_kbps", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("data_reserved_bytes", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("voice_reserved_seconds", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("next_alert_percent", sa.Integer(), nullable=True))
    _backfill_bundles()

    op.create_table(
        "usage_records",
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("iccid", sa.String(length=22), nullable=False),
        sa.Column("esim_id", sa.String(length=40), nullable=True),
        sa.Column("started_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("region", sa.String(length=16), nullable=False),
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.Column("data_bytes", sa.BigInteger(), nullable=False),
        sa.Column("voice_seconds", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("charged_data_bytes", sa.BigInteger(), nullable=False),
        sa.Column("charged_voice_seconds", sa.Integer(), nullable=False),
        sa.Column("charges", sa.JSON(), nullable=False),
        sa.Column("received_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_usage_records")),
    )
    op.create_table(
        "usage_daily",
        sa.Column("esim_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("data_bytes", sa.BigInteger(), nullable=False),
        sa.Column("voice_seconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("esim_id", "day", name=op.f("pk_usage_daily")),
    )
    op.create_table(
        "usage_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("esim_id", sa.String(length=40), nullable=False),
        sa.Column("bundle_id", sa.String(length=40), nullable=False),
        sa.Column("used_percent", sa.Integer(), nullable=False),
        sa.Column("at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", crossbay.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
    )
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.create_index("ix_usage_events_processed_at_at", ["processed_at", "at"], unique=False)
    op.create_table(
        "credit_sessions",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("esim_id", sa.String(length=40), nullable=False),
        sa.Column("service", sa.String(length=8), nullable=False),
        sa.Column("region", sa.String(length=16), nullable=False),
        sa.Column("area", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("close_reason", sa.String(length=16), nullable=True),
        sa.Column("bundle_id", sa.String(length=40), nullable=True),
        sa.Column("granted", sa.BigInteger(), nullable=False),
        sa.Column("throttled", sa.Boolean(), nullable=False),
        sa.Column("used_total", sa.BigInteger(), nullable=False),
        sa.Column("charged_total", sa.BigInteger(), nullable=False),
        sa.Column("charges", sa.JSON(), nullable=False),
        sa.Column("request_number", sa.Integer(), nullable=False),
        sa.Column("last_answer", sa.JSON(), nullable=False),
        sa.Column("created_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_sessions")),
    )
    with op.batch_alter_table("credit_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_sessions_esim_id"), ["esim_id"], unique=False)
        batch_op.create_index("ix_credit_sessions_status_expires_at", ["status", "expires_at"], unique=False)


def _backfill_bundles() -> None:
    """Bundles bought before rating existed get their package's areas, validity and alert level."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT b.id, p.regions, p.validity_days, p.fair_use FROM bundles b JOIN packages p ON p.id = b.package_id"
        )
    ).all()
    for bundle_id, regions, validity_days, fair_use in rows:
        regions = json.loads(regions) if isinstance(regions, str) else regions
        mask = 0
        for region in regions or ():
            for area in _REGION_AREAS.get(region, ()):
                mask |= _AREA_BITS[area]
        kbps = None
        if fair_use:
            import re

            match = re.search(r"(\d+)\s*kbps", fair_use, re.IGNORECASE)
            kbps = int(match[1]) if match else None
        connection.execute(
            sa.text(
                "UPDATE bundles SET area_mask = :mask, validity_days = :days, throttle_kbps = :kbps, "
                "next_alert_percent = 80 WHERE id = :id"
            ),
            {"mask": mask, "days": validity_days, "kbps": kbps, "id": bundle_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("credit_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_sessions_status_expires_at")
        batch_op.drop_index(batch_op.f("ix_credit_sessions_esim_id"))
    op.drop_table("credit_sessions")
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_events_processed_at_at")
    op.drop_table("usage_events")
    op.drop_table("usage_daily")
    op.drop_table("usage_records")
    with op.batch_alter_table("bundles", schema=None) as batch_op:
        batch_op.drop_column("next_alert_percent")
        batch_op.drop_column("voice_reserved_seconds")
        batch_op.drop_column("data_reserved_bytes")
        batch_op.drop_column("throttle_kbps")
        batch_op.drop_column("validity_days")
        batch_op.drop_column("area_mask")
