"""Serve the app with uvicorn (httptools + uvloop). With ``workers > 1`` a small supervisor forks one
process per worker, each bound to the port with SO_REUSEPORT (the kernel balances connections), and
forwards SIGTERM / SIGINT (graceful drain) and SIGHUP (config reload) to them; a worker that dies
unexpectedly is restarted with backoff.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from adaptive_gateway.server.app import GatewayApp

log = logging.getLogger("adaptive_gateway")


def _socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.set_inheritable(True)
    return sock


def check_port(host: str, port: int) -> str | None:
    """None when ``host:port`` can be bound, else why not."""
    try:
        _socket(host, port, reuse_port=False).close()
    except OSError as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


def serve_one(config_path: Path, host: str, port: int, reuse_port: bool, drain_seconds: float) -> None:
    from adaptive_gateway.server.app import create_app
    from adaptive_gateway.server.protocol import GatewayHttpProtocol

    app = create_app(config_path)
    # long-lived startup objects (config, modules) never become garbage: keep the cyclic GC off them,
    # and collect the young generation less often (request objects are short-lived and acyclic)
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=GatewayHttpProtocol,
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=int(drain_seconds) or None,
        timeout_keep_alive=75,
        backlog=4096,
        server_header=False,
        date_header=False,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    attach(app, server)
    server.run(sockets=[_socket(host, port, reuse_port)])


def attach(app: GatewayApp, server: uvicorn.Server) -> None:
    """Tell the gateway when other requests are being answered: the server's request tasks (when several
    are, the finished ones' finishers run together at the end of the loop iteration, Gateway.finish)."""
    tasks = server.server_state.tasks
    app.gateway.busy = lambda: len(tasks) > 1


def serve(config_path: Path, host: str, port: int, workers: int, drain_seconds: float) -> int:
    if workers <= 1:
        serve_one(config_path, host, port, False, drain_seconds)
        return 0
    return _supervise(config_path, host, port, workers, drain_seconds)


def _spawn(config_path: Path, host: str, port: int, drain_seconds: float) -> int:
    pid = os.fork()
    if pid == 0:  # child
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        try:
            serve_one(config_path, host, port, True, drain_seconds)
        except BaseException:
            logging.getLogger("adaptive_gateway").exception("worker failed")
            os._exit(1)
        os._exit(0)
    return pid


def _preload() -> None:
    """Import the serving code once, before forking, and move it out of the collector's reach: the
    workers share those pages copy-on-write instead of each loading its own copy (PSS of supervisor +
    2 workers measured 185 -> 138 MB; docs/benchmarks.md)."""
    import importlib

    from adaptive_gateway.server import app as _app  # noqa: F401
    from adaptive_gateway.server.extensions import EXTENSIONS

    for name in EXTENSIONS:
        importlib.import_module(name)
    importlib.import_module("adaptive_gateway.server.protocol")
    gc.collect()
    gc.freeze()


def _supervise(config_path: Path, host: str, port: int, workers: int, drain_seconds: float) -> int:
    from adaptive_gateway.observability import multiproc

    metrics_dir = multiproc.prepare()  # before forking: the workers share metrics through it
    _preload()
    stopping = False
    children = {_spawn(config_path, host, port, drain_seconds) for _ in range(workers)}

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
        for pid in children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    backoff = 0.5
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        children.discard(pid)
        multiproc.worker_exited(pid)
        if not stopping:
            log.error("worker %d exited (status %d); restarting in %.1fs", pid, status, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, 30)
            children.add(_spawn(config_path, host, port, drain_seconds))
    multiproc.cleanup(metrics_dir)
    sys.stdout.flush()
    return 0
