"""`doctor` through the real CLI on a healthy setup (a running gateway, a fake local runtime, an integrated
client) and on broken ones, asserting each finding, its fix and what `--fix` repairs."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adaptive_gateway.cli.main import build_app
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.server.runner import check_port
from tests.integrations.homes import CODEX_TOML, make_home
from tests.support.gateway import MASTER_HASH, MASTER_KEY, GatewayThread, free_port, listening_socket


@pytest.fixture
def fake_ollama() -> Iterator[FakeUpstream]:
    fake = FakeUpstream("ollama").start_in_thread()
    try:
        yield fake
    finally:
        fake.stop_thread()


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("ADAPTIVE_GATEWAY_URL", raising=False)
    path = Path(os.environ["ADAPTIVE_GATEWAY_HOME"])
    path.mkdir(mode=0o700, parents=True)
    return path


def _cli(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(), list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def _doctor(home: Path, *args: str, input: str | None = None) -> tuple[int, dict[str, dict[str, Any]]]:
    code, out, err = _cli("doctor", "--json", "--home", str(home), "--timeout", "5", *args, input=input)
    assert "{" in out, err
    report = json.loads(out[out.index("{") :])  # (CliRunner echoes typed answers first)
    by_check = {f["check"]: f for f in report["findings"]}
    assert len(by_check) == len(report["findings"])  # every finding has its own name
    assert report["ok"] == (code == 0)
    return code, by_check


def _setup(state: Path, port: int, providers: str, models: str, extra: str = "") -> str:
    text = f"""\
