"""Which phones can take an eSIM, from the data file ``data/devices.toml``.

Matching is exact after normalisation, never fuzzy: telling a customer that a
phone supports eSIM when it does not sells them something they cannot install,
so anything we do not recognise is answered "unknown" with instructions to
check the phone itself.
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, cast

DeviceStatus = Literal["supported", "unsupported", "unknown"]
KnownStatus = Literal["supported", "unsupported"]

LANGUAGES: Final[tuple[str, ...]] = ("zh-Hant", "zh-Hans", "en")
DEFAULT_DEVICES_PATH: Final[Path] = Path(__file__).parent / "data" / "devices.toml"

# What people put in front of a model name. A prefix is only dropped when the
# rest names a device of that same brand, so "OPPO S23 Ultra" stays unknown.
BRAND_PREFIXES: Final[Mapping[str, tuple[str, ...]]] = {
    "Apple": ("apple", "蘋果", "苹果"),
    "Samsung": ("samsung", "三星"),
    "Google": ("google", "谷歌"),
    "Huawei": ("huawei", "華為", "华为"),
    "Xiaomi": ("xiaomi", "小米"),
    "OPPO": ("oppo",),
    "vivo": ("vivo",),
    "Honor": ("honor", "榮耀", "荣耀"),
}

# Unknown input is echoed back as `model`; cap it so a pasted essay is not.
MAX_ECHO_CHARS: Final = 100

_DEVICE_KEYS: Final[frozenset[str]] = frozenset({"brand", "name", "aliases", "status", "notes"})
# Storage sizes ("256GB", "1 TB") say nothing about eSIM; people paste them from receipts.
_STORAGE_RE: Final = re.compile(r"(?<![0-9a-z])\d+\s*(?:gb|tb)(?![0-9a-z])")
# Samsung's dual-SIM suffix: "SM-S918B/DS" is the same phone as "SM-S918B".
_DUAL_SIM_SUFFIX_RE: Final = re.compile(r"/\s*ds$")


class DeviceFileError(ValueError):
    """The devices file is malformed or ambiguous; the message names the device."""


@dataclass(frozen=True)
class DeviceSpec:
    brand: str
    name: str
    aliases: tuple[str, ...]
    status: KnownStatus
    notes: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class DeviceAnswer:
    """The answer of ``GET /api/v1/devices/compatibility``; ``model`` is the canonical name when known."""

    model: str
    status: DeviceStatus
    notes: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class DeviceCatalog:
    devices: tuple[DeviceSpec, ...]
    unknown_notes: dict[str, str] = field(hash=False)


def normalize_model(text: str) -> str:
    """The matching key of what someone typed: ``"iphone15 pro"`` and ``"iPhone 15 Pro"`` agree.

    Full-width characters from a Chinese keyboard are folded (NFKC), case is
    ignored, storage sizes and the "/DS" suffix are dropped, "+" reads as
    "plus", and everything that is not a letter or digit (spaces, hyphens,
    brackets) is removed.
    """
    folded = unicodedata.normalize("NFKC", text).casefold().strip()
    folded = _DUAL_SIM_SUFFIX_RE.sub("", folded)
    without_storage = _STORAGE_RE.sub(" ", folded)
    # Only drop storage when something is left: "1TB" alone stays as typed.
    if without_storage.strip():
        folded = without_storage
    folded = folded.replace("+", "plus")
    return "".join(char for char in folded if char.isalnum())


class DeviceIndex:
    """Exact lookup of normalised names and aliases; refuses to build if two devices share a key."""

    def __init__(self, catalog: DeviceCatalog) -> None:
        self._unknown_notes = dict(catalog.unknown_notes)
        self._by_key: dict[str, DeviceSpec] = {}
        for device in catalog.devices:
            for spelling in (device.name, *device.aliases):
                key = normalize_model(spelling)
                if not key:
                    raise DeviceFileError(f"device {device.name!r}: alias {spelling!r} normalises to nothing")
                other = self._by_key.get(key)
                if other is not None and other is not device:
                    raise DeviceFileError(
                        f"device {device.name!r}: alias {spelling!r} also matches device {other.name!r}"
                    )
                self._by_key[key] = device

    def lookup(self, text: str) -> DeviceAnswer:
        device = self._find(normalize_model(text))
        if device is None:
            return DeviceAnswer(
                model=text.strip()[:MAX_ECHO_CHARS], status="unknown", notes=dict(self._unknown_notes)
            )
        # A copy: callers may localise or trim notes without touching the index.
        return DeviceAnswer(model=device.name, status=device.status, notes=dict(device.notes))

    def _find(self, key: str) -> DeviceSpec | None:
        if not key:
            return None
        device = self._by_key.get(key)
        if device is not None:
            return device
        for brand, prefixes in BRAND_PREFIXES.items():
            for prefix in prefixes:
                if key.startswith(prefix) and len(key) > len(prefix):
                    candidate = self._by_key.get(key[len(prefix) :])
                    if candidate is not None and candidate.brand == brand:
                        return candidate
        return None


def load_devices(path: Path | None = None) -> DeviceCatalog:
    """Read and validate a devices file (the bundled one by default)."""
    source = path if path is not None else DEFAULT_DEVICES_PATH
    try:
        document = tomllib.loads(source.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DeviceFileError(f"{source}: not valid TOML: {exc}") from exc
    return parse_devices(document)


def parse_devices(document: Mapping[str, Any]) -> DeviceCatalog:
    """Validate an already-parsed devices document (``[unknown.notes]`` and ``[[device]]`` tables)."""
    unknown_keys = sorted(set(document) - {"unknown", "device"})
    if unknown_keys:
        raise DeviceFileError(f"devices: unknown top-level key {unknown_keys[0]!r}")
    unknown = document.get("unknown")
    if not isinstance(unknown, dict) or set(unknown) != {"notes"}:
        raise DeviceFileError("devices: needs exactly an [unknown.notes] table")
    unknown_notes = _texts("unknown", unknown["notes"])
    tables = document.get("device")
    if not isinstance(tables, list) or not tables:
        raise DeviceFileError("devices: needs at least one [[device]] table")
    devices = tuple(_parse_device(index, table) for index, table in enumerate(tables, start=1))
    catalog = DeviceCatalog(devices=devices, unknown_notes=unknown_notes)
    DeviceIndex(catalog)  # Building the index is what proves no alias is ambiguous.
    return catalog


def lookup_device(text: str) -> DeviceAnswer:
    """Answer whether the phone someone typed supports eSIM, from the bundled devices file."""
    return _bundled_index().lookup(text)


@functools.cache
def _bundled_index() -> DeviceIndex:
    # The bundled file never changes while the process runs; parse it once.
    return DeviceIndex(load_devices())


def _parse_device(index: int, table: object) -> DeviceSpec:
    if not isinstance(table, dict):
        raise DeviceFileError(f"device #{index}: must be a table")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise DeviceFileError(f"device #{index}: field 'name': must be a non-empty string")
    where = f"device {name!r}"
    unknown = sorted(set(table) - _DEVICE_KEYS)
    if unknown:
        raise DeviceFileError(f"{where}: field {unknown[0]!r}: unknown key")
    missing = sorted(_DEVICE_KEYS - set(table))
    if missing:
        raise DeviceFileError(f"{where}: field {missing[0]!r}: missing")
    brand = table["brand"]
    if brand not in BRAND_PREFIXES:
        raise DeviceFileError(
            f"{where}: field 'brand': must be one of {sorted(BRAND_PREFIXES)}, got {brand!r}"
        )
    aliases = table["aliases"]
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise DeviceFileError(f"{where}: field 'aliases': must be a list of non-empty strings")
    status = table["status"]
    if status not in ("supported", "unsupported"):
        raise DeviceFileError(f"{where}: field 'status': must be supported or unsupported, got {status!r}")
    return DeviceSpec(
        brand=brand,
        name=name.strip(),
        aliases=tuple(aliases),
        status=cast(KnownStatus, status),
        notes=_texts(where, table["notes"]),
    )


def _texts(where: str, value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise DeviceFileError(f"{where}: field 'notes': must be a table of zh-Hant, zh-Hans and en texts")
    extra = sorted(set(value) - set(LANGUAGES))
    if extra:
        raise DeviceFileError(f"{where}: field 'notes': unknown language {extra[0]!r}")
    missing = [language for language in LANGUAGES if language not in value]
    if missing:
        raise DeviceFileError(f"{where}: field 'notes': missing language(s) {', '.join(missing)}")
    texts: dict[str, str] = {}
    for language in LANGUAGES:
        text = value[language]
        if not isinstance(text, str) or not text.strip():
            raise DeviceFileError(f"{where}: field 'notes': {language} text must be a non-empty string")
        texts[language] = text.strip()
    return texts


def all_spellings(catalog: DeviceCatalog) -> Iterable[tuple[DeviceSpec, str]]:
    """Every (device, name-or-alias) pair; for tests and admin listings."""
    for device in catalog.devices:
        yield device, device.name
        for alias in device.aliases:
            yield device, alias
