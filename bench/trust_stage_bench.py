"""Microbenchmark of the whole trust stage per request (``make bench`` runs it after the detectors).

Measures CPU microseconds per request (this thread's CPU time, median and mean of 3000 calls; the
fastest wall-clock call for reference):

* ``stage``: ``await TrustStage(ctx)``: one scan of every message, classification, policy, the
  candidate veto built and checked against every reachable deployment;
* ``stage + veto x3``: plus the planner asking the veto about three candidates;
* ``receipt``: building the receipt (done by the finisher after the response was sent);

for the bench request (``bench/request.json``, three short messages, no findings), a 4 KB prompt
with no findings, the same with findings routed to a local deployment, and the same redacted.
Run: ``.venv/bin/python bench/trust_stage_bench.py``; docs/benchmarks.md records the numbers.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from trust_bench import _FINDINGS, _prompt  # noqa: E402

from adaptive_gateway.config import compile_config, parse_config  # noqa: E402
from adaptive_gateway.formats import openai_chat  # noqa: E402
from adaptive_gateway.ledger.consent_view import EMPTY  # noqa: E402
from adaptive_gateway.pipeline.context import Principal, RequestContext  # noqa: E402
from adaptive_gateway.server.trust_receipts import build_receipt  # noqa: E402
from adaptive_gateway.server.trust_runtime import TrustRuntime  # noqa: E402
from adaptive_gateway.trust.opa import DecisionClient  # noqa: E402
from adaptive_gateway.trust.stage import TrustStage  # noqa: E402

CONFIG = """
providers:
  hosted: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1"}
  other: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1"}
  box: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1", locality: local}
models:
  MODEL:
    deployments: [{provider: hosted, model: a}, {provider: other, model: b}]
    fallbacks: [local]
  local: {deployments: [{provider: box, model: c}]}
