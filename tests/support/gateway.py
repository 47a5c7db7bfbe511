"""Run the real gateway app under uvicorn in a background thread on a free local port."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from pathlib import Path

import uvicorn

from adaptive_gateway.config import compile_config, hash_key, load_config
from adaptive_gateway.server.app import GatewayApp, build_app
from adaptive_gateway.server.protocol import GatewayHttpProtocol
from adaptive_gateway.server.runner import attach

MASTER_KEY = "sk-test-master-0123456789"
MASTER_HASH = hash_key(MASTER_KEY)


def _below_ephemeral() -> range:
    """Ports the kernel never hands out as the local end of an outgoing connection (those come from
    ``ip_local_port_range``): the 12,000 below that range."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(max(1024, low - 12_000), low)


_PORTS = _below_ephemeral()


def free_port() -> int:
    """A local port that is free now, for a server started later (a subprocess given ``--port``). Picked
    at random below the ephemeral range: a port from ``bind(0)`` is an ephemeral one, and between its
    close and the server's bind any outgoing connection, in this test or a parallel one, may be given it
    as its local port (a CI failure: "address already in use"). Where the server can take a socket,
    :func:`listening_socket` holds the port instead."""
    for _ in range(200):
        port = random.choice(_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_PORTS}")


def listening_socket() -> socket.socket:
    """A socket bound to a free local port and listening: the port stays ours until it is closed (a port
    from :func:`free_port` is free only until another server, in this test or a parallel one, binds
    it first)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def openai_config(upstream_url: str, *, mode: str = "gateway", extra: str = "") -> str:
    """A config with one OpenAI-compatible provider ``fake`` and model ``gpt-test`` on it."""
    return f"""
auth: {{mode: {mode}, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false, reload_poll_seconds: 0.2}}
providers:
  fake: {{kind: openai-compatible, base_url: "{upstream_url}/v1", api_key: "sk-upstream-secret",
         timeouts: {{connect: 2, read: 3, total: 10}}}}
models:
  gpt-test:
    deployments: [{{provider: fake, model: upstream-model, input_price: 1.0, output_price: 2.0}}]
aliases:
  gpt-4o-mini: gpt-test
{extra}
"""


class GatewayThread:
    """``sock``: the listening socket to serve on (see :func:`listening_socket`), for a test that needs
    the port before it has the config; by default one of its own."""

    def __init__(self, config_text: str, tmp_path: Path, sock: socket.socket | None = None) -> None:
        self.config_path = tmp_path / "config.yaml"
        self.config_path.write_text(config_text)
        cfg = load_config(self.config_path)
        self.app: GatewayApp = build_app(compile_config(cfg, text=config_text), self.config_path)
        self._sock = sock if sock is not None else listening_socket()
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> GatewayThread:
        config = uvicorn.Config(
            self.app,
            loop="asyncio",
            lifespan="on",
            http=GatewayHttpProtocol,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        server = self._server
        attach(self.app, server)  # as the real server does: finishers batched while others are answered

        def run() -> None:
            asyncio.run(server.serve(sockets=[self._sock]))

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()  # the server closed its listener; a gateway never started still holds it

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
