"""`make bench`: the gateway against direct calls to the same fake upstream (nginx serving recorded
OpenAI / Anthropic answers), driven by wrk. Prints requests/s, p50 / p99, added p50, gateway CPU µs per
request (utime + stime of its whole process tree from /proc) and RSS.

Env knobs: DUR (s, default 8), WARM (s, 2), CONCS ("1 64"), MODES ("json stream"), WORKERS (nproc),
PORT_BASE (18100: nginx on +1, +2, +4, the gateway on +40; move it to run two benches side by side),
SLOW_STREAMS (1000; 0 to skip), ROWS (subset of: direct gateway unique routed3 translate cached vkey
vkey-plain vkey-redis agent), OUT (bench/out). Row ``agent`` sends a 100 KB, 50-message conversation
whose last message is new every request (what Claude Code or Codex send: long contexts, one new turn).
Row ``unique`` sends a new last message every request (the
others repeat one request, so the trust scan's per-text memo answers their scans).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import accounts_bench
from procs import pin_gateway, pin_load_side, stat, tree

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = Path(os.environ.get("OUT", HERE / "out"))
DUR = int(os.environ.get("DUR", "8"))
WARM = int(os.environ.get("WARM", "2"))
CONCS = [int(c) for c in os.environ.get("CONCS", "1 64").split()]
MODES = os.environ.get("MODES", "json stream").split()
WORKERS = int(os.environ.get("WORKERS", str(os.cpu_count() or 2)))
SLOW_STREAMS = int(os.environ.get("SLOW_STREAMS", "1000"))
ROWS = os.environ.get("ROWS", "direct gateway unique agent routed3 translate cached vkey vkey-redis").split()
# PORT_BASE moves every port (two benches side by side): nginx on +1, +2, +4, the gateway on +40
PORT_BASE = int(os.environ.get("PORT_BASE", "18100"))
GW_PORT = PORT_BASE + 40
KEY = "sk-bench-0123456789abcdef"
TCK = os.sysconf("SC_CLK_TCK")
NGINX_PORTS = {"json": PORT_BASE + 1, "stream": PORT_BASE + 2, "slow": PORT_BASE + 4}


# ---- /proc accounting ---------------------------------------------------------------------------------


def cpu_seconds(root: int) -> float:
    total = 0
    for p in tree(root):
        try:
            total += sum(int(x) for x in stat(p)[11:15])
        except (OSError, IndexError):
            pass
    return total / TCK


def rss_mb(root: int) -> tuple[float, int]:
    rss, n = 0, 0
    for p in tree(root):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
            n += 1
        except OSError:
            pass
    return rss / 1024, n


def memory_mb(root: int) -> dict[str, float]:
    """RSS and PSS of the process tree. Workers fork from a supervisor that preloaded the serving code,
    so their RSS counts shared pages once per process; PSS (each shared page split among its sharers)
    sums to the memory really used."""
    rss, pss, n, worker_max = 0, 0, 0, 0
    for p in tree(root):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                fields = {k: int(v.split()[0]) for k, v in (ln.split(":", 1) for ln in f if ":" in ln)}
        except (OSError, ValueError):
            continue
        rss += fields.get("Rss", 0)
        pss += fields.get("Pss", 0)
        n += 1
        if p != root:
            worker_max = max(worker_max, fields.get("Rss", 0))
    return {"rss": rss / 1024, "pss": pss / 1024, "procs": n, "worker_rss_max": worker_max / 1024}


def settle(pids: list[int], limit: float = 20) -> None:
    """Wait until the measured processes are idle (a finished wrk run may leave work in flight)."""
    t0 = time.time()
    a = sum(cpu_seconds(p) for p in pids)
    while time.time() - t0 < limit:
        time.sleep(0.5)
        b = sum(cpu_seconds(p) for p in pids)
        if b - a < 0.03:
            return
        a = b


# ---- processes ----------------------------------------------------------------------------------------


def start_nginx() -> int:
    stale = OUT / "nginx.pid"
    if stale.exists():  # a previous run that did not finish: stop its nginx first
        try:
            os.kill(int(stale.read_text()), signal.SIGQUIT)
            time.sleep(0.5)
        except (ValueError, ProcessLookupError):
            pass
    conf = (
        (HERE / "nginx.conf.in").read_text().replace("@RUN@", str(OUT)).replace("@FAKE@", str(HERE / "fake"))
    )
    for name, port in NGINX_PORTS.items():
        conf = conf.replace(f"@PORT_{name.upper()}@", str(port))
    (OUT / "nginx.conf").write_text(conf)
    subprocess.run(["nginx", "-c", str(OUT / "nginx.conf")], check=True)
    time.sleep(0.5)
    return int((OUT / "nginx.pid").read_text())


def agent_body(turns: int = 50, chars: int = 2000) -> Path:
    """A coding agent's request: ``turns`` messages of ~``chars`` characters (user and assistant in
    turn, code and prose), ~100 KB; wrk's ``BENCH_UNIQUE`` makes its last message new each time."""
    path = OUT / "request-agent.json"
    if not path.exists():
        seed = json.loads((HERE / "request.json").read_text())["messages"]
        messages = []
        for i in range(turns):
            text = f"turn {i}: " + " ".join(m["content"] for m in seed)
            text += "\n```python\ndef handler(request):\n    return route(request)  # " + str(i) + "\n```\n"
            messages.append(
                {"role": "user" if (turns - i) % 2 else "assistant", "content": (text * 4)[:chars]}
            )
        path.write_text(json.dumps({"model": "MODEL", "messages": messages}, separators=(",", ":")))
    return path


