"""Each integrated client (``integrate --list``): its files still point at the gateway, and the key the
clients send (``$ADAPTIVE_GATEWAY_KEY``) is accepted by the running gateway.

"Points at the gateway" is decided by the integration itself: the target's plan for the current gateway
URL is prepared against the file, and a file that would need no change complies.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from adaptive_gateway.integrations import (
    KEY_ENV,
    TARGETS,
    ConfigWriter,
    FileChange,
    IntegrationContext,
    WriterError,
    prepare,
)
from adaptive_gateway.integrations.backups import Manifest

from .model import DoctorContext, Finding


def _latest(manifests: list[Manifest]) -> dict[str, Manifest]:
    latest: dict[str, Manifest] = {}
    for manifest in manifests:  # oldest first: the last one wins
        latest[manifest.target] = manifest
    return latest


def _changes_for(
    ctx: DoctorContext, target: str, url: str, path: str, inline_key: str | None
) -> list[FileChange]:
    """The integration's changes to ``path``: without MCP first, with it when only MCP touches the file."""
    for mcp in (False, True):
        plan = TARGETS[target].plan(IntegrationContext(ctx.client_home, url, mcp, inline_key))
        changes = [c for c in plan.changes if str(c.path) == path]
        if changes:
            return changes
    return []


def _problem(ctx: DoctorContext, target: str, url: str, path: str) -> str | None:
    if not Path(path).exists():
        return f"{path} is gone"
    # as integrated by default (the key by reference), or with --inline-key (the key's value in the file)
    keys = [None, *([ctx.env[KEY_ENV]] if ctx.env.get(KEY_ENV) else [])]
    try:
        complies = any(
            not any(prepare(c).changed for c in _changes_for(ctx, target, url, path, key)) for key in keys
        )
    except WriterError as exc:
        return str(exc)
    return None if complies else f"{path} no longer points at {url}"


def check_client(ctx: DoctorContext, manifest: Manifest, url: str) -> Finding:
    target = manifest.target
    check = f"client:{target}"
    if target not in TARGETS:
        return Finding(check, "skip", f"unknown integration target {target}")
    problems = [p for entry in manifest.files if (p := _problem(ctx, target, url, entry.path))]
    if problems:
        return Finding(
            check,
            "fail",
            "; ".join(problems),
            f"{target} does not go through the gateway (no policies, budgets or receipts)",
            f"adaptive-llm-gateway integrate {target}{ctx.home_flag()}",
        )
    files = ", ".join(e.path for e in manifest.files)
    return Finding(check, "ok", f"{target} points at {url} ({files})")


async def _key_finding(ctx: DoctorContext, url: str) -> Finding:
    export = f'export {KEY_ENV}="$(cat {ctx.state / "admin_key"})"   (or a virtual key)'
    key = ctx.env.get(KEY_ENV)
    if not key:
        return Finding(
            "client-key",
            "warn",
            f"${KEY_ENV} is not set in this shell",
            "integrated clients read their gateway key from it; started from here they cannot authenticate",
            export,
        )
    try:
        async with httpx.AsyncClient(timeout=ctx.timeout) as client:
            resp = await client.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    except httpx.HTTPError:
        return Finding(
            "client-key", "skip", f"the gateway at {url} does not answer; the key cannot be tested"
        )
    if resp.status_code in (401, 403):
        return Finding(
            "client-key",
            "fail",
            f"the gateway rejects ${KEY_ENV} (HTTP {resp.status_code})",
            "integrated clients get authentication errors",
            export,
        )
    if resp.status_code != 200:
        return Finding(
            "client-key", "warn", f"GET /v1/models with ${KEY_ENV} answered HTTP {resp.status_code}"
        )
    return Finding("client-key", "ok", f"${KEY_ENV} is accepted by the gateway at {url}")


async def check_clients(ctx: DoctorContext) -> list[Finding]:
    integrations = _latest(ConfigWriter(ctx.state).list_integrations())
    if not integrations:
        return [
            Finding(
                "clients",
                "skip",
                "no client is integrated",
                "",
                f"adaptive-llm-gateway integrate <client>{ctx.home_flag()}   (one of: {', '.join(TARGETS)})",
            )
        ]
    url = ctx.env.get("ADAPTIVE_GATEWAY_URL") or ctx.gateway_url  # as `integrate` chooses it
    findings = [check_client(ctx, m, url) for m in integrations.values()]
    findings.append(await _key_finding(ctx, url))
    return findings
