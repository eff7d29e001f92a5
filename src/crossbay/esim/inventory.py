"""Profile stock: the ICCIDs bought from each SM-DP+ vendor, and which of them orders have used.

Operators buy profiles in batches and load each batch here as a list of
ICCIDs (``crossbay esims stock load``). A downloadOrder that allocates one of
them marks it used; a profile handed back unused (cancelOrder to "Available")
is in stock again. The SM-DP+ remains the authority on what it can hand out:
when it allocates a profile that was never loaded, we record it as
"unlisted" and warn, rather than refuse a profile the customer has paid for.

Stock is tracked only for an SM-DP+ with at least one loaded batch; for the
others nothing is counted and no order is ever refused (see the README's eSIM
section for why new-eSIM orders are refused before payment at zero stock).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import and_, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crossbay.db import new_id
from crossbay.errors import Conflict, ValidationFailed
from crossbay.esim.activation import iccid_is_valid
from crossbay.esim.models import ProfileBatch, ProfileStockAlert, StockProfile
from crossbay.settings import Settings

log = logging.getLogger("crossbay.esim.inventory")

# Keeps each IN (...) well under the bound-parameter limits of SQLite and PostgreSQL.
_CHUNK = 500
# A file with many bad lines names only the first few.
_BAD_LINES_SHOWN = 5


class ProfilesOutOfStock(Conflict):
    code = "esim_out_of_stock"


class InvalidIccidList(ValidationFailed):
    """A batch file with a line that is not a Luhn-valid ICCID: nothing of it is loaded."""


@dataclass(frozen=True)
class StockLevel:
    smdp: str
    loaded: int  # ever loaded here
    allocated: int  # of those, in use by an eSIM
    unlisted: int  # allocated by the SM-DP+ without being loaded here
    threshold: int

    @property
    def available(self) -> int:
        return self.loaded - self.allocated

    @property
    def low(self) -> bool:
        return self.available <= self.threshold


@dataclass(frozen=True)
class LoadedBatch:
    batch_id: str
    smdp: str
    added: int
    already_held: int


@dataclass(frozen=True)
class AlertChange:
    smdp: str
    low: bool  # True: fell to the threshold; False: restocked above it
    available: int


def smdp_of(settings: Settings) -> str:
    """The SM-DP+ this deployment orders profiles from, named by its ES2+ host (``host[:port]``)."""
    return urlsplit(settings.partner_url("smdp")).netloc


def parse_iccids(lines: Iterable[str]) -> list[str]:
    """ICCIDs from a batch file: one a line, blank lines and ``#`` comments skipped, in file order.

    An ICCID padded to 20 characters with a trailing ``F`` (as some vendors export them) is
    unpadded. Any other line that is not a Luhn-valid ICCID refuses the whole file.
    """
    found: dict[str, None] = {}
    bad: list[int] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        if len(text) == 20 and text[-1] in "Ff":
            text = text[:-1]
        if iccid_is_valid(text):
            found.setdefault(text)
        else:
            bad.append(number)
    if bad:
        shown = ", ".join(str(n) for n in bad[:_BAD_LINES_SHOWN])
        shown += " …" if len(bad) > _BAD_LINES_SHOWN else ""
        raise InvalidIccidList(
            f"{len(bad)} line(s) are not Luhn-valid ICCIDs (lines {shown}); nothing was loaded"
        )
    return list(found)


def load_batch(session: Session, *, smdp: str, iccids: list[str], label: str, now: datetime) -> LoadedBatch:
    """Add a batch; ICCIDs already held (a file loaded twice) are skipped, not counted twice."""
    if not iccids:
        raise InvalidIccidList("the batch holds no ICCIDs")
    held: set[str] = set()
    for start in range(0, len(iccids), _CHUNK):
        chunk = iccids[start : start + _CHUNK]
        held.update(session.scalars(select(StockProfile.iccid).where(StockProfile.iccid.in_(chunk))))
    fresh = [iccid for iccid in iccids if iccid not in held]
    batch = ProfileBatch(id=new_id("pbt"), smdp=smdp, label=label[:200], profiles=len(fresh), loaded_at=now)
    session.add(batch)
    session.flush()  # the profiles refer to the batch
    session.add_all(StockProfile(iccid=iccid, smdp=smdp, batch_id=batch.id) for iccid in fresh)
    return LoadedBatch(batch_id=batch.id, smdp=smdp, added=len(fresh), already_held=len(held))


def allocate(session: Session, *, smdp: str, iccid: str, esim_id: str, now: datetime) -> None:
    """A downloadOrder gave ``esim_id`` this profile: it leaves the stock. Repeating it changes nothing."""
    profile = session.get(StockProfile, iccid, with_for_update=True)
    if profile is None:
        session.add(StockProfile(iccid=iccid, smdp=smdp, batch_id=None, esim_id=esim_id, allocated_at=now))
        log.warning(
            "the SM-DP+ allocated a profile that was never loaded into stock",
            extra={"smdp": smdp, "esim_id": esim_id},
        )
    elif profile.esim_id is None:
        profile.esim_id = esim_id
        profile.allocated_at = now


def give_back(session: Session, *, iccid: str) -> None:
    """The profile went back to the SM-DP+'s pool unused (cancelOrder to "Available"): in stock again."""
    profile = session.get(StockProfile, iccid, with_for_update=True)
    if profile is None:
        return
    if profile.batch_id is None:
        session.delete(profile)  # never ours to count
    else:
        profile.esim_id = None
        profile.allocated_at = None


