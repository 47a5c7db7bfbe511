"""Machine instructions per request, counted by valgrind's callgrind: the same number on a fast or a slow
VM, with or without other load (runs of the same code agree to ~0.1 % back to back, within ~1 % across
invocations: GC and write-behind timing), so a change of ~1 % is visible in a few runs, where
wall-clock and CPU-time figures on this shared 2-core VM move by 10-30 % between runs
(docs/benchmarks.md). Use it to A/B a code change; use ``make bench`` for what a client sees.

Each case runs the real app in process (every extension; no HTTP server, an upstream that answers
canned bytes without I/O, as in ``bench/cache_bench.py``), warms up, then counts N requests only
(instrumentation is switched on and off around them with ``callgrind_control``):

* ``hit``: a recalled exact cache hit (the ``cached`` row of ``make bench``);
* ``master``: a proxied request with the master key (model ``uncached``);
* ``keyed``: the same with a virtual key with a budget, an RPM and a TPM limit, on the in-process
  counters (``make bench``'s ``vkey`` row); ``keyed / master`` predicts issue 6's throughput ratio.

``INFLIGHT`` (default 1) runs the requests that many at a time. There is no Redis case on purpose:
under valgrind the process runs ~50x slower while Redis does not, so the counters see a request rate
~50x lower than a real server's (fewer admissions per script call, smaller blocks), and the count
(1.1-1.2 M instructions for the keyed request, tried) overstates that path; the interleaved wrk runs
(``bench/interleaved.py keys``) measure it.

    .venv/bin/python bench/instructions.py                  # every case, N=400
    CASES="master keyed" N=300 .venv/bin/python bench/instructions.py
    # code A/B: an older tree first on the path
    PYTHONPATH=/tmp/base/src .venv/bin/python bench/instructions.py

OpenSSL's SHA-256 runs its plain code under valgrind (no SHA extensions), so hashing counts several
times what it costs on the CPU: compare the same case across code versions, not with timings.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
N = int(os.environ.get("N", "400"))
CASES = os.environ.get("CASES", "hit master keyed").split()
INFLIGHT = int(os.environ.get("INFLIGHT", "1"))  # requests in flight (N is rounded down to a multiple)
LIMITS = {"rpm": 2_000_000_000, "tpm": 2_000_000_000, "budget_usd": 1e9, "budget_period": "month"}


# ---- the child: the app in process, paused before and after the counted requests ------------------------


def _pause(flag: Path, name: str) -> None:
    (flag.parent / f"{flag.name}.{name}").touch()
    go = flag.parent / f"{flag.name}.go"
    while not go.exists():
        time.sleep(0.05)
    go.unlink()


async def _child(case: str, n: int, flag: Path) -> None:
    sys.path.insert(0, str(HERE))
    import cache_bench as cb

    from adaptive_gateway.accounts import service
    from adaptive_gateway.accounts.admission import Admission
    from adaptive_gateway.accounts.schemas import KeyCreate
    from adaptive_gateway.config import compile_config, parse_config
    from adaptive_gateway.server.app import build_app

    os.environ["ADAPTIVE_GATEWAY_HOME"] = tempfile.mkdtemp(prefix="agw-instructions-")
    app = build_app(compile_config(parse_config(cb.config(), {}), {}))
    app.gateway.executor.upstream = cb.Canned()  # type: ignore[assignment]
    await app.startup()
    if case == "keyed":
        acc = next(s for s in app.gateway.stages if isinstance(s, Admission)).acc
        assert acc.store is not None
        async with acc.store.session() as session:
            created = await service.create_key(session, service.SYSTEM, KeyCreate(name="bench", **LIMITS))
        await acc.reload_table()
        cb.KEY = created.key
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)  # as server/runner.py does
    body = cb.body("cached" if case == "hit" else "uncached")
    for _ in range(300):
        out = await cb.call(app, body)
    assert b'"choices"' in out, out[:300]

    async def worker(count: int) -> None:
        for _ in range(count):
            await cb.call(app, body)

    _pause(flag, "ready")
    await asyncio.gather(*[worker(n // INFLIGHT) for _ in range(INFLIGHT)])
    _pause(flag, "done")
    await app.shutdown()


# ---- the driver -----------------------------------------------------------------------------------------


def _wait_for(path: Path, proc: subprocess.Popen[bytes]) -> None:
    while not path.exists():
        if proc.poll() is not None:
            raise SystemExit(f"the measured process ended early (exit {proc.returncode})")
        time.sleep(0.2)


def count(case: str, n: int, out: Path) -> tuple[int, int]:
    """Instructions of ``n`` requests of ``case``: the event loop's thread, and every thread (the
    write-behind's SQLite thread too, whose batches vary with timing: +-0.5 %)."""
    flag = out / f"flag-{case}"
    data = out / f"{case}.callgrind"
    cmd = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
        f"--callgrind-out-file={data}",
        sys.executable, __file__, "--child", case, str(n), str(flag),
    ]  # fmt: skip
    with (out / f"{case}.log").open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        for state in ("on", "off"):
            marker = flag.parent / f"{flag.name}.{'ready' if state == 'on' else 'done'}"
            _wait_for(marker, proc)
            subprocess.run(["callgrind_control", "-i", state, str(proc.pid)], check=True, capture_output=True)
            marker.unlink()
            (flag.parent / f"{flag.name}.go").touch()
        if proc.wait() != 0:
            raise SystemExit(f"{case}: the measured process failed, see {out / (case + '.log')}")
    counts = []
    for part in sorted(out.glob(f"{data.name}-*")):  # one file per thread, the event loop's first
        totals = subprocess.run(["callgrind_annotate", str(part)], capture_output=True, text=True).stdout
        found = re.search(r"([\d,]+) \([ \d.]+%\)\s+PROGRAM TOTALS", totals)
        counts.append(int(found.group(1).replace(",", "")) if found else 0)
    if not counts:
        raise SystemExit(f"{case}: no callgrind output in {out}")
    return counts[0], sum(counts)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        asyncio.run(_child(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])))
        return
    out = Path(os.environ.get("OUT", tempfile.mkdtemp(prefix="agw-instructions-")))
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for case in CASES:
        n = N // INFLIGHT * INFLIGHT
        loop, every = count(case, n, out)
        results[case] = loop / n
        print(
            f"{case:8} {loop / n:10,.0f} instructions per request in the event loop's thread"
            f" ({every / n:,.0f} in all threads)",
            flush=True,
        )
    if "master" in results and "keyed" in results:
        share = 100 * results["master"] / results["keyed"]
        print(f"keyed / master: {share:.1f} % of the master key's throughput (in process)")
    print(f"(callgrind files in {out})")


if __name__ == "__main__":
    main()
