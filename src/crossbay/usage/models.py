from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.db import Base


class Bundle(Base):
    """Quota a package put on an eSIM."""

    __tablename__ = "bundles"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    esim_id: Mapped[str] = mapped_column(ForeignKey("esims.id"), index=True)
    # One bundle per order: fulfilment retried after a crash cannot add quota twice.
    order_id: Mapped[str] = mapped_column(String(40), unique=True)
    package_id: Mapped[str] = mapped_column(ForeignKey("packages.id"))
    status: Mapped[str] = mapped_column(String(16))
    data_total_bytes: Mapped[int | None] = mapped_column(BigInteger)
    data_remaining_bytes: Mapped[int | None] = mapped_column(BigInteger)
    voice_total_seconds: Mapped[int | None]
    voice_remaining_seconds: Mapped[int | None]
    starts_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