"""


def _bodies() -> dict[str, dict[str, object]]:
    bench = json.loads((HERE / "request.json").read_text())
    big = {"model": "MODEL", "messages": [{"role": "user", "content": _prompt()}]}
    found = {"model": "MODEL", "messages": [{"role": "user", "content": _prompt(extra=_FINDINGS)}]}
    return {
        "bench request": bench,
        "4 KB, clean": big,
        "4 KB, findings (local)": found,
        "4 KB, redacted": found,
    }


Row = tuple[float, float, float]  # CPU median, CPU mean, wall-clock min (µs)


def _summary(cpu: list[float], wall: list[float]) -> Row:
    return statistics.median(cpu), statistics.fmean(cpu), min(wall)


def _measure(run: Callable[[], Awaitable[None]], runs: int) -> Row:
    """CPU time of this thread per call of ``run`` (median and mean of ``runs`` calls after 200 to
    warm up) and the fastest wall-clock call: CPU time is what the gateway pays, and unlike wall
    time it does not grow when other processes compete for the machine."""

    async def loop() -> Row:
        for _ in range(200):
            await run()
        gc.collect()
        cpu, wall = [], []
        for _ in range(runs):
            c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
            await run()
            cpu.append((time.thread_time_ns() - c0) / 1000)
            wall.append((time.perf_counter_ns() - w0) / 1000)
        return _summary(cpu, wall)

    return asyncio.run(loop())


def main(runs: int = 3000) -> None:
    for label, body in _bodies().items():
        bench_case(label, body, runs)
    asyncio.run(pipeline())


async def pipeline(n: int = 20000, rounds: int = 5) -> None:
    """CPU per request of ``Gateway.complete`` (plan, execute against canned bytes) for the bench
    request, without and with the trust extension (receipt id, stage, veto, restore wrapper, and the
    receipts: built by the finisher, appended to files by the writer's thread)."""
    from routing_bench import CONFIG as ROUTING
    from routing_bench import CannedUpstream

    from adaptive_gateway.pipeline.gateway import Gateway
    from adaptive_gateway.server import trust_ext
    from adaptive_gateway.server.app import GatewayApp

    os.environ["ADAPTIVE_GATEWAY_HOME"] = tempfile.mkdtemp(prefix="trust-bench-")
    body = json.loads((HERE / "request.json").read_text())
    config = compile_config(parse_config(ROUTING, {}), {})
    gateways = {}
    flushes: dict[str, Callable[[], Awaitable[None]]] = {}
    for name in ("without trust", "with trust"):
        gw = Gateway(config)
        gw.executor.upstream = CannedUpstream()  # type: ignore[assignment]
        gw.finishers.clear()  # the request log is not trust
        if name == "with trust":
            app = GatewayApp(gw)
            trust_ext.install(app)
            await app.on_startup[0]()
            flushes[name] = app.extras["trust"].writer.flush  # type: ignore[attr-defined]
        gateways[name] = gw

    async def cpu(name: str, count: int) -> float:
        gw = gateways[name]
        t0 = time.process_time()
        for _ in range(count):
            ctx = RequestContext("req", "openai_chat", gw.config, {})
            ctx.principal = Principal("master", "master")
            ctx.request = openai_chat.decode_request({**body, "model": "one"})
            await gw.complete(ctx)
            gw.finish(ctx)
            await asyncio.sleep(0)  # as a server does between requests: the writer gets to run
        if name in flushes:
            await flushes[name]()  # receipts written: their CPU counts
        return (time.process_time() - t0) / count * 1e6

    samples: dict[str, list[float]] = {name: [] for name in gateways}
    for name in gateways:
        await cpu(name, 2000)
    for _ in range(rounds):
        for name in gateways:
            samples[name].append(await cpu(name, n))
    result = {name: statistics.median(v) for name, v in samples.items()}
    print(f"pipeline, bench request: Gateway.complete + finishers, CPU (median of {rounds} x {n})")
    for name, us in result.items():
        print(f"  {name:18s} {us:7.1f} µs/request  ({us - result['without trust']:+.1f})")


def bench_case(label: str, body: dict[str, object], runs: int) -> None:
    """Print the rows of one request."""
    trust = "trust: {actions: {confidential: redact, secret: redact}}" if "redacted" in label else ""
    text = CONFIG + trust
    config = compile_config(parse_config(text, env={}), env={}, text=text)
    runtime = TrustRuntime(Path("/nonexistent"), lambda config=config: config)
    stage = TrustStage(runtime.settings_for, lambda: EMPTY, DecisionClient())
    model = config.resolve("MODEL")
    assert model is not None
    deps = [*model.deployments, *config.models["local"].deployments]
    raw = orjson.dumps(body)

    def context() -> RequestContext:
        ctx = RequestContext("req", "openai_chat", config, {})
        ctx.principal = Principal("master", "master")
        request = openai_chat.decode_request(orjson.loads(raw))
        request.raw = copy.deepcopy(body)
        ctx.request = request
        return ctx

    # a few contexts reused (a server holds few at a time; thousands alive would make the garbage
    # collector's passes part of every measurement)
    contexts = [context() for _ in range(16)]
    decode_cost = _decode_cost(raw, runs)

    def make(with_veto: bool) -> Callable[[], Awaitable[None]]:
        pool = itertools.cycle(contexts)

        async def run() -> None:
            ctx = next(pool)
            ctx.notes.clear()
            await stage(ctx)
            if with_veto:
                veto = stage.candidate_filter(ctx)
                assert veto is not None
                for dep in deps:
                    veto(dep)

        return run

    if "redacted" in label:  # redaction rewrites the request: each run redacts a fresh copy
        spare: list[RequestContext] = []

        async def fresh() -> None:
            await stage(spare.pop())

        rows = {"stage": _measure_fresh(fresh, spare, context, runs)}
    else:
        rows = {"stage": _measure(make(False), runs), "stage + veto x3": _measure(make(True), runs)}
    ctx = contexts[0]
    if "trust" not in ctx.notes:
        asyncio.run(stage(ctx))
    settings = runtime.settings_for(config)

    async def receipt() -> None:
        build_receipt(ctx, settings, latency_ms=1.0, ended_at=time.time())

    rows["receipt (finisher)"] = _measure(receipt, runs)
    verdict = ctx.notes["trust"].verdict.kind if "trust" in ctx.notes else "-"
    print(f"{label} ({len(raw)} B body, verdict {verdict}; decode alone {decode_cost:.1f} µs)")
    for name, (median, mean, best) in rows.items():
        print(f"  {name:18s} CPU median {median:7.1f} µs  mean {mean:7.1f} µs   wall min {best:7.1f} µs")


def _measure_fresh(
    run: Callable[[], Awaitable[None]],
    spare: list[RequestContext],
    make: Callable[[], RequestContext],
    runs: int,
) -> Row:
    """Like :func:`_measure`, with a fresh context made (untimed) before each run."""

    async def loop() -> Row:
        cpu, wall = [], []
        for i in range(runs + 200):
            spare.append(make())
            c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
            await run()
            if i >= 200:
                cpu.append((time.thread_time_ns() - c0) / 1000)
                wall.append((time.perf_counter_ns() - w0) / 1000)
        return _summary(cpu, wall)

    gc.collect()
    return asyncio.run(loop())


def _decode_cost(raw: bytes, runs: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(runs):
        openai_chat.decode_request(orjson.loads(raw))
    return (time.perf_counter_ns() - start) / runs / 1000


if __name__ == "__main__":
    main()
