"""Interleaved A/B runs: short wrk bursts alternate between the cases many times, so load drift from
other work on the machine hits every case alike (``make bench`` measures rows one after another, and on
a shared 2-core machine identical rows move by ±10-30 % between runs). CPU per request is each case's
gateway process tree, json c=64, the ``make bench`` nginx fake and gateway config.

    # gateway variants (name|ENV=value,...|extra YAML appended to the bench config), each its own gateway
    .venv/bin/python bench/interleaved.py variants 10 3 'off|ADAPTIVE_GATEWAY_OBSERVABILITY=off|' 'on||'
    # master key vs a key with budget + RPM + TPM, with in-process counters and with Redis counters
    .venv/bin/python bench/interleaved.py keys 8 3
    PLAIN=1 .venv/bin/python bench/interleaved.py keys 8 3   # and a key without limits
    PIN=1 WORKERS=1 .venv/bin/python bench/interleaved.py keys 10 3   # gateways on their own CPU (procs.py)
    # code A/B: a worktree of the older commit first on the path; MODEL=bench-cached for cache hits
    MODEL=bench-cached .venv/bin/python bench/interleaved.py variants 8 3 'old|PYTHONPATH=/tmp/b/src|' 'new||'

Arguments: BURSTS SECONDS (per case and burst). Output folder: OUT (default /tmp/agw-interleaved).
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
from pathlib import Path

os.environ.setdefault("OUT", "/tmp/agw-interleaved")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import accounts_bench
import bench

Case = tuple[str, str, int, str]  # name, gateway url, gateway pid, key
MODEL = os.environ.get("MODEL", "bench-json")  # bench-cached: the response cache's row
PLAIN = os.environ.get("PLAIN") == "1"  # keys: also a virtual key without limits (authentication alone)


Totals = dict[str, tuple[float, float, list[float]]]  # name -> (cpu seconds, requests, requests per burst)


def run(cases: list[Case], bursts: int, secs: int) -> Totals:
    """{name: (cpu seconds, requests, requests of each burst)} over the bursts."""
    cpu = dict.fromkeys((c[0] for c in cases), 0.0)
    per: dict[str, list[float]] = {name: [] for name, _, _, _ in cases}
    for _, url, _, key in cases:
        bench.wrk(url, MODEL, False, 64, 2, True, key)  # warm up
    for b in range(bursts):
        for name, url, pid, key in cases if b % 2 == 0 else list(reversed(cases)):
            c0 = bench.cpu_seconds(pid)
            res = bench.wrk(url, MODEL, False, 64, secs, True, key)
            cpu[name] += bench.cpu_seconds(pid) - c0
            per[name].append(res.get("requests", 0))
    return {name: (cpu[name], sum(per[name]), per[name]) for name in per}


def report(tot: Totals, seconds: int, base: dict[str, str]) -> None:
    """Each case's throughput as a share of its base over all bursts, and the median (and range) of the
    shares burst by burst: a burst and its base's burst ran next to each other, so load drift cancels."""
    for name, (cpu, reqs, per) in tot.items():
        ref_name = base.get(name, name)
        ref = tot[ref_name]
        line = (
            f"{name:14} {reqs / seconds:7.0f} req/s ({100 * reqs / (ref[1] or 1):5.1f} % of {ref_name})"
            f"  {cpu / max(reqs, 1) * 1e6:6.1f} µs/req"
        )
        if ref_name != name:
            shares = sorted(100 * x / y for x, y in zip(per, ref[2], strict=True) if y)
            if shares:
                line += (
                    f"  per burst: median {statistics.median(shares):5.1f} %"
                    f" (range {shares[0]:.1f}-{shares[-1]:.1f})"
                )
        print(line)


def variants(bursts: int, secs: int, specs: list[str]) -> None:
    root = bench.OUT
    root.mkdir(parents=True, exist_ok=True)
    bench.pin_load_side()
    nginx = bench.start_nginx()
    base = bench.write_gateway_config().read_text()
    started: list[Case] = []
    try:
        for i, spec in enumerate(specs):
            name, envs, extra = spec.split("|")
            bench.OUT = root / name  # its own home, store and log
            bench.OUT.mkdir(parents=True, exist_ok=True)
            text = base.replace(f"{root}/bench-store.db", f"{bench.OUT}/bench-store.db")
            cfg = bench.OUT / "gateway.yaml"
            cfg.write_text(text + ("\n" + extra + "\n" if extra else ""))
            saved = dict(os.environ)
            os.environ.update(kv.split("=", 1) for kv in envs.split(",") if kv)  # type: ignore[misc]
            bench.GW_PORT = 18140 + 10 * i
            try:
                started.append(
                    (name, f"http://127.0.0.1:{bench.GW_PORT}", bench.start_gateway(cfg), bench.KEY)
                )
            finally:
                os.environ.clear()
                os.environ.update(saved)
                bench.OUT = root
        first = started[0][0]
        report(run(started, bursts, secs), bursts * secs, {n: first for n, _, _, _ in started})
    finally:
        for _, _, pid, _ in started:
            os.killpg(os.getpgid(pid), signal.SIGTERM)
        os.kill(nginx, signal.SIGQUIT)


def keys(bursts: int, secs: int) -> None:
    bench.OUT.mkdir(parents=True, exist_ok=True)
    bench.pin_load_side()
    nginx = bench.start_nginx()
    cfg = bench.write_gateway_config()
    gw = bench.start_gateway(cfg)
    url = f"http://127.0.0.1:{bench.GW_PORT}"
    rows = accounts_bench.AccountsRows(
        ["vkey", "vkey-redis", *(["vkey-plain"] if PLAIN else [])],
        bench.OUT,
        url,
        gw,
        bench.KEY,
        cfg,
        bench.GW_PORT + 1,
        bench.WORKERS,
    )
    try:
        t = {name: (u, p, k) for name, u, p, k in rows.targets("json")}
        redis_url, redis_pid, _ = t["vkey-redis"]
        cases: list[Case] = [
            ("master", url, gw, bench.KEY),
            ("vkey", *t["vkey"]),
            *([("vkey-plain", *t["vkey-plain"])] if PLAIN else []),
            ("redis-master", redis_url, redis_pid, bench.KEY),
            ("vkey-redis", *t["vkey-redis"]),
        ]
        base = {"vkey": "master", "vkey-plain": "master", "vkey-redis": "redis-master"}
        report(run(cases, bursts, secs), bursts * secs, base)
    finally:
        rows.stop()
        os.killpg(os.getpgid(gw), signal.SIGTERM)
        os.kill(nginx, signal.SIGQUIT)


if __name__ == "__main__":
    mode, n, s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == "keys":
        keys(n, s)
    else:
        variants(n, s, sys.argv[4:])
