"""The accounts extension in isolation: the real app pipeline (authenticate, decode, every installed
stage, planning, settlement, every finisher, the write-behind flush) without HTTP or an upstream, so
only our CPU counts. Rows: the master key, a virtual key without limits, and a virtual key with a budget,
RPM and TPM on the in-process counters and on Redis. Process CPU per request, 32 requests in flight,
median of alternating rounds; against the master key both as the difference of the medians and as the
median of the differences within a round ("paired"). With Redis it also prints how many admissions
each script call carried (state/redis.py coalesces those of one loop iteration).

    .venv/bin/python bench/accounts_stage_bench.py            # REDIS_URL=... for the Redis row
    COUNTERS=redis ROUNDS=7 .venv/bin/python bench/accounts_stage_bench.py   # only the Redis rows
    ROWS="master,key + limits" SAMPLES=1 ...                                   # some rows, every round
    STAGES=1 COUNTERS=memory ...   # also event-loop CPU per request of each stage and finisher, per row

The per-part times count the loop thread's CPU from a stage's start to its end, so a stage that waits
(on Redis: the cache's shared tier, admission without an open block) also counts the other requests
that ran meanwhile: read them with the in-process counters.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ROUNDS, N, INFLIGHT = int(os.environ.get("ROUNDS", "5")), int(os.environ.get("N", "4000")), 32
STAGES = os.environ.get("STAGES") == "1"
Timed = dict[str, float]  # part -> event-loop thread seconds, over a round


def _timed(gw: Any, spent: Timed) -> None:
    """Wrap every stage and finisher of ``gw`` to add its thread time to ``spent``."""

    def label(part: object) -> str:
        return getattr(part, "__qualname__", type(part).__name__)

    def stage(name: str, fn: Any) -> Any:
        async def timed(ctx: Any) -> None:
            t0 = time.thread_time()
            try:
                await fn(ctx)
            finally:
                spent[name] = spent.get(name, 0.0) + time.thread_time() - t0

        return timed

    def finisher(name: str, fn: Any) -> Any:
        def timed(ctx: Any) -> None:
            t0 = time.thread_time()
            fn(ctx)
            spent[name] = spent.get(name, 0.0) + time.thread_time() - t0

        return timed

    def keep(timed: Any, part: object) -> Any:  # a replayable stage stays one (cache/recall.py)
        for name in ("replay_stamp", "replay_notes"):
            if hasattr(part, name):
                setattr(timed, name, getattr(part, name))
        return timed

    gw.stages[:] = [keep(stage("stage " + label(s), s), s) for s in gw.stages]
    gw.finishers[:] = [finisher("finish " + label(f), f) for f in gw.finishers]


MASTER = "sk-bench-master-0123456789"
LIMITS = {"rpm": 2_000_000_000, "tpm": 2_000_000_000, "budget_usd": 1e9}


def config(redis: bool) -> str:
    from adaptive_gateway.config import hash_key

    state = (
        f'state: {{redis_url: "{REDIS_URL}", redis_prefix: "agw-stage-bench-{os.getpid()}:"}}'
        if redis
        else ""
    )
    return f"""
