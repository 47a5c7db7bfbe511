"""The files ``service install`` writes: a systemd user unit and a launchd agent plist. Pure rendering;
both run ``start --foreground`` and read provider keys from ``<gateway home>/env`` when it exists
(services do not inherit the login shell's environment)."""

from __future__ import annotations

import plistlib
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

UNIT_NAME = "adaptive-llm-gateway.service"
LAUNCHD_LABEL = "dev.adaptive-llm-gateway"
SCRIPT = "adaptive-llm-gateway"
ENV_FILE = "env"


@dataclass(frozen=True)
class ServiceSpec:
    command: tuple[str, ...]  # the CLI, e.g. (".venv/bin/adaptive-llm-gateway",)
    config: Path
    home: Path  # the gateway home

    @property
    def args(self) -> tuple[str, ...]:
        return (*self.command, "start", "--foreground", "--config", str(self.config))

    @property
    def env_file(self) -> Path:
        return self.home / ENV_FILE


def cli_command() -> tuple[str, ...]:
    """The CLI as an absolute command: the console script next to this Python, on PATH, or ``-m``."""
    beside = Path(sys.executable).parent / SCRIPT
    if beside.exists():
        return (str(beside),)
    found = shutil.which(SCRIPT)
    return (found,) if found else (sys.executable, "-m", "adaptive_gateway.cli")


def _systemd_quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "/._-+=:@," for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(spec: ServiceSpec) -> str:
    """A systemd user unit: restarted on failure, SIGHUP reloads, SIGTERM drains."""
    exec_start = " ".join(_systemd_quote(a) for a in spec.args)
    return f"""[Unit]
Description=Adaptive LLM Gateway
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={exec_start}
ExecReload=/bin/kill -HUP $MAINPID
Environment={_systemd_quote("ADAPTIVE_GATEWAY_HOME=" + str(spec.home))}
EnvironmentFile=-{_systemd_quote(str(spec.env_file))}
Restart=on-failure
RestartSec=2
TimeoutStopSec=45
KillSignal=SIGTERM

[Install]
WantedBy=default.target
"""


# sources the env file (exporting every variable) and then runs the command given after it
_LAUNCHD_SHELL = (
    'set -a; [ -f "$ADAPTIVE_GATEWAY_HOME/env" ] && . "$ADAPTIVE_GATEWAY_HOME/env"; set +a; exec "$@"'
)


def launchd_plist(spec: ServiceSpec) -> str:
    """A launchd agent: started at login, restarted when it exits with an error, logs to gateway.log."""
    log = str(spec.home / "gateway.log")
    data = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": ["/bin/sh", "-c", _LAUNCHD_SHELL, "sh", *spec.args],
        "EnvironmentVariables": {"ADAPTIVE_GATEWAY_HOME": str(spec.home)},
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 5,
        "StandardOutPath": log,
        "StandardErrorPath": log,
        "ProcessType": "Background",
    }
    return plistlib.dumps(data, sort_keys=False).decode("utf-8")


@dataclass(frozen=True)
class ServiceKind:
    name: str
    path: Callable[[Path], Path]  # user home -> file
    render: Callable[[ServiceSpec], str]
    enable: Callable[[Path], Sequence[str]]  # file -> commands that enable and start it
    disable: Callable[[Path], Sequence[str]]


SERVICE_KINDS: Mapping[str, ServiceKind] = {
    "systemd": ServiceKind(
        "systemd",
        lambda home: home / ".config/systemd/user" / UNIT_NAME,
        systemd_unit,
        lambda _f: (
            "systemctl --user daemon-reload",
            f"systemctl --user enable --now {UNIT_NAME}",
            f"journalctl --user -u {UNIT_NAME} -f   # its output",
        ),
        lambda _f: (f"systemctl --user disable --now {UNIT_NAME}", "systemctl --user daemon-reload"),
    ),
    "launchd": ServiceKind(
        "launchd",
        lambda home: home / "Library/LaunchAgents" / f"{LAUNCHD_LABEL}.plist",
        launchd_plist,
        lambda f: (f"launchctl bootstrap gui/$(id -u) {shlex.quote(str(f))}",),
        lambda f: (f"launchctl bootout gui/$(id -u) {shlex.quote(str(f))}",),
    ),
}


def default_kinds(platform: str = sys.platform) -> tuple[str, ...]:
    """The service manager of this platform."""
    return ("launchd",) if platform == "darwin" else ("systemd",)
