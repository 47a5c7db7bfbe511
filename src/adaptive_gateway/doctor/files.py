"""Files on disk: the gateway home, permissions of the files that hold secrets, the consent ledger's
integrity, and free disk space."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from adaptive_gateway.cli.config_file import references_secrets
from adaptive_gateway.ledger.consent import ConsentLedger, LedgerError

from .model import DoctorContext, Finding, Repair

MIN_FREE_FAIL = 200 * 1024**2  # the SQLite store, logs and the embedded model's child need room
MIN_FREE_WARN = 1024**3


def _chmod(path: Path, mode: int) -> Repair:
    def apply() -> str:
        os.chmod(path, mode)
        return f"chmod {mode:o} {path}"

    return Repair(f"chmod {mode:o} {path}", apply)


def _mkdir(path: Path) -> Repair:
    def apply() -> str:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return f"created {path}"

    return Repair(f"create {path} (mode 700)", apply)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_home(ctx: DoctorContext) -> Finding:
    home = ctx.state
    if not home.is_dir():
        return Finding(
            "home",
            "fail",
            f"the gateway home {home} does not exist",
            "init has not run yet (it keeps the config, keys, store and ledger there)",
            f"adaptive-llm-gateway init   (or: mkdir -m 700 {home})",
            _mkdir(home),
        )
    if _mode(home) & 0o077:
        return Finding(
            "home",
            "warn",
            f"{home} is readable by other users (mode {_mode(home):o})",
            "it holds the database, backups of client configs and the consent ledger",
            f"chmod 700 {home}",
            _chmod(home, 0o700),
        )
    return Finding("home", "ok", f"{home} (mode 700)")


def _private(check: str, path: Path, why: str) -> Finding:
    mode = _mode(path)
    if mode & 0o077:
        return Finding(
            check,
            "fail",
            f"{path} is mode {mode:o}: other users can read it",
            why,
            f"chmod 600 {path}",
            _chmod(path, 0o600),
        )
    return Finding(check, "ok", f"{path} is private (mode {mode:o})")


def check_permissions(ctx: DoctorContext) -> list[Finding]:
    findings = []
    cfg = ctx.config_path
    if ctx.text is not None:
        if references_secrets(ctx.text):
            findings.append(
                _private("permissions:config", cfg, "it holds the master key's hash or provider keys")
            )
        else:
            findings.append(Finding("permissions:config", "ok", f"{cfg} holds no secret"))
    key = ctx.state / "admin_key"
    if key.exists():
        findings.append(
            _private("permissions:admin_key", key, "it is the master key: full control of the gateway")
        )
    env_file = ctx.state / "env"
    if env_file.exists():
        findings.append(_private("permissions:env", env_file, "it holds provider keys for the service"))
    return findings


def check_ledger(ctx: DoctorContext) -> Finding:
    path = ctx.state / "consent.jsonl"
    if not path.exists():
        return Finding("ledger", "skip", "no consent ledger yet (init and integrate create it)")
    try:
        result = ConsentLedger(path).verify()
    except (LedgerError, OSError) as exc:
        return Finding("ledger", "fail", f"{path} cannot be read: {exc}", fix=f"inspect {path}")
    if result.ok:
        return Finding(
            "ledger", "ok", f"consent ledger intact ({result.entries} entries, hash chain verified)"
        )
    first = result.problems[0]
    return Finding(
        "ledger",
        "fail",
        f"consent ledger damaged: {len(result.problems)} problem(s); first: {first.kind} at line "
        f"{first.line}: {first.detail}",
        "an entry was edited, removed or reordered: the record of what was agreed cannot be trusted",
        f"inspect {path} (keep a copy; never edit it by hand)",
    )


def check_disk(ctx: DoctorContext) -> Finding:
    where = ctx.state
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    text = f"{free / 1024**3:.1f} GiB free on the disk of {where}"
    if free < MIN_FREE_FAIL:
        return Finding(
            "disk",
            "fail",
            text,
            "usage records, logs and the store stop being written",
            "free some disk space",
        )
    if free < MIN_FREE_WARN:
        return Finding("disk", "warn", text, "less than 1 GiB: the store and logs will soon run out of room")
    return Finding("disk", "ok", text)


async def check_files(ctx: DoctorContext) -> list[Finding]:
    findings = [check_home(ctx)]
    if ctx.state.is_dir() or ctx.text is not None:
        findings += check_permissions(ctx)
        findings.append(check_ledger(ctx))
    findings.append(check_disk(ctx))
    return findings
