"""Observability costs in isolation (docs/benchmarks.md, "Observability").

1. CPU per request of the pipeline with and without the observability extension's wrappers and
   finisher (metrics, stats, the request log line), through the real Gateway, Router and Executor;
   the upstream answers in-process from canned bytes so only our CPU counts. Process CPU time, median
   of ROUNDS alternating rounds of N requests.
2. One ``/metrics`` scrape (fold + exposition) with MODELS models and KEYS keys that all carried
   traffic, single-process and multiprocess (two workers' files), median of SCRAPES scrapes.

    .venv/bin/python bench/observability_bench.py      # N=20000 ROUNDS=5 MODELS=100 KEYS=1000 SCRAPES=5
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

import orjson

from adaptive_gateway.config import Provider, compile_config, parse_config
from adaptive_gateway.pipeline.context import Principal, RequestContext
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.providers.base import UpstreamRequest
from adaptive_gateway.providers.upstream import UpstreamResponse
from adaptive_gateway.types import ChatRequest, ContentPart, Message

N = int(os.environ.get("N", "20000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
MODELS = int(os.environ.get("MODELS", "100"))
KEYS = int(os.environ.get("KEYS", "1000"))
SCRAPES = int(os.environ.get("SCRAPES", "5"))
CONFIG = """
server: {request_log: true, request_log_file: /dev/null}
providers: {a: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1"}}
models: {one: {deployments: [{provider: a, model: x, input_price: 1, output_price: 2}]}}
"""
BODY = orjson.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "x",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
})  # fmt: skip
HEADERS = {"user-agent": "OpenAI/Python 1.40.0", "authorization": "Bearer x"}


class CannedUpstream:
    async def send(self, provider: Provider, req: UpstreamRequest) -> UpstreamResponse:
        return UpstreamResponse(200, {}, BODY)

    async def close(self) -> None:
        return None


def gateway(observed: bool) -> Gateway:
    gw = Gateway(compile_config(parse_config(CONFIG, {}), {}))
    gw.upstream = gw.executor.upstream = CannedUpstream()  # type: ignore[assignment]
    if observed:
        from adaptive_gateway.server.observability_runtime import ObservabilityRuntime

        rt = ObservabilityRuntime(gw, gw.config.source.observability)
        gw.finishers.remove(gw._log_request)
        gw.finishers.append(rt.finish)
        rt.hooks.install(gw, keep_responses=True)
        gw.upstream = gw.executor.upstream  # the observed wrapper around the canned upstream
        gw.extras = rt  # type: ignore[attr-defined]  # keep it alive for the periodic fold below
    return gw


async def cpu_per_request(gw: Gateway, n: int) -> float:
    req = ChatRequest("one", [Message("user", [ContentPart("text", text="hi")])])
    principal = Principal("key_1", "virtual", "sk-agw-abcd", "tenant-1", roles=frozenset())
    rt = getattr(gw, "extras", None)
    t0 = time.process_time()
    for i in range(n):
        ctx = RequestContext("req", "openai_chat", gw.config, HEADERS)
        ctx.principal = principal
        ctx.request = req
        await gw.complete(ctx)
        gw.finish(ctx)
        if rt is not None and i % 1000 == 0:
            rt.sync()  # the fold the background task does every second
    if rt is not None:
        rt.sync()
    gw.log.flush()
    return (time.process_time() - t0) / n * 1e6


async def pipeline() -> None:
    plain, observed = gateway(False), gateway(True)
    samples: dict[str, list[float]] = {"without": [], "with": []}
    await cpu_per_request(plain, 2000)
    await cpu_per_request(observed, 2000)
    for _ in range(ROUNDS):
        samples["without"].append(await cpu_per_request(plain, N))
        samples["with"].append(await cpu_per_request(observed, N))
    base, obs = statistics.median(samples["without"]), statistics.median(samples["with"])
    print(f"pipeline CPU µs/req: without {base:.2f}, with {obs:.2f} (+{obs - base:.2f}; request log in both)")


def scrape_child() -> None:
    """One worker's share of traffic, then (worker 0) time the scrapes; run with the env var set."""
    from adaptive_gateway.observability.metrics import GatewayMetrics
    from adaptive_gateway.observability.sample import Sample

    m = GatewayMetrics.from_env("bench")
    for k in range(KEYS):
        model = f"model-{k % MODELS:03d}"
        m.record(Sample("openai_chat", model, f"{model}#0:p{k % 7}/x", f"p{k % 7}", 200, 0.2 + k % 9,
                        key=f"key_{k:04d}", tenant=f"t{k % 20}", upstream_s=0.1, ttft_s=0.05, tokens_per_s=40,
                        input_tokens=100, output_tokens=50, cost=0.001, client="openai-python"))  # fmt: skip
    m.sync_live(3, [(f"model-{i:03d}#0:p{i % 7}/x", "closed", 0, 100) for i in range(MODELS)])
    m.flush()
    if sys.argv[2] == "1":
        return
    times = []
    for _ in range(SCRAPES):
        t0 = time.perf_counter()
        body = m.render()[0]
        times.append((time.perf_counter() - t0) * 1000)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    print(f"{statistics.median(times):.1f} ms for {series} samples ({len(body) / 1024:.0f} KiB)")


def scrape(multiprocess: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    with tempfile.TemporaryDirectory() as folder:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = folder
            subprocess.run([sys.executable, __file__, "scrape", "1"], env=env, check=True)
        command = [sys.executable, __file__, "scrape", "0"]
        out = subprocess.run(command, env=env, check=True, capture_output=True)
    return out.stdout.decode().strip()


def main() -> None:
    asyncio.run(pipeline())
    print(f"/metrics scrape, {MODELS} models, {KEYS} keys, single process: {scrape(False)}")
    print(f"/metrics scrape, {MODELS} models, {KEYS} keys, two workers' files: {scrape(True)}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "scrape":
        scrape_child()
    else:
        main()
