"""`start --background` / `status` / `stop` with the pidfile and log file (a real detached gateway), and
`service install` writing a systemd user unit and a launchd plist (written, never started)."""

from __future__ import annotations

import configparser
import json
import os
import plistlib
import signal
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from adaptive_gateway.cli import process
from adaptive_gateway.cli.main import build_app
from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_KEY, free_port, openai_config


def _cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(), list(args), input=input, env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def state() -> Path:
    return Path(os.environ["ADAPTIVE_GATEWAY_HOME"])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_background_start_status_stop(tmp_path: Path, state: Path, fake_openai: FakeUpstream) -> None:
    port = free_port()
    config = tmp_path / "config.yaml"
    text = openai_config(fake_openai.url).replace(
        "server: {request_log: false, reload_poll_seconds: 0.2}",
        f"server: {{request_log: false, reload_poll_seconds: 0, port: {port}}}",
    )
    config.write_text(text)
    code, _, err = _cli("start", "--background", "--config", str(config))
    proc = process.read_pidfile(state)
    try:
        assert code == 0, err
        assert proc is not None and process.pid_alive(proc.pid)
        assert proc.url == f"http://127.0.0.1:{port}" and proc.config == str(config)
        assert _mode(state / "gateway.pid") == 0o600 and _mode(state / "gateway.log") == 0o600
        resp = httpx.post(
            f"{proc.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
            json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert resp.status_code == 200, resp.text

        code, out, _ = _cli("status", "--json")
        report = json.loads(out)
        assert code == 0 and report["running"] and report["answering"] and report["pid"] == proc.pid
        assert report["log"] == str(state / "gateway.log")
        # provider health comes along when the CLI holds a key the gateway accepts
        code, out, _ = _cli("status", "--json", env={"ADAPTIVE_GATEWAY_KEY": MASTER_KEY})
        deployments = [
            d for p in json.loads(out)["providers"]["providers"].values() for d in p["deployments"]
        ]
        assert code == 0 and deployments and all("score" in d["health"] for d in deployments)

        code, _, err = _cli("start", "--background", "--config", str(config))
        assert code == 1 and "already running" in err

        # `mode` tells the running gateway to reload at once (SIGHUP; this config does not poll)
        assert _cli("mode", "offline", "--config", str(config))[0] == 0
        deadline = time.monotonic() + 10
        while "config reloaded (SIGHUP)" not in (state / "gateway.log").read_text():
            assert time.monotonic() < deadline, (state / "gateway.log").read_text()
            time.sleep(0.05)

        code, _, err = _cli("stop")
        assert code == 0 and f"stopped the gateway (pid {proc.pid}" in err
        assert not (state / "gateway.pid").exists()
        assert _cli("status")[0] == 3
        assert "Adaptive LLM Gateway" in (state / "gateway.log").read_text()  # the banner went to the log
    finally:
        if proc is not None and process.pid_alive(proc.pid):
            os.kill(proc.pid, signal.SIGKILL)


def test_stale_pidfile_is_ignored(state: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    process.write_pidfile(state, process.GatewayProcess(dead.pid, "http://127.0.0.1:9", "x.yaml"))
    assert process.running(state) is None
    code, out, _ = _cli("status")
    assert code == 3 and "not running" in out
    assert not (state / "gateway.pid").exists()  # removed as stale
    assert _cli("stop")[0] == 0


def test_service_install_writes_both_files_without_starting(
    tmp_path: Path, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "user"
    monkeypatch.setenv("HOME", str(home))
    config = tmp_path / "my config.yaml"
    config.write_text("version: 1\n")
    code, _, err = _cli("service", "install", "--target", "all", "--config", str(config))
    assert code == 0, err

    unit_path = home / ".config/systemd/user/adaptive-llm-gateway.service"
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(unit_path.read_text())
    exec_start = unit["Service"]["ExecStart"]
    assert exec_start.endswith(f'start --foreground --config "{config}"')
    assert unit["Service"]["Environment"] == f"ADAPTIVE_GATEWAY_HOME={state}"
    assert unit["Service"]["EnvironmentFile"] == f"-{state / 'env'}"
    assert unit["Install"]["WantedBy"] == "default.target"
    assert "systemctl --user enable --now adaptive-llm-gateway.service" in err

    plist_path = home / "Library/LaunchAgents/dev.adaptive-llm-gateway.plist"
    plist = plistlib.loads(plist_path.read_bytes())
    assert plist["Label"] == "dev.adaptive-llm-gateway" and plist["RunAtLoad"] is True
    assert plist["ProgramArguments"][-4:] == ["start", "--foreground", "--config", str(config)]
    assert plist["StandardOutPath"] == str(state / "gateway.log")
    assert "launchctl bootstrap gui/$(id -u)" in err
    assert not (state / "gateway.pid").exists()  # nothing was started

    # the launchd wrapper exports the keys of <home>/env and runs the command given after it
    state.mkdir(parents=True, exist_ok=True)
    (state / "env").write_text("OPENAI_API_KEY=sk-from-env-file\n")
    shell = [*plist["ProgramArguments"][:4], "sh", "-c", 'echo "$OPENAI_API_KEY"']
    env = {"ADAPTIVE_GATEWAY_HOME": str(state), "PATH": "/usr/bin:/bin"}
    assert subprocess.run(shell, env=env, capture_output=True, text=True).stdout == "sk-from-env-file\n"

    # re-running changes nothing; a locally edited file is only replaced after a yes
    assert "is up to date" in _cli("service", "install", "--target", "systemd", "--config", str(config))[2]
    unit_path.write_text(unit_path.read_text() + "# my tweak\n")
    code, _, err = _cli("service", "install", "--target", "systemd", "--config", str(config), input="n\n")
    assert code == 0 and "# my tweak" in unit_path.read_text() and "-# my tweak" in err
    _cli("service", "install", "--target", "systemd", "--config", str(config), "--yes")
    assert "# my tweak" not in unit_path.read_text()

    code, _, err = _cli("service", "uninstall", "--target", "all")
    assert code == 0 and not unit_path.exists() and not plist_path.exists()
    assert "systemctl --user disable --now" in err
