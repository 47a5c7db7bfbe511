"""Per-server state of a fake upstream: knobs, recorded requests, stream counters, failure budget."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from adaptive_gateway.fakes.knobs import Knobs

FAIL_KEY_HEADER = "x-fake-fail-key"
_FAIL_HEADERS = ("x-fake-status", "x-fake-fail-times")


@dataclass(frozen=True)
class Received:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-case header names."""
    json: Any
    """The parsed JSON body, or None when there was none or it was not JSON."""


@dataclass
class StreamStats:
    active_streams: int = 0
    """Streams whose response is being written right now."""
    completed_streams: int = 0
    cancelled_streams: int = 0
    """Streams whose connection closed (client went away) before they finished."""
    dropped_streams: int = 0
    """Streams the fake cut on purpose (`drop_after`)."""


@dataclass
class FakeState:
    knobs: Knobs = field(default_factory=Knobs)
    record: bool = True
    models: tuple[str, ...] = ()
    received: list[Received] = field(default_factory=list)
    stats: StreamStats = field(default_factory=StreamStats)
    header_failures: dict[tuple[str, int, int], int] = field(default_factory=dict)
    """Failures served per (fail key, status, fail_times) when fail_times came from headers."""

    def knobs_for(self, request: web.Request) -> Knobs:
        return self.knobs.with_headers(request.headers)

    def should_fail(self, knobs: Knobs, request: web.Request) -> bool:
        """Whether this request gets `knobs.status`, spending one of `fail_times` if it does."""
        if not knobs.fails:
            return False
        if knobs.fail_times <= 0:
            return True
        if not any(name in request.headers for name in _FAIL_HEADERS):
            return self._spend_own_failure()
        key = (request.headers.get(FAIL_KEY_HEADER, ""), knobs.status, knobs.fail_times)
        served = self.header_failures.get(key, 0)
        if served >= knobs.fail_times:
            return False
        self.header_failures[key] = served + 1
        return True

    def _spend_own_failure(self) -> bool:
        # Spent failures turn the shared knobs back into a healthy upstream.
        if self.knobs.fail_times <= 0:
            return self.knobs.fails
        self.knobs.fail_times -= 1
        if self.knobs.fail_times == 0:
            self.knobs.status = 200
        return True


STATE = web.AppKey("fake_state", FakeState)
MODEL_NAMES = web.AppKey("fake_model_names", tuple)
"""The model names this app lists: the server's own, or the provider's defaults."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def record_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    if state.record:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        state.received.append(Received(request.method, request.path, dict(request.query), headers, body))
    return await handler(request)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object ({} when empty or not an object)."""
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def wait_before_answer(knobs: Knobs) -> None:
    """Latency before headers; with `hang`, wait until the client gives up (the handler is cancelled)."""
    if knobs.latency_ms > 0:
        await asyncio.sleep(knobs.latency_ms / 1000)
    if knobs.hang:
        await asyncio.Event().wait()


async def begin(request: web.Request) -> tuple[Knobs, dict[str, Any], bool]:
    """Knobs for this request, its JSON body, and whether it must get the error status (after latency)."""
    state = request.app[STATE]
    knobs = state.knobs_for(request)
    body = await read_json(request)
    await wait_before_answer(knobs)
    # A snapshot, because spending the last failure resets the shared knobs' status.
    snapshot = dataclasses.replace(knobs) if knobs.fails else knobs
    return snapshot, body, state.should_fail(knobs, request)


def retry_headers(knobs: Knobs) -> dict[str, str]:
    headers: dict[str, str] = {}
    if knobs.retry_after is not None:
        seconds = knobs.retry_after
        headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    if knobs.retry_after_ms is not None:
        headers["retry-after-ms"] = str(knobs.retry_after_ms)
    return headers


def new_app(state: FakeState, default_models: tuple[str, ...]) -> web.Application:
    app = web.Application(middlewares=[record_middleware], client_max_size=64 * 1024 * 1024)
    app[STATE] = state
    app[MODEL_NAMES] = state.models or default_models
    return app
