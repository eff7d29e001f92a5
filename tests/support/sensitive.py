"""Values that must never appear in a log line: tests register them, the run's end looks for them.

Each pytest process writes its captured log records and the values it
registered into the run's directory; the controlling process greps every log
of the run (in-process records and server processes' output) for every value.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

_handler: logging.Handler | None = None
_values_file: Path | None = None
_SKIP_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class _FileHandler(logging.Handler):
    def __init__(self, path: Path) -> None:
        super().__init__(level=logging.DEBUG)
        self.file = path.open("a", encoding="utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        extras = {k: v for k, v in record.__dict__.items() if k not in _SKIP_ATTRS}
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.file.write(
            json.dumps({"name": record.name, "message": text, **extras}, default=str, ensure_ascii=False)
            + "\n"
        )
        self.file.flush()


def start_capture(run_dir: Path) -> None:
    global _handler, _values_file
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    _handler = _FileHandler(run_dir / f"inprocess-{worker}.log")
    logging.getLogger().addHandler(_handler)
    logging.getLogger().setLevel(logging.INFO)
    for noisy in ("httpcore", "httpx", "uvicorn.access", "hpack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _values_file = run_dir / f"sensitive-values-{worker}.jsonl"


def stop_capture() -> None:
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)


def register(*values: str) -> None:
    """Mark values (an OTP code, a token, an ID number, a name) as never to be logged."""
    if _values_file is None:
        return  # not under pytest (a benchmark): nothing to check
    with _values_file.open("a", encoding="utf-8") as handle:
        for value in values:
            if value and len(value) >= 4:
                # JSON log lines may carry the value escaped (\\uXXXX): look for both spellings.
                for spelling in {value, json.dumps(value)[1:-1]}:
                    handle.write(json.dumps(spelling, ensure_ascii=False) + "\n")


def find_leaks(run_dir: Path) -> list[str]:
    values: set[str] = set()
    for path in run_dir.glob("sensitive-values-*.jsonl"):
        values |= {json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line}
    logs = [p for p in run_dir.parent.rglob("*.log") if p.stat().st_mtime >= run_dir.stat().st_ctime - 1]
    # Whole tokens only: a 6-digit code may well occur inside some random hex id.
    patterns = {value: re.compile(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])") for value in values}
    leaks = []
    for path in logs:
        text = path.read_text(encoding="utf-8", errors="replace")
        leaks += [f"{path.name}: {value!r}" for value, pattern in patterns.items() if pattern.search(text)]
    return leaks
