"""The work behind the dashboard's setup pages, on top of the setup and memory engineers' modules:
doctor, integrations (preview / apply / undo through the safe config writer), the consent ledger and
shared memory. Synchronous functions (they read files, run git, probe ports): the routes run them in a
thread, bounded in time. Errors are typed :class:`GatewayError` s whose message says what to do.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from adaptive_gateway.config import gateway_home
from adaptive_gateway.errors import GatewayError, InvalidRequest, NotFound

LEDGER_FILE = "consent.jsonl"
# the writer's actions -> consent ledger actions (integrating a client grants it, undo revokes)
LEDGER_ACTIONS = {"integrate": "grant", "integrate.undo": "revoke"}
DISCOVERY_BUDGET_S = 4.0
MEMORY_LIMIT = 200
BODY_LIMIT = 4000


class Conflict(GatewayError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


# ---- doctor ---------------------------------------------------------------------------------------------


def doctor_run(config_path: Path, timeout: float = 3.0) -> dict[str, Any]:
    """Every doctor check (read-only: repairs stay with ``adaptive-llm-gateway doctor --fix``)."""
    from adaptive_gateway.doctor import DoctorContext
    from adaptive_gateway.doctor.runner import run_checks

    ctx = DoctorContext(gateway_home(), config_path, Path.home(), dict(os.environ), timeout)
    findings = asyncio.run(run_checks(ctx.load()))
    return {
        "ok": not any(f.status == "fail" for f in findings),
        "findings": [f.to_dict() for f in findings],
    }


# ---- integrations ---------------------------------------------------------------------------------------


def integrations_view() -> dict[str, Any]:
    """What is integrated, the known targets, and the AI clients discovery finds here."""
    from adaptive_gateway.discovery import DiscoveryTargets, discover
    from adaptive_gateway.integrations import TARGETS, ConfigWriter

    writer = ConfigWriter(gateway_home())
    active = [
        {**m.to_dict(), "files": [{**asdict(f), "status": f.status()} for f in m.files]}
        for m in writer.list_integrations()
    ]
    targets = DiscoveryTargets(request_timeout_s=0.5, probe_budget_s=1.5, gitea=(), docker_socket=None)
    report = asyncio.run(asyncio.wait_for(discover(targets), DISCOVERY_BUDGET_S))
    return {
        "integrated": active,
        "targets": [{"name": t.name, "summary": t.summary} for t in TARGETS.values()],
        "clients": [asdict(c) for c in report.clients],
        "runtimes": [asdict(r) for r in report.runtimes if r.reachable],
        "keys": [asdict(k) for k in report.keys],  # masked values only
    }


def _plan(body: dict[str, Any], url: str) -> tuple[str, list[Any], str, str, str]:
    """(target, changed files, diff, digest, instructions) of integrating ``body["target"]``."""
    from adaptive_gateway.integrations import IntegrationContext, get_target, prepare

    name = body.get("target")
    try:
        target = get_target(str(name))
    except KeyError as exc:
        raise InvalidRequest(str(exc.args[0]), param="target") from None
    mcp = body.get("mcp") is True
    plan = target.plan(IntegrationContext(Path.home(), url, mcp))
    changed = [p for p in (prepare(c) for c in plan.changes) if p.changed]
    diff = "".join(p.diff() for p in changed)
    digest = hashlib.sha256(f"{target.name}\n{mcp}\n{url}\n{diff}".encode()).hexdigest()[:32]
    return target.name, changed, diff, digest, plan.instructions


def integration_preview(body: dict[str, Any], url: str) -> dict[str, Any]:
    """The diff integrating ``body["target"]`` would write, and the digest ``apply`` must echo."""
    name, changed, diff, digest, instructions = _plan(body, url)
    return {
        "target": name,
        "diff": diff,
        "digest": digest,
        "files": [str(p.change.path) for p in changed],
        "unchanged": not changed,
        "instructions": instructions,
    }


def _writer() -> Any:
    from adaptive_gateway.integrations import ConfigWriter
    from adaptive_gateway.ledger.consent import ConsentLedger

    state = gateway_home()
    ledger = ConsentLedger(state / LEDGER_FILE)

    def record(action: str, scope: str, reason: str) -> None:
        target, _, path = scope.partition(":")
        verb = LEDGER_ACTIONS.get(action, "grant")
        ledger.append("dashboard", verb, f"client:{target}", f"{action} {path}: {reason}")  # type: ignore[arg-type]

    return ConfigWriter(state, record=record)


def integration_apply(body: dict[str, Any], url: str) -> dict[str, Any]:
    """Write exactly the previewed diff (409 when the files changed since the preview)."""
    from adaptive_gateway.integrations import WriterError

    name, changed, _, digest, _ = _plan(body, url)
    if digest != body.get("digest"):
        raise Conflict("the client's files changed since the preview; preview again and review the new diff")
    if not changed:
        return {"target": name, "status": "unchanged"}
    try:
        manifest = _writer().apply(name, changed, "approved in the dashboard after reviewing the diff", url)
    except WriterError as exc:
        raise Conflict(str(exc)) from None
    return {"target": name, "status": "written", "backup": str(manifest.location)}


def integration_undo(body: dict[str, Any], url: str) -> dict[str, Any]:
    """Restore the files of the target's latest integration (409 when they changed since)."""
    from adaptive_gateway.integrations import WriterError

    name = str(body.get("target"))
    try:
        manifest = _writer().undo(name, force=body.get("force") is True)
    except WriterError as exc:
        raise Conflict(str(exc)) from None
    return {"target": name, "status": "restored", "files": [f.path for f in manifest.files]}


