"""`crossbay seed` adds the demo promotions once; `promotions coupon-codes` prints new codes as CSV."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from pathlib import Path

from tests.support.servers import CROSSBAY


def run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CROSSBAY_")}
    return subprocess.run(
        [CROSSBAY, *args],
        env={**clean, "CROSSBAY_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_seed_then_bulk_codes_as_csv(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    assert run(url, "db", "upgrade").returncode == 0
    first, again = run(url, "seed"), run(url, "seed")
    assert "demo promotions: 3 added" in first.stdout and "demo promotions: 0 added" in again.stdout
    listed = run(url, "promotions", "list").stdout.splitlines()
    travel = next(line.split("\t")[0] for line in listed if "\tTRAVEL15\t" in line)
    made = run(url, "promotions", "coupon-codes", travel, "--count", "25", "--prefix", "hk")
    assert made.returncode == 0, made.stderr
    rows = list(csv.DictReader(io.StringIO(made.stdout)))
    assert len({r["code"] for r in rows}) == 25 and all(r["code"].startswith("HK") for r in rows)
    assert {r["promotion_id"] for r in rows} == {travel}
    unknown = run(url, "promotions", "coupon-codes", "promo_nope", "--count", "1")
    assert unknown.returncode == 1 and "not_found" in unknown.stderr and "Traceback" not in unknown.stderr
