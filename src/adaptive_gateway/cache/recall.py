"""Repeats answered before decoding: a request whose bytes, caller and headers are those of a request
the cache already answered skips the JSON decode, the stages that can vouch their result is unchanged
(the trust scan and policy) and the cache key, and goes straight to admission and the cached answer.

How a repeat is recognised:

* the server hands :meth:`RecallMemo.recall` the raw body before decoding it; the memo digests it
  with the route's wire format and path parameters, the caller (principal id and kind, and the
  provider key of passthrough / hybrid callers) and the request headers except those that differ on
  every request by design (``PER_REQUEST_HEADERS``: request ids, trace context, retry counters);
* :meth:`RecallMemo.remember` records, when a request decoded the full way was answered by the cache:
  the decoded request (as the stages left it, so after any redaction), the notes of the stages that
  can be replayed with the stamp each gave (``Replayable``), the config, and the cache entry;
* a recall holds only while the config is the same object, every replayable stage gives the same
  stamp again (the trust stage: same policy, same consents, no recent memory reads, no external
  decision service, no run recording; see ``TrustStage.replay_stamp``), and the cache entry is the
  live one for its key (not expired, purged, evicted or replaced).

A recalled request then runs the pipeline as usual with that request and those notes: the stages that
cannot be replayed (admission: rate limits, budgets) run again, the replayable ones are skipped
(``Gateway.plan``), the cache stage answers from the entry, and every finisher runs (receipt, usage
row, metrics, log), so a recalled hit leaves the same evidence as any other hit. What those derive from
the shared request and notes is kept with the record (``Recalled.derived``): the receipt's template
(server/trust_receipts.py), the route reflector's key, and the answer rendered in the client's format
(:class:`AnswerTemplate`), so a repeat fills in its own ids and times instead of encoding it all again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol, runtime_checkable

import orjson

from adaptive_gateway.cache.entry import Entry
from adaptive_gateway.cache.replay import stream_body
from adaptive_gateway.config import CompiledConfig
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.gateway import REPLAY_NOTE
from adaptive_gateway.types import ChatRequest, ChatResponse
from adaptive_gateway.wire.base import Wire

RAW_NOTE = "cache.raw"  # the request's bytes, digested with caller and headers when needed (_Raw)
# headers that differ on every request by design and never change an answer or a stage's decision
PER_REQUEST_HEADERS = frozenset(
    {
        "x-request-id",
        "content-length",
        "traceparent",
        "tracestate",
        "baggage",
        "sentry-trace",
        "x-stainless-retry-count",
        "idempotency-key",
    }
)


@runtime_checkable
class Replayable(Protocol):
    """A stage whose result can be reused for a byte-identical request from the same caller."""

    replay_notes: tuple[str, ...]  # the ``ctx.notes`` it leaves (restored on a recall)

    def replay_stamp(self, ctx: RequestContext) -> object | None:
        """Everything besides the request and headers its result depends on (compared with ``==``);
        None when its result must not be reused (the stage then disables recalls for the request)."""
        ...


@dataclass(slots=True)
class Recalled:
    request: ChatRequest
    notes: dict[str, Any]
    stamps: tuple[object, ...]
    config: CompiledConfig
    entry: Entry
    kind: str  # exact | semantic
    score: float | None
    plan: Any  # the CachePlan of the hit (cache/service.py)
    size: int  # of the request body: a body of a size no record has is not even digested
    fmt: Wire | None = None  # the client's format, which renders the answer (``AnswerTemplate``)
    # what finishers derive from the (shared) request and notes once for all its repeats, by name
    derived: dict[str, Any] = field(default_factory=dict)


class RecallMemo:
    """Digest of a request's bytes -> :class:`Recalled` (bounded; the oldest recorded goes first)."""

    def __init__(self, max_entries: int = 4096, max_bytes: int = 16 << 20) -> None:
        self.max_entries = max_entries
        # the decoded requests held take ~2-3x their bodies: long agent conversations must not pile up
        self.max_bytes = max_bytes
        self._data: dict[bytes, Recalled] = {}
        self._sizes: dict[int, int] = {}  # body size -> records of that size
        self._bytes = 0  # body bytes of the records held
        # the replayable stages before the lookup, in order: set by the cache extension at startup, once
        # every stage is installed; until then nothing is remembered (so nothing is recalled)
        self.stages: list[Replayable] | None = None
        self.recalls = 0

    def __len__(self) -> int:
        return len(self._data)

    @staticmethod
    def digest(ctx: RequestContext, wire: str, raw: bytes, params: Mapping[str, str]) -> bytes:
        headers = ctx.headers
        varying = PER_REQUEST_HEADERS.intersection(headers)  # content-length, at least, on every POST
        if varying:
            headers = headers.copy()
            for name in varying:
                del headers[name]
        p = ctx.principal
        who = (wire, p.id if p else "", p.kind if p else "", ctx.provider_key or "", params, headers)
        h = hashlib.sha256(raw)  # hashed in hardware on server CPUs (see trust/memo.py)
        h.update(orjson.dumps(who))
        return h.digest()

    def peek(
        self,
        ctx: RequestContext,
        wire: str,
        raw: bytes,
        params: Mapping[str, str],
        fmt: Wire | None = None,
    ) -> Recalled | None:
        """The record for these bytes whose config and stage stamps still hold (the caller then checks
        its cache entry). The bytes are kept on ``ctx`` for :meth:`remember`; they are digested only
        when a record has a body of their size (most new requests cost a dict lookup here)."""
        raw_note = ctx.notes[RAW_NOTE] = _Raw(wire, raw, params, fmt)
        if len(raw) not in self._sizes:
            return None
        key = raw_note.key(ctx)
        rec = self._data.get(key)
        if rec is None:
            return None
        if rec.config is not ctx.config or self._stamps(ctx) != rec.stamps:
            self._drop(key)
            return None
        return rec

    def forget(self, ctx: RequestContext) -> None:
        raw_note = ctx.notes.get(RAW_NOTE)
        if isinstance(raw_note, _Raw):
            self._drop(raw_note.key(ctx))

    def remember(self, ctx: RequestContext, entry: Entry, kind: str, score: float | None, plan: Any) -> None:
        """Record ``ctx`` (answered by ``entry``) for recalls, when every replayable stage vouches."""
        raw_note = ctx.notes.get(RAW_NOTE)
        if not isinstance(raw_note, _Raw) or ctx.request is None or REPLAY_NOTE in ctx.notes:
            return
        size = len(raw_note.raw)
        if self.stages is None or size > self.max_bytes // 16:
            return  # not started yet; or one huge request, not worth a sixteenth of the memo (nor its digest)
        stamps = self._stamps(ctx)
        if stamps is None:
            return
        names = [name for stage in self.stages for name in stage.replay_notes]
        notes = {name: ctx.notes[name] for name in names if name in ctx.notes}
        key = raw_note.key(ctx)
        self._drop(key)
        self._data[key] = Recalled(
            ctx.request, notes, stamps, ctx.config, entry, kind, score, plan, size, raw_note.fmt
        )
        self._sizes[size] = self._sizes.get(size, 0) + 1
        self._bytes += size
        while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._data)))

    def _drop(self, key: bytes) -> None:
        rec = self._data.pop(key, None)
        if rec is not None:
            self._bytes -= rec.size
            left = self._sizes[rec.size] - 1
            if left:
                self._sizes[rec.size] = left
            else:
                del self._sizes[rec.size]

    def _stamps(self, ctx: RequestContext) -> tuple[object, ...] | None:
        stages = self.stages or ()
        if len(stages) == 1:  # the usual case (the trust stage): no generator on every request
            stamp = stages[0].replay_stamp(ctx)
            return None if stamp is None else (stamp,)
        stamps = tuple([stage.replay_stamp(ctx) for stage in stages])
        return None if any(s is None for s in stamps) else stamps

    def clear(self) -> None:
        self._data.clear()
        self._sizes.clear()
        self._bytes = 0


