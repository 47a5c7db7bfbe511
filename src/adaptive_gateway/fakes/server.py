"""FakeUpstream: one fake provider on a real local HTTP port, for tests (async or threaded) and benchmarks."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Literal

from aiohttp import web

from adaptive_gateway.fakes import anthropic, gemini, ollama, openai
from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.state import FakeState, Received, StreamStats

SHUTDOWN_TIMEOUT = 0.5
"""Seconds `stop()` waits for requests still in flight (hung ones) before closing them."""

Kind = Literal["openai", "anthropic", "gemini", "ollama"]

BUILDERS: Mapping[str, Callable[[FakeState], web.Application]] = MappingProxyType(
    {
        "openai": openai.build_app,
        "anthropic": anthropic.build_app,
        "gemini": gemini.build_app,
        "ollama": ollama.build_app,
    }
)


class FakeUpstream:
    """A fake provider speaking `kind`'s native wire format on 127.0.0.1.

    `knobs` may be replaced or mutated at any time; the next requests follow it. `received` lists
    every request seen. The stream counters (`active_streams`, `cancelled_streams`, ...) let a test
    check that a client going away also closed the upstream stream.
    """

    def __init__(
        self,
        kind: Kind,
        knobs: Knobs | None = None,
        *,
        models: Sequence[str] = (),
        record: bool = True,
    ) -> None:
        if kind not in BUILDERS:
            raise ValueError(f"unknown fake upstream kind {kind!r}; expected one of {sorted(BUILDERS)}")
        self.kind = kind
        self._state = FakeState(knobs=knobs or Knobs(), record=record, models=tuple(models))
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._host = "127.0.0.1"
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def knobs(self) -> Knobs:
        return self._state.knobs

    @knobs.setter
    def knobs(self, value: Knobs) -> None:
        self._state.knobs = value

    @property
    def received(self) -> list[Received]:
        return self._state.received

    @property
    def stats(self) -> StreamStats:
        return self._state.stats

    @property
    def active_streams(self) -> int:
        return self._state.stats.active_streams

    @property
    def cancelled_streams(self) -> int:
        return self._state.stats.cancelled_streams

    @property
    def completed_streams(self) -> int:
        return self._state.stats.completed_streams

    @property
    def dropped_streams(self) -> int:
        return self._state.stats.dropped_streams

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """Root URL without an API version suffix, e.g. http://127.0.0.1:41234."""
        if not self._port:
            raise RuntimeError("FakeUpstream is not started")
        return f"http://{self._host}:{self._port}"

    def build_app(self) -> web.Application:
        return BUILDERS[self.kind](self._state)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port (0 = a free port); returns once the socket is bound."""
        # handler_cancellation: a client that goes away cancels the handler, so hung and slow
        # streams end and are counted as cancelled.
        runner = web.AppRunner(
            self.build_app(), access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        await web.SockSite(runner, sock, backlog=1024).start()
        self._runner, self._host, self._port = runner, host, sock.getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeUpstream:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def reset(self) -> None:
        """Forget recorded requests and zero the stream counters."""
        self._state.received.clear()
        self._state.stats = StreamStats()
        self._state.header_failures.clear()

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> FakeUpstream:
        """Run the server on its own event loop in a daemon thread; returns once it listens."""
        ready = threading.Event()
        errors: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start(host, port))
            except BaseException as exc:  # reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"fake-{self.kind}", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]
        return self

    def stop_thread(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> FakeUpstream:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()
