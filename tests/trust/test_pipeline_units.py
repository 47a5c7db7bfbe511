"""Units of the trust stage: one scan per request, redaction in place, restoring streams, eligibility,
per-key defaults, header parsing and the compiled-settings cache."""

from __future__ import annotations

import orjson
import pytest

from adaptive_gateway.config import compile_config, parse_config
from adaptive_gateway.errors import InvalidRequest
from adaptive_gateway.formats import openai_chat
from adaptive_gateway.ledger.consent_view import ConsentSnapshot
from adaptive_gateway.providers.openai import OpenAIStreamParser
from adaptive_gateway.server.trust_ext import forward_texts
from adaptive_gateway.server.trust_runtime import TrustRuntime
from adaptive_gateway.trust.content import redact_request, scan_request, scan_texts
from adaptive_gateway.trust.detectors import DetectorSet
from adaptive_gateway.trust.eligibility import make_veto, reachable
from adaptive_gateway.trust.levels import TrustLevel
from adaptive_gateway.trust.restore import RestoringParser, StreamCapture, restore_response
from adaptive_gateway.trust.settings import compile_trust
from adaptive_gateway.trust.stage import context_sources, header_level
from adaptive_gateway.types import ChatRequest, ContentPart, Message, StreamFinish, TextDelta, ToolCall

DETECTORS = DetectorSet()
EMAIL = "jane.doe@example.com"

CONFIG = """
providers:
  cloud: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1"}
  strict: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1", max_trust: public}
  box: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1", locality: local, max_trust: confidential}
models:
  a: {deployments: [{provider: cloud, model: m}], fallbacks: [b], context_fallback: c}
  b: {deployments: [{provider: box, model: m}]}
  c: {deployments: [{provider: strict, model: m}]}
  s: {split: {a: 1, b: 1}}
"""


def _compiled(extra: str = ""):  # type: ignore[no-untyped-def]
    text = CONFIG + extra
    return compile_config(parse_config(text, env={}), env={}, text=text)


def test_one_scan_maps_findings_back_to_each_text() -> None:
    req = openai_chat.decode_request(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": f"mail {EMAIL}"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": f'{{"to": "{EMAIL}"}}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sent to +1 415 555 2671"},
            ],
        }
    )
    scan = scan_request(DETECTORS, req)
    assert scan.counts == {"pii.email": 2, "pii.phone": 1}
    for i, found in scan.per_text.items():
        for f in found:
            assert scan.texts[i][f.start : f.end] in (EMAIL, "+1 415 555 2671")


def test_no_finding_spans_two_texts() -> None:
    assert scan_texts(DETECTORS, ["mail jane.doe@", "example.com"], []).findings == []


def test_redaction_rewrites_messages_tool_calls_and_the_passthrough_body() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": f"mail {EMAIL}"},
            {
                "role": "assistant",
                "content": "ok",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": EMAIL}}
                ],
            },
        ],
        "metadata": {"note": f"also {EMAIL}"},
    }
    req = openai_chat.decode_request(body)
    req.raw = body
    result = redact_request(req, scan_request(DETECTORS, req), "placeholder", DETECTORS)
    assert dict(result.mapping) == {"[[EMAIL_1]]": EMAIL}
    assert req.messages[0].text() == "mail [[EMAIL_1]]"
    assert req.messages[1].tool_calls[0].arguments == "[[EMAIL_1]]"
    assert req.raw is body and EMAIL not in orjson.dumps(body).decode()  # unscanned fields too
    assert EMAIL not in orjson.dumps(openai_chat.encode_request(req, "up")).decode()


def test_a_value_split_across_raw_strings_drops_the_passthrough_body() -> None:
    raw = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "mail jane.doe@"},
                    {"type": "text", "text": "example.com"},
                ],
            }
        ]
    }
    req = ChatRequest("m", [Message("user", [ContentPart("text", f"mail {EMAIL}")])], raw=raw)
    redact_request(req, scan_request(DETECTORS, req), "mask", DETECTORS)
    assert req.raw is None
    assert req.messages[0].text() == "mail [REDACTED_EMAIL]"


