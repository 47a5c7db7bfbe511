"""A doctor context on a config text, and a tiny HTTP server with a chosen status and clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from adaptive_gateway.doctor import DoctorContext


def context(tmp_path: Path, config: str | None, env: dict[str, str] | None = None) -> DoctorContext:
    state = tmp_path / "gw-home"
    state.mkdir(mode=0o700, exist_ok=True)
    path = state / "config.yaml"
    if config is not None:
        path.write_text(config)
        path.chmod(0o600)
    return DoctorContext(state, path, tmp_path, env or {}, timeout=2.0).load()


@contextmanager
def upstream(status: int = 200, skew: float = 0.0, body: bytes = b'{"data": []}') -> Iterator[str]:
    """An HTTP server answering every GET with ``status`` and a ``Date`` header ``skew`` seconds off."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def date_time_string(self, timestamp: float | None = None) -> str:
            return formatdate(time.time() + skew, usegmt=True)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
