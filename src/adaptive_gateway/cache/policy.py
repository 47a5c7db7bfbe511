"""Whether a request may be answered from the cache and whether its answer may be kept: a typed
decision with the reason, from the ``cache:`` config, the request, its trust level and the request's
``Cache-Control`` style headers.

Never cached (each rule is one function in ``RULES``; the first that objects is the reason):

* the cache is off for the model (``cache.enabled`` / ``cache.models.<name>.enabled``);
* ``n`` > 1 (several samples are a request for variety);
* an explicit temperature above ``cache.max_temperature`` (or no temperature, when
  ``cache_unset_temperature`` is false);
* tools offered to the model (calls may have side effects on the client) unless ``allow_tools``;
* a trust level above ``local_max_trust`` (levels above ``max_trust`` stay in this process only);
* a request whose content was replaced by placeholders (the answer holds values of this request);
* ``cache-control: no-cache``.

Headers: ``cache-control: no-cache`` (neither looked up nor stored), ``no-store`` (looked up, never
stored), ``max-age=N`` (only entries at most N seconds old), ``x-cache-ttl: N`` (this answer's
lifetime, at most ``max_ttl_seconds``), ``x-cache-refresh: 1`` (not looked up; the new answer
replaces the entry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from adaptive_gateway.config.cache_schema import LEVEL_ORDER, CacheConfig
from adaptive_gateway.errors import InvalidRequest
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.trust.decision import TRUST_NOTE, TrustDecision
from adaptive_gateway.types import ChatRequest

TRUTHY = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True, slots=True)
class CacheDecision:
    lookup: bool
    store: bool
    shared: bool  # may use the Redis tier (the trust level is at most max_trust)
    semantic: bool
    ttl: float
    max_age: float | None
    level: str
    reason: str | None = None  # why nothing is looked up or stored

    @property
    def bypass(self) -> bool:
        return not self.lookup and not self.store


@dataclass(frozen=True, slots=True)
class Controls:
    """The request's cache headers."""

    no_cache: bool = False
    no_store: bool = False
    refresh: bool = False
    max_age: float | None = None
    ttl: float | None = None


