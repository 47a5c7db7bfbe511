"""The admission counters alone: admit + settle of a plan shaped like the stage bench's key (RPM and TPM
windows and a hard budget), 32 requests in flight, settlements batched as the Settler does. Reports our
process CPU per request for the in-process and the Redis backend, and Redis's own CPU per request (from
``INFO commandstats``; other clients of the same Redis running scripts at the same time inflate it).

    .venv/bin/python bench/accounts_counters_bench.py          # REDIS_URL=redis://... to choose the server
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ROUNDS, N, INFLIGHT = int(os.environ.get("ROUNDS", "5")), int(os.environ.get("N", "10000")), 32
FAR = 4_000_000_000.0


async def script_usec(client: object) -> int:
    """Microseconds Redis has spent in EVALSHA so far."""
    raw = await client.execute("INFO", "commandstats")  # type: ignore[attr-defined]
    for line in raw.decode().splitlines():
        if line.startswith("cmdstat_evalsha:"):
            return int(line.split("usec=")[1].split(",")[0])
    return 0


async def measure(redis: bool) -> tuple[list[float], list[float]]:
    from adaptive_gateway.state import AdmitPlan, BudgetOp, Settlement, WindowOp, make_counters
    from adaptive_gateway.state.resp import RespClient

    counters = make_counters(REDIS_URL if redis else None, f"agw-counters-bench-{uuid.uuid4().hex[:8]}:")
    info = RespClient(REDIS_URL) if redis else None
    pending: list[Settlement] = []
    drain: list[asyncio.Task[None]] = []
    rpm = WindowOp("w:key:k:r", 2_000_000_000, 1)
    seq = 0

    async def settle() -> None:
        while pending:
            batch = pending[:]
            pending.clear()
            await counters.settle(batch)

    async def one() -> None:
        nonlocal seq
        seq += 1
        tpm = WindowOp("w:key:k:t", 2_000_000_000, 300)
        budget = BudgetOp("b:key:k:all", 10**18, 1000, True, FAR)
        plan = AdmitPlan(f"bench-{seq}", 660.0, [rpm, tpm], [], [budget])
        res = await counters.admit(plan)
        assert res.ok, res
        settlement = Settlement(
            plan.lease_id, res.bucket, res.backend, [], [(tpm.key, -50)], [(budget.key, 500, FAR)]
        )
        pending.append(settlement)
        if not drain or drain[0].done():
            drain[:] = [asyncio.get_running_loop().create_task(settle())]

    async def run(n: int) -> None:
        async def worker() -> None:
            for _ in range(n // INFLIGHT):
                await one()

        await asyncio.gather(*[worker() for _ in range(INFLIGHT)])
        if drain:
            await drain[0]

    await run(2000)
    gc.collect()
    gc.freeze()
    ours, theirs = [], []
    for _ in range(ROUNDS):
        before = await script_usec(info) if info else 0
        t0 = time.process_time()
        await run(N)
        ours.append((time.process_time() - t0) / N * 1e6)
        if info:
            theirs.append((await script_usec(info) - before) / N)
    await counters.close()
    if info:
        await info.close()
    return ours, theirs


def main() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    for label, redis in (("in-process", False), ("Redis", True)):
        ours, theirs = uvloop.run(measure(redis))
        line = f"{label:10} admit + settle: {statistics.median(ours):5.1f} µs of our CPU per request"
        if theirs:
            line += f", {statistics.median(theirs):5.1f} µs of Redis's"
        print(line + f" (median of {ROUNDS} rounds of {N}, {INFLIGHT} in flight)")


if __name__ == "__main__":
    main()