def write_gateway_config() -> Path:
    from adaptive_gateway.config import hash_key

    anth = f"http://127.0.0.1:{NGINX_PORTS['json']}"
    oai_json, oai_sse = f"{anth}/v1", f"http://127.0.0.1:{NGINX_PORTS['stream']}/v1"
    cfg = f"""
server: {{request_log: true, request_log_file: "{OUT}/requests.log", reload_poll_seconds: 0}}
auth: {{mode: gateway, master_key_hash: "{hash_key(KEY)}"}}
providers:
  fake-json: {{kind: openai-compatible, base_url: "http://127.0.0.1:{NGINX_PORTS["json"]}/v1", api_key: sk-x,
              max_connections: 2048}}
  fake-sse: {{kind: openai-compatible, base_url: "http://127.0.0.1:{NGINX_PORTS["stream"]}/v1", api_key: sk-x,
             max_connections: 2048}}
  fake-slow: {{kind: openai-compatible, base_url: "http://127.0.0.1:{NGINX_PORTS["slow"]}/v1", api_key: sk-x,
              max_connections: 4096}}
  anth-json: {{kind: anthropic, base_url: "{anth}", api_key: sk-x, max_connections: 2048}}
  fake-json-2: {{kind: openai-compatible, base_url: "{oai_json}", api_key: sk-x, max_connections: 2048}}
  fake-json-3: {{kind: openai-compatible, base_url: "{oai_json}", api_key: sk-x, max_connections: 2048}}
  fake-sse-2: {{kind: openai-compatible, base_url: "{oai_sse}", api_key: sk-x, max_connections: 2048}}
  fake-sse-3: {{kind: openai-compatible, base_url: "{oai_sse}", api_key: sk-x, max_connections: 2048}}
  anth-sse: {{kind: anthropic, base_url: "http://127.0.0.1:{NGINX_PORTS["stream"]}", api_key: sk-x,
             max_connections: 2048}}
models:
  bench-json:
    deployments: [{{provider: fake-json, model: gpt-4o-mini, input_price: 0.15, output_price: 0.6}}]
  bench-stream:
    deployments: [{{provider: fake-sse, model: gpt-4o-mini, input_price: 0.15, output_price: 0.6}}]
  bench-slow: {{deployments: [{{provider: fake-slow, model: gpt-4o-mini}}]}}
  anth-json:
    deployments: [{{provider: anth-json, model: claude-3-5-haiku, input_price: 0.8, output_price: 4}}]
  anth-stream:
    deployments: [{{provider: anth-sse, model: claude-3-5-haiku, input_price: 0.8, output_price: 4}}]
  # routing overhead: three deployments (three providers on the same fake), breakers on (the default)
  routed3-json:
    deployments: [{{provider: fake-json, model: gpt-4o-mini, weight: 2}},
                  {{provider: fake-json-2, model: gpt-4o-mini}},
                  {{provider: fake-json-3, model: gpt-4o-mini}}]
  routed3-stream:
    deployments: [{{provider: fake-sse, model: gpt-4o-mini, weight: 2}},
                  {{provider: fake-sse-2, model: gpt-4o-mini}},
                  {{provider: fake-sse-3, model: gpt-4o-mini}}]
  # row `cached`: every request after the first is answered by the response cache (json and stream)
  bench-cached:
    deployments: [{{provider: fake-json, model: gpt-4o-mini, input_price: 0.15, output_price: 0.6}}]
# request.json asks for temperature 0.2, which the cache would answer: on for bench-cached only
cache: {{enabled: false, models: {{bench-cached: {{enabled: true}}}}}}
"""
    path = OUT / "gateway.yaml"
    path.write_text(cfg + accounts_bench.store_config(OUT))
    return path


