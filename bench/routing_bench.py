"""Routing overhead in isolation: CPU per request of plan + execute for a model with 3 deployments
(breakers on) against the same model with one, through the real Gateway, Router and Executor.

The upstream is answered in-process from canned bytes so that only our CPU is measured (the HTTP path is
the same for both and is what `make bench` measures end to end). Process CPU time, median of ROUNDS
alternating rounds. With REDIS_URL set, the 3-deployment model also runs with breakers shared through
Redis, to show that a healthy request never waits on it.

    .venv/bin/python bench/routing_bench.py        # N=40000 ROUNDS=5 REDIS_URL=redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid

import orjson

from adaptive_gateway.config import Provider, compile_config, parse_config
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.providers.base import UpstreamRequest
from adaptive_gateway.providers.upstream import UpstreamResponse
from adaptive_gateway.types import ChatRequest, ContentPart, Message

N = int(os.environ.get("N", "40000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
REDIS_URL = os.environ.get("REDIS_URL", "")
CONFIG = """
providers:
  a: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1"}
  b: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1"}
  c: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1"}
models:
  one: {deployments: [{provider: a, model: x}]}
  three:
    deployments: [{provider: a, model: x, weight: 2}, {provider: b, model: x}, {provider: c, model: x}]
  three-latency:
    strategy: lowest-latency
    deployments: [{provider: a, model: x}, {provider: b, model: x}, {provider: c, model: x}]
  three-health:
    strategy: health-weighted
    deployments: [{provider: a, model: x}, {provider: b, model: x}, {provider: c, model: x}]
"""
BODY = orjson.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "x",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
})  # fmt: skip


class CannedUpstream:
    """Answers every request with the same bytes, without I/O."""

    async def send(self, provider: Provider, req: UpstreamRequest) -> UpstreamResponse:
        return UpstreamResponse(200, {}, BODY)

    async def close(self) -> None:
        return None


async def cpu_per_request(gw: Gateway, model: str, n: int) -> float:
    req = ChatRequest(model, [Message("user", [ContentPart("text", text="hi")])])
    t0 = time.process_time()
    for _ in range(n):
        ctx = RequestContext("req", "bench", gw.config, {})
        ctx.request = req
        await gw.complete(ctx)
    return (time.process_time() - t0) / n * 1e6


async def measure(gw: Gateway, models: list[str]) -> dict[str, float]:
    samples: dict[str, list[float]] = {m: [] for m in models}
    for m in models:
        await cpu_per_request(gw, m, 2000)  # warm up
    for _ in range(ROUNDS):
        for m in models:
            samples[m].append(await cpu_per_request(gw, m, N))
    return {m: statistics.median(v) for m, v in samples.items()}


async def main() -> None:
    gw = Gateway(compile_config(parse_config(CONFIG, {}), {}))
    gw.executor.upstream = CannedUpstream()  # type: ignore[assignment]
    gw.finishers.clear()  # the request log is not routing
    models = ["one", "three", "three-latency", "three-health"]
    result = await measure(gw, models)
    if REDIS_URL:
        await gw.executor.router.share(REDIS_URL, f"agw-bench:{uuid.uuid4().hex[:8]}:")
        shared = await measure(gw, ["one", "three"])
        result |= {f"{m} (breakers in redis)": v for m, v in shared.items()}
        await gw.executor.router.close()
    base = result["one"]
    print(f"{'model':32} {'CPU µs/req':>10} {'vs one':>8}")
    for name, us in result.items():
        print(f"{name:32} {us:10.2f} {us - base:+8.2f}")


if __name__ == "__main__":
    asyncio.run(main())
