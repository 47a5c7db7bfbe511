"""A gateway in front of both a fake OpenAI and a fake Anthropic upstream, for the Messages tests.

Models: ``gpt-test`` (alias ``claude-sonnet-4-5``, what the anthropic SDK tests ask for) on the OpenAI
fake; ``claude-native`` (alias ``claude-opus-5-5``, Claude Code's default in the recorded samples) on
the Anthropic fake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_HASH

SAMPLES = Path("/work/shared/client-samples")
SAMPLES_FALLBACK = Path(__file__).resolve().parents[3] / "shared" / "client-samples"


def two_upstreams_config(openai_url: str, anthropic_url: str, extra: str = "") -> str:
    return f"""
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false}}
providers:
  oai: {{kind: openai-compatible, base_url: "{openai_url}/v1", api_key: "sk-openai-upstream",
        timeouts: {{connect: 2, read: 5, total: 15}}}}
  claude: {{kind: anthropic, base_url: "{anthropic_url}", api_key: "sk-ant-upstream",
           timeouts: {{connect: 2, read: 5, total: 15}}}}
models:
  gpt-test:
    deployments: [{{provider: oai, model: upstream-model, input_price: 1.0, output_price: 2.0}}]
  claude-native:
    deployments: [{{provider: claude, model: claude-sonnet-4-5, input_price: 3.0, output_price: 15.0}}]
  claude-capped:
    deployments: [{{provider: claude, model: claude-haiku-4-5, max_output_tokens: 1234}}]
aliases:
  claude-sonnet-4-5: gpt-test
  claude-opus-5-5: claude-native
{extra}
"""


@contextmanager
def two_fakes(knobs: Knobs | None = None) -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    """A fake OpenAI and a fake Anthropic upstream, running (both with ``knobs`` when given)."""
    oai = FakeUpstream("openai").start_in_thread()
    ant = FakeUpstream("anthropic").start_in_thread()
    if knobs is not None:
        oai.knobs = ant.knobs = knobs
    try:
        yield oai, ant
    finally:
        oai.stop_thread()
        ant.stop_thread()


def client_sample(name: str) -> dict[str, Any]:
    """A recorded client request (``shared/client-samples``), with the recorder's elisions made valid:
    list items like ``"...<6 more>"`` are dropped."""
    base = SAMPLES if SAMPLES.is_dir() else SAMPLES_FALLBACK
    data = json.loads((base / name).read_text(encoding="utf-8"))
    return _clean(data)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value if not (isinstance(v, str) and v.startswith("...<"))]
    return value
