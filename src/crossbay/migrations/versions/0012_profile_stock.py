"""profile stock per SM-DP+: batches, ICCIDs held and allocated, low-stock alerts

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

import crossbay.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profile_batches",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("smdp", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("profiles", sa.Integer(), nullable=False),
        sa.Column("loaded_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_batches")),
    )
    with op.batch_alter_table("profile_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_profile_batches_smdp"), ["smdp"], unique=False)

    op.create_table(
        "stock_profiles",
        sa.Column("iccid", sa.String(length=22), nullable=False),
        sa.Column("smdp", sa.String(length=255), nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=True),
        sa.Column("esim_id", sa.String(length=40), nullable=True),
        sa.Column("allocated_at", crossbay.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["profile_batches.id"], name=op.f("fk_stock_profiles_batch_id_profile_batches")
        ),
        sa.PrimaryKeyConstraint("iccid", name=op.f("pk_stock_profiles")),
        sa.UniqueConstraint("esim_id", name=op.f("uq_stock_profiles_esim_id")),
    )
    with op.batch_alter_table("stock_profiles", schema=None) as batch_op:
        batch_op.create_index("ix_stock_profiles_smdp_esim_id", ["smdp", "esim_id"], unique=False)

    op.create_table(
        "profile_stock_alerts",
        sa.Column("smdp", sa.String(length=255), nullable=False),
        sa.Column("low_since", crossbay.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("updated_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("smdp", name=op.f("pk_profile_stock_alerts")),
    )


def downgrade() -> None:
    op.drop_table("profile_stock_alerts")
    with op.batch_alter_table("stock_profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_profiles_smdp_esim_id")
    op.drop_table("stock_profiles")
    with op.batch_alter_table("profile_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_batches_smdp"))
    op.drop_table("profile_batches")