def _sse(*deltas: str) -> bytes:
    chunks = [{"id": "x", "choices": [{"index": 0, "delta": {"content": d}}]} for d in deltas]
    chunks.append({"id": "x", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def test_stream_restorer_handles_a_placeholder_split_anywhere() -> None:
    data = _sse("Hi [[EM", "AIL_1]], and [[EMAIL_1", "]] again [[NOT_1]]")
    mapping = {"[[EMAIL_1]]": EMAIL}
    expected = f"Hi {EMAIL}, and {EMAIL} again [[NOT_1]]"
    for cut in range(1, len(data)):
        capture = StreamCapture()
        parser = RestoringParser(OpenAIStreamParser(), mapping, capture)
        events = parser.feed(data[:cut]) + parser.feed(data[cut:]) + parser.close()
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        assert text == expected, cut
        finish = [i for i, e in enumerate(events) if isinstance(e, StreamFinish)]
        assert finish and all(not isinstance(e, TextDelta) for e in events[finish[0] :])
        assert capture.message(0)["content"] == expected and capture.finish == {0: "stop"}


def test_restore_response_rewrites_a_passthrough_body_and_its_bytes() -> None:
    upstream = {
        "id": "c",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "to [[EMAIL_1]]"},
                "finish_reason": "stop",
            }
        ],
    }
    resp = openai_chat.passthrough_response(upstream, orjson.dumps(upstream))
    restore_response(resp, {"[[EMAIL_1]]": EMAIL})
    assert resp.raw_bytes is not None and EMAIL in resp.raw_bytes.decode()
    decoded = openai_chat.decode_response(orjson.loads(resp.raw_bytes))
    assert decoded.choices[0].message.text() == f"to {EMAIL}"


def test_tool_call_arguments_are_restored_in_responses() -> None:
    resp = openai_chat.decode_response(
        {
            "id": "c",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "t",
                                "type": "function",
                                "function": {"name": "send", "arguments": '{"to": "[[EMAIL_1]]"}'},
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
        }
    )
    restore_response(resp, {"[[EMAIL_1]]": EMAIL})
    assert resp.choices[0].message.tool_calls[0] == ToolCall("t", "send", f'{{"to": "{EMAIL}"}}')


def _snapshot(
    granted: set[str] = frozenset(), revoked: set[str] = frozenset(), ok: bool = True
) -> ConsentSnapshot:  # type: ignore[assignment]
    return ConsentSnapshot(frozenset(granted), frozenset(revoked), ok)


def test_eligibility_rules() -> None:
    config = _compiled()
    settings = compile_trust(config.source.trust, config.source.providers)
    cloud, box, strict = (config.models[n].deployments[0] for n in ("a", "b", "c"))

    def veto(level: TrustLevel, **snap: object) -> list[str | None]:
        check = make_veto(settings, _snapshot(**snap), level)  # type: ignore[arg-type]
        return [check(d) for d in (cloud, box, strict)]

    assert veto(TrustLevel.PUBLIC) == [None, None, None]
    internal = veto(TrustLevel.INTERNAL)
    assert internal[:2] == [None, None] and "maximum public" in str(internal[2])  # providers.strict.max_trust
    confidential = veto(TrustLevel.CONFIDENTIAL)
    assert "exceeds" in str(confidential[0]) and confidential[1] is None
    secret = veto(TrustLevel.SECRET)
    assert "box's maximum confidential" in str(secret[1])  # a local provider's own maximum
    assert veto(TrustLevel.CONFIDENTIAL, granted={"provider:cloud:secret"})[0] is None  # higher covers lower
    assert "revoked" in str(veto(TrustLevel.PUBLIC, revoked={"provider:cloud"})[0])
    assert "verification" in str(veto(TrustLevel.PUBLIC, ok=False)[0])
    # auto: once the ledger holds provider decisions, every hosted provider needs a grant
    auto = veto(TrustLevel.PUBLIC, granted={"provider:box"})
    assert "no consent on record for hosted provider cloud" in str(auto[0]) and auto[1] is None
    assert veto(TrustLevel.PUBLIC, granted={"provider:box", "provider:cloud:internal"})[0] is None
    # a level grant alone is not a provider decision: other hosted providers need no grant yet
    assert not _snapshot(granted={"provider:strict:secret"}).provider_entries
    assert veto(TrustLevel.PUBLIC, granted={"provider:strict:secret"})[0] is None


