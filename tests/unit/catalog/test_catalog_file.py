"""The bundled catalog file, its strict loader, and the region filter."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossbay.catalog.catalog_file import (
    REGIONS,
    CatalogFileError,
    PackageSpec,
    covers,
    load_catalog,
    region_areas,
)

GB = 1024


@pytest.fixture(scope="module")
def bundled() -> list[PackageSpec]:
    return load_catalog()


def _by_code(packages: list[PackageSpec]) -> dict[str, PackageSpec]:
    return {package.code: package for package in packages}


class TestBundledCatalog:
    def test_loads_at_least_sixteen_packages_with_unique_codes(self, bundled: list[PackageSpec]) -> None:
        assert len(bundled) >= 16
        assert len({package.code for package in bundled}) == len(bundled)

    def test_is_ordered_by_sort_then_code(self, bundled: list[PackageSpec]) -> None:
        assert bundled == sorted(bundled, key=lambda package: (package.sort, package.code))

    def test_has_every_data_size_validity_and_region(self, bundled: list[PackageSpec]) -> None:
        data_packs = [package for package in bundled if package.kind == "data"]
        assert {1 * GB, 3 * GB, 5 * GB, 10 * GB, 20 * GB} <= {package.data_mb for package in data_packs}
        assert {1, 3, 7, 30} <= {package.validity_days for package in data_packs}
        for region in REGIONS:
            assert any(region in package.regions for package in data_packs), region

    @pytest.mark.parametrize("wanted", REGIONS)
    def test_every_region_filter_finds_a_topup(self, bundled: list[PackageSpec], wanted: str) -> None:
        assert any(covers(package.regions, wanted) for package in bundled if package.for_topup)

    def test_sells_on_all_three_mainland_carriers(self, bundled: list[PackageSpec]) -> None:
        networks = {network for package in bundled for network in package.networks}
        assert {"China Mobile", "China Unicom", "China Telecom"} <= networks

    def test_voice_packs_of_100_and_300_minutes(self, bundled: list[PackageSpec]) -> None:
        voice = [package for package in bundled if package.kind == "voice"]
        assert {100, 300} <= {package.voice_minutes for package in voice}
        for package in voice:
            assert package.data_mb is None
            assert {"hk", "cn"} <= set(package.regions)

    def test_bundle_has_data_and_minutes(self, bundled: list[PackageSpec]) -> None:
        bundles = [package for package in bundled if package.kind == "bundle"]
        assert bundles
        for package in bundles:
            assert package.data_mb and package.voice_minutes

    def test_starter_pack_is_for_new_esims_only_on_china_mobile(self, bundled: list[PackageSpec]) -> None:
        starters = [p for p in bundled if p.names["zh-Hant"] == "中港通 eSIM 新卡套餐"]
        assert len(starters) == 1
        starter = starters[0]
        assert starter.for_new_esim and not starter.for_topup
        assert "China Mobile" in starter.networks
        assert starter.data_mb is not None and starter.data_mb <= 3 * GB

    def test_most_packages_are_topups_and_few_are_sold_both_ways(self, bundled: list[PackageSpec]) -> None:
        both = [p for p in bundled if p.for_new_esim and p.for_topup]
        topup_only = [p for p in bundled if p.for_topup and not p.for_new_esim]
        assert len(both) <= 3
        assert len(topup_only) > len(bundled) / 2
        assert all(p.for_new_esim or p.for_topup for p in bundled)

    def test_prices_are_realistic_hkd(self, bundled: list[PackageSpec]) -> None:
        by_code = _by_code(bundled)
        assert all(p.currency == "HKD" for p in bundled)
        assert 2000 <= by_code["DATA-HKCN-1G-1D"].price_amount <= 3800
        assert 12800 <= by_code["DATA-HKCN-10G-30D"].price_amount <= 19800
        # Bigger packs on the same line cost less per GB, or nobody would buy them.
        line = sorted((p for p in bundled if p.code.startswith("DATA-HKCN-")), key=lambda p: p.data_mb or 0)
        per_gb = [p.price_amount / ((p.data_mb or 1) / GB) for p in line]
        assert per_gb == sorted(per_gb, reverse=True)

    def test_texts_use_the_right_script(self, bundled: list[PackageSpec]) -> None:
        # Simplified forms must not leak into Traditional text and vice versa.
        simplified_only = set("数据内门湾区费际联电讯话钟组")
        traditional_only = set("數據內門灣區費際聯電訊話鐘組")
        for package in bundled:
            for texts in (package.names, package.descriptions):
                assert set(texts) == {"zh-Hant", "zh-Hans", "en"}
                assert not simplified_only & set(texts["zh-Hant"]), (package.code, texts["zh-Hant"])
                assert not traditional_only & set(texts["zh-Hans"]), (package.code, texts["zh-Hans"])
                assert texts["en"].isascii() or "–" in texts["en"], (package.code, texts["en"])

    def test_specs_are_hashable(self, bundled: list[PackageSpec]) -> None:
        assert len(set(bundled)) == len(bundled)


# --- malformed files ---------------------------------------------------------

BASE: dict[str, Any] = {
    "code": "DATA-TEST-1G-1D",
    "kind": "data",
    "data_mb": 1024,
    "validity_days": 1,
    "validity_starts": "first_use",
    "regions": ["hk", "cn"],
    "networks": ["China Mobile", "CMHK"],
    "price": 2800,
    "currency": "HKD",
    "for": ["topup"],
    "sort": 10,
    "name": {"zh-Hant": "測試數據包", "zh-Hans": "测试数据包", "en": "Test pack"},
    "description": {"zh-Hant": "測試", "zh-Hans": "测试", "en": "Test"},
}


def _to_toml(packages: list[dict[str, Any]]) -> str:
    # JSON scalars and string lists are valid TOML values; tables are written as sub-tables.
    lines: list[str] = []
    for package in packages:
        lines.append("[[package]]")
        tables = {key: value for key, value in package.items() if isinstance(value, dict)}
        for key, value in package.items():
            if key not in tables:
                lines.append(f"{key} = {json.dumps(value)}")
        for key, table in tables.items():
            lines.append(f"[package.{key}]")
            lines.extend(f'"{language}" = {json.dumps(text)}' for language, text in table.items())
    return "\n".join(lines) + "\n"


def _write(tmp_path: Path, packages: list[dict[str, Any]]) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(_to_toml(packages), encoding="utf-8")
    return path


def _mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    package = copy.deepcopy(BASE)
    change(package)
    return package


def test_the_base_fixture_is_valid(tmp_path: Path) -> None:
    (spec,) = load_catalog(_write(tmp_path, [BASE]))
    assert spec.code == "DATA-TEST-1G-1D"
    assert spec.price_amount == 2800
    assert spec.for_topup and not spec.for_new_esim
    assert spec.regions == ("hk", "cn")
    assert spec.names["en"] == "Test pack"


MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("unknown key", lambda p: p.update(colour="red"), "colour"),
    ("unknown language", lambda p: p["name"].update(fr="Forfait"), "name"),
    ("missing language", lambda p: p["description"].pop("zh-Hans"), "description"),
    ("empty text", lambda p: p["name"].update(en="  "), "name"),
    ("unknown kind", lambda p: p.update(kind="sms"), "kind"),
    ("unknown region", lambda p: p.update(regions=["hk", "tw"]), "regions"),
    ("empty regions", lambda p: p.update(regions=[]), "regions"),
    ("repeated region", lambda p: p.update(regions=["hk", "hk"]), "regions"),
    ("unknown for", lambda p: p.update({"for": ["gift"]}), "for"),
    ("unknown network", lambda p: p.update(networks=["China Mobil"]), "networks"),
    ("zero price", lambda p: p.update(price=0), "price"),
    ("negative price", lambda p: p.update(price=-100), "price"),
    ("float price", lambda p: p.update(price=28.0), "price"),
    ("string price", lambda p: p.update(price="2800"), "price"),
    ("boolean price", lambda p: p.update(price=True), "price"),
    ("missing price", lambda p: p.pop("price"), "price"),
    ("unknown currency", lambda p: p.update(currency="USD"), "currency"),
    ("base price not in HKD", lambda p: p.update(currency="CNY"), "currency"),
    ("other price in an unknown currency", lambda p: p.update(prices={"USD": 400}), "prices"),
    ("other price repeating HKD", lambda p: p.update(prices={"HKD": 2800}), "prices"),
    ("zero other price", lambda p: p.update(prices={"CNY": 0}), "prices"),
    ("float other price", lambda p: p.update(prices={"CNY": 26.0}), "prices"),
    ("prices not a table", lambda p: p.update(prices=[2600]), "prices"),
    ("data pack without data_mb", lambda p: p.pop("data_mb"), "data_mb"),
    ("data pack with minutes", lambda p: p.update(voice_minutes=100), "voice_minutes"),
    ("voice pack without minutes", lambda p: (p.update(kind="voice"), p.pop("data_mb")), "voice_minutes"),
    ("voice pack with data", lambda p: p.update(kind="voice", voice_minutes=100), "data_mb"),
    ("bundle without minutes", lambda p: p.update(kind="bundle"), "voice_minutes"),
    ("zero data", lambda p: p.update(data_mb=0), "data_mb"),
    ("zero validity", lambda p: p.update(validity_days=0), "validity_days"),
    ("negative validity", lambda p: p.update(validity_days=-1), "validity_days"),
    ("unknown validity start", lambda p: p.update(validity_starts="activation"), "validity_starts"),
    ("empty fair use", lambda p: p.update(fair_use=""), "fair_use"),
    ("non-integer sort", lambda p: p.update(sort="first"), "sort"),
]


@pytest.mark.parametrize(
    ("change", "field"), [(change, field) for _, change, field in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_package_names_code_and_field(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], field: str
) -> None:
    with pytest.raises(CatalogFileError) as caught:
        load_catalog(_write(tmp_path, [_mutated(change)]))
    message = str(caught.value)
    assert "DATA-TEST-1G-1D" in message
    assert repr(field) in message


def test_prices_in_other_currencies_load_as_set(tmp_path: Path) -> None:
    (spec,) = load_catalog(
        _write(tmp_path, [_mutated(lambda p: p.update(prices={"CNY": 2600, "MOP": 2900}))])
    )
    assert (spec.price_amount, spec.currency) == (2800, "HKD")
    assert spec.other_prices == {"CNY": 2600, "MOP": 2900}


def test_the_bundled_catalog_prices_mainland_packs_in_cny(bundled: list[PackageSpec]) -> None:
    mainland = [spec for spec in bundled if "cn" in spec.regions]
    assert mainland and all("CNY" in spec.other_prices for spec in mainland)
    assert any("MOP" in spec.other_prices for spec in bundled)


def test_voice_pack_with_minutes_loads(tmp_path: Path) -> None:
    def to_voice(p: dict[str, Any]) -> None:
        p.update(kind="voice", voice_minutes=100)
        p.pop("data_mb")

    (spec,) = load_catalog(_write(tmp_path, [_mutated(to_voice)]))
    assert spec.kind == "voice" and spec.voice_minutes == 100 and spec.data_mb is None


def test_duplicate_codes_are_refused(tmp_path: Path) -> None:
    second = _mutated(lambda p: p.update(sort=20))
    with pytest.raises(CatalogFileError, match=r"'DATA-TEST-1G-1D'.*'code'.*duplicate"):
        load_catalog(_write(tmp_path, [BASE, second]))


def test_bad_code_names_the_package_position(tmp_path: Path) -> None:
    with pytest.raises(CatalogFileError, match=r"package #2: field 'code'"):
        load_catalog(_write(tmp_path, [BASE, _mutated(lambda p: p.update(code="data hk"))]))


def test_invalid_toml_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text("[[package]\ncode = ", encoding="utf-8")
    with pytest.raises(CatalogFileError, match="not valid TOML"):
        load_catalog(path)


def test_unknown_top_level_key_and_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text('version = 2\n[[package]]\ncode = "X"\n', encoding="utf-8")
    with pytest.raises(CatalogFileError, match="version"):
        load_catalog(path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(CatalogFileError, match="at least one"):
        load_catalog(path)


# --- region coverage ---------------------------------------------------------

COVERS_TABLE: list[tuple[list[str], str, bool]] = [
    (["hk"], "hk", True),
    (["hk"], "mo", False),
    (["hk"], "gba", False),
    (["hk"], "cn", False),
    (["mo"], "mo", True),
    (["gba"], "hk", True),
    (["gba"], "mo", True),
    (["gba"], "gba", True),
    (["gba"], "cn", False),  # a GBA pack misses the rest of the mainland
    (["cn"], "cn", True),
    (["cn"], "gba", False),  # no Hong Kong or Macau
    (["cn"], "hk", False),
    (["hk", "cn"], "hk", True),
    (["hk", "cn"], "cn", True),
    (["hk", "cn"], "gba", False),  # no Macau
    (["hk", "mo", "cn"], "gba", True),
    (["hk", "mo", "cn"], "mo", True),
    (["gba", "cn"], "cn", True),
    (["hk", "mo"], "gba", False),  # no Guangdong
    ([], "hk", False),
]


@pytest.mark.parametrize(("regions", "wanted", "expected"), COVERS_TABLE)
def test_covers_truth_table(regions: list[str], wanted: str, expected: bool) -> None:
    assert covers(regions, wanted) is expected


def test_covers_accepts_any_iterable() -> None:
    assert covers(("gba",), "hk")
    assert covers(iter(["hk", "mo", "cn"]), "gba")


@pytest.mark.parametrize("wanted", ["", "HK", "tw", "gd", "cn_rest"])
def test_covers_refuses_an_unknown_wanted_region(wanted: str) -> None:
    with pytest.raises(ValueError, match="unknown region"):
        covers(["gba"], wanted)


def test_covers_refuses_an_unknown_package_region() -> None:
    with pytest.raises(ValueError, match="unknown region"):
        covers(["hk", "tw"], "hk")


def test_region_areas_refuses_a_bare_string() -> None:
    with pytest.raises(TypeError):
        region_areas("hk")


region_sets = st.sets(st.sampled_from(REGIONS))


@given(package=region_sets, extra=region_sets, wanted=st.sampled_from(REGIONS))
def test_adding_regions_never_removes_coverage(package: set[str], extra: set[str], wanted: str) -> None:
    if covers(package, wanted):
        assert covers(package | extra, wanted)


@given(package=region_sets)
def test_a_package_covers_each_of_its_own_regions(package: set[str]) -> None:
    assert all(covers(package, region) for region in package)
