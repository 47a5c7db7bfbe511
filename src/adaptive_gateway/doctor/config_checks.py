"""The config file (present, valid) and the mode it sets (offline with hosted-only models)."""

from __future__ import annotations

import re
import shlex
import subprocess

from .model import DoctorContext, Finding, Repair

_UNSET = re.compile(r"environment variable '([A-Za-z_][A-Za-z0-9_]*)' is not set")
MAX_LISTED = 12


def run_cli(ctx: DoctorContext, *args: str) -> str:
    """Run the CLI (``ctx.cli``) with the doctor's gateway home; its last output line."""
    env = {**ctx.env, "ADAPTIVE_GATEWAY_HOME": str(ctx.state)}
    done = subprocess.run(
        [*ctx.cli, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    lines = (done.stderr + done.stdout).strip().splitlines()
    outcome = "done" if done.returncode == 0 else f"failed (exit {done.returncode})"
    return f"{shlex.join(args)}: {outcome}" + (f": {lines[-1]}" if lines and done.returncode else "")


def _init_repair(ctx: DoctorContext) -> Repair:
    args = ("init", "--yes", "--config", str(ctx.config_path), "--home", str(ctx.client_home))
    return Repair("create a config with the safe defaults (init --yes)", lambda: run_cli(ctx, *args))


def _error_fix(ctx: DoctorContext) -> str:
    unset = sorted({m.group(1) for e in ctx.config_errors if (m := _UNSET.search(e))})
    if unset and len(unset) == len(ctx.config_errors):
        exports = "; ".join(f"export {name}=<value>" for name in unset)
        return f"{exports}   (for the service: put NAME=value lines in {ctx.state / 'env'})"
    return f"edit {ctx.config_path}, then run: adaptive-llm-gateway config check --config {ctx.config_path}"


async def check_config(ctx: DoctorContext) -> list[Finding]:
    if ctx.text is None:
        return [
            Finding(
                "config",
                "fail",
                f"no config at {ctx.config_path}",
                "the gateway cannot start without one",
                f"adaptive-llm-gateway init{ctx.home_flag()}",
                _init_repair(ctx),
            )
        ]
    if ctx.config is None:
        listed = "; ".join(ctx.config_errors[:MAX_LISTED])
        more = (
            f" (and {len(ctx.config_errors) - MAX_LISTED} more)"
            if len(ctx.config_errors) > MAX_LISTED
            else ""
        )
        return [
            Finding(
                "config",
                "fail",
                f"{ctx.config_path} is invalid: {len(ctx.config_errors)} error(s): {listed}{more}",
                "the gateway refuses to start with it (a running one keeps its previous config)",
                _error_fix(ctx),
            )
        ]
    cfg = ctx.config
    return [
        Finding(
            "config",
            "ok",
            f"{ctx.config_path} is valid: {len(cfg.providers)} provider(s), {len(cfg.models)} model(s)",
        )
    ]


async def check_mode(ctx: DoctorContext) -> list[Finding]:
    compiled = ctx.compiled
    if compiled is None:
        return [Finding("mode", "skip", "config not valid")]
    if compiled.source.mode != "offline":
        return [Finding("mode", "ok", "online: every configured provider may be used")]
    local = {
        n for n, m in compiled.models.items() if any(d.provider.locality == "local" for d in m.deployments)
    }
    hosted_only = sorted(n for n, m in compiled.models.items() if m.deployments and n not in local)
    if not local:
        return [
            Finding(
                "mode",
                "fail",
                "offline, but no model has a local deployment",
                "every request is refused while offline",
                "adaptive-llm-gateway mode online   (or add a local runtime: "
                f"adaptive-llm-gateway init{ctx.home_flag()})",
            )
        ]
    if hosted_only:
        return [
            Finding(
                "mode",
                "warn",
                f"offline: hosted-only models are refused: {', '.join(hosted_only)}",
                f"use a local model instead ({', '.join(sorted(local))})",
                "adaptive-llm-gateway mode online   (when hosted providers may be used again)",
            )
        ]
    return [Finding("mode", "ok", f"offline: every model has a local deployment ({len(local)})")]
