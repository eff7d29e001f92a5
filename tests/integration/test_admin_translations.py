"""Every back-office text has zh-Hant (English is the ids), placeholders intact; and the staff CLI."""

from __future__ import annotations

import os
import re
import string
import subprocess
from pathlib import Path

import pyotp
from babel.messages.pofile import read_po
from jinja2 import Environment
from jinja2.ext import extract_from_ast

from crossbay.admin import rendering
from crossbay.admin.rendering import LABELS, TEMPLATES_DIR, TRANSLATIONS_DIR, translate
from tests.conftest import LiveServer
from tests.support import sensitive
from tests.support.servers import CROSSBAY
from tests.support.staff import PASSWORD, sign_in_form

ADMIN_DIR = Path(rendering.__file__).parent


def admin_messages() -> set[str]:
    env = Environment()
    found: set[str] = set(LABELS.values())
    for path in TEMPLATES_DIR.glob("*.html"):
        for _line, _function, message in extract_from_ast(
            env.parse(path.read_text()), gettext_functions=("_",)
        ):
            found.add(message[0] if isinstance(message, tuple) else message)
    for path in ADMIN_DIR.glob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r'page\._\(\s*"([^"]+)"', text))
        found |= set(re.findall(r'FieldProblem\(\s*"[^"]+",\s*"[^"]+",\s*"([^"]+)"', text))
    return found


def _fields(text: str) -> set[str]:
    return {name for _literal, name, _spec, _conversion in string.Formatter().parse(text) if name}


def test_every_back_office_message_has_traditional_chinese() -> None:
    with (TRANSLATIONS_DIR / "zh_Hant" / "LC_MESSAGES" / "admin.po").open("rb") as handle:
        catalog = read_po(handle, locale="zh_Hant")
    messages = admin_messages()
    assert len(messages) > 150
    missing = sorted(m for m in messages if not (catalog.get(m) and catalog.get(m).string))  # type: ignore[union-attr]
    assert missing == []
    for message in catalog:
        if message.id:
            assert _fields(str(message.string)) == _fields(str(message.id)), message.id
    assert translate("zh-Hant", "Staff sign-in") == "員工登入"
    assert translate("en", "Staff sign-in") == "Staff sign-in"


def _cli(server: LiveServer, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CROSSBAY_")}
    clean.update(
        CROSSBAY_DATABASE_URL=server.runtime.settings.database_url,
        CROSSBAY_SANDBOX="1",
        CROSSBAY_VAR_DIR=str(tmp_path),
        **env,
    )
    return subprocess.run(
        [CROSSBAY, *args], env=clean, capture_output=True, text=True, timeout=60, check=False
    )


def test_staff_add_prints_a_totp_uri_and_qr_and_disable_ends_sign_in(
    server: LiveServer, tmp_path: Path
) -> None:
    # The CLI's own secrets would differ from the live server's: hand it the server's PII keys.
    settings = server.runtime.settings
    keys = {
        "CROSSBAY_PII_KEY": settings.secret("pii_key"),
        "CROSSBAY_PII_LOOKUP_KEY": settings.secret("pii_lookup_key"),
    }
    sensitive.register(PASSWORD)
    added = _cli(
        server,
        tmp_path,
        "staff",
        "add",
        "Ops.Lead@Staff.Crossbay.Test",
        "--role",
        "support",
        **keys,
        CROSSBAY_STAFF_PASSWORD=PASSWORD,
    )
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr
    uri = re.search(r"otpauth://totp/\S+", added.stdout)
    assert uri is not None and "crossbay" in uri.group(0)
    assert "█" in added.stdout or "▀" in added.stdout  # the QR code, drawn in the terminal
    secret = pyotp.parse_uri(uri.group(0)).secret
    sensitive.register(secret)

    twice = _cli(
        server,
        tmp_path,
        "staff",
        "add",
        "ops.lead@staff.crossbay.test",
        "--role",
        "admin",
        **keys,
        CROSSBAY_STAFF_PASSWORD=PASSWORD,
    )
    assert twice.returncode == 1 and "staff_exists" in twice.stderr
    weak = _cli(
        server,
        tmp_path,
        "staff",
        "add",
        "new@staff.crossbay.test",
        "--role",
        "admin",
        **keys,
        CROSSBAY_STAFF_PASSWORD="short",
    )
    assert weak.returncode == 1 and "validation_failed" in weak.stderr

    import httpx

    with httpx.Client(base_url=server.url, timeout=60) as browser:
        code = pyotp.TOTP(secret).at(server.runtime.clock.now())
        sensitive.register(code)
        signed = browser.post(
            "/admin/signin",
            data={
                "csrf": sign_in_form(browser),
                "email": "ops.lead@staff.crossbay.test",
                "password": PASSWORD,
                "code": code,
            },
        )
        assert signed.status_code == 303
    disabled = _cli(server, tmp_path, "staff", "disable", "ops.lead@staff.crossbay.test", **keys)
    assert disabled.returncode == 0, disabled.stderr
    assert _cli(server, tmp_path, "staff", "disable", "nobody@staff.crossbay.test", **keys).returncode == 1
