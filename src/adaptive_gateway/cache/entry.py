"""A cached answer and its encodings.

The answer is kept as canonical JSON (``ChatResponse`` without the upstream's raw bytes), so every hit
decodes a fresh object that later stages may change freely, and any client format renders it. The
shared tier stores ``header JSON + newline + answer JSON`` under one Redis key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from adaptive_gateway.formats import anthropic_response, openai_chat
from adaptive_gateway.formats.anthropic_catalog import WIRE as ANTHROPIC_WIRE
from adaptive_gateway.types import ChatResponse, SharedResponse

_RESPONSE_DECODER = msgspec.json.Decoder(ChatResponse)
_ENCODER = msgspec.json.Encoder()
STORABLE_FINISH = frozenset({"stop", "length", "tool_calls"})
# same-format passthrough answers carry only the upstream body: decoded here, by the client's format
MATERIALIZE: dict[str, Callable[[ChatResponse], ChatResponse]] = {
    "openai_chat": openai_chat.materialize,
    ANTHROPIC_WIRE: anthropic_response.materialize,
}


class _Header(msgspec.Struct, frozen=True):
    key: str
    model: str
    scope: str
    stored_at: float
    expires_at: float
    cost_usd: float
    level: str


_HEADER_DECODER = msgspec.json.Decoder(_Header)


@dataclass(slots=True)
class Entry:
    key: str
    model: str  # the public model name the request resolved to
    scope: str  # see keys.scope_of
    body: bytes  # the answer, canonical JSON
    stored_at: float  # wall-clock seconds
    expires_at: float
    cost_usd: float  # what the original request cost upstream: saved by every hit
    level: str = "public"  # the request's trust level
    hits: int = 0
    _decoded: ChatResponse | None = field(default=None, repr=False, compare=False)

    def age(self, now: float) -> float:
        return max(now - self.stored_at, 0.0)

    def response(self) -> ChatResponse:
        """A fresh copy of the cached answer."""
        return _RESPONSE_DECODER.decode(self.body)

    def shared_response(self) -> SharedResponse:
        """The cached answer decoded once, its choices and usage shared by every response this returns
        (for recalled repeats; see :class:`SharedResponse` for the rule)."""
        proto = self._decoded
        if proto is None:
            proto = self._decoded = self.response()
        return SharedResponse(proto.id, proto.model, proto.choices, proto.usage, proto.created)

    def to_bytes(self) -> bytes:
        header = _Header(
            self.key, self.model, self.scope, self.stored_at, self.expires_at, self.cost_usd, self.level
        )
        return _ENCODER.encode(header) + b"\n" + self.body

    @classmethod
    def from_bytes(cls, raw: bytes) -> Entry | None:
        """None when ``raw`` is not an entry this version wrote (the key is then treated as a miss)."""
        head, sep, body = raw.partition(b"\n")
        if not sep:
            return None
        try:
            h = _HEADER_DECODER.decode(head)
        except msgspec.DecodeError:
            return None
        return cls(h.key, h.model, h.scope, body, h.stored_at, h.expires_at, h.cost_usd, h.level)


def canonical(resp: ChatResponse, wire: str) -> ChatResponse:
    """``resp`` with its choices decoded (a copy when they had to be: the original is left alone)."""
    decode = MATERIALIZE.get(wire)
    if resp.choices or resp.raw is None or decode is None:
        return resp
    return decode(dataclasses.replace(resp))


def encode_response(resp: ChatResponse) -> bytes:
    """Canonical JSON of an answer, without the upstream's raw body (which would re-render as-is)."""
    return _ENCODER.encode(dataclasses.replace(resp, raw=None, raw_bytes=None))


def storable(resp: ChatResponse) -> str | None:
    """Why an answer must not be cached, or None when it may be."""
    if len(resp.choices) != 1:
        return "not exactly one choice"
    choice = resp.choices[0]
    if choice.finish_reason not in STORABLE_FINISH:
        return f"finish reason {choice.finish_reason!r}"
    msg = choice.message
    if not msg.text() and not msg.tool_calls:
        return "empty answer"
    return None


@dataclass(frozen=True, slots=True)
class Selector:
    """Which entries a purge or an inspection covers; unset fields match everything."""

    model: str | None = None
    scope: str | None = None
    key: str | None = None

    def matches(self, entry: Entry) -> bool:
        return (
            (self.model is None or entry.model == self.model)
            and (self.scope is None or entry.scope == self.scope)
            and (self.key is None or entry.key == self.key)
        )

    def as_dict(self) -> dict[str, str | None]:
        return {"model": self.model, "scope": self.scope, "key": self.key}
