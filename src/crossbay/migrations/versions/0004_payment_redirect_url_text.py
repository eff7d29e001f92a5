"""payments.redirect_url holds signed provider URLs (Alipay's wap.pay link is well over 1 KB)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column(
            "redirect_url", existing_type=sa.String(length=1024), type_=sa.Text(), existing_nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column(
            "redirect_url", existing_type=sa.Text(), type_=sa.String(length=1024), existing_nullable=True
        )