def start_gateway(config: Path) -> int:
    exe = Path(sys.executable).parent / "adaptive-llm-gateway"
    log = (OUT / "gateway.log").open("wb")
    # a home of its own: the bench never touches (or trips over) the user's gateway home and pidfile
    env = {**os.environ, "ADAPTIVE_GATEWAY_HOME": str(OUT / "home")}
    proc = subprocess.Popen(
        [str(exe), "start", "--config", str(config), "--port", str(GW_PORT), "--workers", str(WORKERS)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )
    for _ in range(200):
        r = subprocess.run(
            [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                f"http://127.0.0.1:{GW_PORT}/health/live",
            ],
            capture_output=True,
            text=True,
        )
        if r.stdout == "200":
            time.sleep(0.5)
            pin_gateway(proc.pid)
            return proc.pid
        time.sleep(0.1)
    raise SystemExit("gateway did not start; see " + str(OUT / "gateway.log"))


# ---- load ---------------------------------------------------------------------------------------------

RESULT = re.compile(r"(\w+)=([\d.]+)")


def wrk(
    url: str,
    model: str,
    stream: bool,
    conns: int,
    seconds: int,
    auth: bool,
    key: str = KEY,
    unique: bool = False,
    body: Path = HERE / "request.json",
) -> dict[str, float]:
    env = {
        **os.environ,
        "BENCH_UNIQUE": "1" if unique else "0",
        "BENCH_BODY": str(body),
        "BENCH_MODEL": model,
        "BENCH_STREAM": "1" if stream else "0",
        "BENCH_HEADERS": f"Authorization: Bearer {key}" if auth else "",
    }
    threads = 1 if conns < 256 else 2
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{conns}",
        f"-d{seconds}s",
        "--timeout",
        "30s",
        "-s",
        str(HERE / "bench.lua"),
        url + "/v1/chat/completions",
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT")), "")
    return {k: float(v) for k, v in RESULT.findall(line)}


def measure(
    name: str,
    url: str,
    model: str,
    mode: str,
    conns: int,
    pid: int,
    auth: bool,
    key: str = KEY,
    unique: bool = False,
    body: Path = HERE / "request.json",
) -> dict[str, object]:
    stream = mode == "stream"
    settle([pid])
    wrk(url, model, stream, conns, WARM, auth, key, unique, body)
    settle([pid])
    c0 = cpu_seconds(pid)
    res = wrk(url, model, stream, conns, DUR, auth, key, unique, body)
    c1 = cpu_seconds(pid)
    reqs = res.get("requests", 0) or 1
    errors = sum(
        int(res.get(k, 0)) for k in ("non2xx", "connect_err", "read_err", "write_err", "timeout_err")
    )
    row = {
        "name": name,
        "mode": mode,
        "c": conns,
        "rps": res.get("rps", 0),
        "p50_ms": res.get("p50_us", 0) / 1000,
        "p99_ms": res.get("p99_us", 0) / 1000,
        "cpu_us": (c1 - c0) / reqs * 1e6,
        "errors": errors,
        "requests": int(reqs),
    }
    print(
        f"  {name:10} {mode:6} c={conns:<4} {row['rps']:>9.0f} req/s  p50 {row['p50_ms']:.2f} ms  "
        f"p99 {row['p99_ms']:.2f} ms  cpu {row['cpu_us']:.0f} µs/req  errors {errors}",
        flush=True,
    )
    return row


def slow_streams(pid: int) -> dict[str, object]:
    """SLOW_STREAMS concurrent streams, each throttled by nginx to last ~4 s, held through the gateway."""
    idle, _ = rss_mb(pid)
    peak = idle
    proc = subprocess.Popen(
        [
            "wrk",
            "-t2",
            f"-c{SLOW_STREAMS}",
            "-d12s",
            "--timeout",
            "30s",
            "-s",
            str(HERE / "bench.lua"),
            f"http://127.0.0.1:{GW_PORT}/v1/chat/completions",
        ],
        env={
            **os.environ,
            "BENCH_BODY": str(HERE / "request.json"),
            "BENCH_MODEL": "bench-slow",
            "BENCH_STREAM": "1",
            "BENCH_HEADERS": f"Authorization: Bearer {KEY}",
        },
        stdout=subprocess.PIPE,
        text=True,
    )
    while proc.poll() is None:
        peak = max(peak, rss_mb(pid)[0])
        time.sleep(0.25)
    out = proc.stdout.read() if proc.stdout else ""
    res = {
        k: float(v)
        for k, v in RESULT.findall(next((ln for ln in out.splitlines() if ln.startswith("RESULT")), ""))
    }
    errors = sum(
        int(res.get(k, 0)) for k in ("non2xx", "connect_err", "read_err", "write_err", "timeout_err")
    )
    row = {
        "streams": SLOW_STREAMS,
        "completed": int(res.get("requests", 0)),
        "errors": errors,
        "rss_idle_mb": round(idle, 1),
        "rss_peak_mb": round(peak, 1),
        "rss_growth_mb": round(peak - idle, 1),
    }
    print(f"  slow streams: {row}", flush=True)
    return row


def translation_available() -> bool:
    from adaptive_gateway.providers.registry import build_registry

    return "anthropic" in build_registry()


def main() -> None:
    for tool in ("nginx", "wrk", "curl"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"{tool} missing: run bench/run.sh (installs nginx and wrk from Debian packages)"
            )
    OUT.mkdir(parents=True, exist_ok=True)
    pin_load_side()
    nginx = start_nginx()
    gw = start_gateway(write_gateway_config())
    direct = "http://127.0.0.1:{}"
    gateway = f"http://127.0.0.1:{GW_PORT}"
    extra = accounts_bench.AccountsRows(
        ROWS, OUT, gateway, gw, KEY, OUT / "gateway.yaml", GW_PORT + 1, WORKERS
    )
    rows: list[dict[str, object]] = []
    try:
        idle = memory_mb(gw)
        idle_rss, procs = idle["rss"], int(idle["procs"])
        workers = max(procs - 1, 1)
        print(
            f"gateway: {WORKERS} worker(s), {procs} processes, idle: largest worker RSS "
            f"{idle['worker_rss_max']:.0f} MB; PSS {idle['pss']:.0f} MB in all = "
            f"{idle['pss'] / workers:.0f} MB per worker incl. the supervisor's share "
            f"(RSS summed over processes, shared pages counted in each: {idle_rss:.0f} MB)",
            flush=True,
        )
        for mode in MODES:
            for c in CONCS:
                if "direct" in ROWS:
                    rows.append(
                        measure(
                            "direct", direct.format(NGINX_PORTS[mode]), "gpt-4o-mini", mode, c, nginx, False
                        )
                    )
                if "gateway" in ROWS:
                    rows.append(measure("gateway", gateway, f"bench-{mode}", mode, c, gw, True))
                for name, url, pid, key in extra.targets(mode):
                    rows.append(measure(name, url, f"bench-{mode}", mode, c, pid, True, key))
                if "unique" in ROWS:  # every request a new last message: the trust scan memo never helps
                    rows.append(measure("unique", gateway, f"bench-{mode}", mode, c, gw, True, unique=True))
                if "agent" in ROWS:  # a long conversation, one new turn each request
                    rows.append(
                        measure(
                            "agent",
                            gateway,
                            f"bench-{mode}",
                            mode,
                            c,
                            gw,
                            True,
                            unique=True,
                            body=agent_body(),
                        )
                    )
                if "routed3" in ROWS:
                    rows.append(measure("3 deploys", gateway, f"routed3-{mode}", mode, c, gw, True))
                if "translate" in ROWS and translation_available():
                    rows.append(measure("oai->anth", gateway, f"anth-{mode}", mode, c, gw, True))
                if "cached" in ROWS:
                    rows.append(measure("cached", gateway, "bench-cached", mode, c, gw, True))
        peak_rss, _ = rss_mb(gw)
        slow = slow_streams(gw) if SLOW_STREAMS else None
    finally:
        os.killpg(os.getpgid(gw), signal.SIGTERM)
        extra.stop()
        os.kill(nginx, signal.SIGQUIT)
    summary = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "workers": WORKERS,
        "dur_s": DUR,
        "idle_rss_mb": round(idle_rss, 1),
        "idle_pss_mb": round(idle["pss"], 1),
        "idle_worker_rss_mb": round(idle["worker_rss_max"], 1),
        "peak_rss_mb_after_load": round(peak_rss, 1),
        "rows": rows,
        "slow_streams": slow,
        "load1": os.getloadavg()[0],
        "cpu": _cpu_model(),
    }
    (OUT / "results.json").write_text(json.dumps(summary, indent=2))
    print_table(summary)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def print_table(summary: dict[str, object]) -> None:
    rows = summary["rows"]
    assert isinstance(rows, list)
    base = {(r["mode"], r["c"]): r["p50_ms"] for r in rows if r["name"] == "direct"}
    print("\n| system | mode | c | req/s | p50 ms | p99 ms | added p50 ms | CPU µs/req | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        added = "-" if r["name"] == "direct" else f"{r['p50_ms'] - base.get((r['mode'], r['c']), 0):.2f}"
        print(
            f"| {r['name']} | {r['mode']} | {r['c']} | {r['rps']:.0f} | {r['p50_ms']:.2f} "
            f"| {r['p99_ms']:.2f} | {added} | {r['cpu_us']:.0f} | {r['errors']} |"
        )
    print(
        f"\nidle: largest worker RSS {summary['idle_worker_rss_mb']} MB, "
        f"PSS {summary['idle_pss_mb']} MB in all "
        f"({summary['workers']} workers + supervisor; RSS summed {summary['idle_rss_mb']} MB); "
        f"slow streams: {summary['slow_streams']}"
    )


if __name__ == "__main__":
    main()