def _seconds(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise InvalidRequest(f"{name}: expected a positive number of seconds, got {raw!r}", param=name)
    return value


def controls(headers: Mapping[str, str], max_ttl: float) -> Controls:
    """Parse ``cache-control``, ``x-cache-ttl`` and ``x-cache-refresh`` (400 when malformed)."""
    cc = headers.get("cache-control", "")
    ttl_raw, refresh = headers.get("x-cache-ttl"), headers.get("x-cache-refresh", "")
    if not cc and ttl_raw is None and not refresh:
        return Controls()
    directives = {d.strip().lower() for d in cc.split(",") if d.strip()}
    max_age = None
    for d in directives:
        if d.startswith("max-age="):
            max_age = 0.0 if d == "max-age=0" else _seconds(d[8:], "cache-control max-age")
    ttl = _seconds(ttl_raw, "x-cache-ttl") if ttl_raw is not None else None
    if ttl is not None and ttl > max_ttl:
        raise InvalidRequest(
            f"x-cache-ttl: at most {max_ttl:g} seconds (cache.max_ttl_seconds)", param="x-cache-ttl"
        )
    return Controls(
        no_cache="no-cache" in directives,
        no_store="no-store" in directives,
        refresh=refresh.strip().lower() in TRUTHY or max_age == 0.0,
        max_age=max_age or None,
        ttl=ttl,
    )


def _level(ctx: RequestContext) -> tuple[str, bool]:
    """The request's trust level and whether placeholders replaced some of its content."""
    decision = ctx.notes.get(TRUST_NOTE)
    if not isinstance(decision, TrustDecision):
        return "public", False  # trust classification is not installed: nothing is known to be sensitive
    return decision.level.label, bool(decision.mapping)


Rule = Callable[[CacheConfig, ChatRequest, "Facts"], str | None]


@dataclass(frozen=True, slots=True)
class Facts:
    model: str
    enabled: bool
    level: str
    placeholders: bool
    controls: Controls


def _off(cfg: CacheConfig, req: ChatRequest, f: Facts) -> str | None:
    return None if f.enabled else f"cache disabled for model '{f.model}'"


def _samples(cfg: CacheConfig, req: ChatRequest, f: Facts) -> str | None:
    return f"n={req.n} asks for several samples" if req.n is not None and req.n > 1 else None


def _temperature(cfg: CacheConfig, req: ChatRequest, f: Facts) -> str | None:
    t = req.temperature
    if t is None:
        return None if cfg.cache_unset_temperature else "no temperature set (cache_unset_temperature: false)"
    return (
        f"temperature {t:g} above cache.max_temperature {cfg.max_temperature:g}"
        if t > cfg.max_temperature
        else None
    )


def _tools(cfg: CacheConfig, req: ChatRequest, f: Facts) -> str | None:
    offered = bool(req.tools) or bool(req.extra.get("builtin_tools"))
    return "request offers tools (cache.allow_tools: false)" if offered and not cfg.allow_tools else None


def _trust(cfg: CacheConfig, req: ChatRequest, f: Facts) -> str | None:
    local = cfg.local_max_trust or cfg.max_trust
    if LEVEL_ORDER.index(f.level) > LEVEL_ORDER.index(local):
        return f"trust level {f.level} above cache.local_max_trust {local}"
    return "content replaced by placeholders" if f.placeholders else None


def _no_cache(cfg: CacheConfig, req: ChatRequest, f: Facts) -> str | None:
    return "cache-control: no-cache" if f.controls.no_cache else None


RULES: tuple[Rule, ...] = (_off, _no_cache, _samples, _temperature, _tools, _trust)


class CachePolicy:
    """The ``cache:`` section compiled once per config."""

    def __init__(self, cfg: CacheConfig) -> None:
        self.cfg = cfg
        self.semantic_models = frozenset(cfg.semantic.models) | {
            name for name, m in cfg.models.items() if m.semantic
        }
        self.semantic_off = frozenset(name for name, m in cfg.models.items() if m.semantic is False)
        self.semantic_principals = frozenset(cfg.semantic.keys) | frozenset(cfg.semantic.tenants)
        # caching is on for some model: worth recognising repeats before decoding (cache/recall.py)
        self.active = cfg.enabled or any(m.enabled for m in cfg.models.values())

    def enabled(self, model: str) -> bool:
        override = self.cfg.models.get(model)
        return override.enabled if override is not None and override.enabled is not None else self.cfg.enabled

    def ttl(self, model: str) -> float:
        override = self.cfg.models.get(model)
        return override.ttl_seconds if override is not None and override.ttl_seconds else self.cfg.ttl_seconds

    def semantic(self, model: str, ctx: RequestContext) -> bool:
        if model in self.semantic_off:
            return False
        if self.cfg.semantic.enabled or model in self.semantic_models:
            return True
        p = ctx.principal
        return p is not None and (p.id in self.semantic_principals or p.tenant in self.semantic_principals)

    def decide(self, ctx: RequestContext, model: str) -> CacheDecision:
        req = ctx.request
        assert req is not None
        cfg, enabled = self.cfg, self.enabled(model)
        # with the cache off for the model its headers are not even parsed (never a 400 for them)
        ctl = controls(ctx.headers, cfg.max_ttl_seconds) if enabled else Controls()
        level, placeholders = _level(ctx)
        facts = Facts(model, enabled, level, placeholders, ctl)
        for rule in RULES:
            reason = rule(cfg, req, facts)
            if reason is not None:
                return CacheDecision(False, False, False, False, 0.0, None, level, reason)
        shared = LEVEL_ORDER.index(level) <= LEVEL_ORDER.index(cfg.max_trust)
        return CacheDecision(
            lookup=not ctl.refresh,
            store=not ctl.no_store,
            shared=shared,
            semantic=self.semantic(model, ctx),
            ttl=ctl.ttl or self.ttl(model),
            max_age=ctl.max_age,
            level=level,
        )
