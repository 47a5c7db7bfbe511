"""Behaviour switches of the fake upstreams, settable in code or per request with `x-fake-*` headers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

HEADER_PREFIX = "x-fake-"


@dataclass
class Knobs:
    """How a fake upstream answers. Every field can be overridden per request with `x-fake-<field>`."""

    latency_ms: float = 0
    """Delay before the response headers."""
    token_rate: float = 0
    """Streamed content chunks per second; 0 sends them without delay."""
    tokens: int = 8
    """Words in the default answer (cut or padded)."""
    text: str | None = None
    """A fixed answer text, sent word by word."""
    echo: bool = False
    """Answer with the text of the last user message."""
    status: int = 200
    """HTTP status; anything else returns the provider's native error body."""
    fail_times: int = 0
    """With status != 200: only the next N requests fail, then the upstream answers normally (0 = always)."""
    retry_after: float | None = None
    """Adds a `Retry-After` header (seconds) to error responses."""
    retry_after_ms: int | None = None
    """Adds a `retry-after-ms` header to error responses."""
    drop_after: int | None = None
    """Streaming: close the connection after N content chunks, without finishing the stream.
    Non-streaming: close it halfway through the JSON body."""
    hang: bool = False
    """Never answer; the request ends when the client gives up."""
    malformed: bool = False
    """Streaming: send one chunk that is not valid JSON in the middle of the stream.
    Non-streaming: a 200 whose JSON body is cut in half."""
    tool_call: bool = False
    """Answer with a call to the request's tools."""
    parallel_tools: int = 1
    """How many tool calls to make when calling tools (cycling through the tools)."""
    reasoning: str | None = None
    """Reasoning text sent before the answer where the wire format has a place for it."""
    linger_ms: float = 0
    """Streaming: wait this long after the last event (the end marker) before ending the body."""
    ignore_stream: bool = False
    """Answer a streaming request with the whole JSON answer, as servers that cannot stream do."""

    def with_headers(self, headers: Mapping[str, str]) -> Knobs:
        """A copy with the `x-fake-*` overrides found in `headers` applied (self when there are none)."""
        changes: dict[str, object] = {}
        for name, raw in headers.items():
            key = name.lower()
            if not key.startswith(HEADER_PREFIX):
                continue
            field = key[len(HEADER_PREFIX) :].replace("-", "_")
            parse = _PARSERS.get(field)
            if parse is not None:
                changes[field] = parse(raw.strip())
        return dataclasses.replace(self, **changes) if changes else self  # type: ignore[arg-type]

    def to_headers(self) -> dict[str, str]:
        """The `x-fake-*` headers that reproduce every field that differs from the defaults."""
        defaults = Knobs()
        out: dict[str, str] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value != getattr(defaults, field.name):
                out[HEADER_PREFIX + field.name.replace("_", "-")] = _render(value)
        return out

    @property
    def fails(self) -> bool:
        return self.status != 200


def _bool(raw: str) -> bool:
    return raw.lower() in {"1", "true", "yes", "on"}


def _optional(parse: Callable[[str], object]) -> Callable[[str], object]:
    def parse_optional(raw: str) -> object:
        return None if raw.lower() in {"", "none", "null"} else parse(raw)

    return parse_optional


def _render(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else str(value)


_PARSERS: Mapping[str, Callable[[str], object]] = MappingProxyType(
    {
        "latency_ms": float,
        "token_rate": float,
        "tokens": int,
        "text": _optional(str),
        "echo": _bool,
        "status": int,
        "fail_times": int,
        "retry_after": _optional(float),
        "retry_after_ms": _optional(int),
        "drop_after": _optional(int),
        "hang": _bool,
        "malformed": _bool,
        "tool_call": _bool,
        "parallel_tools": int,
        "reasoning": _optional(str),
        "linger_ms": float,
        "ignore_stream": _bool,
    }
)
