from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.db import Base


class Package(Base):
    __tablename__ = "packages"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    data_mb: Mapped[int | None]
    voice_minutes: Mapped[int | None]
    validity_days: Mapped[int]
    validity_starts: Mapped[str] = mapped_column(String(16))
    regions: Mapped[list[str]] = mapped_column(JSON)
    networks: Mapped[list[str]] = mapped_column(JSON)
    price_amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))  # always HKD: every package has an HKD price
    # The operator's prices in other currencies, minor units ({"CNY": 4400}); no conversion ever.
    other_prices: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    for_new_esim: Mapped[bool]
    for_topup: Mapped[bool]
    fair_use: Mapped[str | None] = mapped_column(String(200))
    on_sale: Mapped[bool] = mapped_column(default=True, index=True)
    sort: Mapped[int] = mapped_column(default=0)
    names: Mapped[dict[str, str]] = mapped_column(JSON)
    descriptions: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
