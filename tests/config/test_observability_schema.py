"""The ``observability:`` section is strict: unknown keys and bad values are errors naming their path;
recording is off by default and can never be set to keep secret-level requests."""

from __future__ import annotations

import pytest

from adaptive_gateway.config import ConfigError, parse_config

MINIMAL = """
providers: {local: {kind: ollama-openai}}
models: {m: {deployments: [{provider: local, model: x}]}}
"""


def errors_of(section: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL + section, {})
    return info.value.errors


def test_recording_defaults() -> None:
    rec = parse_config(MINIMAL, {}).observability.recording
    assert not rec.enabled and rec.max_level == "public" and rec.keys == "all"
    assert rec.retention_days == 30 and rec.max_rows == 1_000_000


def test_recording_errors_name_their_path() -> None:
    errs = errors_of("observability: {recording: {enabled: true, colour: blue, retention_days: 0}}")
    assert "observability.recording.colour: unknown key 'colour'" in errs
    assert any(e.startswith("observability.recording.retention_days: ") for e in errs)
    errs = errors_of("observability: {recording: {max_level: secret, keys: some}}")
    assert any(e.startswith("observability.recording.max_level: ") for e in errs)
    assert any(e.startswith("observability.recording.keys: ") for e in errs)


def test_recording_without_a_row_bound() -> None:
    rec = parse_config(MINIMAL + "observability: {recording: {enabled: true, max_rows: null}}", {})
    assert rec.observability.recording.max_rows is None
