"""Incremental Server-Sent Events and NDJSON splitting over arbitrary byte chunks, and the generic
JSON stream parser every adapter uses on top of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import orjson

from adaptive_gateway.types import StreamError, StreamEvent


class SSEDecoder:
    """Feed raw bytes; get complete ``(event, data)`` pairs. Handles ``\\n\\n`` and ``\\r\\n\\r\\n``."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        buf = self._buf + chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        *complete, self._buf = buf.split(b"\n\n")
        out = []
        for block in complete:
            event, data = "", []
            for line in block.split(b"\n"):
                if line.startswith(b"data:"):
                    data.append(line[6:] if line[5:6] == b" " else line[5:])
                elif line.startswith(b"event:"):
                    event = line[6:].strip().decode()
            if data:
                out.append((event, b"\n".join(data)))
        return out

    def close(self) -> list[tuple[str, bytes]]:
        rest, self._buf = self._buf, b""
        return self.feed(rest + b"\n\n") if rest.strip() else []


class NDJSONDecoder:
    """Feed raw bytes; get complete JSON lines (as bytes)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        *lines, self._buf = (self._buf + chunk).split(b"\n")
        return [line for line in lines if line.strip()]

    def close(self) -> list[bytes]:
        rest, self._buf = self._buf, b""
        return [rest] if rest.strip() else []


class EventDecoder(Protocol):
    """A format's stream decoder: one decoded JSON event -> canonical events (``close`` optional)."""

    def feed(self, data: dict[str, Any]) -> list[StreamEvent]: ...


def error_message(data: dict[str, Any]) -> str | None:
    """The message of an in-stream ``{"error": ...}`` chunk (OpenAI, Gemini, Ollama), else None."""
    err = data.get("error")
    if err is None:
        return None
    if isinstance(err, dict):
        return str(err.get("message") or "upstream stream error")
    return str(err)


class JsonStreamParser:
    """Framed JSON events (SSE, or NDJSON) -> canonical events through a format's decoder.

    Malformed events become :class:`StreamError` events instead of raising; ``error_of`` spots in-stream
    error chunks (None when the format's decoder handles them itself, as Anthropic's does)."""

    __slots__ = ("_decoder", "_error_of", "_frames")

    def __init__(
        self,
        decoder: EventDecoder,
        *,
        ndjson: bool = False,
        error_of: Callable[[dict[str, Any]], str | None] | None = error_message,
    ) -> None:
        self._decoder = decoder
        self._error_of = error_of
        self._frames: SSEDecoder | NDJSONDecoder = NDJSONDecoder() if ndjson else SSEDecoder()

    def _events(self, payloads: list[bytes]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for data in payloads:
            if data == b"[DONE]":
                continue
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                out.append(StreamError(f"malformed chunk from upstream: {data[:80]!r}"))
                continue
            if not isinstance(obj, dict):
                continue
            message = self._error_of(obj) if self._error_of is not None else None
            if message is not None:
                out.append(StreamError(message))
                continue
            out.extend(self._decoder.feed(obj))
        return out

    def _payloads(self, chunk: bytes | None) -> list[bytes]:
        """Complete payloads in ``chunk`` (None: what is left at the end of the stream)."""
        if isinstance(self._frames, NDJSONDecoder):
            return self._frames.feed(chunk) if chunk is not None else self._frames.close()
        events = self._frames.feed(chunk) if chunk is not None else self._frames.close()
        return [data for _, data in events]

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        return self._events(self._payloads(chunk))

    def close(self) -> list[StreamEvent]:
        tail = self._events(self._payloads(None))
        closer: Callable[[], list[StreamEvent]] | None = getattr(self._decoder, "close", None)
        return tail + (closer() if closer is not None else [])
