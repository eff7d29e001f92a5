"""The pure rating rules: priority, regions, validity, first use, reservations (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from crossbay.usage import rating
from crossbay.usage.rating import ACTIVE, EXHAUSTED, QUEUED, Balance, Usage, bundle_expiry, rate
from crossbay.usage.regions import AREA_BITS, area_mask, usage_area

T0 = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
MB = 1024 * 1024
HK, MO, GD, CN = (usage_area(r) for r in ("hk", "mo", "cn-gd", "cn"))


def balance(
    name: str,
    *,
    regions: tuple[str, ...] = ("hk",),
    data: int | None = 100,
    voice: int | None = None,
    status: str = ACTIVE,
    days: int = 30,
    created: datetime = T0,
    throttle: int | None = None,
) -> Balance:
    started = status != QUEUED
    return Balance(
        id=name,
        esim_id="esim",
        status=status,
        areas=area_mask(regions),
        created_at=created,
        starts_at=created if started else None,
        expires_at=bundle_expiry(created, days) if started else None,
        validity_days=days,
        throttle_kbps=throttle,
        data_total=data,
        data_remaining=data,
        data_reserved=0,
        voice_total=voice,
        voice_remaining=voice,
        voice_reserved=0,
        next_alert_percent=rating.ALERT_LEVELS[0],
    )


class TestRegions:
    def test_gba_covers_hong_kong_macau_and_guangdong_but_not_the_rest_of_the_mainland(self) -> None:
        gba = area_mask(["gba"])
        assert gba & HK and gba & MO and gba & GD
        assert not gba & CN

    def test_cn_covers_guangdong_and_the_rest(self) -> None:
        assert area_mask(["cn"]) == AREA_BITS["gd"] | AREA_BITS["cn_rest"]

    def test_usage_regions(self) -> None:
        assert usage_area("CN-GD") == GD
        assert usage_area("cn-bj") == CN  # another province: mainland outside the GBA
        assert usage_area("jp") == 0


class TestRate:
    def test_the_bundle_expiring_first_pays_first(self) -> None:
        late = balance("late", days=30)
        soon = balance("soon", days=7)
        result = rate(Usage(T0, HK, 150, 0), [late, soon])
        assert result.result == rating.RATED
        assert result.charges == [["soon", 100, 0], ["late", 50, 0]]
        assert soon.status == EXHAUSTED and late.data_remaining == 50

    def test_a_bundle_outside_the_region_is_not_charged(self) -> None:
        hk_only = balance("hk")
        result = rate(Usage(T0, CN, 10, 0), [hk_only])
        assert result.result == rating.NO_BUNDLE and hk_only.data_remaining == 100

    def test_gba_pack_does_not_pay_for_usage_outside_guangdong(self) -> None:
        gba = balance("gba", regions=("gba",))
        assert rate(Usage(T0, CN, 10, 0), [gba]).result == rating.NO_BUNDLE
        assert rate(Usage(T0, GD, 10, 0), [gba]).result == rating.RATED

    def test_usage_before_purchase_or_after_expiry_is_not_charged(self) -> None:
        b = balance("b", days=1)
        assert rate(Usage(T0 - timedelta(seconds=1), HK, 10, 0), [b]).result == rating.NO_BUNDLE
        assert (
            rate(Usage(bundle_expiry(T0, 1) + timedelta(seconds=1), HK, 10, 0), [b]).result
            == rating.NO_BUNDLE
        )
        assert b.data_remaining == 100

    def test_over_quota_keeps_what_could_be_charged(self) -> None:
        b = balance("b")
        result = rate(Usage(T0, HK, 130, 0), [b])
        assert (result.result, result.charged_data) == (rating.OVER_QUOTA, 100)

    def test_fair_use_pack_throttles_instead(self) -> None:
        b = balance("b", throttle=384)
        rate(Usage(T0, HK, 100, 0), [b])
        assert rate(Usage(T0, HK, 50, 0), [b]).result == rating.THROTTLED

    def test_queued_pack_starts_at_first_use_and_waits_behind_active_ones(self) -> None:
        active = balance("active", days=30)
        queued = balance("queued", status=QUEUED, days=7)
        used_at = T0 + timedelta(days=2)
        rate(Usage(used_at, HK, 60, 0), [queued, active])
        assert queued.status == QUEUED and active.data_remaining == 40
        rate(Usage(used_at, HK, 60, 0), [queued, active])
        assert queued.status == ACTIVE
        assert queued.starts_at == used_at and queued.expires_at == bundle_expiry(used_at, 7)
        assert queued.data_remaining == 80

    def test_reserved_units_are_not_rated_away(self) -> None:
        b = balance("b")
        assert rating.reserve([b], "data", 70, HK, T0) == (b, 70)
        result = rate(Usage(T0, HK, 50, 0), [b])
        assert result.charged_data == 30 and b.available("data") == 0

    def test_voice_is_rated_against_voice_balances_only(self) -> None:
        data = balance("data", data=100)
        voice = balance("voice", data=None, voice=600)
        result = rate(Usage(T0, HK, 10, 120), [data, voice])
        assert result.charges == [["data", 10, 0], ["voice", 0, 120]]

    def test_threshold_events_fire_once_per_level_and_exhaustion_once(self) -> None:
        b = balance("b")
        for _ in range(10):
            rate(Usage(T0, HK, 10, 0), [b])
        assert b.events == [("threshold", 80), ("threshold", 90), ("exhausted", 100)]


AREAS = st.sampled_from([HK, MO, GD, CN, 0])
REGION_SETS = st.sampled_from([("hk",), ("mo",), ("gba",), ("cn",), ("hk", "cn"), ("hk", "mo", "cn")])


@st.composite
def balances(draw: st.DrawFn) -> list[Balance]:
    made = []
    for index in range(draw(st.integers(1, 4))):
        made.append(
            balance(
                f"b{index}",
                regions=draw(REGION_SETS),
                data=draw(st.integers(0, 500)),
                voice=draw(st.none() | st.integers(0, 300)),
                status=draw(st.sampled_from([ACTIVE, QUEUED])),
                days=draw(st.integers(1, 10)),
                created=T0 + timedelta(hours=draw(st.integers(0, 100))),
            )
        )
    return made


USAGES = st.builds(
    Usage,
    started_at=st.integers(-24, 24 * 12).map(lambda h: T0 + timedelta(hours=h)),
    area=AREAS,
    data_bytes=st.integers(0, 300),
    voice_seconds=st.integers(0, 120),
)


@settings(max_examples=300)
@given(balances(), st.lists(USAGES, max_size=30), st.data())
def test_rating_keeps_every_balance_whole_and_in_its_region(
    made: list[Balance], usages: list[Usage], data: st.DataObject
) -> None:
    totals = {b.id: (b.data_total or 0, b.voice_total or 0) for b in made}
    paid: dict[str, list[int]] = {b.id: [0, 0] for b in made}
    reserved = 0
    for usage in usages:
        if data.draw(st.booleans()):
            got, granted = rating.reserve(
                made, "data", data.draw(st.integers(1, 50)), usage.area, usage.started_at
            )
            reserved += granted
            assert (got is None) == (granted == 0)
        result = rate(usage, made)
        assert result.charged_data <= usage.data_bytes and result.charged_voice <= usage.voice_seconds
        assert sum(c[1] for c in result.charges) == result.charged_data  # type: ignore[misc]
        for bundle_id, data_part, voice_part in result.charges:
            charged = next(b for b in made if b.id == bundle_id)
            assert charged.areas & usage.area, "a bundle outside its region was charged"
            assert charged.created_at <= usage.started_at
            assert charged.expires_at is not None and usage.started_at <= charged.expires_at
            paid[bundle_id][0] += data_part  # type: ignore[operator]
            paid[bundle_id][1] += voice_part  # type: ignore[operator]
    assert sum(b.data_reserved for b in made) == reserved
    for b in made:
        assert (b.data_remaining or 0) + paid[b.id][0] == totals[b.id][0]
        assert (b.voice_remaining or 0) + paid[b.id][1] == totals[b.id][1]
        assert 0 <= b.data_reserved <= (b.data_remaining or 0)
