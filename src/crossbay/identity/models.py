from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.db import Base


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    language: Mapped[str] = mapped_column(String(8), default="zh-Hant")
    password_hash: Mapped[str | None] = mapped_column(String(256))
    payment_pin_hash: Mapped[str | None] = mapped_column(String(256))
    payment_pin_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    payment_pin_locked_until: Mapped[datetime | None]
    preferred_payment_method: Mapped[str | None] = mapped_column(String(16))
    # Optional, for reminders by email; verified only as well-formed (notify.service.set_email).
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime]


class OtpChallenge(Base):
    __tablename__ = "otp_challenges"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    consumed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_otp_challenges_phone_created_at", "phone", "created_at"),
        Index("ix_otp_challenges_ip_created_at", "ip", "created_at"),
    )


class AuthToken(Base):
    """One sign-in's access/refresh pair. Only hashes are stored; a refresh rotates the row."""

    __tablename__ = "auth_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    family_id: Mapped[str] = mapped_column(String(40), index=True)
    access_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_hash: Mapped[str] = mapped_column(String(64), unique=True)
    access_expires_at: Mapped[datetime]
    refresh_expires_at: Mapped[datetime]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class PasswordGuard(Base):
    """Failed password sign-ins per phone, kept whether or not the phone is a customer."""

    __tablename__ = "password_guards"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