def stock_levels(session: Session, *, threshold: int) -> list[StockLevel]:
    """Stock of every SM-DP+ we hold or used profiles of, in one grouped query: for the CLI, back office
    and metrics."""
    listed = StockProfile.batch_id.is_not(None)
    rows = session.execute(
        select(
            StockProfile.smdp,
            func.count(StockProfile.batch_id),
            func.sum(case((and_(listed, StockProfile.esim_id.is_not(None)), 1), else_=0)),
            func.sum(case((StockProfile.batch_id.is_(None), 1), else_=0)),
        )
        .group_by(StockProfile.smdp)
        .order_by(StockProfile.smdp)
    )
    return [
        StockLevel(
            smdp=smdp,
            loaded=int(loaded or 0),
            allocated=int(allocated or 0),
            unlisted=int(unlisted or 0),
            threshold=threshold,
        )
        for smdp, loaded, allocated, unlisted in rows
    ]


def available_profiles(session: Session, *, smdp: str) -> int | None:
    """Profiles loaded for ``smdp`` and not yet allocated; None when its stock is not tracked."""
    tracked = session.scalar(select(ProfileBatch.id).where(ProfileBatch.smdp == smdp).limit(1))
    if tracked is None:
        return None
    return int(
        session.scalar(
            select(func.count()).where(
                StockProfile.smdp == smdp, StockProfile.batch_id.is_not(None), StockProfile.esim_id.is_(None)
            )
        )
        or 0
    )


def require_stock(*, available: int | None, awaiting: int) -> None:
    """Refuse a new eSIM when every profile we hold is already promised to an order still on its way."""
    if available is not None and available <= awaiting:
        raise ProfilesOutOfStock("no eSIM profiles are in stock right now")


def note_stock_levels(session: Session, *, threshold: int, now: datetime) -> list[AlertChange]:
    """Raise each SM-DP+'s alert when its stock first falls to the threshold, clear it when restocked.

    Only crossings are returned, so staff hear of a shortage once, not on every sweep.
    """
    changes: list[AlertChange] = []
    for level in stock_levels(session, threshold=threshold):
        if level.loaded == 0:
            continue  # only unlisted allocations: this SM-DP+'s stock is not tracked
        alert = _locked_alert(session, level.smdp, now=now)
        if level.low and alert.low_since is None:
            alert.low_since = now
            alert.alerts += 1
            alert.updated_at = now
            changes.append(AlertChange(level.smdp, True, level.available))
        elif not level.low and alert.low_since is not None:
            alert.low_since = None
            alert.updated_at = now
            changes.append(AlertChange(level.smdp, False, level.available))
    return changes


def _locked_alert(session: Session, smdp: str, *, now: datetime) -> ProfileStockAlert:
    """The SM-DP+'s alert row, locked; created by whichever sweep needs it first."""
    stmt = select(ProfileStockAlert).where(ProfileStockAlert.smdp == smdp).with_for_update()
    alert = session.scalars(stmt).one_or_none()
    if alert is None:
        try:
            with session.begin_nested():
                session.add(ProfileStockAlert(smdp=smdp, low_since=None, alerts=0, updated_at=now))
        except IntegrityError:
            pass  # another worker's sweep created it first
        alert = session.scalars(stmt).one()
    return alert


def stock_metrics(session: Session, *, threshold: int) -> list[Metric]:
    """Prometheus families read at scrape time: right whichever process serves /metrics."""
    profiles = GaugeMetricFamily(
        "crossbay_profile_stock", "eSIM profiles per SM-DP+ by state", labels=["smdp", "state"]
    )
    for level in stock_levels(session, threshold=threshold):
        for state, count in (
            ("loaded", level.loaded),
            ("allocated", level.allocated),
            ("available", level.available),
            ("unlisted", level.unlisted),
        ):
            profiles.add_metric([level.smdp, state], count)
    low = GaugeMetricFamily(
        "crossbay_profile_stock_low",
        "1 while an SM-DP+'s profile stock is at or below the threshold",
        labels=["smdp"],
    )
    alerts = CounterMetricFamily(
        "crossbay_profile_stock_low_alerts",
        "Times an SM-DP+'s profile stock fell to the low-stock threshold",
        labels=["smdp"],
    )
    for alert in session.scalars(select(ProfileStockAlert).order_by(ProfileStockAlert.smdp)):
        low.add_metric([alert.smdp], 1 if alert.low_since is not None else 0)
        alerts.add_metric([alert.smdp], alert.alerts)
    return [profiles, low, alerts]
