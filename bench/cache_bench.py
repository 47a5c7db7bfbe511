"""Response-cache cost in isolation: gateway CPU per request through the whole real app (every extension:
auth, trust, admission, cache, observability; the ASGI handler called in process, so the HTTP server's
own parsing is not counted, which `make bench` measures end to end), for

* ``exact hit (json, recalled)`` / ``(stream, recalled)``: the bench request answered from the in-process
  tier as a byte-identical repeat (cache/recall.py: no decode, no trust scan); ``(json, decoded)`` the
  same with the recall off (what a request written differently but meaning the same costs);
* ``miss + store``: a new prompt each time (key, lookup, store) against a canned in-process upstream;
* ``no cache``: the same model with the cache off, for reference;

then the semantic lookup: the MiniLM embedding of the bench prompt's last message (what dominates), the
index search over 1,000 and 20,000 vectors, and a whole semantic-hit request through the app.
CPU time of the event-loop thread (the request path; background writers are not counted), median of
ROUNDS rounds with the cases interleaved.

    .venv/bin/python bench/cache_bench.py      # N=3000 ROUNDS=5
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

import numpy as np
import orjson

HERE = Path(__file__).resolve().parent
N = int(os.environ.get("N", "3000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
KEY = "sk-bench-0123456789abcdef"
ANSWER = orjson.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "x",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "- timestamps per hop\n- reuse"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 180, "completion_tokens": 40, "total_tokens": 220},
})  # fmt: skip


def config() -> str:
    from adaptive_gateway.config import hash_key

    return f"""
auth: {{master_key_hash: "{hash_key(KEY)}"}}
server: {{request_log: false, reload_poll_seconds: 0}}
providers:
  p: {{kind: openai-compatible, base_url: "http://127.0.0.1:9/v1", locality: local,
      probe: {{enabled: false}}}}
models:
  cached: {{deployments: [{{provider: p, model: x, input_price: 0.15, output_price: 0.6}}]}}
  uncached: {{deployments: [{{provider: p, model: x}}]}}
  semantic: {{deployments: [{{provider: p, model: x}}]}}
