"""Bad routing config is rejected at load with the path named; good config compiles to precomputed tables."""

from __future__ import annotations

import pytest

from adaptive_gateway.config import ConfigError, parse_config
from tests.routing.support import compiled

BASE = """
providers: {p: {kind: ollama-openai}}
models:
  a:
    deployments:
      - {provider: p, model: x, weight: 3}
      - {provider: p, model: y}
      - {provider: p, model: z, weight: 0}
  b: {deployments: [{provider: p, model: w, context_window: 8000}]}
"""


def c(fields: str) -> str:
    """Model ``c`` with one deployment and ``fields``."""
    return "  c: {deployments: [{provider: p, model: q}], " + fields + "}"


def errors(extra: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + extra, {})
    return info.value.errors


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  c: {split: {a: 0, b: 0}}", "models.c.split: every weight is 0, nothing could be chosen"),
        ("  c: {split: {a: 1, ghost: 1}}", "models.c.split.ghost: unknown model 'ghost'"),
        ("  c: {router: cost, models: [a, ghost]}", "models.c.models[1]: unknown model 'ghost'"),
        (
            "  c: {split: {a: 1}}\n  d: {router: cost, models: [c]}",
            "models.d.models[0]: 'c' is itself a split or router model; name a model with deployments",
        ),
        (c("context_fallback: nope"), "models.c.context_fallback: unknown model 'nope'"),
        ("  c: {description: empty}", "models.c: needs deployments, a split or a router mode"),
        (
            "  c: {split: {a: 1}, router: cost}",
            "models.c: set only one of deployments, split and router (got split, router)",
        ),
        (c("sticky: key"), "models.c.sticky: only meaningful with split"),
        (c("fallbacks: [a, ghost]"), "models.c.fallbacks[1]: unknown model 'ghost'"),
        (c("fallbacks: [c]"), "models.c.fallbacks: cycle c -> c"),
        (
            "  c: {deployments: [{provider: p, model: q, weight: 0}]}",
            "models.c.deployments: every weight is 0, nothing could be chosen",
        ),
    ],
)  # fmt: skip
def test_cross_reference_errors_name_the_path(extra: str, expected: str) -> None:
    assert expected in errors(extra)


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        (c("strategy: fastest"), "models.c.strategy:"),
        ("  c: {split: {a: -1}}", "models.c.split.a:"),
        ("  c: {split: {a: 1}, sticky: cookie}", "models.c.sticky:"),
        ("  c: {router: cheapest}", "models.c.router:"),
        (c("retry: {retry_on: [200]}"), "models.c.retry.retry_on[0]:"),
        (c("retry: {retries: 99}"), "models.c.retry.retries:"),
        (c("breaker: {failure_rate: 1.5}"), "models.c.breaker.failure_rate:"),
        (c("breaker: {colour: red}"), "models.c.breaker.colour:"),
        ("  c: {deployments: [{provider: p, model: q, quality: 120}]}", "models.c.deployments[0].quality:"),
    ],
)  # fmt: skip
def test_field_errors_name_the_path(extra: str, path: str) -> None:
    assert any(e.startswith(path) for e in errors(extra)), errors(extra)


def test_compiled_tables() -> None:
    cfg = compiled(
        BASE
        + """
  c: {split: {a: 70, b: 30}, sticky: "header:X-User"}
  d: {router: quality, models: [a, b]}
  e: {deployments: [{provider: p, model: q}], fallbacks: [b]}
"""
    )
    a = cfg.models["a"]
    assert [d.upstream_model for d in a.weighted] == ["x", "y"] and a.cum_weights == (3.0, 4.0)
    assert not a.uses_windows and cfg.models["e"].uses_windows  # its fallback has a window
    c = cfg.models["c"]
    assert c.split == (("a", 70.0), ("b", 100.0)) and c.sticky == "x-user" and c.uses_windows
    d = cfg.models["d"]
    assert d.strategy == "quality" and [x.upstream_model for x in d.deployments] == ["x", "y", "z", "w"]
    assert cfg.resolve("router:cost") is not None and "router:cost" not in cfg.public_names()
    assert (
        cfg.models["a"].retry.retries == 2 and cfg.models["a"].deployments[0].breaker.failure_threshold == 5
    )
