"""The safe config writer's guarantees: refuse without touching anything, detect concurrent edits,
roll back partial writes, keep permissions and symlinks, back up privately, record consent."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from adaptive_gateway.integrations import (
    ConfigWriter,
    FileChange,
    IntegrationContext,
    SetValue,
    WriterError,
    get_target,
)
from adaptive_gateway.integrations.writer import ConcurrentModification, prepare

from .homes import CLAUDE_JSON, CLAUDE_SETTINGS, CODEX_TOML, CONTINUE_YAML, make_home, snapshot

URL = "http://127.0.0.1:4141"


def _plan(home: Path, target: str, mcp: bool = False) -> tuple[FileChange, ...]:
    return get_target(target).plan(IntegrationContext(home, URL, mcp=mcp)).changes


@pytest.mark.parametrize(
    ("target", "relative", "broken"),
    [
        ("claude-code", ".claude/settings.json", '{\n  "env": {"A": 1,,}\n}\n'),
        ("codex", ".codex/config.toml", 'model = "gpt-5"\n[model_providers\n'),
        ("continue", ".continue/config.yaml", "models:\n  - name: x\n   provider: [unclosed\n"),
    ],
)
def test_unparseable_file_is_refused_and_untouched(
    tmp_path: Path, target: str, relative: str, broken: str
) -> None:
    home = make_home(tmp_path, {relative: broken})
    writer = ConfigWriter(tmp_path / "state")
    with pytest.raises(WriterError, match="nothing was changed"):
        writer.write(target, _plan(home, target), yes=True)
    assert (home / relative).read_text() == broken
    assert not (tmp_path / "state").exists()


def test_json_error_names_line_and_column(tmp_path: Path) -> None:
    home = make_home(tmp_path, {".claude/settings.json": '{\n  "env": {"A": 1,,}\n}\n'})
    with pytest.raises(WriterError, match="line 2, column 18"):
        prepare(_plan(home, "claude-code")[0])


def test_conflicting_shape_is_refused(tmp_path: Path) -> None:
    home = make_home(tmp_path, {".claude/settings.json": '{"env": "not an object"}'})
    with pytest.raises(WriterError, match="env is not a table/object"):
        ConfigWriter(tmp_path / "state").write("claude-code", _plan(home, "claude-code"), yes=True)


def test_file_changed_while_asking_is_not_overwritten(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    config = home / ".codex/config.toml"
    edited = CODEX_TOML + '\n[profiles.fast]\nmodel = "o4-mini"\n'

    def user_edits_meanwhile(question: str) -> bool:
        config.write_text(edited)
        return True

    writer = ConfigWriter(tmp_path / "state")
    with pytest.raises(ConcurrentModification, match="changed since it was read"):
        writer.write("codex", _plan(home, "codex"), confirm=user_edits_meanwhile)
    assert config.read_text() == edited
    assert writer.list_integrations() == []
    assert [p.name for p in config.parent.iterdir()] == ["config.toml"]  # no temp file left behind


def test_a_failure_on_the_second_file_rolls_back_the_first(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    before = snapshot(home)
    claude_json = home / ".claude.json"

    def client_rewrites_its_state(question: str) -> bool:
        claude_json.write_text(CLAUDE_JSON.replace('"numStartups": 42', '"numStartups": 43'))
        return True

    writer = ConfigWriter(tmp_path / "state")
    with pytest.raises(ConcurrentModification):
        writer.write("claude-code", _plan(home, "claude-code", mcp=True), confirm=client_rewrites_its_state)
    assert (home / ".claude/settings.json").read_bytes() == before[".claude/settings.json"]
    assert '"numStartups": 43' in claude_json.read_text()
    assert writer.list_integrations() == []


def test_declined_and_dry_run_write_nothing(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    before = snapshot(home)
    writer = ConfigWriter(tmp_path / "state")
    assert writer.write("codex", _plan(home, "codex"), confirm=lambda q: False).status == "declined"
    assert writer.write("codex", _plan(home, "codex")).status == "declined"  # no consent given at all
    shown: list[str] = []
    assert (
        writer.write("codex", _plan(home, "codex"), yes=True, dry_run=True, show=shown.append).status
        == "dry-run"
    )
    assert shown and shown[0].startswith("--- ")
    assert snapshot(home) == before
    assert not (tmp_path / "state").exists()


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    writer = ConfigWriter(tmp_path / "state")
    assert writer.write("claude-code", _plan(home, "claude-code", mcp=True), yes=True).status == "written"
    after_first = snapshot(home)
    assert writer.write("claude-code", _plan(home, "claude-code", mcp=True), yes=True).status == "unchanged"
    assert snapshot(home) == after_first
    assert len(writer.list_integrations()) == 1


def test_user_additions_to_our_entry_survive_a_re_run(tmp_path: Path) -> None:
    home = make_home(tmp_path, {".claude.json": CLAUDE_JSON})
    writer = ConfigWriter(tmp_path / "state")
    writer.write("claude-code", _plan(home, "claude-code", mcp=True), yes=True)
    state_file = home / ".claude.json"
    data = json.loads(state_file.read_text())
    data["mcpServers"]["adaptive"]["timeout"] = 30
    data["mcpServers"]["adaptive"]["url"] = "http://old:1/mcp"
    state_file.write_text(json.dumps(data, indent=2))
    writer.write("claude-code", _plan(home, "claude-code", mcp=True), yes=True)
    server = json.loads(state_file.read_text())["mcpServers"]["adaptive"]
    assert (server["url"], server["timeout"]) == (f"{URL}/mcp", 30)


def test_undo_refuses_over_later_edits_unless_forced(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    writer = ConfigWriter(tmp_path / "state")
    writer.write("codex", _plan(home, "codex"), yes=True)
    config = home / ".codex/config.toml"
    later = config.read_text() + "# my later note\n"
    config.write_text(later)
    with pytest.raises(WriterError, match="--force"):
        writer.undo("codex")
    assert config.read_text() == later
    writer.undo("codex", force=True)
    assert config.read_bytes() == CODEX_TOML.encode()
    with pytest.raises(WriterError, match="nothing to undo"):
        writer.undo("codex")


def test_undo_steps_back_one_integration_at_a_time(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    writer = ConfigWriter(tmp_path / "state")
    writer.write("codex", _plan(home, "codex"), yes=True)
    first = (home / ".codex/config.toml").read_bytes()
    writer.write("codex", _plan(home, "codex", mcp=True), yes=True)
    writer.undo("codex")
    assert (home / ".codex/config.toml").read_bytes() == first
    writer.undo("codex")
    assert (home / ".codex/config.toml").read_bytes() == CODEX_TOML.encode()


def test_permissions_symlinks_and_private_backups(tmp_path: Path) -> None:
    home = make_home(tmp_path, {})
    dotfiles = tmp_path / "dotfiles" / "continue.yaml"
    dotfiles.parent.mkdir()
    dotfiles.write_text(CONTINUE_YAML)
    dotfiles.chmod(0o640)
    (home / ".continue").mkdir()
    link = home / ".continue" / "config.yaml"
    link.symlink_to(dotfiles)
    writer = ConfigWriter(tmp_path / "state")
    manifest = writer.write("continue", _plan(home, "continue"), yes=True).manifest
    assert manifest is not None

    assert link.is_symlink() and "Adaptive Gateway" in dotfiles.read_text()
    assert stat.S_IMODE(dotfiles.stat().st_mode) == 0o640
    backup = Path(manifest.files[0].backup or "")
    assert backup.read_text() == CONTINUE_YAML
    assert backup.name.endswith("-config.yaml")
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(manifest.location.stat().st_mode) == 0o600
    recorded = json.loads(manifest.location.read_text())["files"][0]
    assert recorded["path"] == str(link) and recorded["existed"] is True
    assert recorded["sha256"] == __import__("hashlib").sha256(CONTINUE_YAML.encode()).hexdigest()

    writer.undo("continue")
    assert link.is_symlink() and dotfiles.read_text() == CONTINUE_YAML
    assert stat.S_IMODE(dotfiles.stat().st_mode) == 0o640


def test_new_plain_files_get_normal_permissions(tmp_path: Path) -> None:
    home = make_home(tmp_path, {})
    ConfigWriter(tmp_path / "state").write("codex", _plan(home, "codex"), yes=True)
    assert stat.S_IMODE((home / ".codex/config.toml").stat().st_mode) == 0o644


def test_consent_is_recorded_for_every_file(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    entries: list[tuple[str, str, str]] = []
    writer = ConfigWriter(tmp_path / "state", record=lambda *entry: entries.append(entry))
    writer.write("claude-code", _plan(home, "claude-code", mcp=True), confirm=lambda q: True)
    writer.undo("claude-code")
    assert [(a, s.split(":", 1)[0], Path(s.split(":", 1)[1]).name) for a, s, _ in entries] == [
        ("integrate", "claude-code", "settings.json"),
        ("integrate", "claude-code", ".claude.json"),
        ("integrate.undo", "claude-code", ".claude.json"),
        ("integrate.undo", "claude-code", "settings.json"),
    ]
    assert entries[0][2] == "approved after reviewing the diff"


def test_list_shows_status_of_each_file(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    writer = ConfigWriter(tmp_path / "state")
    writer.write("claude-code", _plan(home, "claude-code", mcp=True), yes=True, note=URL)
    writer.write("codex", _plan(home, "codex"), yes=True, note=URL)
    (home / ".claude.json").write_text(CLAUDE_JSON)
    listed = writer.list_integrations()
    assert [(m.target, m.note) for m in listed] == [("claude-code", URL), ("codex", URL)]
    assert [f.status() for f in listed[0].files] == ["as written", "changed since"]
    os.remove(home / ".codex/config.toml")
    assert listed[1].files[0].status() == "missing"


def test_crlf_and_bom_survive(tmp_path: Path) -> None:
    text = "\ufeff" + CLAUDE_SETTINGS.replace("\n", "\r\n")
    home = make_home(tmp_path, {".claude/settings.json": text})
    writer = ConfigWriter(tmp_path / "state")
    writer.write("claude-code", _plan(home, "claude-code"), yes=True)
    raw = (home / ".claude/settings.json").read_bytes()
    assert raw.startswith("\ufeff".encode()) and raw.count(b"\n") == raw.count(b"\r\n")
    writer.undo("claude-code")
    assert (home / ".claude/settings.json").read_bytes() == text.encode()


def test_unknown_format_edits_are_data(tmp_path: Path) -> None:
    """A FileChange is plain data: any path, any edits, same guarantees."""
    target = tmp_path / "app" / "settings.json"
    change = FileChange(target, "json", (SetValue(("a", "b"), [1, {"c": None}]),), secret=True)
    ConfigWriter(tmp_path / "state").write("custom", [change], yes=True)
    assert json.loads(target.read_text()) == {"a": {"b": [1, {"c": None}]}}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
