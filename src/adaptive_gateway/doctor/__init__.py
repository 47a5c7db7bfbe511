"""``adaptive-llm-gateway doctor``: checks of the whole setup, one module per group (config and mode,
files, server, store and Redis, providers and clock, embedded runtime, integrated clients). Each
finding has a status (ok | warn | fail | skip), what it means, and the exact command that fixes it;
some carry a safe repair ``doctor --fix`` applies after confirmation."""

from .model import Check, DoctorContext, Finding, Repair, Status
from .runner import CHECKS, apply_repairs, diagnose, run_checks

__all__ = [
    "CHECKS",
    "Check",
    "DoctorContext",
    "Finding",
    "Repair",
    "Status",
    "apply_repairs",
    "diagnose",
    "run_checks",
]