class _Raw:
    """A request's bytes as the server read them, digested on first need."""

    __slots__ = ("_key", "fmt", "params", "raw", "wire")

    def __init__(self, wire: str, raw: bytes, params: Mapping[str, str], fmt: Wire | None) -> None:
        self.wire, self.raw, self.params, self.fmt = wire, raw, params, fmt
        self._key: bytes | None = None

    def key(self, ctx: RequestContext) -> bytes:
        if self._key is None:
            self._key = RecallMemo.digest(ctx, self.wire, self.raw, self.params)
        return self._key


class AnswerTemplate:
    """A recalled request's answer as its client format renders it, cut around the values that differ
    between repeats (the request id in the response id ``chatcmpl-<request id>`` as the format shows it,
    and in a JSON body the ``created`` time): each repeat then gets the rendered bytes with its own
    values put in, instead of an encoding of the whole answer.

    Built by rendering the cached answer twice with different marker values, and kept only when filling
    the cut first rendering with the second's values gives the second rendering byte for byte (a format
    that derives its own ids, or renders anything else that changes, renders the whole way):

    * :meth:`for_json`: the non-streamed body, only for formats that send an answer's ``raw_bytes`` as
      they are (OpenAI chat, Gemini: the filled bytes reach the client that way);
    * :meth:`for_stream`: the whole stream (``cache/replay.py`` ``stream_body``). Stream renderers stamp
      their chunks with the current second themselves, so a stream template holds within the second it
      was made in (the caller keeps it with that second)."""

    __slots__ = ("_fmt", "_pick")

    _IDS = ("\ue000agwid1\ue000", "\ue000agwid2\ue000")  # no "-": Anthropic's ids keep what follows one
    _TIMES = (1_234_567_891, 1_987_654_321)
    _KINDS = ("id", "created")  # the order of the values ``fill`` picks from

    def __init__(self, parts: list[bytes], kinds: list[str]) -> None:
        # the rendering as a %-format (its own % doubled): one C call fills it, whatever the order
        self._fmt = b"%s".join(part.replace(b"%", b"%%") for part in parts)
        # the values in the order of the %s slots (one slot: the value itself, which % takes as well)
        picks = [self._KINDS.index(kind) for kind in kinds]
        self._pick: Callable[[tuple[bytes, bytes]], object] = itemgetter(*picks) if picks else _nothing

    @classmethod
    def for_json(
        cls, fmt: Wire, answer: Callable[[], ChatResponse], req: ChatRequest
    ) -> AnswerTemplate | None:
        probe = answer()
        probe.raw_bytes = b"\x00probe"
        if fmt.render(probe, req) != probe.raw_bytes:
            return None  # a format that does not send an answer's bytes as they are (Anthropic, Responses)

        def render(rid: str, created: int) -> bytes:
            resp = answer()
            resp.id, resp.created = "chatcmpl-" + rid, created
            return fmt.render(resp, req)

        return cls._made(render, with_time=True)

    @classmethod
    def for_stream(
        cls, fmt: Wire, answer: Callable[[], ChatResponse], req: ChatRequest
    ) -> AnswerTemplate | None:
        def render(rid: str, created: int) -> bytes:
            resp = answer()
            resp.id = "chatcmpl-" + rid
            return stream_body(fmt, req, resp, resp.id)

        return cls._made(render, with_time=False)

    @classmethod
    def _made(cls, render: Callable[[str, int], bytes], with_time: bool) -> AnswerTemplate | None:
        first, second = (render(rid, t) for rid, t in zip(cls._IDS, cls._TIMES, strict=True))
        marks = {cls._IDS[0].encode(): "id"}
        if with_time:
            marks[str(cls._TIMES[0]).encode()] = "created"
        found = sorted((at, mark) for mark in marks for at in _positions(first, mark))
        parts, kinds, pos = [], [], 0
        for at, mark in found:
            if at < pos:
                return None  # overlapping marks
            parts.append(first[pos:at])
            kinds.append(marks[mark])
            pos = at + len(mark)
        parts.append(first[pos:])
        template = cls(parts, kinds)
        return template if template.fill(cls._IDS[1], cls._TIMES[1]) == second else None

    def fill(self, request_id: str, created: int = 0) -> bytes:
        """The answer of the request ``request_id`` (its response id ``chatcmpl-<request_id>``)."""
        return self._fmt % self._pick((orjson.dumps(request_id)[1:-1], b"%d" % created))


def _nothing(values: tuple[bytes, bytes]) -> tuple[()]:
    return ()


def _positions(data: bytes, mark: bytes) -> list[int]:
    out, at = [], data.find(mark)
    while at >= 0:
        out.append(at)
        at = data.find(mark, at + len(mark))
    return out
