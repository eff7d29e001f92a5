from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
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
    # Milestones as facts, kept apart from the status: a suspended eSIM still learns
    # that it was installed or used, and goes back to the right status on resume.
    installed_at: Mapped[datetime | None]
    first_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class EsimTransition(Base):
    """One status change of an eSIM: the eSIM's timeline."""

    __tablename__ = "esim_transitions"
    __table_args__ = (UniqueConstraint("esim_id", "seq"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    esim_id: Mapped[str] = mapped_column(ForeignKey("esims.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    # What moved it: "profile_released", "bpp_installed", "first_use", "staff_suspend", ...
    cause: Mapped[str] = mapped_column(String(40))
    # "system", "smdp", "network" or "staff".
    actor: Mapped[str] = mapped_column(String(16))
    # Staff's stated reason; never shown to the customer.
    reason: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime]


class SmdpProgressNotice(Base):
    """A handleDownloadProgressInfo call received from an SM-DP+, applied at most once."""

    __tablename__ = "smdp_progress_notices"
    __table_args__ = (UniqueConstraint("requester_id", "call_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    requester_id: Mapped[str] = mapped_column(String(128))
    call_id: Mapped[str] = mapped_column(String(128))
    iccid: Mapped[str] = mapped_column(String(22), index=True)
    esim_id: Mapped[str | None] = mapped_column(String(40))
    point_id: Mapped[int] = mapped_column(Integer)
    # The notification point's status: Executed-Success, Executed-WithWarning, Failed, Expired.
    point_status: Mapped[str] = mapped_column(String(32))
    subject_code: Mapped[str | None] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(16))
    # When the SM-DP+ says it happened, and when we heard of it.
    occurred_at: Mapped[datetime | None]
    received_at: Mapped[datetime]


class ProfileBatch(Base):
    """A batch of profiles bought from an SM-DP+ vendor and loaded as a list of ICCIDs."""

    __tablename__ = "profile_batches"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The SM-DP+ the profiles live on, named by its ES2+ host (see crossbay.esim.inventory.smdp_of).
    smdp: Mapped[str] = mapped_column(String(255), index=True)
    # The vendor's reference or the file it came in: for staff, never parsed.
    label: Mapped[str] = mapped_column(String(200))
    # ICCIDs this batch added (ones already held are not counted twice).
    profiles: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime]


class StockProfile(Base):
    """One profile we hold at an SM-DP+, and the eSIM it went to once a downloadOrder allocated it."""

    __tablename__ = "stock_profiles"
    __table_args__ = (Index("ix_stock_profiles_smdp_esim_id", "smdp", "esim_id"),)

    iccid: Mapped[str] = mapped_column(String(22), primary_key=True)
    smdp: Mapped[str] = mapped_column(String(255))
    # None: the SM-DP+ allocated a profile that was never loaded here ("unlisted").
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("profile_batches.id"))
    esim_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    allocated_at: Mapped[datetime | None]


class ProfileStockAlert(Base):
    """One SM-DP+'s low-stock alert: raised once when stock falls to the threshold, cleared on restock."""

    __tablename__ = "profile_stock_alerts"

    smdp: Mapped[str] = mapped_column(String(255), primary_key=True)
    low_since: Mapped[datetime | None]
    # How many times stock crossed into low: the Prometheus counter.
    alerts: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
