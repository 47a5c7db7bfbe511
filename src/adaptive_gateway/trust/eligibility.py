"""Which deployments may receive a request at a given trust level: the candidate veto.

One rule table for every candidate, fallbacks and context fallbacks included (the planner asks it for
each). Reasons start with ``trust:`` so receipts and route explanations can tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Protocol

from adaptive_gateway.config import CompiledConfig, Deployment, Model
from adaptive_gateway.trust.levels import TrustLevel
from adaptive_gateway.trust.policy import provider_scope
from adaptive_gateway.trust.settings import TrustSettings

Veto = Callable[[Deployment], str | None]
PREFIX = "trust: "


class Consents(Protocol):
    """The consent ledger as the stage sees it (``ledger.consent_view.ConsentSnapshot``)."""

    @property
    def granted(self) -> Collection[str]: ...

    @property
    def revoked(self) -> Collection[str]: ...

    @property
    def ok(self) -> bool: ...

    @property
    def provider_entries(self) -> bool: ...


def needs_provider_grant(settings: TrustSettings, consents: Consents) -> bool:
    """Whether every hosted provider needs its own ``provider:<name>`` grant right now."""
    mode = settings.require_consent
    return mode == "hosted" or (mode == "auto" and consents.provider_entries)


def level_grants(granted: Collection[str]) -> dict[str, TrustLevel]:
    """The highest level granted per provider (``provider:<name>:<level>`` scopes)."""
    out: dict[str, TrustLevel] = {}
    for scope in granted:
        kind, _, rest = scope.partition(":")
        name, _, level = rest.rpartition(":")
        if kind != "provider" or not name:
            continue
        try:
            parsed = TrustLevel.parse(level)
        except ValueError:
            continue
        out[name] = max(out.get(name, parsed), parsed)
    return out


def make_veto(
    settings: TrustSettings,
    consents: Consents,
    level: TrustLevel,
    grants: Mapping[str, TrustLevel] | None = None,
) -> Veto:
    """The candidate filter for a request at ``level`` (after any redaction). ``grants`` is
    :func:`level_grants` of ``consents.granted``, when the caller keeps it per ledger snapshot."""
    route_local = settings.action_for(level) == "route-local"
    grant_each = needs_provider_grant(settings, consents)
    granted = consents.granted
    by_provider = level_grants(granted) if grants is None else grants

    def veto(dep: Deployment) -> str | None:
        provider = dep.provider
        name = provider.name
        cap = settings.cap_for(provider)
        # a level grant implies the provider grant; a higher one covers lower levels
        level_grant = name in by_provider and by_provider[name] >= level
        if provider.locality != "hosted":
            if level > cap and not level_grant:
                return f"{PREFIX}{level} exceeds {name}'s maximum {cap}"
            return None
        if not consents.ok:
            return f"{PREFIX}the consent ledger failed verification; hosted providers are not used"
        scope = provider_scope(name)
        if scope in consents.revoked:
            return f"{PREFIX}consent for {name} was revoked in the ledger"
        if grant_each and scope not in granted and not level_grant:
            return f"{PREFIX}no consent on record for hosted provider {name} (ledger grant {scope})"
        if level > cap and not level_grant:
            return (
                f"{PREFIX}{level} exceeds hosted provider {name}'s maximum {cap} (no grant {scope}:{level})"
            )
        if route_local and not level_grant:
            return f"{PREFIX}policy routes {level} requests to local deployments"
        return None

    return veto


def reachable(config: CompiledConfig, model: Model) -> list[Deployment]:
    """Every deployment a request for ``model`` might be sent to: its own, its split arms', their
    fallbacks' and its context fallback's."""
    arms = [m for name, _ in model.split if (m := config.models.get(name)) is not None]
    names: list[str] = []
    for m in (model, *arms):
        names += [m.name, *config.chain(m)]
        if m.context_fallback:
            names.append(config.aliases.get(m.context_fallback, m.context_fallback))
    seen: dict[str, Deployment] = {d.id: d for d in model.deployments}
    for name in names:
        other = config.models.get(name)
        for dep in other.deployments if other is not None else ():
            seen.setdefault(dep.id, dep)
    return list(seen.values())


_MAX_CACHED = 512  # entries per cache; all are cleared when full (reloads make new configs)


class EligibilityCache:
    """What does not depend on the request, kept for the next one: the reachable deployments per
    (immutable) model, the veto per (settings, ledger snapshot, level), the level grants per
    snapshot, and each veto's answers per model. Keys are object identities; each entry keeps its
    objects alive, so an identity is never reused while it is cached."""

    def __init__(self) -> None:
        self._grants: tuple[object, Mapping[str, TrustLevel]] = (None, {})
        self._deps: dict[int, tuple[object, object, tuple[Deployment, ...]]] = {}
        self._vetoes: dict[tuple[int, int, TrustLevel], tuple[object, object, Veto]] = {}
        self._answers: dict[tuple[int, int], tuple[Veto, object, tuple[tuple[str, str], ...]]] = {}

    def reachable(self, config: CompiledConfig, name: str) -> tuple[Deployment, ...]:
        """:func:`reachable` of the model ``name`` resolves to, kept per (immutable) model object."""
        model = config.resolve(name)
        if model is None:
            return ()
        hit = self._deps.get(id(model))
        if hit is None or hit[0] is not model or hit[1] is not config:
            if len(self._deps) >= _MAX_CACHED:
                self._deps.clear()
            hit = self._deps[id(model)] = (model, config, tuple(reachable(config, model)))
        return hit[2]

    def veto(self, settings: TrustSettings, consents: Consents, level: TrustLevel) -> Veto:
        """The candidate veto; one per (settings, ledger snapshot, level), reused across requests."""
        key = (id(settings), id(consents), level)
        hit = self._vetoes.get(key)
        if hit is not None and hit[0] is settings and hit[1] is consents:
            return hit[2]
        if self._grants[0] is not consents:  # parsed once per ledger snapshot, not per request
            self._grants = (consents, level_grants(consents.granted))
        if len(self._vetoes) >= _MAX_CACHED:
            self._vetoes.clear()
            self._answers.clear()
        veto = make_veto(settings, consents, level, self._grants[1])
        self._vetoes[key] = (settings, consents, veto)
        return veto

    def vetoed(self, veto: Veto, deps: tuple[Deployment, ...]) -> tuple[tuple[str, str], ...]:
        """(deployment id, reason) of every vetoed deployment; the answer depends only on the veto
        and the deployments, so it is kept for both."""
        key = (id(veto), id(deps))
        hit = self._answers.get(key)
        if hit is None or hit[0] is not veto or hit[1] is not deps:
            if len(self._answers) >= _MAX_CACHED:
                self._answers.clear()
            found = tuple((d.id, why) for d in deps if (why := veto(d)) is not None)
            hit = self._answers[key] = (veto, deps, found)
        return hit[2]
