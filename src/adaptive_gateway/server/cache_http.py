"""The cache admin routes; master key or a virtual key with the ``admin`` role only.

* ``GET /api/cache?model=&tenant=&scope=&key=&limit=50``: settings, counters (hits, misses, saved
  cost, ...), the shared tier and semantic index state (with its copies on disk and in Redis:
  ``semantic.sync``, from ``SemanticSync.status``), and the newest matching in-process entries
  (metadata only; with ``key=`` also the cached answer, as an OpenAI chat completion).
* ``DELETE /api/cache?model=&tenant=&scope=&key=`` (or ``?all=true``): purge matching entries from
  every tier; other replicas drop their in-process copies within ``cache.purge_poll_seconds``.

``tenant=<id>`` means the scope ``tenant:<id>``; keys without a tenant are scoped ``key:<key id>``,
the master key ``key:master``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from adaptive_gateway.cache.entry import Entry, Selector
from adaptive_gateway.cache.policy import CachePolicy
from adaptive_gateway.cache.service import ResponseCache
from adaptive_gateway.errors import GatewayError, InvalidRequest, PermissionDenied, ServiceUnavailable
from adaptive_gateway.formats.openai_chat import encode_response
from adaptive_gateway.pipeline.context import Principal
from adaptive_gateway.server.http import Http
from adaptive_gateway.server.proxy import new_context, send_error

if TYPE_CHECKING:
    from adaptive_gateway.server.app import GatewayApp

MAX_LIMIT = 1000
PATH = "/api/cache"


def _is_admin(p: Principal | None) -> bool:
    return p is not None and (p.kind == "master" or (p.kind == "virtual" and "admin" in p.roles))


def selector(query: dict[str, str]) -> Selector:
    tenant, scope = query.get("tenant") or None, query.get("scope") or None
    if tenant and scope:
        raise InvalidRequest("give either tenant or scope, not both", param="tenant")
    return Selector(
        query.get("model") or None, f"tenant:{tenant}" if tenant else scope, query.get("key") or None
    )


def _limit(query: dict[str, str]) -> int:
    raw = query.get("limit", "50")
    if not raw.isdigit() or int(raw) > MAX_LIMIT:
        raise InvalidRequest(f"limit: a number from 0 to {MAX_LIMIT}", param="limit")
    return int(raw)


def _entry(e: Entry, now: float, with_answer: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": e.key,
        "model": e.model,
        "scope": e.scope,
        "level": e.level,
        "age_s": round(e.age(now), 3),
        "expires_in_s": round(e.expires_at - now, 3),
        "bytes": len(e.body),
        "hits": e.hits,
        "cost_usd": round(e.cost_usd, 8),
    }
    if with_answer:
        out["response"] = encode_response(e.response())
    return out


def overview(
    cache: ResponseCache,
    policy: CachePolicy,
    sel: Selector,
    limit: int,
    sync: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``GET /api/cache`` body; ``sync`` is the semantic index's sync state (None: no index yet, or
    neither persisted nor shared)."""
    cfg, s, now = policy.cfg, cache.stats, cache.clock()
    matching = [e for e in cache.local.entries(now) if sel.matches(e)]
    semantic = cache.semantic
    return {
        "object": "cache",
        "enabled": cfg.enabled,
        "ttl_seconds": cfg.ttl_seconds,
        "max_entries": cfg.max_entries,
        "entries": len(cache.local),
        "stats": {
            "hits": s.hits,
            "semantic_hits": s.semantic_hits,
            "misses": s.misses,
            "bypassed": s.bypassed,
            "stored": s.stored,
            "not_stored": dict(s.not_stored),
            "saved_usd": round(s.saved_usd, 8),
            "evictions": cache.local.evictions,
            "expirations": cache.local.expirations,
            # hits answered before decoding, as byte-identical repeats (cache/recall.py)
            "recalled": cache.memo.recalls,
            "recall_memo": len(cache.memo),
        },
        "semantic": {
            "enabled": cfg.semantic.enabled,
            "models": sorted(policy.semantic_models),
            "threshold": cfg.semantic.threshold,
            "vectors": len(semantic) if semantic is not None else 0,
            "lookups": s.semantic_lookups,
            "avg_lookup_ms": round(s.semantic_ms / s.semantic_lookups, 2) if s.semantic_lookups else None,
            "error": cache.semantic_error,
            "sync": sync,
        },
        "shared": _shared(cache),
        "selector": sel.as_dict(),
        "matching": len(matching),
        "data": [_entry(e, now, sel.key is not None) for e in matching[:limit]],
    }


def _shared(cache: ResponseCache) -> dict[str, Any] | None:
    tier = cache.shared
    if tier is None:
        return None
    return {"redis": tier.where, "errors": tier.errors, "last_error": tier.last_error or None}


async def get_cache(app: GatewayApp, cache: ResponseCache, http: Http) -> None:
    gw = app.gateway
    ctx = new_context(gw, http, PATH)
    try:
        gw.authenticate(ctx)
        if not _is_admin(ctx.principal):
            raise PermissionDenied("the cache admin API needs the master key or an admin key")
        policy = cache.policy(ctx.config)
        sel, limit = selector(http.query), _limit(http.query)
        sync = await cache.sync.status() if cache.sync is not None else None
        body = overview(cache, policy, sel, limit, sync)
        await http.respond(200, orjson.dumps(body), [(b"x-request-id", ctx.request_id.encode())])
    except GatewayError as err:
        await send_error(http, ctx, err, None)


async def purge_cache(app: GatewayApp, cache: ResponseCache, http: Http) -> None:
    gw = app.gateway
    ctx = new_context(gw, http, PATH)
    try:
        gw.authenticate(ctx)
        if not _is_admin(ctx.principal):
            raise PermissionDenied("the cache admin API needs the master key or an admin key")
        sel = selector(http.query)
        if sel == Selector() and http.query.get("all") != "true":
            raise InvalidRequest(
                "say what to purge: model, tenant, scope or key (or all=true for everything)"
            )
        try:
            purged = await cache.purge(sel)
        except Exception as exc:  # the in-process tier is purged already; the shared one may not be
            raise ServiceUnavailable(f"in-process entries purged, shared tier failed: {exc}") from exc
        body = {"object": "cache.purge", "selector": sel.as_dict(), "purged": purged}
        await http.respond(200, orjson.dumps(body), [(b"x-request-id", ctx.request_id.encode())])
    except GatewayError as err:
        await send_error(http, ctx, err, None)


def install_routes(app: GatewayApp, cache: ResponseCache) -> None:
    """Exact routes win over the admin API mounted at ``/api``."""
    app.routes[("GET", PATH)] = lambda h: get_cache(app, cache, h)
    app.routes[("DELETE", PATH)] = lambda h: purge_cache(app, cache, h)
