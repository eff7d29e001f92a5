"""The accessibility check: axe-core (from npm, tests/browser/package.json) run inside the page.

`make test` installs it with `npm ci`; a run without it installs it the same way first.
"""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
# Impacts axe rates as blocking someone from using the page; "moderate" and "minor" are reported
# by axe too, but are not what this check fails on.
BLOCKING = ("serious", "critical")
_RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " — " + (n.failureSummary || "")),
  }));
}"""


@cache
def axe_source() -> str:
    if not AXE.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300)
    return AXE.read_text()


def blocking_violations(page: Page) -> list[dict[str, Any]]:
    # Evaluated over the DevTools protocol, so the page's CSP (no inline scripts) does not stop it.
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    found: list[dict[str, Any]] = page.evaluate(_RUN)
    return [v for v in found if v["impact"] in BLOCKING]


def assert_accessible(page: Page, name: str) -> None:
    violations = blocking_violations(page)
    assert not violations, f"{name} ({page.url}): " + "; ".join(
        f"[{v['impact']}] {v['id']}: {v['help']} at {v['nodes']}" for v in violations
    )
