"""The config merge used by `init` (and `mode`): new entries spliced into block sections, everything else
byte for byte, with the ruamel.yaml round-trip as the fallback for layouts the splice does not handle."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adaptive_gateway.cli.config_file import ConfigFileError, compute, edit_config, splice_sections
from adaptive_gateway.integrations import SetValue

BASE = """\
# top comment
providers:
    local:   # four-space indentation
        kind: ollama
# models below
models:
    a:
        deployments: [{provider: local, model: a}]

aliases: {}   # none yet
"""
NEW = {"models": {"b": {"deployments": [{"provider": "local", "model": "b"}]}}}


def test_splice_adds_after_the_last_entry_with_the_sections_indentation() -> None:
    out = splice_sections(BASE, NEW)
    assert out is not None
    assert out == BASE.replace(
        "model: a}]\n",
        "model: a}]\n    b:\n      deployments:\n      - provider: local\n        model: b\n",
    )


def test_a_missing_section_is_appended_and_a_flow_one_falls_back_to_round_trip() -> None:
    text = "version: 1\n"
    assert (
        splice_sections(text, NEW)
        == "version: 1\nmodels:\n  b:\n    deployments:\n    - provider: local\n      model: b\n"
    )
    flow = "providers: {local: {kind: ollama}}\nmodels: {}\n"
    assert splice_sections(flow, NEW) is None
    merged = compute(flow, [], NEW)
    assert yaml.safe_load(merged)["models"]["b"]["deployments"][0]["model"] == "b"


def test_crlf_files_use_the_round_trip() -> None:
    crlf = BASE.replace("\n", "\r\n")
    assert splice_sections(crlf, NEW) is None
    assert yaml.safe_load(compute(crlf, [], NEW))["models"]["b"]


def test_edit_refuses_an_invalid_result_and_keeps_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(BASE)
    with pytest.raises(ConfigFileError) as info:
        edit_config(path, [SetValue(("mode",), "sideways")])
    assert any(e.startswith("mode:") for e in info.value.errors)
    assert path.read_text() == BASE


def test_edit_writes_atomically_keeping_comments_and_privacy(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(BASE)
    path.chmod(0o644)
    result = edit_config(path, [SetValue(("mode",), "offline")], backups=tmp_path / "backups")
    assert result.status == "written" and result.backup is not None
    assert path.read_text() == BASE + "mode: offline\n"
    assert path.stat().st_mode & 0o777 == 0o644  # holds no secret: mode kept
    assert edit_config(path, [SetValue(("mode",), "offline")]).status == "unchanged"
