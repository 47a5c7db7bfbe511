"""`discover` and `integrate` through the real CLI (typer's CliRunner), against a fake HOME."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adaptive_gateway.cli.main import build_app
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.ledger.consent import ConsentLedger
from tests.integrations.homes import CLAUDE_SETTINGS, CODEX_TOML, make_home, snapshot

OPENAI_KEY = "sk-proj-Zt7QvL2mN8xR4cW1yB6hJ0pK3sD9fG5aE2uI7oT1x9Qz"
GATEWAY_KEY = "agw-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def state() -> Path:
    return Path(os.environ["ADAPTIVE_GATEWAY_HOME"])  # set for every test by tests/conftest.py


def _run(runner: CliRunner, *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(build_app(), list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_discover_json_masks_keys(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_openai: FakeUpstream
) -> None:
    home = make_home(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    (tmp_path / ".env").write_text(f"MISTRAL_API_KEY={OPENAI_KEY[::-1]}\n")
    code, out, _ = _run(runner, "discover", "--json", "--home", str(home), "--url", f"{fake_openai.url}/v1")
    assert code == 0
    report = json.loads(out)
    assert OPENAI_KEY not in out and OPENAI_KEY[::-1] not in out
    keys = {k["name"]: k for k in report["keys"]}
    assert keys["OPENAI_API_KEY"]["masked"] == "sk-p…x9Qz"
    assert keys["MISTRAL_API_KEY"]["reference"] == "${MISTRAL_API_KEY}"
    extra = [r for r in report["runtimes"] if r["kind"] == "openai-compatible"]
    assert extra[0]["reachable"] and extra[0]["models"]
    assert {c["name"] for c in report["clients"] if c["found"]} >= {
        "claude-code",
        "codex",
        "cursor",
        "continue",
    }


def test_discover_table(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    code, out, _ = _run(runner, "discover", "--home", str(make_home(tmp_path)))
    assert code == 0
    assert "sk-p…x9Qz" in out and OPENAI_KEY not in out
    assert "codex" in out


def test_dry_run_prints_only_the_diff(runner: CliRunner, tmp_path: Path, state: Path) -> None:
    home = make_home(tmp_path)
    code, out, err = _run(runner, "integrate", "codex", "--dry-run", "--home", str(home))
    assert code == 0, err
    assert out.startswith(f"--- {home / '.codex/config.toml'}\n+++ ")
    assert '+model_provider = "adaptive"' in out and '-model_provider = "openai"' in out
    assert err == ""
    assert (home / ".codex/config.toml").read_text() == CODEX_TOML
    assert not state.exists()


def test_integrate_list_and_undo(runner: CliRunner, tmp_path: Path, state: Path) -> None:
    home = make_home(tmp_path)
    before = snapshot(home)
    code, out, err = _run(runner, "integrate", "claude-code", "--mcp", "--yes", "--home", str(home))
    assert code == 0, err
    assert "now uses the gateway" in err and "export ADAPTIVE_GATEWAY_KEY" in err
    assert "http://127.0.0.1:4141" in (home / ".claude/settings.json").read_text()

    code, out, _ = _run(runner, "integrate", "--list", "--home", str(home))
    assert code == 0 and "claude-code" in out and "as written" in out

    ledger = [json.loads(line) for line in (state / "consent.jsonl").read_text().splitlines()]
    assert [(e["actor"], e["action"], e["scope"]) for e in ledger] == [
        ("user", "grant", "client:claude-code")
    ] * 2
    assert ConsentLedger(state / "consent.jsonl").verify().ok

    code, _, err = _run(runner, "integrate", "claude-code", "--undo", "--home", str(home))
    assert code == 0, err
    assert snapshot(home) == before
    assert "Nothing is integrated" in _run(runner, "integrate", "--list", "--home", str(home))[2]


def test_asks_before_writing(runner: CliRunner, tmp_path: Path) -> None:
    home = make_home(tmp_path)
    code, _, err = _run(runner, "integrate", "codex", "--home", str(home), input="n\n")
    assert code == 0 and "Nothing changed" in err
    assert (home / ".codex/config.toml").read_text() == CODEX_TOML
    code, _, err = _run(runner, "integrate", "codex", "--home", str(home), input="y\n")
    assert code == 0 and "now uses the gateway" in err
    assert 'model_provider = "adaptive"' in (home / ".codex/config.toml").read_text()
    code, _, err = _run(runner, "integrate", "codex", "--home", str(home), "--yes")
    assert "already points at the gateway" in err


def test_refusals_exit_non_zero_and_touch_nothing(runner: CliRunner, tmp_path: Path) -> None:
    home = make_home(tmp_path, {".codex/config.toml": "model = \n"})
    code, _, err = _run(runner, "integrate", "codex", "--yes", "--home", str(home))
    assert code == 1 and "not valid TOML" in err and "nothing was changed" in err
    assert (home / ".codex/config.toml").read_text() == "model = \n"
    code, _, err = _run(runner, "integrate", "emacs", "--home", str(home))
    assert code == 2 and "unknown target 'emacs'" in err
    code, _, err = _run(runner, "integrate", "codex", "--undo", "--home", str(home))
    assert code == 1 and "nothing to undo" in err


def test_gateway_url_comes_from_the_gateway_config(runner: CliRunner, tmp_path: Path, state: Path) -> None:
    state.mkdir(parents=True)
    (state / "config.yaml").write_text("server:\n  host: 0.0.0.0\n  port: 5151\n")
    home = make_home(tmp_path)
    code, out, _ = _run(runner, "integrate", "codex", "--dry-run", "--home", str(home))
    assert code == 0 and 'base_url = "http://127.0.0.1:5151/v1"' in out
    code, out, _ = _run(
        runner, "integrate", "codex", "--dry-run", "--gateway-url", "http://gw:9/", "--home", str(home)
    )
    assert 'base_url = "http://gw:9/v1"' in out


def test_inline_key_needs_the_key_and_consent(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = make_home(tmp_path)
    settings = home / ".claude/settings.json"
    monkeypatch.delenv("ADAPTIVE_GATEWAY_KEY", raising=False)
    code, _, err = _run(runner, "integrate", "claude-code", "--inline-key", "--yes", "--home", str(home))
    assert code == 1 and "ADAPTIVE_GATEWAY_KEY" in err

    monkeypatch.setenv("ADAPTIVE_GATEWAY_KEY", GATEWAY_KEY)
    code, out, _ = _run(runner, "integrate", "claude-code", "--inline-key", "--dry-run", "--home", str(home))
    assert GATEWAY_KEY not in out and "<value of $ADAPTIVE_GATEWAY_KEY>" in out
    code, _, err = _run(runner, "integrate", "claude-code", "--inline-key", "--home", str(home), input="n\n")
    assert code == 1 and settings.read_text() == CLAUDE_SETTINGS
    code, _, err = _run(
        runner, "integrate", "claude-code", "--inline-key", "--home", str(home), input="y\ny\n"
    )
    assert code == 0, err
    assert GATEWAY_KEY in settings.read_text() and GATEWAY_KEY not in err
