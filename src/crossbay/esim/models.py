from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.db import Base


class Esim(Base):
    __tablename__ = "esims"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    # The new-eSIM order that created it: one order never yields two profiles.
    order_id: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    iccid: Mapped[str | None] = mapped_column(String(22), unique=True)
    eid: Mapped[str | None] = mapped_column(String(32))
    matching_id: Mapped[str | None] = mapped_column(String(64))
    smdp_address: Mapped[str | None] = mapped_column(String(255))
    phone_number: Mapped[str | None] = mapped_column(String(20))
    # ES2+ functionCallIdentifiers, fixed before each call so a retry reuses them.
    download_call_id: Mapped[str] = mapped_column(String(64))
    confirm_call_id: Mapped[str] = mapped_column(String(64))
    auto_renew_package_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
