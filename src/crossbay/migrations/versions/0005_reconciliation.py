"""daily reconciliation runs and their differences; the sandbox card provider's balance transactions

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa

import crossbay.db


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("matched_payments", sa.Integer(), nullable=False),
        sa.Column("matched_refunds", sa.Integer(), nullable=False),
        sa.Column("difference_count", sa.Integer(), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("ran_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
        sa.UniqueConstraint("provider", "day", name=op.f("uq_reconciliation_runs_provider_day")),
    )
    op.create_table(
        "reconciliation_differences",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("line_kind", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("refund_no", sa.String(length=64), nullable=True),
        sa.Column("provider_amount", sa.BigInteger(), nullable=True),
        sa.Column("provider_currency", sa.String(length=3), nullable=True),
        sa.Column("booked_amount", sa.BigInteger(), nullable=True),
        sa.Column("booked_currency", sa.String(length=3), nullable=True),
        sa.Column("other_day", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name=op.f("fk_reconciliation_differences_run_id_reconciliation_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_differences")),
    )
    with op.batch_alter_table("reconciliation_differences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reconciliation_differences_run_id"), ["run_id"], unique=False)

    op.create_table(
        "sandbox_card_balance_transactions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("source_id", sa.String(length=40), nullable=False),
        sa.Column("intent_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_card_balance_transactions")),
    )
    with op.batch_alter_table("sandbox_card_balance_transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sandbox_card_balance_transactions_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sandbox_card_balance_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_card_balance_transactions_created_at"))
    op.drop_table("sandbox_card_balance_transactions")
    with op.batch_alter_table("reconciliation_differences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconciliation_differences_run_id"))
    op.drop_table("reconciliation_differences")
    op.drop_table("reconciliation_runs")
