"""Strict config: every error names its path and value; secrets are never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from adaptive_gateway.cli.main import build_app
from adaptive_gateway.config import ConfigError, compile_config, parse_config

GOOD = """
providers:
  local: {kind: ollama-openai}
  groq: {kind: groq, api_key: "${GROQ_KEY}"}
models:
  fast:
    deployments:
      - {provider: local, model: llama3.2}
      - {provider: groq, model: llama-3.1-8b-instant, weight: 3, input_price: 0.05, output_price: 0.08}
    fallbacks: [slow]
  slow:
    deployments: [{provider: local, model: qwen2.5}]
aliases: {gpt-4o-mini: fast}
"""


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env or {})
    return info.value.errors


def test_good_config_compiles_with_presets() -> None:
    cfg = compile_config(parse_config(GOOD, {"GROQ_KEY": "gsk-secret-value"}), {})
    groq = cfg.providers["groq"]
    assert groq.base_url == "https://api.groq.com/openai/v1" and groq.locality == "hosted"
    assert groq.api_key == "gsk-secret-value" and "gsk-secret-value" not in repr(groq)
    assert cfg.providers["local"].locality == "local"
    assert cfg.resolve("gpt-4o-mini") is cfg.models["fast"]
    assert cfg.models["fast"].deployments[1].cost(1_000_000, 1_000_000) == pytest.approx(0.13)


def test_unknown_provider_message_names_path_and_value() -> None:
    text = GOOD.replace("{provider: groq, model: llama", "{provider: opnai, model: llama")
    errs = errors_of(text, {"GROQ_KEY": "x"})
    assert "models.fast.deployments[1].provider: unknown provider 'opnai' (known: groq, local)" in errs


def test_all_errors_listed_at_once() -> None:
    errs = errors_of("""
server: {port: 70000, colour: blue}
providers:
  a: {kind: opnai}
  b: {kind: openai-compatible}
models:
  m: {deployments: [{provider: a, model: x, weight: 0}], fallbacks: [ghost]}
aliases: {z: nowhere}
""")
    assert any(e.startswith("server.port: ") and "(got 70000)" in e for e in errs)
    assert "server.colour: unknown key 'colour'" in errs
    assert any(e.startswith("providers.a.kind: unknown provider kind 'opnai'") for e in errs)
    assert "providers.b.base_url: required for kind 'openai-compatible'" in errs
    assert "models.m.deployments: every weight is 0, nothing could be chosen" in errs
    assert "models.m.fallbacks[0]: unknown model 'ghost'" in errs
    assert "aliases.z: unknown model 'nowhere'" in errs


def test_fallback_cycle_rejected() -> None:
    errs = errors_of("""
providers: {p: {kind: ollama-openai}}
models:
  a: {deployments: [{provider: p, model: x}], fallbacks: [b]}
  b: {deployments: [{provider: p, model: y}], fallbacks: [a]}
""")
    assert "models.a.fallbacks: cycle a -> b -> a" in errs


def test_secret_refs_resolved_and_never_echoed() -> None:
    errs = errors_of(GOOD)
    assert errs == ["providers.groq.api_key: environment variable 'GROQ_KEY' is not set"]
    bad = GOOD.replace('api_key: "${GROQ_KEY}"', "api_key: {nested: sk-live-abcdef}")
    errs = errors_of(bad)
    assert all("sk-live-abcdef" not in e for e in errs)
    assert any(e.startswith("providers.groq.api_key:") for e in errs)


def test_yaml_syntax_error_has_location() -> None:
    errs = errors_of("providers:\n  a: {kind: x\n")
    assert errs[0].startswith("(yaml) line ")


def test_config_check_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "good.yaml"
    good.write_text(GOOD.replace('"${GROQ_KEY}"', '"${GROQ_KEY:-unset}"'))
    result = runner.invoke(build_app(), ["config", "check", "--config", str(good)])
    assert result.exit_code == 0, result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("provider: groq", "provider: opnai"))
    result = runner.invoke(build_app(), ["config", "check", "--config", str(bad)])
    assert result.exit_code == 1
    assert "unknown provider 'opnai'" in result.output
    assert "GROQ_KEY" in result.output  # the unset reference is listed too
