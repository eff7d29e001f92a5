"""ledger transactions indexed by time

The low-wallet reminder looks every minute for wallets that moved since its last
run (``created_at > since``), and a wallet's history pages newest first: both
read ledger_transactions by time, which without an index is a scan of every
posting ever made, growing with each order.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_transactions_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_transactions_created_at"))
