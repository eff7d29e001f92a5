"""An ASGI app served by uvicorn in a thread of the test process: real HTTP on a free port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.support.journey import poll


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Yield the base URL while ``app`` is served; stop the server afterwards."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    try:
        poll(lambda: server.started, bool, timeout=20, interval=0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
