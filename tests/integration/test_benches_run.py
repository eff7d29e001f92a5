"""The benchmarks behind `make bench` still run (tiny sizes): CI does not time them, but a bench
that no longer starts is only found the day someone needs its numbers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def bench(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.xdist_group("benches")
def test_the_rating_bench_rates_alike_on_two_streams_and_one() -> None:
    # The bench itself checks that one connection comes to the same results as two streams.
    out = bench("rating.py", "--records", "4000", "--esims", "80", "--batch", "700")
    assert "results {'no_bundle': 200, 'rated': 3800}" in out
    assert "ratio:" in out and "ratio on one connection:" in out


@pytest.mark.xdist_group("benches")
def test_the_credit_control_bench_runs() -> None:
    out = bench("credit.py", "--esims", "12", "--rounds", "2")
    assert "reserve" in out and "update" in out and "p99" in out
