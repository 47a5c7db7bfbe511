"""The response cache: the in-process tier, the optional Redis tier and the optional semantic index
behind two calls on the request path, :meth:`ResponseCache.lookup` (a pipeline stage, after
admission) and :meth:`ResponseCache.store` (a finisher, after the answer went out).

What a request leaves on its context:

* ``ctx.notes["cache"]``: ``{"status": "hit" | "semantic" | "miss" | "bypass", "hit": bool, ...}``,
  on a hit with ``age_s``, ``saved_usd`` (what the original request cost upstream) and ``served``
  ("served from cache ..."), on a bypass with ``reason``; read by the request log and receipts;
* the ``x-cache`` response header (``hit``, ``semantic``, ``miss`` or ``bypass``), and ``age`` on hits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adaptive_gateway.cache.entry import Entry, Selector, canonical, encode_response, storable
from adaptive_gateway.cache.keys import context_key, request_key, scope_of, semantic_text
from adaptive_gateway.cache.local import LocalCache
from adaptive_gateway.cache.policy import CacheDecision, CachePolicy
from adaptive_gateway.cache.recall import AnswerTemplate, Recalled, RecallMemo
from adaptive_gateway.cache.replay import StreamAssembler
from adaptive_gateway.cache.shared import SharedTier
from adaptive_gateway.config import CompiledConfig
from adaptive_gateway.config.cache_schema import CacheConfig
from adaptive_gateway.numbers import fround
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.gateway import REPLAY_NOTE
from adaptive_gateway.types import ChatRequest, ChatResponse, Usage
from adaptive_gateway.wire.base import Wire

log = logging.getLogger("adaptive_gateway.cache")

CACHE_NOTE = "cache"
PLAN_NOTE = "cache.plan"
RESPONSE_NOTE = "cache.response"
CAPTURE_NOTE = "cache.capture"
HEADER = b"x-cache"
# answers up to this size are kept decoded and rendered for recalled repeats (``replay``); a larger one
# is decoded and rendered per repeat, so the recall memo's records never hold several copies of it
TEMPLATE_MAX_BYTES = 64 << 10

Embedder = Any  # adaptive_gateway.embedded.minilm.MiniLMEmbedder (numpy; imported only when used)
EmbedderSource = Callable[[], Awaitable[Embedder]]


@dataclass(slots=True)
class CachePlan:
    """What the lookup decided, for the store after the response."""

    key: str
    model: str
    scope: str
    decision: CacheDecision
    text: str | None = None  # the semantic prompt
    bucket: str | None = None  # the semantic context
    vector: Any = None  # its embedding, when the lookup computed one
    hit: bool = False


@dataclass(slots=True)
class Stats:
    hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    bypassed: int = 0
    stored: int = 0
    not_stored: dict[str, int] = field(default_factory=dict)
    saved_usd: float = 0.0
    semantic_ms: float = 0.0  # total embedding + search time of semantic lookups
    semantic_lookups: int = 0


class ResponseCache:
    def __init__(
        self, config: CompiledConfig, clock: Callable[[], float] = time.time, home: Path | None = None
    ) -> None:
        self.clock = clock
        self.home = home  # the gateway home: the semantic index is persisted under it
        self._policy = CachePolicy(config.source.cache)
        self.local = LocalCache(config.source.cache.max_entries)
        self.shared: SharedTier | None = None
        state, cfg = config.source.state, config.source.cache
        if cfg.redis and state.redis_url:
            self.shared = SharedTier(state.redis_url, state.redis_prefix)
        self.semantic: Any = None  # SemanticIndex, made on first use (numpy is optional)
        self.sync: Any = None  # SemanticSync: the index on disk and in Redis (cache/semantic_sync.py)
        self.embedder: EmbedderSource | None = None
        self.semantic_error: str | None = None
        self.stats = Stats()
        self.memo = RecallMemo()  # repeats answered before decoding (cache/recall.py)
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---- config -----------------------------------------------------------------------------------------

    def policy(self, config: CompiledConfig) -> CachePolicy:
        """The compiled policy of ``config`` (recompiled when a reload changed the section)."""
        cfg: CacheConfig = config.source.cache
        if cfg is not self._policy.cfg:
            self._policy = CachePolicy(cfg)
            self.memo.clear()
            self.local.resize(cfg.max_entries)
            if self.semantic is not None:
                self.semantic.max_entries = cfg.semantic.max_entries  # applied on the next add
        return self._policy

    # ---- lookup (a pipeline stage) ----------------------------------------------------------------------

    def recall(self, ctx: RequestContext, wire: Wire, raw: bytes, params: Mapping[str, str]) -> bool:
        """Before decoding: a byte-identical repeat of a request the cache answered gets that request
        and the replayable stages' notes back (``Gateway.recall``; see cache/recall.py)."""
        if not self._policy.active:
            return False
        rec = self.memo.peek(ctx, wire.name, raw, params, wire)
        if rec is None:
            return False
        now, entry = self.clock(), rec.entry
        max_age = rec.plan.decision.max_age
        if self.local.get(entry.key, now) is not entry or (max_age is not None and entry.age(now) > max_age):
            self.memo.forget(ctx)
            return False
        ctx.request = rec.request
        ctx.notes.update(rec.notes)
        ctx.notes[REPLAY_NOTE] = rec
        self.memo.recalls += 1
        return True

    def replay(self, ctx: RequestContext, rec: Recalled) -> ChatResponse:
        """The cache stage's answer for a recalled request (admission already ran again). A
        non-streamed one carries its rendering in the client's format (``raw_bytes``, from the record's
        :class:`AnswerTemplate`): the server sends those bytes unless a later step changes the answer
        (the trust restore then drops them, and the answer renders the whole way)."""
        ctx.notes[PLAN_NOTE] = rec.plan
        small = len(rec.entry.body) <= TEMPLATE_MAX_BYTES
        resp = self._hit(ctx, rec.plan, rec.entry, rec.kind, rec.score, self.clock(), shared=small)
        if small and rec.fmt is not None and not rec.request.stream:
            derived = rec.derived
            kept = derived.get("answer")
            if kept is None or kept[0] is not rec.entry:
                template = AnswerTemplate.for_json(rec.fmt, rec.entry.response, rec.request)
                kept = derived["answer"] = (rec.entry, template)
            if kept[1] is not None:
                resp.raw_bytes = kept[1].fill(ctx.request_id, resp.created)
        return resp

    def replay_stream(self, ctx: RequestContext, rec: Recalled) -> bytes | None:
        """The whole stream of a recalled streamed request, from the record's stream template (made
        again each second: stream renderers stamp chunks with the current second); None: render it."""
        if rec.fmt is None or len(rec.entry.body) > TEMPLATE_MAX_BYTES:
            return None
        now = int(time.time())
        derived = rec.derived
        kept = derived.get("stream")
        if kept is None or kept[0] is not rec.entry or kept[1] != now:
            template = AnswerTemplate.for_stream(rec.fmt, rec.entry.response, rec.request)
            if int(time.time()) != now:
                return None  # the second turned while rendering: the template may mix two
            kept = derived["stream"] = (rec.entry, now, template)
        return kept[2].fill(ctx.request_id) if kept[2] is not None else None

    async def lookup(self, ctx: RequestContext) -> ChatResponse | None:
        """The cached answer for ``ctx.request``, or None (and a plan for :meth:`store`)."""
        req = ctx.request
        assert req is not None
        resolved = ctx.config.resolve(req.model)
        model = resolved.name if resolved is not None else req.model
        decision = self.policy(ctx.config).decide(ctx, model)
        if decision.bypass:
            self.stats.bypassed += 1
            ctx.notes[CACHE_NOTE] = {"status": "bypass", "hit": False, "reason": decision.reason}
            ctx.extra_headers.append((HEADER, b"bypass"))
            return None
        scope = scope_of(ctx.principal, ctx.provider_key)
        plan = ctx.notes[PLAN_NOTE] = CachePlan(request_key(model, scope, req), model, scope, decision)
        now = self.clock()
        entry, kind, score = None, "exact", None
        if decision.lookup:
            entry = await self._get(plan.model, plan.scope, plan.key, decision, now)
            if entry is None and decision.semantic:
                kind = "semantic"
                entry, score = await self._semantic(plan, req, now)
        if entry is None:
            self.stats.misses += 1
            ctx.notes[CACHE_NOTE] = {"status": "miss", "hit": False}
            ctx.extra_headers.append((HEADER, b"miss"))
            return None
        resp = self._hit(ctx, plan, entry, kind, score, now)
        self.memo.remember(ctx, entry, kind, score, plan)
        return resp

    async def _get(
        self, model: str, scope: str, key: str, decision: CacheDecision, now: float
    ) -> Entry | None:
        entry = self.local.get(key, now)
        if entry is None and self.shared is not None and decision.shared:
            entry = await self.shared.get(model, scope, key)
            if entry is not None and entry.expires_at > now and entry.scope == scope:
                self.local.put(entry)
            else:
                entry = None
        if entry is not None and decision.max_age is not None and entry.age(now) > decision.max_age:
            return None
        return entry

    async def _semantic(
        self, plan: CachePlan, req: ChatRequest, now: float
    ) -> tuple[Entry | None, float | None]:
        """An entry of the same context whose prompt means the same (embedding off the event loop)."""
        text = semantic_text(req)
        embedder = await self._embedder() if text else None
        if embedder is None or text is None:
            return None, None
        started = time.perf_counter()
        index, bucket = self._index(), context_key(plan.model, plan.scope, req)
        snap = index.snapshot(bucket)
        # the embedding and the matrix product (up to ~10 ms for 20,000 rows) in one worker-thread hop
        vector, key = await asyncio.to_thread(_embed_and_search, embedder, text, snap)
        plan.text, plan.vector, plan.bucket = text, vector, bucket
        score = index.confirm(bucket, key, vector, self._policy.cfg.semantic.threshold) if key else None
        self.stats.semantic_lookups += 1
        self.stats.semantic_ms += (time.perf_counter() - started) * 1000
        if key is None or score is None:
            return None, None
        entry = await self._get(plan.model, plan.scope, key, plan.decision, now)
        if entry is None and self.sync is not None:
            entry = await self._persisted(plan, key, now)
        if entry is None:
            self._index().remove(plan.bucket, key)  # its answer expired or was purged
            return None, None
        return entry, score

    async def _persisted(self, plan: CachePlan, key: str, now: float) -> Entry | None:
        """The answer of a semantic match that is in neither tier (a restart, an eviction): the copy
        kept on disk with its vector, put back in process."""
        entry = await self.sync.answer(key)
        if entry is None or entry.scope != plan.scope or entry.model != plan.model:
            return None
        self.local.put(entry)
        max_age = plan.decision.max_age
        return None if max_age is not None and entry.age(now) > max_age else entry

    def _hit(
        self,
        ctx: RequestContext,
        plan: CachePlan,
        entry: Entry,
        kind: str,
        score: float | None,
        now: float,
        shared: bool = False,
    ) -> ChatResponse:
        plan.hit = True
        entry.hits += 1
        age = entry.age(now)
        resp = entry.shared_response() if shared else entry.response()
        resp.id, resp.created = "chatcmpl-" + ctx.request_id, int(now)
        status = "hit" if kind == "exact" else "semantic"
        self.stats.hits += 1
        self.stats.semantic_hits += kind == "semantic"
        self.stats.saved_usd += entry.cost_usd
        note: dict[str, Any] = {
            "status": status,
            "hit": True,
            "kind": kind,
            "key": entry.key,
            "age_s": fround(age, 3),
            "saved_usd": fround(entry.cost_usd, 8),
            "served": f"served from cache ({kind} match, entry age {age:.1f} s)",
        }
        if score is not None:
            note["similarity"] = fround(score, 4)
        ctx.notes[CACHE_NOTE] = note
        ctx.extra_headers += [(HEADER, status.encode()), (b"age", str(int(age)).encode())]
        ctx.usage = Usage()  # nothing was used upstream: 0 tokens, 0 cost for limits and budgets
        ctx.cost = 0.0
        return resp

    # ---- store (a finisher) -----------------------------------------------------------------------------

    def store(self, ctx: RequestContext) -> None:
        """Keep the answer of a successful, cacheable request (cheap; Redis and embeddings in tasks)."""
        plan = ctx.notes.get(PLAN_NOTE)
        if not isinstance(plan, CachePlan) or plan.hit or not plan.decision.store or ctx.status != 200:
            return
        resp = ctx.notes.get(RESPONSE_NOTE)
        if isinstance(resp, ChatResponse):
            resp = canonical(resp, ctx.request.wire if ctx.request is not None else "")
        else:
            capture = ctx.notes.get(CAPTURE_NOTE)
            resp = capture.response() if isinstance(capture, StreamAssembler) else None
        why = storable(resp) if resp is not None else "stream not complete"
        body = encode_response(resp) if resp is not None and why is None else b""
        if why is None and len(body) > self._policy.cfg.max_entry_bytes:
            why = "answer larger than cache.max_entry_bytes"
        if why is not None:
            self.stats.not_stored[why] = self.stats.not_stored.get(why, 0) + 1
            return
        now, d = self.clock(), plan.decision
        entry = Entry(plan.key, plan.model, plan.scope, body, now, now + d.ttl, ctx.cost, d.level)
        self.local.put(entry)
        self.stats.stored += 1
        note = ctx.notes.get(CACHE_NOTE)
        if isinstance(note, dict):
            note["stored"] = True
        if self.shared is not None and d.shared:
            self._spawn(self.shared.put(entry, d.ttl))
        if d.semantic:
            self._spawn(self._index_answer(plan, ctx, entry))

    async def _index_answer(self, plan: CachePlan, ctx: RequestContext, entry: Entry) -> None:
        if plan.vector is None:
            plan.text = plan.text or (semantic_text(ctx.request) if ctx.request is not None else None)
            embedder = await self._embedder() if plan.text else None
            if embedder is None or ctx.request is None:
                return
            plan.vector = (await asyncio.to_thread(embedder.embed_array, [plan.text]))[0]
            plan.bucket = context_key(plan.model, plan.scope, ctx.request)
        if plan.bucket is not None:
            self._index().add(plan.bucket, plan.key, plan.vector, plan.model, plan.scope)
            if self.sync is not None:
                await self.sync.kept(plan.bucket, plan.vector, entry, plan.decision.shared)

    # ---- semantic plumbing ------------------------------------------------------------------------------

    def _index(self, launch: bool = True) -> Any:
        if self.semantic is None:
            from adaptive_gateway.cache.semantic import SemanticIndex
            from adaptive_gateway.cache.semantic_sync import open_sync

            cfg = self._policy.cfg
            self.semantic = SemanticIndex(cfg.semantic.max_entries)
            self.sync = open_sync(self.semantic, cfg, self.home, self.shared, lambda: self.clock())
            if self.sync is not None and launch:
                self.sync.launch()
        return self.semantic

    async def start(self) -> None:
        """Load the persisted semantic index (and the other replicas' vectors) when semantic caching is
        on anywhere; an index made later (a reload turned it on) loads in the background."""
        p = self._policy
        if p.cfg.semantic.enabled or p.semantic_models or p.semantic_principals:
            self._index(launch=False)
            if self.sync is not None:
                await self.sync.start()

    async def _embedder(self) -> Embedder | None:
        if self.embedder is None or self.semantic_error is not None:
            return None
        try:
            return await self.embedder()
        except Exception as exc:  # missing packages or model files: semantic caching is off, say why once
            self.semantic_error = f"semantic cache off: embedding model unavailable: {exc}"
            log.warning("%s", self.semantic_error)
            return None

    # ---- admin, background ------------------------------------------------------------------------------

    async def purge(self, sel: Selector) -> dict[str, int]:
        """Drop matching entries from every tier (other replicas follow within purge_poll_seconds)."""
        out = {"local": self.local.purge(sel.matches)}
        out["semantic"] = self.semantic.purge(sel) if self.semantic is not None else 0
        if self.sync is not None:
            await self.sync.purge(sel)
        if self.shared is not None:
            out["shared"] = await self.shared.purge(sel)
        return out

    async def follow_purges(self) -> None:
        """Apply the purges other replicas publish (runs until cancelled)."""
        assert self.shared is not None
        await self.shared.start()
        while True:
            await asyncio.sleep(self._policy.cfg.purge_poll_seconds)
            for sel in await self.shared.new_purges():
                self.local.purge(sel.matches)
                if self.semantic is not None:
                    self.semantic.purge(sel)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(_logged(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for pending Redis writes and embeddings (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        if self.sync is not None:
            await self.sync.close()
        if self.shared is not None:
            await self.shared.close()


async def _logged(coro: Coroutine[Any, Any, None]) -> None:
    try:
        await coro
    except Exception:  # a background store must never surface as an unretrieved task exception
        log.exception("cache: background store failed")


def _embed_and_search(embedder: Embedder, text: str, snap: Any) -> tuple[Any, str | None]:
    """In a worker thread: the prompt's unit vector and the closest key of the bucket snapshot."""
    from adaptive_gateway.cache.semantic import best

    vector = embedder.embed_array([text])[0]
    return vector, best(snap, vector) if snap is not None else None
