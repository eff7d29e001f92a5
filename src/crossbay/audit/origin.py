"""Where a request came from, as the audit record keeps it: the address, and which device.

A *device* is, in order of preference:

1. the web app's ``cb_device`` cookie: 24 random bytes set at sign-in, HttpOnly, kept 400 days
   (the longest browsers allow), so one browser profile is one device;
2. a native app's ``X-Device-Id`` header: a random id the app makes once per installation;
3. otherwise the User-Agent string, which is weaker (two phones of one model look alike).

Only a keyed hash of that value is stored (``customer_devices.device_hash``), never the cookie itself;
the activity page shows a coarse label made from the User-Agent ("Safari · iOS").
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

DEVICE_COOKIE = "cb_device"
DEVICE_COOKIE_SECONDS = 400 * 24 * 3600
DEVICE_HEADER = "x-device-id"
_DEVICE_ID = re.compile(r"[A-Za-z0-9_\-]{16,128}")


@dataclass(frozen=True)
class Origin:
    """What the audit record says about where an action came from; all optional (the CLI has none)."""

    ip: str | None = None
    device_hash: str | None = None
    device: str | None = None


NO_ORIGIN = Origin()


def device_hash(key: bytes, *, cookie: str | None, device_id: str | None, user_agent: str | None) -> str:
    """A keyed hash, so the stored value cannot be replayed as the cookie or header it came from."""
    if cookie and _DEVICE_ID.fullmatch(cookie):
        source = "cookie:" + cookie
    elif device_id and _DEVICE_ID.fullmatch(device_id):
        source = "app:" + device_id
    else:
        source = "ua:" + (user_agent or "")[:512]
    return hmac.new(key, source.encode(), "sha256").hexdigest()


_OPERATING_SYSTEMS = (
    ("iPad", "iPadOS"),
    ("iPhone", "iOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("HarmonyOS", "HarmonyOS"),
    ("Linux", "Linux"),
)
# Order matters: most browsers' strings also name Safari, and Edge's names Chrome.
_BROWSERS = (
    ("MicroMessenger/", "WeChat"),
    ("AlipayClient", "Alipay"),
    ("Edg", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("CriOS/", "Chrome"),
    ("FxiOS/", "Firefox"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_PRODUCT = re.compile(r"^([A-Za-z][A-Za-z0-9._\-]{0,23})/")


def device_label(user_agent: str | None) -> str | None:
    """A coarse, readable name for the device: browser and system, never the full string."""
    if not user_agent:
        return None
    system = next((name for marker, name in _OPERATING_SYSTEMS if marker in user_agent), None)
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    if browser is None and (product := _PRODUCT.match(user_agent)) and product.group(1) != "Mozilla":
        browser = product.group(1)
    parts = [part for part in (browser, system) if part]
    return " · ".join(parts) if parts else None
