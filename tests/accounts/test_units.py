"""Units: the price catalog and how it applies, budget periods, the key table, webhook payload rules."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from adaptive_gateway.accounts.periods import PeriodClock, period_at
from adaptive_gateway.accounts.prices import apply_catalog, load_catalog, lookup, validate_catalog
from adaptive_gateway.accounts.table import Budget, KeyEntry, KeyTable, LimitSpec
from adaptive_gateway.config import compile_config, parse_config
from adaptive_gateway.errors import AuthenticationFailed
from adaptive_gateway.pipeline.context import Principal


def compiled(text: str):  # type: ignore[no-untyped-def]
    return compile_config(parse_config(text), env={})


CONFIG = """
providers:
  oai: {kind: openai, api_key: sk-x}
  proxy: {kind: openai-compatible, base_url: "http://127.0.0.1:9999/v1"}
  local: {kind: ollama}
  groq: {kind: groq, api_key: sk-x}
models:
  a: {deployments: [{provider: oai, model: gpt-4o-2024-08-06}]}
  b: {deployments: [{provider: oai, model: gpt-4o-mini, input_price: 1, output_price: 1}]}
  c: {deployments: [{provider: proxy, model: gpt-4o}]}
  d: {deployments: [{provider: local, model: gpt-4o}]}
  e: {deployments: [{provider: groq, model: llama-3.1-8b-instant}, {provider: oai, model: unknown-model}]}
"""


def test_catalog_prices_only_unpriced_hosted_deployments() -> None:
    cfg = apply_catalog(compiled(CONFIG), load_catalog(Path("/nonexistent")))
    a = cfg.models["a"].deployments[0]
    assert (a.input_price, a.output_price, a.cached_input_price) == (2.5, 10.0, 1.25), "dated snapshot"
    b = cfg.models["b"].deployments[0]
    assert (b.input_price, b.output_price) == (1, 1), "config prices win"
    assert cfg.models["c"].deployments[0].input_price == 0, "loopback: price unknown"
    assert cfg.models["d"].deployments[0].input_price == 0, "local models cost 0"
    groq, unknown = cfg.models["e"].deployments
    assert groq.input_price == 0.05 and unknown.input_price == 0
    assert a.cost(1_000_000, 1_000_000, 500_000) == pytest.approx(1.25 * 0.5 + 2.5 * 0.5 + 10)


def test_catalog_lookup_and_user_overlay(tmp_path: Path) -> None:
    user = tmp_path / "prices.json"
    user.write_text(json.dumps({"models": {"gpt-4o": {"input": 1, "output": 2, "cached_input": 0.5}}}))
    catalog = load_catalog(user)
    assert lookup(catalog, "openai", "gpt-4o-latest") == (1.0, 2.0, 0.5)
    assert lookup(catalog, "anthropic", "claude-3-5-haiku-20241022") == (0.8, 4.0, 0.08)
    assert lookup(catalog, "openai", "no-such-model") is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "JSON object"),
        ({"models": {"m": {"input": 1}}}, "models.m"),
        ({"models": {"m": {"input": "1", "output": 1}}}, "non-negative"),
        ({"models": {"m": {"input": 1, "output": 1, "extra": 1}}}, "unknown field"),
    ],
)
def test_bad_price_files_name_the_entry(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_catalog(data)


def test_periods() -> None:
    now = dt.datetime(2025, 3, 12, 15, 30)  # a Wednesday
    assert period_at("day", now).end == dt.datetime(2025, 3, 13)
    week = period_at("week", now)
    assert (week.start, week.end) == (dt.datetime(2025, 3, 10), dt.datetime(2025, 3, 17))
    month = period_at("month", dt.datetime(2025, 12, 31, 23, 59))
    assert (month.start, month.end, month.label) == (
        dt.datetime(2025, 12, 1),
        dt.datetime(2026, 1, 1),
        "m20251201",
    )
    total = period_at("total", now)
    assert not total.resets and total.reset_text().startswith("never")
    with pytest.raises(ValueError, match="budget period"):
        period_at("fortnight", now)
    clock = PeriodClock()
    first = clock.current("day", 1_741_793_400.0)
    assert clock.current("day", 1_741_793_401.0) is first, "cached until the period ends"
    assert clock.current("day", first.end_ts).start == first.end


def test_key_table_lookup() -> None:
    entry = KeyEntry("key_1", "k", "sk-agw-x…", Principal("key_1", "virtual"), LimitSpec())
    gone = KeyEntry("key_2", "k", "sk-agw-y…", Principal("key_2", "virtual"), LimitSpec(), revoked=True)
    table = KeyTable(by_hash={"h1": (entry, None), "h1-old": (entry, 100.0), "h2": (gone, None)})
    assert table.lookup("h1") is entry and table.lookup("nope") is None
    assert table.lookup("h1-old", now=99.0) is entry
    with pytest.raises(AuthenticationFailed, match="expired at 1970-01-01T00:01:40Z"):
        table.lookup("h1-old", now=100.0)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        table.resolve("h2")
    assert Budget(0.1, "day", True).limit_nano == 100_000_000
    assert LimitSpec().empty and not LimitSpec(rpm=1).empty


@pytest.mark.parametrize(
    "seconds", [-2.0, 0.0, 0.0004, 0.001, 0.2499, 0.5, 0.9995, 1.0, 1.2, 59.01, 60.5, 61.0, 90.0]
)
def test_rate_limit_reset_header_values(seconds: float) -> None:
    """The header bytes (tables for the usual values) say what the formatter says for every value."""
    from adaptive_gateway.accounts.answers import fmt_reset, reset_bytes

    assert reset_bytes(seconds) == fmt_reset(seconds).encode()
    assert reset_bytes(seconds).endswith(b"ms" if seconds < 1 else b"s")
