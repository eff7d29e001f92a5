"""reminders and notifications: in-app inbox, reminder settings, once-only keys, auto-renewals, email

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

import crossbay.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))

    op.create_table(
        "notifications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", crossbay.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_notifications_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_customer_id_at", ["customer_id", "at"], unique=False)

    op.create_table(
        "reminder_settings",
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("low_data_percent", sa.Integer(), nullable=False),
        sa.Column("expiry_days_before", sa.Integer(), nullable=False),
        sa.Column("low_balance_amount", sa.BigInteger(), nullable=False),
        sa.Column("low_balance_currency", sa.String(length=3), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("low_balance_armed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_reminder_settings_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_reminder_settings")),
    )

    op.create_table(
        "reminders_sent",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("bundle_id", sa.String(length=40), nullable=True),
        sa.Column("at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders_sent")),
        sa.UniqueConstraint("key", name=op.f("uq_reminders_sent_key")),
    )
    with op.batch_alter_table("reminders_sent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminders_sent_bundle_id"), ["bundle_id"], unique=False)

    op.create_table(
        "auto_renewals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("esim_id", sa.String(length=40), nullable=False),
        sa.Column("bundle_id", sa.String(length=40), nullable=False),
        sa.Column("package_id", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=48), nullable=True),
        sa.Column("at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["esim_id"], ["esims.id"], name=op.f("fk_auto_renewals_esim_id_esims")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_renewals")),
        sa.UniqueConstraint("bundle_id", name=op.f("uq_auto_renewals_bundle_id")),
    )
    with op.batch_alter_table("auto_renewals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auto_renewals_esim_id"), ["esim_id"], unique=False)

    op.create_table(
        "notify_cursors",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_notify_cursors")),
    )

    op.create_table(
        "sandbox_email_messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("to", sa.String(length=254), nullable=False),
        sa.Column("from", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_email_messages")),
    )
    with op.batch_alter_table("sandbox_email_messages", schema=None) as batch_op:
        batch_op.create_index("ix_sandbox_email_messages_to_received_at", ["to", "received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sandbox_email_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_sandbox_email_messages_to_received_at")
    op.drop_table("sandbox_email_messages")
    op.drop_table("notify_cursors")
    with op.batch_alter_table("auto_renewals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auto_renewals_esim_id"))
    op.drop_table("auto_renewals")
    with op.batch_alter_table("reminders_sent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminders_sent_bundle_id"))
    op.drop_table("reminders_sent")
    op.drop_table("reminder_settings")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_customer_id_at")
    op.drop_table("notifications")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("email")
