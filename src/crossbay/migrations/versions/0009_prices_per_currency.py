"""package prices per currency; ledger accounts per (code, currency); refund attempts

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("other_prices", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ledger_accounts_code", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_ledger_accounts_code_currency"), ["code", "currency"]
        )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refund_attempts", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("sandbox_wechatpay_transactions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("payer_account", sa.String(length=16), nullable=False, server_default="ok")
        )


def downgrade() -> None:
    with op.batch_alter_table("sandbox_wechatpay_transactions", schema=None) as batch_op:
        batch_op.drop_column("payer_account")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("refund_attempts")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ledger_accounts_code_currency", type_="unique")
        batch_op.create_unique_constraint("uq_ledger_accounts_code", ["code"])
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.drop_column("other_prices")
