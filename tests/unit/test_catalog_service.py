"""The catalog service: loading the bundled file, listing what is on sale, and finding one to sell."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crossbay.catalog import service as catalog
from crossbay.catalog.catalog_file import PackageSpec, load_catalog
from crossbay.catalog.errors import PackageNotAvailable, PackageNotFound
from crossbay.catalog.models import Package
from crossbay.clock import FrozenClock
from crossbay.db import transaction
from crossbay.errors import ValidationFailed
from crossbay.money import Money

SPECS = load_catalog()


def load(session: Session, clock: FrozenClock, specs: list[PackageSpec] = SPECS) -> int:
    with transaction(session):
        return catalog.load_packages(session, specs, now=clock.now())


def by_code(session: Session) -> dict[str, Package]:
    with transaction(session):
        return {p.code: p for p in session.scalars(select(Package).execution_options(populate_existing=True))}


def codes(session: Session, **filters: str) -> set[str]:
    with transaction(session):
        return {p.code for p in catalog.list_packages(session, **filters)}


class TestLoadPackages:
    def test_the_first_load_creates_every_package_of_the_file(
        self, session: Session, clock: FrozenClock
    ) -> None:
        assert load(session, clock) == len(SPECS)
        stored = by_code(session)
        assert stored.keys() == {spec.code for spec in SPECS}
        starter = stored["ESIM-HKMOCN-STARTER"]
        assert (catalog.price_of(starter), starter.for_new_esim, starter.for_topup) == (
            Money(8800, "HKD"),
            True,
            False,
        )
        assert starter.names["en"] == "China–HK–Macau eSIM Starter"

    def test_loading_again_creates_nothing_and_updates_prices(
        self, session: Session, clock: FrozenClock
    ) -> None:
        load(session, clock)
        first = by_code(session)
        ids = {code: p.id for code, p in first.items()}
        created_at = first["DATA-HK-1G-1D"].created_at
        clock.advance(timedelta(days=1))
        repriced = [
            dataclasses.replace(s, price_amount=s.price_amount + 100) if s.code == "DATA-HK-1G-1D" else s
            for s in SPECS
        ]
        assert load(session, clock, repriced) == 0
        again = by_code(session)
        assert {code: p.id for code, p in again.items()} == ids
        changed = again["DATA-HK-1G-1D"]
        assert (changed.price_amount, changed.created_at, changed.updated_at) == (
            1900,
            created_at,
            clock.now(),
        )
        with transaction(session):
            assert session.scalar(select(func.count()).select_from(Package)) == len(SPECS)

    def test_a_new_package_in_the_file_is_added_beside_the_others(
        self, session: Session, clock: FrozenClock
    ) -> None:
        load(session, clock)
        extra = dataclasses.replace(SPECS[0], code="DATA-HK-2G-2D", sort=999)
        assert load(session, clock, [*SPECS, extra]) == 1
        assert "DATA-HK-2G-2D" in codes(session)


@pytest.fixture
def loaded(session: Session, clock: FrozenClock) -> None:
    load(session, clock)


@pytest.mark.usefixtures("loaded")
class TestListPackages:
    def test_lists_everything_on_sale_in_catalog_order(self, session: Session) -> None:
        with transaction(session):
            listed = catalog.list_packages(session)
        assert [p.code for p in listed] == [s.code for s in SPECS]

    @pytest.mark.parametrize(
        ("kind", "expected"),
        [
            ("voice", {"VOICE-HKCN-100M-30D", "VOICE-HKCN-300M-30D"}),
            ("bundle", {"BUNDLE-HKCN-5G-100M-30D", "BUNDLE-HKMOCN-20G-300M-30D"}),
        ],
    )
    def test_filters_by_kind(self, session: Session, kind: str, expected: set[str]) -> None:
        assert codes(session, kind=kind) == expected

    def test_filters_by_what_the_package_is_sold_for(self, session: Session) -> None:
        new_esim = codes(session, purpose="new_esim")
        assert new_esim == {
            "ESIM-HKCN-STARTER",
            "ESIM-HKMOCN-STARTER",
            "DATA-HKMOCN-3G-7D",
            "DATA-HKMOCN-10G-30D",
        }
        topup = codes(session, purpose="topup")
        assert "ESIM-HKCN-STARTER" not in topup and {"DATA-HKMOCN-3G-7D", "DATA-HK-1G-1D"} <= topup
        assert len(topup) == 22

    def test_a_region_filter_is_coverage_not_a_name_match(self, session: Session) -> None:
        macau = codes(session, region="mo")
        assert {"DATA-MO-1G-1D", "DATA-GBA-1G-1D", "DATA-HKMOCN-3G-7D"} <= macau
        assert not {"DATA-HK-1G-1D", "DATA-HKCN-1G-1D", "DATA-CN-1G-1D-CU"} & macau
        hong_kong = codes(session, region="hk")
        assert "DATA-GBA-1G-1D" in hong_kong and "DATA-MO-1G-1D" not in hong_kong
        # A Greater Bay Area pack does not serve the rest of the mainland.
        mainland = codes(session, region="cn")
        assert "DATA-CN-1G-1D-CU" in mainland and "DATA-GBA-1G-1D" not in mainland
        bay_area = codes(session, region="gba")
        assert "DATA-HKMOCN-3G-7D" in bay_area and "DATA-HKCN-1G-1D" not in bay_area

    def test_filters_combine(self, session: Session) -> None:
        assert codes(session, kind="data", region="mo", purpose="new_esim") == {
            "ESIM-HKMOCN-STARTER",
            "DATA-HKMOCN-3G-7D",
            "DATA-HKMOCN-10G-30D",
        }

    def test_leaves_out_packages_no_longer_on_sale(self, session: Session) -> None:
        with transaction(session):
            session.execute(update(Package).where(Package.code == "DATA-HK-1G-1D").values(on_sale=False))
        assert "DATA-HK-1G-1D" not in codes(session)

    @pytest.mark.parametrize(
        ("filters", "field"),
        [({"kind": "sms"}, "kind"), ({"region": "tokyo"}, "region"), ({"purpose": "gift"}, "for")],
    )
    def test_refuses_an_unknown_filter_value(
        self, session: Session, filters: dict[str, str], field: str
    ) -> None:
        with pytest.raises(ValidationFailed) as refused:
            codes(session, **filters)
        assert [p.field for p in refused.value.errors] == [field]


@pytest.mark.usefixtures("loaded")
class TestGetPackageForSale:
    def get(self, session: Session, code: str, purpose: str) -> Package:
        with transaction(session):
            package_id = by_code_id(session, code)
            return catalog.get_package_for_sale(session, package_id, purpose=purpose)

    def test_returns_a_package_sold_for_that_purpose(self, session: Session) -> None:
        assert self.get(session, "DATA-HKMOCN-3G-7D", "new_esim").code == "DATA-HKMOCN-3G-7D"
        assert self.get(session, "DATA-HKMOCN-3G-7D", "topup").code == "DATA-HKMOCN-3G-7D"

    def test_refuses_an_unknown_package(self, session: Session) -> None:
        with pytest.raises(PackageNotFound), transaction(session):
            catalog.get_package_for_sale(session, "pkg_missing", purpose="new_esim")

    def test_refuses_a_package_no_longer_on_sale_as_not_found(self, session: Session) -> None:
        with transaction(session):
            session.execute(update(Package).where(Package.code == "DATA-HK-1G-1D").values(on_sale=False))
        with pytest.raises(PackageNotFound):
            self.get(session, "DATA-HK-1G-1D", "topup")

    @pytest.mark.parametrize(
        ("code", "purpose"), [("DATA-HK-1G-1D", "new_esim"), ("ESIM-HKCN-STARTER", "topup")]
    )
    def test_refuses_a_package_not_sold_for_that_purpose(
        self, session: Session, code: str, purpose: str
    ) -> None:
        with pytest.raises(PackageNotAvailable):
            self.get(session, code, purpose)


def by_code_id(session: Session, code: str) -> str:
    return session.scalars(select(Package.id).where(Package.code == code)).one()


class TestCatalogFileIsTheSource:
    def test_a_package_dropped_from_the_file_goes_off_sale_and_comes_back(
        self, session: Session, clock: FrozenClock
    ) -> None:
        specs = load_catalog()
        with transaction(session):
            catalog.load_packages(session, specs, now=clock.now())
        with transaction(session):
            catalog.load_packages(session, specs[1:], now=clock.now())
            assert specs[0].code not in {p.code for p in catalog.list_packages(session)}
        with transaction(session):
            assert catalog.load_packages(session, specs, now=clock.now()) == 0
            assert specs[0].code in {p.code for p in catalog.list_packages(session)}