# ---- consent ledger and memory --------------------------------------------------------------------------


def consent_view() -> dict[str, Any]:
    """Every entry of ``<home>/consent.jsonl``, newest first, and whether the chain verifies."""
    from adaptive_gateway.ledger.consent import ConsentLedger

    ledger = ConsentLedger(gateway_home() / LEDGER_FILE)
    if not ledger.path.exists():
        return {"exists": False, "path": str(ledger.path), "entries": [], "verified": None}
    result = ledger.verify()
    return {
        "exists": True,
        "path": str(ledger.path),
        "verified": result.ok,
        "problems": [asdict(p) for p in result.problems],
        "granted": sorted(ledger.grants()),
        "entries": [asdict(e) for e in reversed(ledger.entries())],
    }


def _item(item: Any, body: bool) -> dict[str, Any]:
    out = {
        "id": item.id,
        "type": str(item.type),
        "namespace": item.namespace,
        "title": item.title,
        "tags": list(item.tags),
        "trust_level": str(item.trust_level),
        "author": item.author_agent,
        "created_at": item.created_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
    }
    if body:
        secret = str(item.trust_level) == "secret"
        out["body"] = "(withheld: a secret item; read it with the CLI)" if secret else item.body[:BODY_LIMIT]
    return out


def memory_view(query: dict[str, str]) -> dict[str, Any]:
    """Shared memory, read-only: one item (``id``), a search (``q``) or the list (``namespace``, ``type``)."""
    from adaptive_gateway.memory import InvalidItem, ItemNotFound, MemorySearch, MemoryStore, default_root

    root = default_root()
    if not (root / ".git").exists():
        return {"available": False, "root": str(root), "reason": "no memory repository yet", "items": []}
    store = MemoryStore(root)
    namespace, kind = query.get("namespace") or None, query.get("type") or None
    try:
        if query.get("id"):
            return {"available": True, "item": _item(store.read(query["id"], namespace), True)}
        if query.get("q"):
            hits = MemorySearch(store).search(query["q"], namespace=namespace, type=kind, limit=50)
            return {"available": True, "hits": [{**asdict(h), "type": str(h.type)} for h in hits]}
        items = store.list(namespace=namespace, type=kind)
    except ItemNotFound as exc:
        raise NotFound(str(exc)) from None
    except InvalidItem as exc:
        raise InvalidRequest(str(exc)) from None
    newest = sorted(items, key=lambda i: i.updated_at, reverse=True)[:MEMORY_LIMIT]
    return {
        "available": True,
        "root": str(root),
        "total": len(items),
        "items": [_item(i, False) for i in newest],
    }
