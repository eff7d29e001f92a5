"""The end-of-run log check finds a registered value in any log of the run, in either spelling."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import sensitive


def test_finds_plain_and_json_escaped_values(tmp_path: Path) -> None:
    run_dir = tmp_path / "run-1"
    run_dir.mkdir()
    (run_dir / "sensitive-values-x.jsonl").write_text(
        "\n".join(
            json.dumps(v, ensure_ascii=False)
            for v in ["123456", "4567", "陳大文", json.dumps("陳大文")[1:-1]]
        )
    )
    (tmp_path / "server.log").write_text('{"message": "code 123456"}\n')
    (run_dir / "inprocess-x.log").write_text(json.dumps({"message": "name 陳大文"}) + "\n")
    (tmp_path / "clean.log").write_text('{"message": "job job_1234567ab done"}\n')
    leaks = sensitive.find_leaks(run_dir)
    assert any("server.log" in leak and "123456" in leak for leak in leaks)
    assert any("inprocess-x.log" in leak for leak in leaks)
    assert not any("clean.log" in leak for leak in leaks)