# doctor test config
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{port: {port}, request_log: false, reload_poll_seconds: 0}}
providers:
{providers}
models:
{models}
{extra}"""
    config = state / "config.yaml"
    config.write_text(text)
    config.chmod(0o600)
    key = state / "admin_key"
    key.write_text(MASTER_KEY + "\n")
    key.chmod(0o600)
    return text


def _integrate_codex(home: Path, port: int) -> None:
    code, _, err = _cli(
        "integrate", "codex", "--yes", "--home", str(home), "--gateway-url", f"http://127.0.0.1:{port}"
    )
    assert code == 0, err


def test_healthy_setup(
    tmp_path: Path, state: Path, fake_ollama: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = make_home(tmp_path, {".codex/config.toml": CODEX_TOML})
    sock = listening_socket()  # the port is in the config and the client's settings before the gateway runs
    port = sock.getsockname()[1]
    text = _setup(
        state,
        port,
        f'  box: {{kind: ollama, base_url: "{fake_ollama.url}"}}',
        '  llama: {deployments: [{provider: box, model: "llama3.2:latest"}]}',
    )
    _integrate_codex(home, port)
    monkeypatch.setenv("ADAPTIVE_GATEWAY_KEY", MASTER_KEY)
    with GatewayThread(text, tmp_path, sock):
        code, found = _doctor(home)
        human = _cli("doctor", "--home", str(home))  # the human-readable form
    problems = {name: f for name, f in found.items() if f["status"] not in ("ok", "skip")}
    assert code == 0 and not problems, problems
    assert found["config"]["summary"].endswith("is valid: 1 provider(s), 1 model(s)")
    assert found["server"]["summary"].startswith(f"a gateway answers at http://127.0.0.1:{port}")
    assert found["server:ready"]["status"] == "ok"
    assert found["provider:box"]["status"] == "ok" and "key accepted" in found["provider:box"]["summary"]
    assert found["client:codex"]["status"] == "ok" and found["client-key"]["status"] == "ok"
    assert found["store"]["status"] == "ok" and "schema at" in found["store"]["summary"]
    assert found["ledger"]["status"] == "ok"
    assert found["permissions:config"]["status"] == found["permissions:admin_key"]["status"] == "ok"
    assert found["redis"]["status"] == "skip" and "not configured" in found["redis"]["summary"]
    assert found["clock"]["status"] == "skip"  # only local providers: nothing to compare with
    assert found["mode"]["status"] == "ok"

    assert human[0] == 0 and "✓ provider:box" in human[1] and "fix:" not in human[1]


def test_broken_setup_findings_and_fixes(
    tmp_path: Path,
    state: Path,
    fake_ollama: FakeUpstream,
    fake_openai: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = make_home(tmp_path, {".codex/config.toml": CODEX_TOML})
    sock, closed = listening_socket(), free_port()
    port = sock.getsockname()[1]
    text = _setup(
        state,
        port,
        f'  box: {{kind: ollama, base_url: "{fake_ollama.url}"}}\n'
        f'  gone: {{kind: ollama, base_url: "http://127.0.0.1:{closed}"}}\n'
        f'  cloud: {{kind: openai-compatible, base_url: "{fake_openai.url}/v1", api_key: "sk-x"}}',
        '  llama: {deployments: [{provider: box, model: "llama3.2:latest"},\n'
        '                        {provider: box, model: "phi4:14b"}]}\n'
        '  ghost: {deployments: [{provider: gone, model: "ghost"}]}\n'
        "  gpt: {deployments: [{provider: cloud, model: gpt-4o-mini}]}",
        "mode: offline\n",
    )
    _integrate_codex(home, port)
    codex = home / ".codex/config.toml"
    codex.write_text(codex.read_text().replace(f"http://127.0.0.1:{port}/v1", "https://api.openai.com/v1"))
    (state / "config.yaml").chmod(0o644)
    (state / "admin_key").chmod(0o644)
    monkeypatch.setenv("ADAPTIVE_GATEWAY_KEY", "sk-not-a-gateway-key")

    with GatewayThread(text, tmp_path, sock):
        code, found = _doctor(home)
        assert code == 1
        perms = found["permissions:config"]
        assert perms["status"] == "fail" and perms["fix"] == f"chmod 600 {state / 'config.yaml'}"
        assert perms["auto_fix"] == f"chmod 600 {state / 'config.yaml'}"
        assert found["permissions:admin_key"]["fix"] == f"chmod 600 {state / 'admin_key'}"
        gone = found["provider:gone"]
        assert gone["status"] == "fail" and "unreachable" in gone["summary"] and gone["fix"] == "ollama serve"
        box = found["provider:box"]
        assert (
            box["status"] == "warn" and "phi4:14b" in box["summary"] and box["fix"] == "ollama pull phi4:14b"
        )
        client = found["client:codex"]
        assert (
            client["status"] == "fail" and f"no longer points at http://127.0.0.1:{port}" in client["summary"]
        )
        assert client["fix"] == f"adaptive-llm-gateway integrate codex --home {home}"
        assert (
            found["client-key"]["status"] == "fail"
            and "rejects $ADAPTIVE_GATEWAY_KEY" in found["client-key"]["summary"]
        )
        assert found["mode"]["status"] == "warn" and "gpt" in found["mode"]["summary"]
        assert found["mode"]["fix"].startswith("adaptive-llm-gateway mode online")
        assert found["clock"]["status"] == "ok"  # the hosted fake's Date header agrees with ours

        code, found = _doctor(home, "--fix", "--yes")
    assert code == 1  # the provider and the client still need the user
    assert stat.S_IMODE((state / "config.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "admin_key").stat().st_mode) == 0o600
    assert found["permissions:config"]["status"] == found["permissions:admin_key"]["status"] == "ok"
    assert found["provider:gone"]["status"] == "fail"


def test_invalid_config(tmp_path: Path, state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISSING_KEY", raising=False)
    (state / "config.yaml").write_text(
        "providers:\n  cloud: {kind: openai, api_key: '${MISSING_KEY}'}\n"
        "models:\n  x: {deployments: [{provider: clod, model: y}]}\n"
    )
    code, found = _doctor(tmp_path)
    assert code == 1
    config = found["config"]
    assert config["status"] == "fail" and "2 error(s)" in config["summary"]
    assert "environment variable 'MISSING_KEY' is not set" in config["summary"]
    assert "models.x.deployments[0].provider: unknown provider 'clod'" in config["summary"]
    assert config["fix"].endswith(f"adaptive-llm-gateway config check --config {state / 'config.yaml'}")
    for check in ("mode", "store", "redis", "providers", "embedded"):
        assert found[check]["status"] == "skip" and found[check]["summary"] == "config not valid"

    (state / "config.yaml").write_text("providers:\n  cloud: {kind: openai, api_key: '${MISSING_KEY}'}\n")
    _, found = _doctor(tmp_path)
    assert found["config"]["fix"].startswith("export MISSING_KEY=<value>")


def test_fresh_machine_fix_runs_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = Path(os.environ["ADAPTIVE_GATEWAY_HOME"])
    monkeypatch.setenv("ADAPTIVE_GATEWAY_PROBE", f"ollama=http://127.0.0.1:{free_port()}")  # nothing there
    code, found = _doctor(tmp_path)
    assert code == 1
    assert found["home"]["status"] == "fail" and found["config"]["status"] == "fail"
    assert found["config"]["fix"] == f"adaptive-llm-gateway init --home {tmp_path}"
    assert found["config"]["auto_fix"] == "create a config with the safe defaults (init --yes)"

    # approve the first round (create home, run init); decline the second (start the gateway)
    code, found = _doctor(tmp_path, "--fix", input="y\nn\n")
    assert (state / "config.yaml").exists() and (state / "admin_key").exists()
    assert found["config"]["status"] == "ok" and found["home"]["status"] == "ok"
    if check_port("127.0.0.1", 4141) is None:  # init's default port (another gateway may hold it)
        server = found["server"]
        assert server["status"] == "warn" and server["fix"] == "adaptive-llm-gateway start --background"
        assert server["auto_fix"] == "start the gateway in the background"