cache: {{models: {{uncached: {{enabled: false}}, semantic: {{semantic: true}}}}}}
"""


class Canned:
    """Answers every upstream request with the same bytes, without I/O."""

    async def send(self, provider: Any, req: Any) -> Any:
        from adaptive_gateway.providers.upstream import UpstreamResponse

        return UpstreamResponse(200, {}, ANSWER)

    async def close(self) -> None:
        return None


async def call(app: Any, body: bytes) -> bytes:
    sent: list[bytes] = []
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if done:
            await asyncio.sleep(3600)
        done = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(msg: dict[str, Any]) -> None:
        if msg["type"] == "http.response.body":
            sent.append(msg.get("body", b""))

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "query_string": b"",
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"authorization", b"Bearer " + KEY.encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    await app(scope, receive, send)
    return b"".join(sent)


def body(model: str, stream: bool = False, last: str | None = None) -> bytes:
    data = orjson.loads((HERE / "request.json").read_bytes())
    data["model"], data["stream"] = model, stream
    if last is not None:
        data["messages"][-1]["content"] = last
    return orjson.dumps(data)


async def cpu_us(app: Any, bodies: list[bytes], recall: bool = True) -> float:
    gw = app.gateway
    kept, gw.recall = gw.recall, gw.recall if recall else None
    try:
        t0 = time.thread_time()
        for b in bodies:
            await call(app, b)
        return (time.thread_time() - t0) / len(bodies) * 1e6
    finally:
        gw.recall = kept


async def requests(app: Any) -> dict[str, float]:
    cases = {
        "exact hit (json, recalled)": lambda i: body("cached"),
        "exact hit (json, decoded)": lambda i: body("cached"),
        "exact hit (stream, recalled)": lambda i: body("cached", stream=True),
        "miss + store": lambda i: body("cached", last=f"variant {i} {time.time_ns()}"),
        "no cache (canned upstream)": lambda i: body("uncached"),
    }
    await call(app, body("cached"))  # the entry the hits find
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, make in cases.items():
            samples[name].append(await cpu_us(app, [make(i) for i in range(N)], "decoded" not in name))
    return {name: statistics.median(v) for name, v in samples.items()}


def openai_answer() -> Any:
    from adaptive_gateway.formats import openai_chat

    return openai_chat.passthrough_response(
        orjson.loads(ANSWER), ANSWER
    )  # as a same-format upstream gives it


async def stage_alone(app: Any) -> dict[str, float]:
    """The cache's own work on an exact hit: policy, key, lookup, a fresh copy of the answer (and its
    rendering), without auth, trust, admission or the HTTP layer."""
    from adaptive_gateway.cache.replay import response_events
    from adaptive_gateway.cache.service import RESPONSE_NOTE
    from adaptive_gateway.pipeline.context import Principal, RequestContext
    from adaptive_gateway.wire.openai_chat import OpenAIChatWire

    cache, wire, raw = app.extras["cache"], OpenAIChatWire(), orjson.loads(body("cached"))
    principal = Principal("master", "master")

    async def hit(render: str) -> None:
        ctx = RequestContext("req_bench", "openai_chat", app.gateway.config, {})
        ctx.principal, ctx.request = principal, wire.decode(raw, {})
        resp = await cache.lookup(ctx)
        assert resp is not None
        if render == "json":
            wire.render(resp, ctx.request)
        elif render == "stream":
            r = wire.stream_renderer(ctx.request, "chatcmpl-x")
            b"".join([r.render(ev) for ev in response_events(resp)]) + r.finish()

    answer = openai_answer()
    counter = iter(range(10**9))

    async def miss_store(render: str) -> None:
        ctx = RequestContext("req_bench", "openai_chat", app.gateway.config, {})
        ctx.principal, ctx.request = principal, wire.decode(raw, {})
        ctx.request.seed = next(counter)  # a new key each time
        assert await cache.lookup(ctx) is None
        ctx.notes[RESPONSE_NOTE] = answer
        cache.store(ctx)

    async def decode_only(render: str) -> None:
        RequestContext("req_bench", "openai_chat", app.gateway.config, {}).request = wire.decode(raw, {})

    out = {}
    for name, fn, render in (
        ("request decode (not the cache; subtracted below)", decode_only, ""),
        ("lookup", hit, ""),
        ("lookup + JSON render", hit, "json"),
        ("lookup + stream replay render", hit, "stream"),
        ("miss: lookup + store", miss_store, ""),
    ):
        samples = []
        for _ in range(ROUNDS):
            t0 = time.thread_time()
            for _ in range(N * 3):
                await fn(render)
            samples.append((time.thread_time() - t0) / (N * 3) * 1e6)
        out[name] = statistics.median(samples)
    base = out.pop("request decode (not the cache; subtracted below)")
    return {
        f"cache stage alone: {k} (µs, decode of {base:.1f} µs excluded)": v - base for k, v in out.items()
    }


async def semantic(app: Any) -> dict[str, float]:
    cache = app.extras["cache"]
    embedder = await app.extras["embedded"].embedder()
    prompt = orjson.loads(body("semantic"))["messages"][-1]["content"]
    embedder.embed_array([prompt])
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(20):
        embedder.embed_array([prompt])
    out = {
        "MiniLM embedding of the prompt (ms, wall)": (time.perf_counter() - t0) / 20 * 1000,
        "MiniLM embedding of the prompt (ms, process CPU)": (time.process_time() - c0) / 20 * 1000,
    }
    from adaptive_gateway.cache.semantic import SemanticIndex

    rng = np.random.default_rng(1)
    for size in (1000, 20000):
        idx = SemanticIndex(size)
        vecs = rng.standard_normal((size, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        for i, v in enumerate(vecs):
            idx.add("bucket", f"k{i}", v, "m", "s")
        t0 = time.perf_counter()
        for _ in range(200):
            idx.search("bucket", vecs[7], 0.95)
        out[f"index search, {size:,} vectors (ms)"] = (time.perf_counter() - t0) / 200 * 1000
    await call(app, body("semantic"))
    await cache.drain()
    paraphrase = body("semantic", last=prompt.replace("Summarise", "Summarize"))
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(20):
        await call(app, paraphrase)
    out["semantic hit through the app (ms, wall)"] = (time.perf_counter() - t0) / 20 * 1000
    # the embedding runs in a worker thread: all threads count here
    out["semantic hit through the app (ms, process CPU)"] = (time.process_time() - c0) / 20 * 1000
    assert cache.stats.semantic_hits >= 20, cache.stats
    return out


async def main() -> None:
    os.environ["ADAPTIVE_GATEWAY_HOME"] = tempfile.mkdtemp(prefix="agw-cache-bench-")
    from adaptive_gateway.config import compile_config, parse_config
    from adaptive_gateway.server.app import build_app

    app = build_app(compile_config(parse_config(config(), {}), {}))
    app.gateway.executor.upstream = Canned()  # type: ignore[assignment]
    await app.startup()
    gc.collect()
    gc.freeze()  # as the server does (server/runner.py): startup objects stay out of the collections
    gc.set_threshold(20_000, 20, 20)
    try:
        for name, us in (await requests(app)).items():
            print(f"{name:34} {us:8.1f} µs/req", flush=True)
        for name, us in (await stage_alone(app)).items():
            print(f"{name:74} {us:6.1f}", flush=True)
        if "--no-semantic" not in sys.argv:
            for name, value in (await semantic(app)).items():
                print(f"{name:54} {value:8.2f}", flush=True)
    finally:
        await app.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
