"""staff accounts with TOTP, roles, staff sessions, scheduled price changes

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import crossbay.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("totp_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", crossbay.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", crossbay.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_sign_in_at", crossbay.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_accounts")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_accounts_email")),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("staff_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("created_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", crossbay.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_accounts.id"], name=op.f("fk_staff_sessions_staff_id_staff_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_sessions_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "price_changes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("package_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("effective_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", crossbay.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("applied_at", crossbay.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", crossbay.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["package_id"], ["packages.id"], name=op.f("fk_price_changes_package_id_packages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_changes")),
    )
    with op.batch_alter_table("price_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_price_changes_package_id"), ["package_id"], unique=False)
        batch_op.create_index(
            "ix_price_changes_applied_at_effective_at", ["applied_at", "effective_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("price_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_price_changes_applied_at_effective_at")
        batch_op.drop_index(batch_op.f("ix_price_changes_package_id"))
    op.drop_table("price_changes")
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_sessions_staff_id"))
    op.drop_table("staff_sessions")
    op.drop_table("staff_accounts")
