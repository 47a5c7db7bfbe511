"""The trust stage: classify a request, apply the per-level policy, and veto ineligible candidates.

Runs first among the pipeline stages (before admission, so a blocked request consumes no quota):

1. scan the request's text once (``trust/content.py``) and classify it: the highest of the caller's
   default, the ``x-trust-level`` header (lowering only when the key may), the context sources'
   tags (``x-context-sources: memory:notes/q3=confidential, file:README.md=public`` or
   ``ctx.notes["trust.sources"]``, where the shared-memory items this key read over MCP recently and
   ``memory:<id>`` items named without a level are put, ``trust/memory_sources.py``) and the findings;
2. look for prompt injection in user text and tool results (``trust/injection.py``); with
   ``trust.injection.action: block`` a finding raises, else it is only recorded;
3. apply the level's action: ``block`` raises; ``redact`` rewrites the request (placeholders are
   restored in the answer by the extension); ``route-local`` and the per-provider maxima become
   the candidate veto (``trust/eligibility.py``), applied by the planner to every candidate and
   fallback; a request no reachable deployment may take is blocked here, with one clear error;
4. ask the external decision endpoint, when one is configured.

The typed outcome is ``ctx.notes["trust"]`` (:class:`~adaptive_gateway.trust.decision.TrustDecision`).
This module imports neither ``pipeline`` nor ``server``: the context is a structural protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

import orjson

from adaptive_gateway.config import CompiledConfig, Deployment
from adaptive_gateway.errors import InvalidRequest, PolicyBlocked
from adaptive_gateway.formats import openai_chat
from adaptive_gateway.trust.content import Scan, redact_request, scan_request, scan_texts
from adaptive_gateway.trust.decision import TRUST_NOTE, TrustDecision
from adaptive_gateway.trust.detectors import Finding
from adaptive_gateway.trust.eligibility import PREFIX, Consents, EligibilityCache, Veto, reachable
from adaptive_gateway.trust.injection import summarize_injection
from adaptive_gateway.trust.levels import TrustLevel
from adaptive_gateway.trust.memo import DIGESTS_NOTE, Digests
from adaptive_gateway.trust.memory_sources import PREFIX as MEMORY_PREFIX
from adaptive_gateway.trust.memory_sources import MemoryReads
from adaptive_gateway.trust.opa import DecisionClient
from adaptive_gateway.trust.policy import Verdict, VerdictKind, classify, describe_findings
from adaptive_gateway.trust.settings import PrincipalDefaults, TrustSettings
from adaptive_gateway.types import ChatRequest

LEVEL_HEADER = "x-trust-level"
SOURCES_HEADER = "x-context-sources"
SOURCES_NOTE = "trust.sources"  # Mapping[str, TrustLevel | str] from context providers
RUN_HEADERS = (LEVEL_HEADER, SOURCES_HEADER)
_MAX_CACHED = 512  # plain verdicts kept per stage


class StageContext(Protocol):
    """What the stage reads of the request context (``pipeline.context.RequestContext``)."""

    @property
    def request(self) -> ChatRequest | None: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def principal(self) -> object: ...

    @property
    def notes(self) -> dict[str, Any]: ...

    @property
    def config(self) -> CompiledConfig: ...

    @property
    def route(self) -> str: ...


def header_level(headers: Mapping[str, str]) -> TrustLevel | None:
    raw = headers.get(LEVEL_HEADER)
    if raw is None or not raw.strip():
        return None
    try:
        return TrustLevel.parse(raw)
    except ValueError as exc:
        raise InvalidRequest(f"{LEVEL_HEADER}: {exc}") from None


def context_sources(headers: Mapping[str, str], notes: Mapping[str, Any]) -> dict[str, TrustLevel]:
    """Tags of the context sources a request used: the header's and a context provider's (a
    ``memory:<id>`` named without a level counts once its stored level is in the notes)."""
    tags: dict[str, TrustLevel] = {}
    noted = notes.get(SOURCES_NOTE) or {}
    raw = headers.get(SOURCES_HEADER)
    for item in raw.split(",") if raw else ():
        name, sep, level = item.strip().rpartition("=")
        if not item.strip() or (not sep and level in noted):
            continue
        try:
            if not sep or not name.strip():
                raise ValueError("expected <source>=<level>")
            tags[name.strip()] = TrustLevel.parse(level)
        except ValueError as exc:
            raise InvalidRequest(f"{SOURCES_HEADER}: {item.strip()!r}: {exc}") from None
    for name, level in noted.items():
        tags[str(name)] = max(tags.get(str(name), TrustLevel.PUBLIC), TrustLevel.parse(level))
    return tags


def unlabelled_memory(headers: Mapping[str, str]) -> list[str]:
    """The ``memory:<id>`` items of ``x-context-sources`` given without a level."""
    raw = headers.get(SOURCES_HEADER)
    if not raw:
        return []  # the usual case, on every request: no generator, no list comprehension
    items = (item.strip() for item in raw.split(","))
    return [item for item in items if item.startswith(MEMORY_PREFIX) and "=" not in item]


def run_snapshot(req: ChatRequest, headers: Mapping[str, str]) -> dict[str, Any]:
    """The request as an OpenAI chat body (a deep copy, taken before any redaction) for the run ledger."""
    body = orjson.loads(orjson.dumps(openai_chat.encode_request(req, req.model)))
    kept = {name: headers[name] for name in RUN_HEADERS if name in headers}
    return {"wire": req.wire, "body": body, "headers": kept}


class TrustStage:
    """The pipeline stage; also the factory of the candidate filter (:meth:`candidate_filter`)."""

    # what a request's classification leaves, reused for a byte-identical repeat (cache/recall.py)
    replay_notes = (TRUST_NOTE, SOURCES_NOTE)

    def __init__(
        self,
        settings_for: Callable[[CompiledConfig], TrustSettings],
        consents: Callable[[], Consents],
        decider: DecisionClient,
        memory: MemoryReads | None = None,
    ) -> None:
        self.settings_for = settings_for
        self.consents = consents
        self.decider = decider
        self.memory = memory
        self.eligibility = EligibilityCache()
        self._verdicts: dict[tuple[TrustLevel, TrustLevel, str], Verdict] = {}

    async def __call__(self, ctx: StageContext) -> None:
        req = ctx.request
        if req is None:
            return
        settings = self.settings_for(ctx.config)
        if not settings.enabled:
            return
        await self.memory_sources(ctx, settings)
        seen: Digests = {}  # each text digested once per request (trust/memo.py), receipt included
        ctx.notes[DIGESTS_NOTE] = seen
        scan = scan_request(settings.detectors, req, seen)
        decision = self.classify(ctx, settings, scan.findings)
        if settings.injection is not None:
            decision.injection = settings.injection.scan(req.messages, seen)
            decision.injection_action = settings.injection.action
        if decision.record_runs:
            decision.run_request = run_snapshot(req, ctx.headers)
        await self._apply(ctx, settings, decision, scan, req)

    def replay_stamp(self, ctx: StageContext) -> object | None:
        """What this caller's classification depends on besides the request's bytes and headers: the
        compiled policy, the consents and the caller's own settings. None (never reuse) when it also
        depends on something that can change between two identical requests: memory items the caller
        read or names, an external decision service, or a run folder to record per request."""
        settings = self.settings_for(ctx.config)
        if not settings.enabled:
            return settings
        if settings.decision is not None or unlabelled_memory(ctx.headers):
            return None
        if self.memory is not None and self.memory.recent(ctx.principal, settings.memory_reads_ttl):
            return None
        defaults = self.defaults(ctx, settings)
        return None if defaults.record_runs else (settings, self.consents(), defaults)

    async def memory_sources(self, ctx: StageContext, settings: TrustSettings | None = None) -> None:
        """Add to ``ctx.notes["trust.sources"]`` the memory items this caller was handed over MCP within
        ``trust.memory.reads_ttl_seconds`` and those it names in ``x-context-sources`` without a level
        (their stored level); the classification then counts them like any tagged source."""
        settings = settings or self.settings_for(ctx.config)
        memory = self.memory
        named = unlabelled_memory(ctx.headers)
        if memory is None or not settings.enabled:
            return  # a named item without a level is then refused by context_sources
        tags = memory.recent(ctx.principal, settings.memory_reads_ttl)
        if named:
            try:
                tags.update(await memory.resolve(named))
            except LookupError as exc:
                raise InvalidRequest(f"{SOURCES_HEADER}: {exc}") from None
        if tags:
            noted = {str(k): TrustLevel.parse(v) for k, v in (ctx.notes.get(SOURCES_NOTE) or {}).items()}
            for name, level in tags.items():
                noted[name] = max(noted.get(name, TrustLevel.PUBLIC), level)
            ctx.notes[SOURCES_NOTE] = noted

    def candidate_filter(self, ctx: StageContext) -> Veto | None:
        """The planner's candidate filter for ``ctx`` (None when the stage did not run)."""
        decision = ctx.notes.get(TRUST_NOTE)
        return decision.veto if isinstance(decision, TrustDecision) else None

    # ---- classification ------------------------------------------------------------------------------

    def defaults(self, ctx: StageContext, settings: TrustSettings) -> PrincipalDefaults:
        p = ctx.principal
        kind = getattr(p, "kind", "")
        key_level = getattr(p, "trust_level", None)  # a virtual key's own level (accounts' key table)
        admin = kind == "master" or (kind == "virtual" and "admin" in getattr(p, "roles", ()))
        return settings.principal_defaults(
            getattr(p, "id", None), getattr(p, "tenant", None), key_level, admin
        )

    def classify(
        self, ctx: StageContext, settings: TrustSettings, findings: Sequence[Finding]
    ) -> TrustDecision:
        """The request's level and why; recorded as ``ctx.notes["trust"]``."""
        defaults = self.defaults(ctx, settings)
        header = header_level(ctx.headers)
        sources = context_sources(ctx.headers, ctx.notes)
        level, reasons = classify(defaults.level, header, defaults.may_lower, sources, findings)
        residual = classify(defaults.level, header, defaults.may_lower, sources, ())[0] if findings else level
        reasons[0] = defaults.reason
        counts: dict[str, int] = {}
        for f in findings:
            counts[f.type] = counts.get(f.type, 0) + 1
        decision = TrustDecision(
            level, residual, defaults, reasons, dict(sorted(counts.items())), sources, settings.version
        )
        decision.effective = level
        decision.record_runs = defaults.record_runs
        ctx.notes[TRUST_NOTE] = decision
        return decision

    # ---- policy --------------------------------------------------------------------------------------

    async def _apply(
        self,
        ctx: StageContext,
        settings: TrustSettings,
        decision: TrustDecision,
        scan: Scan,
        req: ChatRequest,
    ) -> None:
        if decision.injection and decision.injection_action == "block":
            kinds = describe_findings(summarize_injection(decision.injection)["kinds"])
            raise self._block(decision, f"policy blocks suspected prompt injection ({kinds})")
        decision.action = action = settings.action_for(decision.level)
        if action == "block":
            raise self._block(decision, f"policy blocks {decision.level} requests")
        if action == "redact" and scan.findings:
            decision.redaction = redact_request(req, scan, settings.rules.redact_mode, settings.detectors)
            decision.effective = decision.residual
            if settings.action_for(decision.effective) == "block":
                raise self._block(decision, f"policy blocks {decision.effective} requests")
        if settings.decision is not None:
            offline = ctx.config.source.mode == "offline"
            decision.external = await self.decider.decide(
                settings.decision, self._input(ctx, decision), offline=offline
            )
            if not decision.external.allow:
                raise self._block(decision, decision.external.reason)
        decision.veto = veto = self.eligibility.veto(settings, self.consents(), decision.effective)
        deps = self.eligibility.reachable(ctx.config, req.model)
        decision.vetoed = self.eligibility.vetoed(veto, deps)
        if deps and len(decision.vetoed) == len(deps):
            raise self._block(decision, self._nowhere(req.model, decision, deps))
        decision.verdict = self._verdict(decision, deps)

    def _verdict(self, decision: TrustDecision, deps: Sequence[Deployment]) -> Verdict:
        vetoed = dict(decision.vetoed)
        allowed = [d for d in deps if d.id not in vetoed]
        hosted_vetoed = [vetoed[d.id] for d in deps if d.id in vetoed and d.provider.locality == "hosted"]
        kind: VerdictKind = "allow"
        if decision.redaction is not None:
            kind = "redact"
            reason = (
                f"policy redacts {decision.level} requests ({decision.redaction.mode}); "
                f"level after redaction: {decision.effective}"
            )
        elif hosted_vetoed and allowed and all(d.provider.locality == "local" for d in allowed):
            kind = "route_local"
            reason = hosted_vetoed[0].removeprefix(PREFIX)
        else:
            places = " and ".join(sorted({d.provider.locality for d in allowed}) or ["any"])
            if decision.findings:
                return self._typed(decision, kind, f"{decision.effective} is allowed for {places} providers")
            key = (decision.level, decision.effective, places)  # the common case: the same few verdicts
            verdict = self._verdicts.get(key)
            if verdict is None:
                if len(self._verdicts) >= _MAX_CACHED:
                    self._verdicts.clear()
                reason = f"{decision.effective} is allowed for {places} providers"
                verdict = self._verdicts[key] = self._typed(decision, kind, reason)
            return verdict
        return self._typed(decision, kind, reason)

    @staticmethod
    def _typed(decision: TrustDecision, kind: VerdictKind, reason: str) -> Verdict:
        found = f"; findings: {describe_findings(decision.findings)}"
        mode = decision.redaction.mode if decision.redaction is not None else None
        return Verdict(kind, reason + found, decision.level, MappingProxyType(dict(decision.findings)), mode)

    def _block(self, decision: TrustDecision, reason: str) -> PolicyBlocked:
        decision.verdict = self._typed(decision, "block", reason)
        why = "; ".join(decision.reasons)
        return PolicyBlocked(
            f"blocked by trust policy: {reason}. Level {decision.level} ({why}). "
            f"Findings: {describe_findings(decision.findings)}.",
            code="trust_policy",
        )

    @staticmethod
    def _nowhere(model: str, decision: TrustDecision, deps: Sequence[Deployment]) -> str:
        reasons = "; ".join(f"{dep}: {why.removeprefix(PREFIX)}" for dep, why in decision.vetoed)
        local = any(d.provider.locality == "local" for d in deps)
        hint = (
            "" if local else "; add a local deployment or record consent (adaptive-llm-gateway ledger grant)"
        )
        return f"no deployment of model '{model}' (fallbacks included) may receive it: {reasons}{hint}"

    def _input(self, ctx: StageContext, decision: TrustDecision) -> dict[str, Any]:
        """The external decision endpoint's input: no message text."""
        p = ctx.principal
        req = ctx.request
        model = ctx.config.resolve(req.model) if req is not None else None
        deps = reachable(ctx.config, model) if model is not None else []
        return {
            **decision.summary(),
            "model": req.model if req is not None else None,
            "route": ctx.route,
            "mode": ctx.config.source.mode,
            "principal": {
                "id": getattr(p, "id", None),
                "kind": getattr(p, "kind", None),
                "tenant": getattr(p, "tenant", None),
            },
            "deployments": [
                {"id": d.id, "provider": d.provider.name, "locality": d.provider.locality} for d in deps
            ],
        }

    # ---- forwarded endpoints (embeddings, completions) ------------------------------------------------

    def guard_forward(self, ctx: StageContext, texts: list[str], dep: Deployment | None) -> None:
        """Classify forwarded input (no redaction there) and refuse it if ``dep`` may not take it."""
        settings = self.settings_for(ctx.config)
        if not settings.enabled:
            return
        scan = scan_texts(settings.detectors, texts, [])
        decision = self.classify(ctx, settings, scan.findings)
        decision.action = settings.action_for(decision.level)
        if decision.action == "block":
            raise self._block(decision, f"policy blocks {decision.level} requests")
        if decision.action == "redact" and scan.findings:
            raise self._block(
                decision, f"policy redacts {decision.level} requests; forwarded endpoints cannot be redacted"
            )
        decision.veto = veto = self.eligibility.veto(settings, self.consents(), decision.level)
        if dep is None:
            decision.verdict = self._typed(decision, "allow", "no deployment to check")
            return
        why = veto(dep)
        if why is not None:
            decision.vetoed = ((dep.id, why),)
            reason = why.removeprefix(PREFIX)
            raise self._block(decision, f"{dep.id}: {reason} (forwarded endpoints are not redacted)")
        locality = dep.provider.locality
        decision.verdict = self._typed(
            decision, "allow", f"{decision.level} is allowed for {locality} providers"
        )
