"""``sample_of`` builds its Sample positionally (cheaper on every request): each field must still get
its own value, so a field added or moved in ``Sample`` without the same change there fails here."""

from __future__ import annotations

import dataclasses
import time
from types import SimpleNamespace

from adaptive_gateway.config import compile_config, parse_config
from adaptive_gateway.errors import Attempt
from adaptive_gateway.observability.clients import ClientNames
from adaptive_gateway.observability.sample import Sample
from adaptive_gateway.pipeline.context import Principal, RequestContext
from adaptive_gateway.server.observability_sample import sample_of
from adaptive_gateway.types import ChatRequest, Message, Usage

CONFIG = """
providers: {p: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1"}}
models: {m: {deployments: [{provider: p, model: up}]}}
"""


def test_every_field_gets_its_own_value() -> None:
    cfg = compile_config(parse_config(CONFIG, {}), {})
    ctx = RequestContext("req_42", "openai_chat", cfg, {"user-agent": "claude-cli/1.0.3 (external, cli)"})
    ctx.principal = Principal("key-7", "virtual", "sk-abc…", tenant="acme")
    ctx.request = ChatRequest(model="m", messages=[Message(role="user", content="hi")], stream=True)
    ctx.deployment = cfg.models["m"].deployments[0]
    ctx.usage, ctx.cost = Usage(11, 22), 0.5
    ctx.status, ctx.error = 502, "x" * 400
    ctx.attempts, ctx.fallbacks = [Attempt("m/p/a", "boom", 500), Attempt("m/p/b", "slow", None)], 1
    ctx.ended = ctx.started + 1.5
    ctx.first_byte_at = ctx.started + 0.25
    ctx.notes.update(
        {
            "trust": SimpleNamespace(
                level=SimpleNamespace(label="internal"), redaction=SimpleNamespace(counts={"email": 2})
            ),
            "cache": {"status": "miss", "hit": False},
            "obs.trace_id": "trace-1",
            "trust.receipt_id": "rc_1",
            "obs.upstream": [ctx.started + 0.1, ctx.started + 0.3, ctx.started + 1.1],
        }
    )
    before = time.time()
    s = sample_of(ctx, ClientNames())
    got = dataclasses.asdict(s)
    ts = got.pop("ts")
    assert before <= ts <= time.time()
    assert abs(got.pop("latency_s") - 1.5) < 1e-9
    assert abs(got.pop("ttft_s") - 0.25) < 1e-9
    assert abs(got.pop("tokens_per_s") - 22 / 0.8) < 1e-6  # output tokens over generation time
    assert got == {
        "route": "openai_chat",
        "model": "m",
        "deployment": ctx.deployment.id,
        "provider": "p",
        "status": 502,
        "key": "key-7",
        "key_prefix": "sk-abc…",
        "tenant": "acme",
        "client": ClientNames().name("claude-cli/1.0.3 (external, cli)"),
        "stream": True,
        "upstream_s": None,  # not ok: no upstream time
        "input_tokens": 11,
        "output_tokens": 22,
        "cost": 0.5,
        "retries": 1,  # three attempts in all, one of which a fallback
        "fallbacks": 1,
        "failed_attempts": [("m/p/a", 500), ("m/p/b", 0)],
        "rejection": None,
        "policy_block": None,
        "redactions": {"email": 2},
        "trust_level": "internal",
        "cache": "miss",
        "trace_id": "trace-1",
        "request_id": "req_42",
        "receipt_id": "rc_1",
        "error": "x" * 300,
    }
    assert {f.name for f in dataclasses.fields(Sample)} == set(got) | {
        "ts",
        "latency_s",
        "ttft_s",
        "tokens_per_s",
    }


def test_a_bare_request_gets_the_defaults() -> None:
    cfg = compile_config(parse_config(CONFIG, {}), {})
    ctx = RequestContext("req_1", "/v1/models", cfg, {})
    s = sample_of(ctx, ClientNames())
    defaults = Sample(
        "/v1/models", "unknown", "", "", 200, s.latency_s, ts=s.ts, client="unknown", request_id="req_1"
    )
    assert s == defaults
