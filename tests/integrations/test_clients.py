"""Each client: integrate into a realistic file -> the diff is the expected one -> the file still parses
and points to the gateway -> undo gives back the original bytes."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from adaptive_gateway.integrations import ConfigWriter, IntegrationContext, get_target
from adaptive_gateway.integrations.jsonc import parse as parse_jsonc

from .homes import CONTINUE_JSON, make_home, snapshot

URL = "http://127.0.0.1:4555"
REF = "Bearer ${ADAPTIVE_GATEWAY_KEY}"


def _changed_lines(diff: str) -> tuple[list[str], list[str]]:
    body = [line for line in diff.splitlines() if not line.startswith(("---", "+++", "@@"))]
    return [x[1:] for x in body if x.startswith("-")], [x[1:] for x in body if x.startswith("+")]


def _dry_run(tmp_path: Path, target: str) -> tuple[list[str], list[str]]:
    """The lines a dry run would remove and add in the standard fake home."""
    plan = get_target(target).plan(IntegrationContext(make_home(tmp_path), URL))
    shown: list[str] = []
    ConfigWriter(tmp_path / "state").write(target, plan.changes, show=shown.append, dry_run=True)
    return _changed_lines(shown[0])


def _check_claude(home: Path) -> None:
    settings = parse_jsonc((home / ".claude/settings.json").read_text()).value
    assert settings["env"] == {"BASH_DEFAULT_TIMEOUT_MS": "120000", "ANTHROPIC_BASE_URL": URL}
    assert settings["apiKeyHelper"] == "printenv ADAPTIVE_GATEWAY_KEY"
    assert settings["futureOption"] == {"x": [1, 2, {"y": None}]}
    state = json.loads((home / ".claude.json").read_text())  # Claude Code wants strict JSON here
    assert state["mcpServers"]["adaptive"] == {
        "type": "http",
        "url": f"{URL}/mcp",
        "headers": {"Authorization": REF},
    }
    assert state["mcpServers"]["github"]["url"] == "https://api.githubcopilot.com/mcp/"
    assert state["numStartups"] == 42


def _check_codex(home: Path) -> None:
    config = tomllib.loads((home / ".codex/config.toml").read_text())
    assert config["model_provider"] == "adaptive"
    assert config["model_providers"]["adaptive"] == {
        "name": "Adaptive LLM Gateway",
        "base_url": f"{URL}/v1",
        "env_key": "ADAPTIVE_GATEWAY_KEY",
        "wire_api": "responses",
    }
    assert config["mcp_servers"]["adaptive"] == {
        "url": f"{URL}/mcp",
        "bearer_token_env_var": "ADAPTIVE_GATEWAY_KEY",
    }
    assert config["mcp_servers"]["context7"]["command"] == "npx"
    assert config["model"] == "gpt-5-codex"


def _check_cursor(home: Path) -> None:
    raw = (home / ".cursor/mcp.json").read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n")  # still CRLF throughout
    config = json.loads(raw)
    assert config["mcpServers"]["adaptive"]["url"] == f"{URL}/mcp"
    assert (
        config["mcpServers"]["adaptive"]["headers"]["Authorization"] == "Bearer ${env:ADAPTIVE_GATEWAY_KEY}"
    )
    assert config["mcpServers"]["filesystem"]["command"] == "npx"


def _check_continue(home: Path) -> None:
    config = yaml.safe_load((home / ".continue/config.yaml").read_text())
    assert [m["name"] for m in config["models"]] == ["Llama 3.1 8B", "Autocomplete", "Adaptive Gateway"]
    assert config["models"][-1]["apiBase"] == f"{URL}/v1"
    assert config["models"][-1]["apiKey"] == "${{ secrets.ADAPTIVE_GATEWAY_KEY }}"
    assert config["mcpServers"][0]["url"] == f"{URL}/mcp"
    assert config["name"] == "Dev Assistant"


def _check_vscode(home: Path) -> None:
    config = parse_jsonc((home / ".config/Code/User/mcp.json").read_text()).value
    assert config["servers"]["adaptive"]["url"] == f"{URL}/mcp"
    assert config["servers"]["playwright"]["args"] == ["@playwright/mcp@latest"]
    assert [i["id"] for i in config["inputs"]] == ["adaptive-gateway-key"]


CHECKS: dict[str, Callable[[Path], None]] = {
    "claude-code": _check_claude,
    "codex": _check_codex,
    "cursor": _check_cursor,
    "continue": _check_continue,
    "vscode": _check_vscode,
}


@pytest.mark.parametrize("target", sorted(CHECKS))
def test_integrate_verify_and_undo_byte_identical(tmp_path: Path, target: str) -> None:
    home = make_home(tmp_path)
    before = snapshot(home)
    writer = ConfigWriter(tmp_path / "state")
    plan = get_target(target).plan(IntegrationContext(home, URL, mcp=True))
    shown: list[str] = []
    result = writer.write(target, plan.changes, yes=True, show=shown.append)

    assert result.status == "written"
    removed, added = _changed_lines(shown[0])
    assert added and len(removed) <= 2  # a few touched lines; everything else kept as it was
    CHECKS[target](home)
    assert [m.target for m in writer.list_integrations()] == [target]

    writer.undo(target)
    assert snapshot(home) == before
    assert writer.list_integrations() == []


def test_claude_code_diff_is_minimal_and_keeps_comments(tmp_path: Path) -> None:
    removed, added = _dry_run(tmp_path, "claude-code")
    assert removed == [
        '        "BASH_DEFAULT_TIMEOUT_MS": "120000"   // long builds',
        '    "futureOption": {"x": [1, 2, {"y": null}]}',
    ]
    assert added == [
        '        "BASH_DEFAULT_TIMEOUT_MS": "120000",   // long builds',
        f'        "ANTHROPIC_BASE_URL": "{URL}"',
        '    "futureOption": {"x": [1, 2, {"y": null}]},',
        '    "apiKeyHelper": "printenv ADAPTIVE_GATEWAY_KEY"',
    ]


def test_codex_diff_replaces_the_provider_in_place(tmp_path: Path) -> None:
    removed, added = _dry_run(tmp_path, "codex")
    assert removed == ['model_provider = "openai"']
    assert added == [
        'model_provider = "adaptive"',
        "",
        "[model_providers.adaptive]",
        'name = "Adaptive LLM Gateway"',
        f'base_url = "{URL}/v1"',
        'env_key = "ADAPTIVE_GATEWAY_KEY"',
        'wire_api = "responses"',
    ]


def test_continue_yaml_only_adds_lines(tmp_path: Path) -> None:
    removed, added = _dry_run(tmp_path, "continue")
    assert removed == []
    assert added == [
        "  - name: Adaptive Gateway",
        "    provider: openai",
        "    model: auto",
        f"    apiBase: {URL}/v1",
        "    apiKey: ${{ secrets.ADAPTIVE_GATEWAY_KEY }}",
    ]


def test_continue_legacy_json_gets_a_models_entry_without_a_key(tmp_path: Path) -> None:
    home = make_home(tmp_path, {".continue/config.json": CONTINUE_JSON})
    plan = get_target("continue").plan(IntegrationContext(home, URL))
    writer = ConfigWriter(tmp_path / "state")
    writer.write("continue", plan.changes, yes=True)
    config = json.loads((home / ".continue/config.json").read_text())
    assert config["models"][1] == {
        "title": "Adaptive Gateway",
        "provider": "openai",
        "model": "auto",
        "apiBase": f"{URL}/v1",
    }
    assert "config.json cannot reference secrets" in plan.instructions
    writer.undo("continue")
    assert (home / ".continue/config.json").read_text() == CONTINUE_JSON


def test_new_files_are_created_and_undo_removes_them(tmp_path: Path) -> None:
    home = make_home(tmp_path, {})
    writer = ConfigWriter(tmp_path / "state")
    for target in CHECKS:
        plan = get_target(target).plan(IntegrationContext(home, URL, mcp=True))
        assert writer.write(target, plan.changes, yes=True).status == "written"
    settings: Any = json.loads((home / ".claude/settings.json").read_text())
    assert settings == {"env": {"ANTHROPIC_BASE_URL": URL}, "apiKeyHelper": "printenv ADAPTIVE_GATEWAY_KEY"}
    assert yaml.safe_load((home / ".continue/config.yaml").read_text())["schema"] == "v1"
    for target in CHECKS:
        writer.undo(target)
    assert snapshot(home) == {}


@pytest.mark.parametrize("target", ["open-webui", "n8n"])
def test_instruction_only_targets(tmp_path: Path, target: str) -> None:
    plan = get_target(target).plan(IntegrationContext(tmp_path, URL, mcp=True))
    assert plan.changes == ()
    assert f"{URL}/v1" in plan.instructions
    assert f"{URL}/mcp" in plan.instructions


@pytest.mark.parametrize("target", ["cursor", "vscode"])
def test_mcp_only_targets_write_nothing_without_mcp(tmp_path: Path, target: str) -> None:
    plan = get_target(target).plan(IntegrationContext(tmp_path, URL))
    assert plan.changes == ()
    assert "--mcp" in plan.instructions


def test_the_plain_key_is_written_only_when_given(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    writer = ConfigWriter(tmp_path / "state")
    key = "agw-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    for target in CHECKS:
        writer.write(
            target, get_target(target).plan(IntegrationContext(home, URL, mcp=True)).changes, yes=True
        )
    assert not any(key.encode() in data for data in snapshot(home).values())
    for target in CHECKS:
        writer.undo(target)

    plan = get_target("claude-code").plan(IntegrationContext(home, URL, inline_key=key))
    writer.write("claude-code", plan.changes, yes=True)
    settings = home / ".claude/settings.json"
    assert parse_jsonc(settings.read_text()).value["env"]["ANTHROPIC_AUTH_TOKEN"] == key
    assert settings.stat().st_mode & 0o077 == 0  # a file holding a secret is private
    assert key not in repr(IntegrationContext(home, URL, inline_key=key))
