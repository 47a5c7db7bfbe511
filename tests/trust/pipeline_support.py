"""Shared by the trust pipeline tests: a hosted and a local fake upstream behind one gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import openai

from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_HASH, MASTER_KEY, GatewayThread

# format-valid fakes (never real credentials)
OPENAI_KEY = "sk-proj-Q2x8Lm4Np7Rt1Vz9Bc3Df6Gh0Jk5Ws8Ya2Ec4Hu7"
EMAIL = "jane.doe@example.com"
PHONE = "+1 415 555 2671"


def trust_config(cloud_url: str, box_url: str, trust: str = "", extra_models: str = "") -> str:
    """Providers ``cloud`` (hosted) and ``box`` (local); models:

    * ``smart``: cloud, falling back to ``on-box``;
    * ``mixed``: cloud and box in one model (cloud first: higher quality);
    * ``cloud-only``: cloud, no fallback; ``on-box``: box.
    """
    return f"""
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false, reload_poll_seconds: 0.2}}
providers:
  cloud: {{kind: openai-compatible, base_url: "{cloud_url}/v1", api_key: "sk-upstream-secret",
          timeouts: {{connect: 2, read: 5, total: 10}}}}
  box: {{kind: openai-compatible, base_url: "{box_url}/v1", locality: local, probe: {{enabled: false}},
        timeouts: {{connect: 2, read: 5, total: 10}}}}
models:
  smart:
    deployments: [{{provider: cloud, model: cloud-model, input_price: 1.0, output_price: 2.0}}]
    fallbacks: [on-box]
    retry: {{retries: 0}}
  mixed:
    strategy: quality
    deployments:
      - {{provider: cloud, model: cloud-model, quality: 90}}
      - {{provider: box, model: box-model, quality: 10}}
  cloud-only:
    deployments: [{{provider: cloud, model: cloud-model}}]
    retry: {{retries: 0}}
  on-box:
    deployments: [{{provider: box, model: box-model}}]
{extra_models}
trust:
  ledger_poll_seconds: 0.1
{trust}
"""


@dataclass
class Env:
    cloud: FakeUpstream
    box: FakeUpstream
    gateway: GatewayThread
    client: openai.OpenAI

    def chat(self, model: str, text: str, **kw: object) -> openai.types.chat.ChatCompletion:
        return self.client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": text}],
            **kw,  # type: ignore[call-overload]
        )

    def cloud_bodies(self) -> list[str]:
        return [json.dumps(r.json) for r in self.cloud.received]


@contextmanager
def trust_env(tmp_path: Path, trust: str = "", extra_models: str = "") -> Iterator[Env]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    cloud = FakeUpstream("openai").start_in_thread()
    box = FakeUpstream("openai").start_in_thread()
    try:
        config = trust_config(cloud.url, box.url, trust, extra_models)
        with GatewayThread(config, tmp_path) as gw:
            client = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)
            yield Env(cloud, box, gw, client)
    finally:
        cloud.stop_thread()
        box.stop_thread()
