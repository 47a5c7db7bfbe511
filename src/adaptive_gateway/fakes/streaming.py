"""Writing fake responses: paced streams, dropped connections, malformed chunks, stream counters."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.state import STATE, StreamStats


@dataclass(frozen=True, slots=True)
class Frame:
    """One unit written to a stream; content frames are paced, counted by drop_after, and split."""

    data: bytes
    content: bool = False


class _Dropped(Exception):
    """The fake closed the connection on purpose."""


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload)


async def json_response(
    request: web.Request, payload: Any, knobs: Knobs, headers: Mapping[str, str] | None = None
) -> web.StreamResponse:
    """A JSON answer; `malformed` truncates the body and `drop_after` cuts the connection mid-body."""
    body = dumps(payload)
    if knobs.malformed:
        body = body[: len(body) // 2]
    if knobs.drop_after is None:
        return web.Response(body=body, content_type="application/json", headers=headers)
    return await _cut_body(request, body, headers)


async def _cut_body(
    request: web.Request, body: bytes, headers: Mapping[str, str] | None
) -> web.StreamResponse:
    resp = web.StreamResponse(headers=headers)
    resp.content_type = "application/json"
    resp.content_length = len(body)
    await resp.prepare(request)
    await resp.write(body[: len(body) // 2])
    request.app[STATE].stats.dropped_streams += 1
    _close(request)
    return resp


async def send_stream(
    request: web.Request,
    frames: Sequence[Frame],
    knobs: Knobs,
    *,
    content_type: str,
    malformed: bytes,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Stream `frames`, honouring token_rate, drop_after and malformed, and keep the stream counters."""
    stats = request.app[STATE].stats
    resp = web.StreamResponse(headers=headers)
    resp.content_type = content_type
    stats.active_streams += 1
    try:
        await resp.prepare(request)
        if knobs.token_rate <= 0 and knobs.drop_after is None and not knobs.malformed:
            await resp.write(b"".join(frame.data for frame in frames))
        else:
            await _write_paced(resp, frames, knobs, malformed)
        if knobs.linger_ms > 0:
            await asyncio.sleep(knobs.linger_ms / 1000)
        await resp.write_eof()
        stats.completed_streams += 1
    except _Dropped:
        stats.dropped_streams += 1
        _close(request)
    except (ConnectionError, asyncio.CancelledError):
        stats.cancelled_streams += 1
        raise
    finally:
        stats.active_streams -= 1
    return resp


async def _write_paced(resp: web.StreamResponse, frames: Sequence[Frame], knobs: Knobs, bad: bytes) -> None:
    delay = 1 / knobs.token_rate if knobs.token_rate > 0 else 0.0
    content_at = [i for i, frame in enumerate(frames) if frame.content]
    bad_at = content_at[len(content_at) // 2] if knobs.malformed and content_at else -1
    cut = _cut_index(content_at, len(frames), knobs.drop_after)
    for i, frame in enumerate(frames[:cut]):
        if frame.content and delay:
            await asyncio.sleep(delay)
        if i == bad_at:
            await resp.write(bad)
        await resp.write(frame.data)
    if cut < len(frames):
        raise _Dropped


def _cut_index(content_at: list[int], total: int, drop_after: int | None) -> int:
    """Index of the first frame not sent: right after the drop_after-th content frame."""
    if drop_after is None:
        return total
    if drop_after < len(content_at):
        return content_at[drop_after]
    return content_at[-1] + 1 if content_at else 0


def _close(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.close()


def counters(request: web.Request) -> StreamStats:
    return request.app[STATE].stats
