"""Helpers for routing tests: a clock tests move by hand, and config builders."""

from __future__ import annotations

from adaptive_gateway.config import CompiledConfig, compile_config, parse_config
from tests.support.gateway import MASTER_HASH


class FakeClock:
    """Wall-clock time that only moves when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def compiled(text: str) -> CompiledConfig:
    return compile_config(parse_config(text, {}), {})


# weights that make `a` the primary: the weighted choice tries `b` first 1 time in a million (at 1000:1
# it was 1 in 1,001 per request, enough to break a test's exact counts now and then)
PRIMARY = (1_000_000.0, 1.0)


def two_deployments(
    url_a: str, url_b: str, *, model_extra: str = "", weights: tuple[float, float] = (100, 1), top: str = ""
) -> str:
    """Model ``m`` on deployments ``a`` (primary by weight) and ``b``, OpenAI-compatible fakes."""
    return f"""
auth: {{master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false, reload_poll_seconds: 0}}
providers:
  a: {{kind: openai-compatible, base_url: "{url_a}/v1", api_key: sk-a,
      timeouts: {{connect: 1, read: 3, total: 10}}}}
  b: {{kind: openai-compatible, base_url: "{url_b}/v1", api_key: sk-b,
      timeouts: {{connect: 1, read: 3, total: 10}}}}
models:
  m:
    deployments:
      - {{provider: a, model: model-a, weight: {weights[0]}, input_price: 1, output_price: 2}}
      - {{provider: b, model: model-b, weight: {weights[1]}, input_price: 3, output_price: 4}}
    retry: {{backoff_base: 0.01, backoff_max: 0.05}}
{model_extra}
{top}
"""