auth: {{mode: gateway, master_key_hash: "{hash_key(MASTER)}"}}
server: {{request_log: false}}
providers: {{f: {{kind: openai-compatible, base_url: "http://127.0.0.1:9/v1"}}}}
models:
  bench-json: {{deployments: [{{provider: f, model: gpt-4o-mini, input_price: 0.15, output_price: 0.6}}]}}
{state}
"""


Parts = dict[str, dict[str, list[float]]]  # row -> part -> µs per request, per round


async def measure(redis: bool) -> tuple[dict[str, list[float]], Parts]:
    from adaptive_gateway.accounts import service
    from adaptive_gateway.accounts.admission import Admission
    from adaptive_gateway.accounts.schemas import KeyCreate
    from adaptive_gateway.config import compile_config, parse_config
    from adaptive_gateway.pipeline.context import RequestContext
    from adaptive_gateway.server.app import build_app
    from adaptive_gateway.types import Usage
    from adaptive_gateway.wire.openai_chat import OpenAIChatWire

    text = config(redis)
    app = build_app(compile_config(parse_config(text), text=text))
    await app.startup()
    gw = app.gateway
    acc = next(s for s in gw.stages if isinstance(s, Admission)).acc
    assert acc.store is not None
    keys = {"master": MASTER}
    for name, spec in (("plain key", {}), ("key + limits", LIMITS)):
        async with acc.store.session() as session:
            keys[name] = (await service.create_key(session, service.SYSTEM, KeyCreate(name=name, **spec))).key
    await acc.reload_table()
    rows = os.environ.get("ROWS")
    if rows:
        keys = {name: key for name, key in keys.items() if name in rows.split(",")}
    spent: Timed = {}
    if STAGES:
        _timed(gw, spent)
    raw = (ROOT / "bench" / "request.json").read_bytes().replace(b'"MODEL"', b'"bench-json"')
    wire, dep = OpenAIChatWire(), gw.config.models["bench-json"].deployments[0]

    async def one(key: str) -> None:
        ctx = RequestContext("r", "openai_chat", gw.config, {"authorization": "Bearer " + key}, "127.0.0.1")
        gw.authenticate(ctx)
        ctx.request = wire.decode(orjson.loads(raw), {})
        await gw.plan(ctx)
        ctx.deployment = dep
        ctx.settle(Usage(200, 50))
        gw.finish(ctx)

    async def run(key: str, n: int) -> None:
        async def worker() -> None:
            for _ in range(n // INFLIGHT):
                await one(key)

        await asyncio.gather(*[worker() for _ in range(INFLIGHT)])

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)  # as server/runner.py does
    out: dict[str, list[float]] = {name: [] for name in keys}
    parts: Parts = {name: {} for name in keys}
    for _ in range(ROUNDS):
        for name, key in keys.items():
            await run(key, 500)
            await asyncio.sleep(0.6)  # let the write-behind flush settle
            spent.clear()
            t0, loop0 = time.process_time(), time.thread_time()
            await run(key, N)
            loop = time.thread_time() - loop0
            await asyncio.sleep(0.6)  # ...and count the flush of these rows
            out[name].append((time.process_time() - t0) / N * 1e6)
            for part, seconds in [("event loop, whole request", loop), *spent.items()]:
                parts[name].setdefault(part, []).append(seconds / N * 1e6)
    primary = getattr(acc.counters, "primary", None)
    if primary is not None and getattr(primary, "calls", 0):
        print(f"  admissions per Redis script call: {primary.plans / primary.calls:.1f}")
    await app.shutdown()
    return out, parts


def print_parts(parts: Parts) -> None:
    """Per stage and finisher: median µs per request of each row, and its difference to the master's."""
    rows = list(parts)
    print("  event-loop CPU µs per request by part (median); in brackets: minus the master row")
    names = list(dict.fromkeys(p for row in rows for p in parts[row]))
    for part in names:
        base = statistics.median(parts[rows[0]].get(part, [0.0]))
        cells = []
        for row in rows:
            med = statistics.median(parts[row].get(part, [0.0]))
            cells.append(f"{row} {med:5.1f}" + (f" ({med - base:+5.1f})" if row != rows[0] else ""))
        print(f"    {part:42} " + "   ".join(cells))


def main() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    home = tempfile.mkdtemp(prefix="agw-stage-bench-")
    os.environ["ADAPTIVE_GATEWAY_HOME"] = home
    wanted = os.environ.get("COUNTERS", "memory,redis").split(",")
    modes = [("in-process counters", False), ("Redis counters", True)]
    for label, redis in [m for m in modes if ("redis" if m[1] else "memory") in wanted]:
        res, parts = uvloop.run(measure(redis))  # the server's loop
        base = statistics.median(res["master"])
        print(
            f"{label}: CPU µs per request (median of {ROUNDS} rounds of {N}, {INFLIGHT} in flight); "
            "vs master: difference of the medians, and median of the differences within a round"
        )
        for name, samples in res.items():
            med = statistics.median(samples)
            paired = statistics.median(x - m for x, m in zip(samples, res["master"], strict=True))
            print(
                f"  {name:14} {med:7.1f}   {med - base:+6.1f} ({(med / base - 1) * 100:+.1f} %)"
                f"   paired {paired:+6.1f}"
            )
            if os.environ.get("SAMPLES"):
                print("                 " + " ".join(f"{x:.0f}" for x in samples))
        if STAGES and not redis:  # with Redis, stages that wait count the others' CPU (see above)
            print_parts(parts)


if __name__ == "__main__":
    main()
