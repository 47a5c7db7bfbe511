"""Read-only discovery of the machine's AI environment: local runtimes, provider keys (masked), AI
clients and their config files, git, Gitea and Docker containers of known runtimes."""

from .core import discover
from .keys import PROVIDER_KEYS, mask
from .model import (
    ClientFinding,
    ConfigFileFinding,
    ContainerFinding,
    DiscoveryReport,
    DiscoveryTargets,
    KeyFinding,
    ModelInfo,
    RuntimeFinding,
    ToolFinding,
)

__all__ = [
    "PROVIDER_KEYS",
    "ClientFinding",
    "ConfigFileFinding",
    "ContainerFinding",
    "DiscoveryReport",
    "DiscoveryTargets",
    "KeyFinding",
    "ModelInfo",
    "RuntimeFinding",
    "ToolFinding",
    "discover",
    "mask",
]
