"""audit trail and support tickets

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import crossbay.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Append-only: row updates and deletes are refused by the database itself, whatever the code does.
# TRUNCATE (a deliberate, privileged act: retention, test harnesses) does not fire row triggers.
PG_REFUSE_FUNCTION = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
PG_REFUSE_TRIGGER = """
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
"""
# SQLite has no TRUNCATE, and the test harness empties every table between tests: only UPDATE is refused.
SQLITE_REFUSE_UPDATE = """
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END
"""


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("device", sa.String(length=80), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_customer_id_at", ["customer_id", "at"], unique=False)
        batch_op.create_index("ix_audit_events_actor_id_at", ["actor_id", "at"], unique=False)
        batch_op.create_index("ix_audit_events_action_at", ["action", "at"], unique=False)
        batch_op.create_index("ix_audit_events_at", ["at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_REFUSE_FUNCTION)
        op.execute(PG_REFUSE_TRIGGER)
    else:
        op.execute(SQLITE_REFUSE_UPDATE)

    op.create_table(
        "customer_devices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("device_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=True),
        sa.Column("first_seen_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_devices")),
        sa.UniqueConstraint(
            "customer_id", "device_hash", name=op.f("uq_customer_devices_customer_id_device_hash")
        ),
    )

    op.create_table(
        "support_tickets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("watch_key", sa.String(length=80), nullable=True),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("created_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", crossbay.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_support_tickets_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_support_tickets_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_tickets")),
        sa.UniqueConstraint("watch_key", name=op.f("uq_support_tickets_watch_key")),
    )
    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_tickets_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_support_tickets_assignee"), ["assignee"], unique=False)
        batch_op.create_index(
            "ix_support_tickets_customer_id_created_at", ["customer_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_support_tickets_status_updated_at", ["status", "updated_at"], unique=False)

    op.create_table(
        "support_messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("ticket_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("author_kind", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.String(length=64), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["support_tickets.id"], name=op.f("fk_support_messages_ticket_id_support_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_messages")),
        sa.UniqueConstraint("ticket_id", "seq", name=op.f("uq_support_messages_ticket_id_seq")),
    )


def downgrade() -> None:
    op.drop_table("support_messages")
    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_support_tickets_status_updated_at")
        batch_op.drop_index("ix_support_tickets_customer_id_created_at")
        batch_op.drop_index(batch_op.f("ix_support_tickets_assignee"))
        batch_op.drop_index(batch_op.f("ix_support_tickets_order_id"))
    op.drop_table("support_tickets")
    op.drop_table("customer_devices")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_at")
        batch_op.drop_index("ix_audit_events_action_at")
        batch_op.drop_index("ix_audit_events_actor_id_at")
        batch_op.drop_index("ix_audit_events_customer_id_at")
    op.drop_table("audit_events")
