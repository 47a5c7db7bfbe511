"""The gateway process: running and answering (pidfile, ``/health/live``, ``/health/ready``), or else
whether its port is free to start it."""

from __future__ import annotations

import asyncio

import httpx

from adaptive_gateway.cli import process
from adaptive_gateway.server.runner import check_port

from .config_checks import run_cli
from .model import DoctorContext, Finding, Repair


def _start_repair(ctx: DoctorContext) -> Repair | None:
    if ctx.config is None:
        return None
    args = ("start", "--background", "--config", str(ctx.config_path))
    return Repair("start the gateway in the background", lambda: run_cli(ctx, *args))


async def _readiness(ctx: DoctorContext, url: str) -> Finding | None:
    """A warning naming failing readiness checks, when the admin key lets us ask."""
    key = ctx.admin_key()
    if key is None:
        return None
    try:
        async with httpx.AsyncClient(timeout=ctx.timeout) as client:
            resp = await client.get(f"{url}/health/ready", headers={"Authorization": f"Bearer {key}"})
        checks = resp.json().get("checks", {})
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    if resp.status_code == 401:
        return Finding(
            "server:ready",
            "warn",
            f"the gateway at {url} rejects the key in {ctx.state / 'admin_key'}",
            "the running gateway uses another master key (another config?)",
            "adaptive-llm-gateway status",
        )
    failing = [
        f"{name}: {c.get('detail')}" for name, c in checks.items() if isinstance(c, dict) and not c.get("ok")
    ]
    if failing:
        return Finding(
            "server:ready",
            "warn",
            f"the gateway is not ready: {'; '.join(failing)}",
            "requests may fail until these recover",
            f"adaptive-llm-gateway status   (log: {process.logfile(ctx.state)})",
        )
    return Finding("server:ready", "ok", f"ready ({len(checks)} readiness checks pass)")


async def _running(ctx: DoctorContext, proc: process.GatewayProcess) -> list[Finding]:
    if not await asyncio.to_thread(process.answers, proc.url, ctx.timeout):
        return [
            Finding(
                "server",
                "fail",
                f"pid {proc.pid} is running but {proc.url} does not answer",
                "clients get connection errors or hang",
                "adaptive-llm-gateway stop && adaptive-llm-gateway start --background",
            )
        ]
    findings = [Finding("server", "ok", f"running: pid {proc.pid}, {proc.url}")]
    if proc.config != str(ctx.config_path.absolute()):
        findings.append(
            Finding(
                "server:config",
                "warn",
                f"the running gateway uses {proc.config}, not {ctx.config_path}",
                "changes to the checked config do not reach it",
                "adaptive-llm-gateway stop && adaptive-llm-gateway start --background",
            )
        )
    ready = await _readiness(ctx, proc.url)
    return findings + ([ready] if ready else [])


async def check_server(ctx: DoctorContext) -> list[Finding]:
    proc = process.running(ctx.state)
    if proc is not None:
        return await _running(ctx, proc)
    url = ctx.gateway_url
    if await asyncio.to_thread(process.answers, url, ctx.timeout):
        ready = await _readiness(ctx, url)
        found = Finding("server", "ok", f"a gateway answers at {url} (started outside this CLI: no pidfile)")
        return [found] + ([ready] if ready else [])
    server = ctx.config.server if ctx.config else None
    host, port = (server.host, server.port) if server else ("127.0.0.1", 4141)
    problem = check_port(host, port)
    if problem is None:
        return [
            Finding(
                "server",
                "warn",
                f"the gateway is not running ({host}:{port} is free)",
                "clients pointed at the gateway cannot connect",
                "adaptive-llm-gateway start --background",
                _start_repair(ctx),
            )
        ]
    return [
        Finding(
            "server",
            "fail",
            f"{problem}, and what listens there is not a gateway",
            "the gateway cannot start on its configured port",
            f"change server.port in {ctx.config_path} (what listens: lsof -nP -iTCP:{port} -sTCP:LISTEN)",
        )
    ]
