"""Real server processes for end-to-end tests and benchmarks: `crossbay demo`, `serve`, `worker`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import sqlalchemy as sa

from tests.support.journey import poll

REPO = Path(__file__).resolve().parents[2]
CROSSBAY = str(Path(sys.executable).with_name("crossbay"))
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LOG_DIR = REPO / "var" / "test-logs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_url() -> str:
    return os.environ.get("CROSSBAY_TEST_DATABASE_URL", DEFAULT_PG)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema on the test server, dropped afterwards; yields a URL with that search_path."""
    base = postgres_url()
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(base)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{name}"
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        engine.dispose()


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    url: str | None = None

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up, as when a machine dies."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log_file.close()

    def log_text(self) -> str:
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")


@dataclass
class Deployment:
    """Processes sharing one database and one var dir (so they share the sandbox secrets)."""

    database_url: str
    var_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="crossbay-var-")))
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)

    def env(self, **more: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSBAY_")}
        env.update(
            CROSSBAY_DATABASE_URL=self.database_url,
            CROSSBAY_VAR_DIR=str(self.var_dir),
            CROSSBAY_SANDBOX="1",
            CROSSBAY_SECURE_COOKIES="0",
            **self.extra_env,
            **more,
        )
        return env

    def start(self, name: str, *args: str, port: int | None = None, **env: str) -> Process:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log_path = LOG_DIR / f"{name}-{uuid.uuid4().hex[:6]}.log"
        log_file = log_path.open("wb")
        popen = subprocess.Popen(
            [CROSSBAY, *args], env=self.env(**env), stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO
        )
        process = Process(name, popen, log_path, log_file, f"http://127.0.0.1:{port}" if port else None)
        self.processes.append(process)
        if port:

            def ready() -> bool:
                if popen.poll() is not None:
                    raise AssertionError(f"{name} exited:\n{process.log_text()[-3000:]}")
                try:
                    return httpx.get(f"{process.url}/readyz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            poll(ready, bool, timeout=60, interval=0.2)
        return process

    def start_cluster(self, servers: int = 2) -> list[str]:
        """Migrate, seed, then N `crossbay serve` and one `crossbay worker`; returns the servers' URLs.

        Partners (the sandboxes) call back to the first server; clients may use any.
        """
        self.run("db", "upgrade")
        self.run("seed")
        ports = [free_port() for _ in range(servers)]
        base = {"CROSSBAY_BASE_URL": f"http://127.0.0.1:{ports[0]}"}
        for index, port in enumerate(ports):
            self.start(f"serve{index}", "serve", "--port", str(port), port=port, **base)
        self.start("worker", "worker", **base)
        return [f"http://127.0.0.1:{port}" for port in ports]

    def run(self, *args: str) -> str:
        result = subprocess.run(
            [CROSSBAY, *args], env=self.env(), capture_output=True, cwd=REPO, check=False, timeout=120
        )
        assert result.returncode == 0, result.stderr.decode()[-3000:]
        return result.stdout.decode() + result.stderr.decode()

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        shutil.rmtree(self.var_dir, ignore_errors=True)

    def logs(self) -> str:
        return "\n".join(p.log_text() for p in self.processes)


@contextmanager
def demo_on_sqlite(**extra_env: str) -> Iterator[tuple[Deployment, Process]]:
    """`crossbay demo` on a fresh SQLite file, as a newcomer runs it."""
    directory = Path(tempfile.mkdtemp(prefix="crossbay-demo-"))
    deployment = Deployment(f"sqlite:///{directory}/crossbay.db", extra_env=extra_env)
    try:
        port = free_port()
        yield deployment, deployment.start("demo", "demo", "--port", str(port), port=port)
    finally:
        deployment.stop()
        shutil.rmtree(directory, ignore_errors=True)