def test_route_local_action_vetoes_hosted_below_its_maximum() -> None:
    config = _compiled("trust: {actions: {internal: route-local}}")
    settings = compile_trust(config.source.trust, config.source.providers)
    check = make_veto(settings, _snapshot(), TrustLevel.INTERNAL)
    assert "routes internal requests to local" in str(check(config.models["a"].deployments[0]))


def test_reachable_covers_splits_fallbacks_and_the_context_fallback() -> None:
    config = _compiled()
    ids = {d.provider.name for d in reachable(config, config.models["s"])}
    assert ids == {"cloud", "box", "strict"}


def test_principal_defaults() -> None:
    config = _compiled(
        "trust: {default_level: internal, keys: {k1: {level: secret, record_runs: true}}, "
        "tenants: {t: {level: confidential, may_lower: true}}}"
    )
    settings = compile_trust(config.source.trust, config.source.providers)
    d = settings.principal_defaults("k1", "t", None, admin=False)
    assert (d.level, d.may_lower, d.record_runs, d.source) == (TrustLevel.SECRET, True, True, "trust.keys.k1")
    d = settings.principal_defaults("other", None, "confidential", admin=True)
    assert (d.level, d.may_lower, d.record_runs) == (TrustLevel.CONFIDENTIAL, True, False)
    assert settings.principal_defaults(None, None, None, admin=False).level == TrustLevel.INTERNAL
    # asked once per request: remembered per caller, and each caller's own answer
    again = settings.principal_defaults("other", None, "confidential", admin=True)
    assert again is d and again.reason == "default: confidential (the key's trust level)"
    lower = settings.principal_defaults("other", None, "public", admin=True)
    assert (lower.level, lower.source) == (TrustLevel.PUBLIC, "the key's trust level")
    assert settings.principal_defaults("other", None, "confidential", admin=False).may_lower is False


def test_headers() -> None:
    assert header_level({"x-trust-level": " Secret "}) == TrustLevel.SECRET
    assert header_level({}) is None
    with pytest.raises(InvalidRequest, match="valid values"):
        header_level({"x-trust-level": "classified"})
    tags = context_sources(
        {"x-context-sources": "file:a=public, memory:x=secret,"}, {"trust.sources": {"mcp:y": "internal"}}
    )
    assert tags == {"file:a": TrustLevel.PUBLIC, "memory:x": TrustLevel.SECRET, "mcp:y": TrustLevel.INTERNAL}
    with pytest.raises(InvalidRequest, match="x-context-sources"):
        context_sources({"x-context-sources": "=secret"}, {})


def test_forward_texts() -> None:
    assert forward_texts({"input": ["a", 1, "b"], "prompt": "c"}) == ["a", "b", "c"]
    assert forward_texts({"input": [[1, 2]]}) == []


def test_settings_are_compiled_once_per_config() -> None:
    from pathlib import Path

    first, second = _compiled(), _compiled("trust: {redact_mode: mask}")
    runtime = TrustRuntime(Path("/nonexistent"), lambda: first)
    a = runtime.settings_for(first)
    assert runtime.settings_for(first) is a and runtime.settings_for(first).detectors is a.detectors
    b = runtime.settings_for(second)
    assert b is not a and b.rules.redact_mode == "mask" and b.version != a.version
    assert runtime.settings_for(first) is a
