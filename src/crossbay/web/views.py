"""What the pages show, built from domain objects: plain values, already in the page's language."""

from __future__ import annotations

from dataclasses import dataclass

from crossbay.catalog import service as catalog
from crossbay.catalog.models import Package
from crossbay.esim.routes import BundleRead, EsimRead
from crossbay.i18n import localized
from crossbay.ledger.service import Entry
from crossbay.money import Money

REGION_FILTERS = ("hk", "mo", "cn", "gba")
KIND_ORDER = ("data", "voice", "bundle")  # what most travellers look for first


def data_amount(mb: int | None) -> str | None:
    """1024 MB → "1 GB", 1536 MB → "1.5 GB", 500 MB → "500 MB": units read the same in every language."""
    if mb is None:
        return None
    if mb >= 1024:
        gb = mb / 1024
        return f"{gb:.0f} GB" if gb == int(gb) or gb >= 10 else f"{gb:.1f} GB"
    return f"{mb} MB"


@dataclass(frozen=True)
class PackageView:
    id: str
    name: str
    description: str
    kind: str
    data: str | None
    voice_minutes: int | None
    validity_days: int
    from_first_use: bool
    regions: list[str]
    networks: list[str]
    price: str


def package_view(package: Package, language: str) -> PackageView:
    return PackageView(
        id=package.id,
        name=localized(package.names, language),
        description=localized(package.descriptions, language),
        kind=package.kind,
        data=data_amount(package.data_mb),
        voice_minutes=package.voice_minutes,
        validity_days=package.validity_days,
        from_first_use=package.validity_starts == "first_use",
        regions=list(package.regions),
        networks=list(package.networks),
        price=catalog.price_of(package).format(language),
    )


def by_kind(packages: list[PackageView]) -> list[tuple[str, list[PackageView]]]:
    """Packages grouped by kind, data first, keeping catalog order within each group."""
    groups: dict[str, list[PackageView]] = {}
    for package in packages:
        groups.setdefault(package.kind, []).append(package)
    ordered = sorted(
        groups, key=lambda kind: KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    )
    return [(kind, groups[kind]) for kind in ordered]


@dataclass(frozen=True)
class BundleView:
    name: str
    status: str
    data_left: str | None
    data_total: str | None
    data_left_mb: int
    data_total_mb: int
    minutes_left: int | None
    minutes_total: int | None
    bundle: BundleRead


def bundle_view(bundle: BundleRead) -> BundleView:
    return BundleView(
        name=bundle.name,
        status=bundle.status,
        data_left=data_amount(bundle.remaining_mb),
        data_total=data_amount(bundle.total_mb),
        data_left_mb=bundle.remaining_mb or 0,
        data_total_mb=bundle.total_mb or 0,
        minutes_left=bundle.remaining_minutes,
        minutes_total=bundle.total_minutes,
        bundle=bundle,
    )


@dataclass(frozen=True)
class EsimView:
    id: str
    label: str  # what tells two cards apart without showing the whole ICCID
    status: str
    phone_number: str | None
    can_top_up: bool
    bundles: list[BundleView]
    esim: EsimRead


def esim_view(esim: EsimRead, *, can_top_up: bool) -> EsimView:
    label = f"···· {esim.iccid[-4:]}" if esim.iccid else ""
    return EsimView(
        id=esim.id,
        label=label,
        status=esim.status,
        phone_number=esim.phone_number,
        can_top_up=can_top_up,
        bundles=[bundle_view(b) for b in esim.bundles],
        esim=esim,
    )


# Every page lists the ways to pay in this order; the wallet last, as it needs a PIN and a balance.
PAYMENT_METHODS = ("card", "alipay", "wechatpay", "wallet")
PROVIDER_METHODS = ("card", "alipay", "wechatpay")  # what can fill the wallet itself
WALLET = "wallet"


@dataclass(frozen=True)
class MethodChoice:
    method: str
    # Why the wallet cannot pay this time: "no_pin", "short" (balance) or "currency" (not HKD).
    unavailable: str | None = None


def method_choices(*, total: Money, balance: Money, has_pin: bool) -> list[MethodChoice]:
    if total.currency != balance.currency:
        why: str | None = "currency"
    elif balance.amount < total.amount:
        why = "short"
    elif not has_pin:
        why = "no_pin"
    else:
        why = None
    return [MethodChoice(m, why if m == WALLET else None) for m in PAYMENT_METHODS]


def preselected(choices: list[MethodChoice], preferred: str | None) -> str:
    """The bound method when it can pay this time; otherwise card, which always can."""
    usable = {c.method for c in choices if c.unavailable is None}
    return preferred if preferred in usable else "card"


@dataclass(frozen=True)
class WalletEntryView:
    at: str
    what: str  # "topup", "payment", "refund", "topup_refunded" or "other": the template names it
    amount: str
    credit: bool


def wallet_entry_view(entry: Entry, *, at: str, language: str) -> WalletEntryView:
    """The wallet is our liability: a credit (negative entry) is money the customer gained."""
    gained = entry.amount.amount < 0
    what = {
        ("payment.captured", True): "topup",
        ("payment.captured", False): "payment",
        ("payment.refunded", True): "refund",
        ("payment.refunded", False): "topup_refunded",
    }.get((entry.kind, gained), "other")
    shown = Money(abs(entry.amount.amount), entry.amount.currency).format(language)
    return WalletEntryView(at=at, what=what, amount=shown, credit=gained)
