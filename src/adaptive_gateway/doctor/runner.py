"""Run every check group at once, each bounded in time, and apply the safe repairs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from .clients import check_clients
from .config_checks import check_config, check_mode
from .embedded import check_embedded
from .files import check_files
from .model import Check, DoctorContext, Finding
from .providers import check_providers
from .server_checks import check_server
from .store_checks import check_redis, check_store

# (group, check), in the order findings are shown
CHECKS: tuple[tuple[str, Check], ...] = (
    ("config", check_config),
    ("files", check_files),
    ("mode", check_mode),
    ("server", check_server),
    ("store", check_store),
    ("redis", check_redis),
    ("providers", check_providers),
    ("embedded", check_embedded),
    ("clients", check_clients),
)
GROUP_BUDGET = 3.0  # a group may take this many timeouts (it makes several requests in parallel)


async def _guarded(name: str, check: Check, ctx: DoctorContext) -> list[Finding]:
    try:
        async with asyncio.timeout(ctx.timeout * GROUP_BUDGET):
            return await check(ctx)
    except TimeoutError:
        return [
            Finding(name, "fail", f"the {name} check did not finish in {ctx.timeout * GROUP_BUDGET:.0f} s")
        ]
    except Exception as exc:  # a crashing check must not hide the others' findings
        return [Finding(name, "fail", f"the {name} check crashed: {type(exc).__name__}: {exc}")]


async def run_checks(ctx: DoctorContext, checks: Sequence[tuple[str, Check]] = CHECKS) -> list[Finding]:
    """Every finding of every group (groups run concurrently), in ``checks`` order."""
    groups = await asyncio.gather(*(_guarded(name, check, ctx) for name, check in checks))
    return [finding for group in groups for finding in group]


def diagnose(ctx: DoctorContext) -> list[Finding]:
    """Load the config and run every check."""
    return asyncio.run(run_checks(ctx.load()))


def apply_repairs(findings: Sequence[Finding], report: Callable[[str], None]) -> int:
    """Apply each finding's repair in order; the number that failed."""
    failed = 0
    for finding in findings:
        if finding.repair is None:
            continue
        try:
            report(f"✓ {finding.repair.apply()}")
        except Exception as exc:  # report and go on with the other repairs
            failed += 1
            report(f"✗ {finding.repair.description}: {type(exc).__name__}: {exc}")
    return failed
