"""The `crossbay` command: help on every command, and a clear refusal without secrets."""

from __future__ import annotations

import base64
import os
import subprocess

import pytest

from tests.support.keys import secret_values
from tests.support.servers import CROSSBAY


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CROSSBAY_")}
    return subprocess.run(
        [CROSSBAY, *args], env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    "command", [[], ["serve"], ["worker"], ["demo"], ["db"], ["db", "upgrade"], ["seed"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_production_start_without_secrets_names_what_is_missing() -> None:
    result = run("serve", "--port", "1", CROSSBAY_DATABASE_URL="sqlite:////nonexistent/never.db")
    assert result.returncode == 2
    assert "CROSSBAY_SESSION_KEY" in result.stderr and "CROSSBAY_PII_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_short_key_is_refused() -> None:
    env = {f"CROSSBAY_{name.upper()}": value for name, value in secret_values().items()}
    env["CROSSBAY_PII_KEY"] = base64.b64encode(b"short").decode()
    result = run("worker", **env)
    assert result.returncode == 2 and "exactly 32 bytes" in result.stderr
