"""The recorder's decisions, in units: which requests may be recorded (trust level, blocks, stage errors,
unredacted secrets, per-key flags), the row it builds (redacted text, placeholders kept in the answer),
and the side capture of a streamed answer."""

from __future__ import annotations

from types import MappingProxyType, SimpleNamespace
from typing import Any

from adaptive_gateway.config import compile_config, parse_config
from adaptive_gateway.observability.sample import Sample
from adaptive_gateway.pipeline.context import Principal, RequestContext
from adaptive_gateway.providers.openai import OpenAIStreamParser
from adaptive_gateway.server.observability_recorder import Recorder, StreamText, placeholders_back
from adaptive_gateway.server.observability_sample import RESPONSE_NOTE, STAGE_NOTE
from adaptive_gateway.trust.levels import TrustLevel
from adaptive_gateway.types import ChatRequest, ChatResponse, Choice, ContentPart, Message

CONFIG = """
providers:
  cloud: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1"}
models:
  m: {deployments: [{provider: cloud, model: up}]}
observability: {recording: {enabled: true, max_level: internal%s}}
"""


def context(
    level: TrustLevel | None = TrustLevel.PUBLIC, keys: str = "all", **decision: Any
) -> RequestContext:
    text = CONFIG % (f", keys: {keys}" if keys != "all" else "")
    cfg = compile_config(parse_config(text, env={}), env={}, text=text)
    ctx = RequestContext("req_1", "openai_chat", cfg, {})
    ctx.principal = Principal("key_1", "virtual", "sk-agw-1234", "t1", roles=frozenset())
    msg = Message("user", [ContentPart("text", text="mail [[EMAIL_1]] now")])
    ctx.request = ChatRequest(model="m", messages=[msg])
    if level is not None:
        base = {"level": level, "verdict": None, "findings": {}, "redaction": None, "mapping": {}}
        ctx.notes["trust"] = SimpleNamespace(**(base | decision))
    return ctx


def recorder(flags: dict[str, bool] | None = None) -> Recorder:
    rec = Recorder(lambda: None)  # type: ignore[arg-type,return-value]
    rec.flags = flags or {}
    return rec


def test_only_classified_requests_at_or_below_the_level() -> None:
    rec = recorder()
    assert rec.allowed(context(TrustLevel.PUBLIC))
    assert rec.allowed(context(TrustLevel.INTERNAL))
    assert not rec.allowed(context(TrustLevel.CONFIDENTIAL))
    assert not rec.allowed(context(None))  # the trust stage did not classify it


def test_never_blocked_refused_or_unredacted_secrets() -> None:
    rec = recorder()
    assert not rec.allowed(context(verdict=SimpleNamespace(kind="block")))
    stage_error = context()
    stage_error.notes[STAGE_NOTE] = ("rate_limit_error", "rate_limit_exceeded")
    assert not rec.allowed(stage_error)
    assert not rec.allowed(context(findings={"secret.api_key": 1}))  # a level lowered by config
    redacted = SimpleNamespace(mode="placeholder", counts={"secret.api_key": 1})
    assert rec.allowed(context(findings={"secret.api_key": 1}, redaction=redacted))


def test_per_key_flags() -> None:
    assert not recorder({"key_1": False}).allowed(context())  # opted out
    assert not recorder().allowed(context(keys="opted_in"))
    assert recorder({"key_1": True}).allowed(context(keys="opted_in"))


def test_row_keeps_placeholders_and_no_values() -> None:
    email = "jane.doe@example.com"
    redaction = SimpleNamespace(mode="placeholder", counts={"pii.email": 1})
    ctx = context(redaction=redaction, mapping=MappingProxyType({"[[EMAIL_1]]": email}))
    answer = Message(
        "assistant", [ContentPart("text", text=f"I wrote to {email}.")]
    )  # restored for the client
    ctx.notes[RESPONSE_NOTE] = ChatResponse("id", "up", [Choice(0, answer, "stop")], None)
    s = Sample("openai_chat", "m", "m#0:cloud/up", "cloud", 200, 0.25, key="key_1", key_prefix="sk-agw-1234",
               tenant="t1", input_tokens=4, output_tokens=6, cost=0.0000021, trust_level="public",
               request_id="req_1", receipt_id="rc_1", trace_id="ab" * 16)  # fmt: skip
    row = recorder().row(ctx, s)
    assert row["messages"] == [{"role": "user", "text": "mail [[EMAIL_1]] now"}]
    assert row["response"] == "I wrote to [[EMAIL_1]]."
    assert email not in repr(row)
    assert row["redacted"] == {"mode": "placeholder", "counts": {"pii.email": 1}}
    assert (row["key_id"], row["key_prefix"], row["tenant_id"], row["receipt_id"]) == (
        "key_1", "sk-agw-1234", "t1", "rc_1",
    )  # fmt: skip
    assert row["cost_nano"] == 2100 and row["latency_ms"] == 250.0 and row["trace_id"] == "ab" * 16


def test_placeholders_back_longest_value_first() -> None:
    mapping = {"[[A_1]]": "ann", "[[A_2]]": "anna@x.io"}
    assert placeholders_back("anna@x.io and ann", mapping) == "[[A_2]] and [[A_1]]"


async def test_stream_text_is_read_on_the_side() -> None:
    head = b'data: {"id":"c","model":"up","choices":[{"index":0,'
    chunks = [
        head + b'"delta":{"content":"Hel"}}]}\n\n',
        head + b'"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\n',
        b"data: [DONE]\n\n",
    ]

    async def rest() -> Any:
        for c in chunks[1:]:
            yield c

    capture = StreamText(OpenAIStreamParser())
    seen = [c async for c in capture.tee(chunks[0], rest())]
    assert seen == chunks[1:]  # the client's bytes are untouched
    assert capture.text() == "Hello"


def test_a_failing_side_parser_only_stops_the_capture() -> None:
    class Boom:
        def feed(self, chunk: bytes) -> list[object]:
            raise ValueError("boom")

    capture = StreamText(Boom())  # type: ignore[arg-type]
    capture.feed(b"anything")
    capture.feed(b"more")
    assert capture.broken and capture.text() == ""
