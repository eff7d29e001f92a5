"""eSIM profile state transitions and SM-DP+ callbacks

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

import crossbay.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("esims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("installed_at", crossbay.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_used_at", crossbay.db.UTCDateTime(timezone=True), nullable=True))

    op.create_table(
        "esim_transitions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("esim_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["esim_id"], ["esims.id"], name=op.f("fk_esim_transitions_esim_id_esims")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_esim_transitions")),
        sa.UniqueConstraint("esim_id", "seq", name=op.f("uq_esim_transitions_esim_id_seq")),
    )
    with op.batch_alter_table("esim_transitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_esim_transitions_esim_id"), ["esim_id"], unique=False)
    # eSIMs made before this revision get their current status as the first entry of their timeline.
    op.execute(
        "INSERT INTO esim_transitions (id, esim_id, seq, from_status, status, cause, actor, reason, at) "
        "SELECT 'etr_' || id, id, 0, NULL, status, 'migrated', 'system', NULL, updated_at FROM esims"
    )

    op.create_table(
        "smdp_progress_notices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("requester_id", sa.String(length=128), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("iccid", sa.String(length=22), nullable=False),
        sa.Column("esim_id", sa.String(length=40), nullable=True),
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("point_status", sa.String(length=32), nullable=False),
        sa.Column("subject_code", sa.String(length=16), nullable=True),
        sa.Column("reason_code", sa.String(length=16), nullable=True),
        sa.Column("occurred_at", crossbay.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smdp_progress_notices")),
        sa.UniqueConstraint(
            "requester_id", "call_id", name=op.f("uq_smdp_progress_notices_requester_id_call_id")
        ),
    )
    with op.batch_alter_table("smdp_progress_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_smdp_progress_notices_iccid"), ["iccid"], unique=False)

    with op.batch_alter_table("sandbox_smdp_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answer_delay_seconds", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("delay_remaining", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("callback_repeats", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("callback_order", sa.String(length=16), nullable=False, server_default="in_order")
        )


def downgrade() -> None:
    with op.batch_alter_table("sandbox_smdp_settings", schema=None) as batch_op:
        batch_op.drop_column("callback_order")
        batch_op.drop_column("callback_repeats")
        batch_op.drop_column("delay_remaining")
        batch_op.drop_column("answer_delay_seconds")

    with op.batch_alter_table("smdp_progress_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_smdp_progress_notices_iccid"))
    op.drop_table("smdp_progress_notices")

    with op.batch_alter_table("esim_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_esim_transitions_esim_id"))
    op.drop_table("esim_transitions")

    with op.batch_alter_table("esims", schema=None) as batch_op:
        batch_op.drop_column("first_used_at")
        batch_op.drop_column("installed_at")
