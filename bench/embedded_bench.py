"""Embedded runtime bench: time to ready, time to first token and decode tokens/s of the bundled
SmolLM2 streaming straight from its llama.cpp child, plus MiniLM embedding latency and RSS.

    .venv/bin/python bench/embedded_bench.py

Env knobs: RUNS (5), TOKENS (128), CONC (4), THREADS (1), PARALLEL (4), EMBED (1; 0 to skip),
GATEWAY (1: also stream through a gateway to the same child, alternating runs; 0 to skip).
``stream_once`` takes any base URL so the gateway-versus-direct comparison can reuse it.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from adaptive_gateway.embedded import EmbeddedRuntime, bundled_model

RUNS = int(os.environ.get("RUNS", "5"))
TOKENS = int(os.environ.get("TOKENS", "128"))
CONC = int(os.environ.get("CONC", "4"))
THREADS = int(os.environ.get("THREADS", "1"))
PARALLEL = int(os.environ.get("PARALLEL", "4"))
EMBED = os.environ.get("EMBED", "1") != "0"
KEY = "bench-key"
PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


@dataclass(frozen=True, slots=True)
class StreamSample:
    ttft_s: float  # request sent -> first content chunk
    total_s: float
    tokens: int  # completion_tokens from the usage chunk
    prompt_tokens: int

    @property
    def decode_tps(self) -> float:
        """Tokens after the first one, per second of streaming after the first one."""
        return (self.tokens - 1) / max(self.total_s - self.ttft_s, 1e-9)


def stream_body(max_tokens: int, cache_prompt: bool = True) -> dict[str, Any]:
    return {
        "model": "local/smollm2-135m",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,  # llama.cpp extension: always decode max_tokens, so runs compare
        "stream": True,
        "stream_options": {"include_usage": True},
        "cache_prompt": cache_prompt,  # llama.cpp extension: False re-reads the whole prompt (cold TTFT)
    }


async def stream_once(
    session: aiohttp.ClientSession, base_url: str, headers: dict[str, str], cache_prompt: bool = True
) -> StreamSample:
    """One streamed chat completion; parses SSE lines as a client would."""
    start = time.perf_counter()
    first: float | None = None
    tokens = prompt_tokens = 0
    url = f"{base_url}/chat/completions"
    async with session.post(url, json=stream_body(TOKENS, cache_prompt), headers=headers) as resp:
        resp.raise_for_status()
        async for raw in resp.content:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter()
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
                prompt_tokens = chunk["usage"]["prompt_tokens"]
    end = time.perf_counter()
    return StreamSample((first or end) - start, end - start, tokens, prompt_tokens)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


async def bench_llm() -> dict[str, Any]:
    model = bundled_model()
    assert model is not None, "run `make install` first"
    runtime = EmbeddedRuntime(model.path, alias=model.name, threads=THREADS, parallel=PARALLEL, api_key=KEY)
    started = time.perf_counter()
    base_url = await runtime.ensure_started()
    ready_s = time.perf_counter() - started
    headers = {"Authorization": f"Bearer {KEY}"}
    try:
        # llama.cpp closes the connection after every streamed response (despite "Keep-Alive"), so a
        # pooled connection would fail on reuse: one connection per stream.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            await stream_once(session, base_url, headers)  # warm-up
            serial = [await stream_once(session, base_url, headers) for _ in range(RUNS)]
            cold = [await stream_once(session, base_url, headers, cache_prompt=False) for _ in range(RUNS)]
            t0 = time.perf_counter()
            burst = await asyncio.gather(*(stream_once(session, base_url, headers) for _ in range(CONC)))
            burst_s = time.perf_counter() - t0
        assert runtime.pid is not None
        child_rss = rss_mb(runtime.pid)
    finally:
        await runtime.stop()
    return {
        "ready_s": round(ready_s, 3),
        "ttft_ms_p50": round(median([s.ttft_s for s in serial]) * 1000, 1),
        "ttft_ms_p50_cold_prompt": round(median([s.ttft_s for s in cold]) * 1000, 1),
        "prompt_tokens": serial[0].prompt_tokens,
        "decode_tps_p50": round(median([s.decode_tps for s in serial]), 1),
        "tokens_per_run": serial[0].tokens,
        f"aggregate_tps_conc{CONC}": round(sum(s.tokens for s in burst) / burst_s, 1),
        f"ttft_ms_p50_conc{CONC}": round(median([s.ttft_s for s in burst]) * 1000, 1),
        "child_rss_mb": round(child_rss, 1),
        "threads": THREADS,
        "parallel": PARALLEL,
    }


def bench_embed() -> dict[str, Any]:
    from adaptive_gateway.embedded.minilm import MiniLMEmbedder

    before = rss_mb(os.getpid())
    t0 = time.perf_counter()
    embedder = MiniLMEmbedder().load()
    load_s = time.perf_counter() - t0
    sentence = ["The quick brown fox jumps over the lazy dog near the river bank."]
    embedder.embed(sentence)
    single = []
    for _ in range(30):
        t = time.perf_counter()
        embedder.embed(sentence)
        single.append(time.perf_counter() - t)
    batch = [f"sentence number {i} about one topic or another" for i in range(64)]
    t = time.perf_counter()
    embedder.embed(batch)
    per_item = (time.perf_counter() - t) / len(batch)
    return {
        "embed_load_s": round(load_s, 3),
        "embed_ms_p50_single": round(median(single) * 1000, 2),
        "embed_ms_per_sentence_batch64": round(per_item * 1000, 2),
        "embed_rss_added_mb": round(rss_mb(os.getpid()) - before, 1),
        "process_rss_mb": round(rss_mb(os.getpid()), 1),
    }


async def bench_gateway_overhead() -> dict[str, Any]:
    """The same child measured directly and through the gateway (an OpenAI-compatible provider pointing
    at it), alternating runs, so model speed and machine noise cancel out."""
    import sys
    import tempfile

    from adaptive_gateway.config import hash_key

    model = bundled_model()
    assert model is not None, "run `make install` first"
    runtime = EmbeddedRuntime(model.path, alias=model.name, threads=THREADS, parallel=PARALLEL, api_key=KEY)
    base_url = await runtime.ensure_started()
    gw_key, port = "sk-bench-embedded-0123", 18145
    tmp = Path(tempfile.mkdtemp())
    (tmp / "config.yaml").write_text(
        f"server: {{request_log: true, request_log_file: '{tmp}/requests.log', reload_poll_seconds: 0}}\n"
        f"auth: {{mode: gateway, master_key_hash: '{hash_key(gw_key)}'}}\n"
        f"providers: {{child: {{kind: openai-compatible, base_url: '{base_url}', api_key: {KEY},"
        " locality: local}}\n"
        "models: {local/smollm2-135m: {deployments: [{provider: child, model: local/smollm2-135m}]}}\n"
        "cache: {enabled: false}\n"  # temperature 0 would be answered from the cache after the first run
    )
    exe = Path(sys.executable).parent / "adaptive-llm-gateway"
    gw = await asyncio.create_subprocess_exec(
        str(exe),
        "start",
        "--config",
        str(tmp / "config.yaml"),
        "--port",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "ADAPTIVE_GATEWAY_HOME": str(tmp)},  # its own home (pidfile, store)
    )
    direct_h = {"Authorization": f"Bearer {KEY}"}
    gw_h = {"Authorization": f"Bearer {gw_key}"}
    gw_url = f"http://127.0.0.1:{port}/v1"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/health/live") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            await stream_once(session, base_url, direct_h)
            await stream_once(session, gw_url, gw_h)
            direct, via = [], []
            for _ in range(RUNS):
                direct.append(await stream_once(session, base_url, direct_h))
                via.append(await stream_once(session, gw_url, gw_h))
    finally:
        gw.terminate()
        await gw.wait()
        await runtime.stop()
    d_tps, g_tps = median([s.decode_tps for s in direct]), median([s.decode_tps for s in via])
    d_ttft, g_ttft = median([s.ttft_s for s in direct]), median([s.ttft_s for s in via])
    return {
        "direct_decode_tps_p50": round(d_tps, 1),
        "gateway_decode_tps_p50": round(g_tps, 1),
        "gateway_tps_overhead_pct": round((d_tps - g_tps) / d_tps * 100, 2),
        "direct_ttft_ms_p50": round(d_ttft * 1000, 1),
        "gateway_ttft_ms_p50": round(g_ttft * 1000, 1),
        "gateway_ttft_added_ms": round((g_ttft - d_ttft) * 1000, 2),
    }


def main() -> None:
    results = asyncio.run(bench_llm())
    if os.environ.get("GATEWAY", "1") != "0":
        results |= asyncio.run(bench_gateway_overhead())
    if EMBED:
        results |= bench_embed()
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
