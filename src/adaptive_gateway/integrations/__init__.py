"""Wiring AI clients to the gateway: one module per client (see ``registry.TARGETS``) and the safe config
writer they all go through (diff, consent, backup, atomic write, verify, undo)."""

from .base import DEFAULT_GATEWAY_URL, KEY_ENV, IntegrationContext, IntegrationPlan, Target
from .edits import SetValue, UpsertItem
from .registry import TARGETS, get_target
from .writer import ConfigWriter, FileChange, PreparedFile, WriterError, WriteResult, prepare, state_dir

__all__ = [
    "DEFAULT_GATEWAY_URL",
    "KEY_ENV",
    "TARGETS",
    "ConfigWriter",
    "FileChange",
    "IntegrationContext",
    "IntegrationPlan",
    "PreparedFile",
    "SetValue",
    "Target",
    "UpsertItem",
    "WriteResult",
    "WriterError",
    "get_target",
    "prepare",
    "state_dir",
]
