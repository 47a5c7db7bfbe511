"""Repeats answered before decoding (cache/recall.py): a byte-identical request from the same caller with
the same headers skips the decode, the trust scan and the cache key, and still gets admission (rate
limits), a receipt, a usage row and the same answer. Through HTTP with the real app and the fake OpenAI
upstream; the memo's own rules as units."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from adaptive_gateway.cache.entry import Entry, encode_response
from adaptive_gateway.cache.recall import AnswerTemplate, RecallMemo
from adaptive_gateway.cache.replay import stream_body
from adaptive_gateway.cache.service import TEMPLATE_MAX_BYTES
from adaptive_gateway.config import compile_config, parse_config
from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.pipeline.context import Principal, RequestContext
from adaptive_gateway.server.trust_receipts import PER_REQUEST
from adaptive_gateway.trust.restore import restore_response
from adaptive_gateway.types import ChatRequest, ChatResponse, Choice, ContentPart, Message, Usage
from adaptive_gateway.wire.anthropic import AnthropicMessagesWire
from adaptive_gateway.wire.gemini import GeminiWire
from adaptive_gateway.wire.openai_chat import OpenAIChatWire
from adaptive_gateway.wire.openai_responses import OpenAIResponsesWire
from tests.cache.support import (
    ADMIN,
    CHAT,
    HTTP,
    bearer,
    cache_of,
    config,
    create_key,
    eventually,
    stored,
    text_of,
)
from tests.support.gateway import MASTER_KEY, GatewayThread

BODY = orjson.dumps(CHAT)  # the exact bytes every repeat sends


@pytest.fixture
def gw(fake_openai: FakeUpstream, tmp_path: Path) -> Iterator[GatewayThread]:
    with GatewayThread(config(fake_openai.url), tmp_path) as gateway:
        yield gateway


def send(gw: GatewayThread, key: str = MASTER_KEY, body: bytes = BODY, **headers: str) -> httpx.Response:
    return HTTP.post(
        gw.url + "/v1/chat/completions",
        content=body,
        headers={**bearer(key), "content-type": "application/json", **headers},
    )


def recalled(gw: GatewayThread) -> int:
    stats = HTTP.get(gw.url + "/api/cache?limit=0", headers=ADMIN).json()["stats"]
    count: int = stats["recalled"]
    return count


def receipt(gw: GatewayThread, resp: httpx.Response) -> dict[str, Any]:
    found: dict[str, Any] = HTTP.get(
        gw.url + "/api/receipts/" + resp.headers["x-adaptive-receipt"], headers=ADMIN
    ).json()
    return found


def warm(gw: GatewayThread, key: str = MASTER_KEY) -> str:
    """A miss (stored), then a hit decoded the full way (remembered): the answer text."""
    before = cache_of(gw).stats.stored
    first = send(gw, key)
    assert first.headers["x-cache"] == "miss"
    stored(gw, before + 1)
    second = send(gw, key)
    assert second.headers["x-cache"] == "hit"
    return text_of(first)


def test_a_repeat_is_recalled_and_leaves_the_same_evidence(
    gw: GatewayThread, fake_openai: FakeUpstream
) -> None:
    key = create_key(gw)
    answer = warm(gw, key)
    assert recalled(gw) == 0
    repeats = [send(gw, key) for _ in range(3)]
    assert recalled(gw) == 3
    assert len(fake_openai.received) == 1  # only the first went upstream
    for resp in repeats:
        assert resp.headers["x-cache"] == "hit" and text_of(resp) == answer
        assert float(resp.headers["x-adaptive-cost-usd"]) == 0
        assert resp.json()["id"] == "chatcmpl-" + resp.headers["x-request-id"]
    assert len({r.headers["x-adaptive-receipt"] for r in repeats}) == 3
    rec = receipt(gw, repeats[-1])
    assert rec["cache"]["status"] == "hit" and rec["cache"]["served"].startswith("served from cache")
    assert rec["trust"]["level"] == "public" and rec["outcome"] == "success"
    assert rec["request_id"] == repeats[-1].headers["x-request-id"]
    assert rec["content"]["hashes"] and rec["model"] == "gpt-test"
    assert rec["principal"]["kind"] == "virtual"
    # the route reflector counts the repeats under the hit's route and task type, like the decoded hit
    reflector = next(f.__self__ for f in gw.app.gateway.finishers if getattr(f, "__name__", "") == "observe")
    assert reflector.pending()[("gpt-test", "-", "chat")].requests == 4  # the decoded hit and 3 repeats

    # a usage row for every request, the recalled ones included (hits at no cost)
    def usage() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = HTTP.get(
            gw.url + "/api/usage", params={"group_by": "day"}, headers=ADMIN
        ).json()["rows"]
        return rows

    assert eventually(lambda: bool(usage()) and usage()[0]["requests"] == 5), usage()


def test_a_recalled_repeat_gets_the_receipt_the_full_path_builds(gw: GatewayThread) -> None:
    """Its receipt JSON is made from a template kept with the recall record (server/trust_receipts.py):
    every field but the per-request ones equals the receipt of the hit decoded the full way, and the
    per-request values (a client's own request id included, with characters JSON must escape) are its own."""
    key = create_key(gw)
    before = cache_of(gw).stats.stored
    assert send(gw, key).headers["x-cache"] == "miss"
    stored(gw, before + 1)
    decoded = send(gw, key)  # a hit decoded the full way (remembered): the reference
    assert decoded.headers["x-cache"] == "hit" and recalled(gw) == 0
    full = receipt(gw, decoded)
    odd_id = 'mine "quoted" \\ </script>'
    repeats = [send(gw, key, **{"x-request-id": odd_id}), send(gw, key), send(gw, key)]
    assert recalled(gw) == 3
    for resp in repeats:
        got = receipt(gw, resp)
        assert got["id"] == resp.headers["x-adaptive-receipt"] and got["id"] != full["id"]
        assert got["request_id"] == resp.headers["x-request-id"]
        assert got["cache"]["status"] == "hit" and got["latency_ms"] >= 0
        # the answer: the first repeat's bytes (cache/recall.py AnswerTemplate) with its own id and time
        answer = resp.json()
        assert answer.pop("id") == "chatcmpl-" + resp.headers["x-request-id"]
        assert answer.pop("created") >= decoded.json()["created"]
        assert answer == {k: v for k, v in decoded.json().items() if k not in ("id", "created")}
        assert {k: v for k, v in got.items() if k not in PER_REQUEST} == {
            k: v for k, v in full.items() if k not in PER_REQUEST
        }
    assert receipt(gw, repeats[0])["request_id"] == odd_id


def test_a_recalled_repeat_still_counts_against_the_rate_limit(gw: GatewayThread) -> None:
    key = create_key(gw, rpm=4)
    warm(gw, key)  # two requests
    assert send(gw, key).headers["x-cache"] == "hit"  # recalled: the third
    assert recalled(gw) == 1
    assert send(gw, key).headers["x-ratelimit-remaining-requests"] == "0"
    limited = send(gw, key)
    assert limited.status_code == 429 and limited.json()["error"]["type"] == "rate_limit_error"


def test_only_the_same_bytes_caller_and_headers_are_recalled(gw: GatewayThread) -> None:
    warm(gw)
    # request ids and trace context differ on every request: still a repeat
    assert send(gw, **{"x-request-id": "mine-1", "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"})
    assert recalled(gw) == 1
    # the same request written differently: a hit through the canonical key, not a recall
    spaced = send(gw, body=orjson.dumps(CHAT, option=orjson.OPT_INDENT_2))
    assert spaced.headers["x-cache"] == "hit" and recalled(gw) == 1
    # a header that changes the cache's decision: refresh goes upstream
    refreshed = send(gw, **{"cache-control": "no-cache"})
    assert refreshed.headers["x-cache"] != "hit" and recalled(gw) == 1
    # another caller (its own scope): never this caller's recall
    other = create_key(gw)
    assert send(gw, other).headers["x-cache"] == "miss" and recalled(gw) == 1


def test_a_large_answer_is_recalled_without_templates(gw: GatewayThread, fake_openai: FakeUpstream) -> None:
    """An answer over ``TEMPLATE_MAX_BYTES`` is decoded and rendered per repeat (the memo keeps no
    copies of it): recalled all the same, each repeat with its own id, in JSON and as a stream."""
    fake_openai.knobs = Knobs(text="long answer " * (TEMPLATE_MAX_BYTES // 10))
    answer = warm(gw)
    assert len(answer) > TEMPLATE_MAX_BYTES
    repeats = [send(gw) for _ in range(2)]
    assert recalled(gw) == 2
    for resp in repeats:
        assert text_of(resp) == answer and resp.json()["id"] == "chatcmpl-" + resp.headers["x-request-id"]
    streams = [send(gw, body=orjson.dumps({**CHAT, "stream": True})) for _ in range(2)]
    assert recalled(gw) == 3  # the first stream decoded (and remembered), the second recalled
    for resp in streams:
        assert resp.headers["x-cache"] == "hit" and resp.text.endswith("data: [DONE]\n\n")
        assert f'"id":"chatcmpl-{resp.headers["x-request-id"]}"' in resp.text
    records = list(cache_of(gw).memo._data.values())
    assert records and not any({"answer", "stream"} & r.derived.keys() for r in records)


def test_a_purge_ends_recalls(gw: GatewayThread, fake_openai: FakeUpstream) -> None:
    warm(gw)
    assert send(gw).headers["x-cache"] == "hit" and recalled(gw) == 1
    assert HTTP.delete(gw.url + "/api/cache?all=true", headers=ADMIN).status_code == 200
    after = send(gw)
    assert after.headers["x-cache"] == "miss" and recalled(gw) == 1
    assert len(fake_openai.received) == 2


def test_bad_bytes_are_never_recalled(gw: GatewayThread) -> None:
    warm(gw)
    broken = send(gw, body=BODY[:-1])
    assert broken.status_code == 400 and "malformed JSON" in broken.json()["error"]["message"]
    assert recalled(gw) == 0


# ---- the memo's rules -------------------------------------------------------------------------------


class Stage:
    """A replayable stage whose stamp the test sets."""

    replay_notes = ("stage.note",)

    def __init__(self) -> None:
        self.stamp: object | None = "v1"

    def replay_stamp(self, ctx: RequestContext) -> object | None:
        return self.stamp


def _ctx(cfg: Any, principal: str = "k1", **headers: str) -> RequestContext:
    ctx = RequestContext("req_1", "openai_chat", cfg, {"content-type": "application/json", **headers})
    ctx.principal = Principal(principal, "virtual")
    return ctx


def _remembered(memo: RecallMemo, cfg: Any, entry: Entry) -> None:
    ctx = _ctx(cfg)
    memo.peek(ctx, "openai_chat", BODY, {})
    ctx.request = ChatRequest(model="gpt-test", messages=[])
    ctx.notes["stage.note"] = "decided"
    memo.remember(ctx, entry, "exact", None, plan=None)


def test_memo_rules() -> None:
    cfg = compile_config(parse_config("models: {}", {}), {})
    entry = Entry("k", "gpt-test", "key:k1", b"{}", 0.0, 1e12, 0.0, "public")
    stage, memo = Stage(), RecallMemo(max_entries=2)
    _remembered(memo, cfg, entry)
    assert len(memo) == 0  # before startup told it which stages to vouch: nothing is remembered
    memo.stages = [stage]
    _remembered(memo, cfg, entry)
    rec = memo.peek(_ctx(cfg, **{"x-request-id": "other"}), "openai_chat", BODY, {})
    assert rec is not None and rec.notes == {"stage.note": "decided"} and rec.entry is entry
    assert memo.peek(_ctx(cfg, principal="k2"), "openai_chat", BODY, {}) is None  # another caller
    assert memo.peek(_ctx(cfg, **{"x-adaptive-trust-level": "secret"}), "openai_chat", BODY, {}) is None
    assert memo.peek(_ctx(cfg), "anthropic_messages", BODY, {}) is None  # another wire format
    assert memo.peek(_ctx(cfg), "openai_chat", BODY + b" ", {}) is None
    # the stage's inputs changed (consents, policy, a memory read): the record is dropped
    stage.stamp = "v2"
    assert memo.peek(_ctx(cfg), "openai_chat", BODY, {}) is None and len(memo) == 0
    # a stage that cannot vouch: nothing is remembered
    stage.stamp = None
    _remembered(memo, cfg, entry)
    assert len(memo) == 0
    # another config (a reload): not recalled
    stage.stamp = "v1"
    _remembered(memo, cfg, entry)
    other_cfg = compile_config(parse_config("models: {}", {}), {})
    assert memo.peek(_ctx(other_cfg), "openai_chat", BODY, {}) is None
    # bounded: the oldest record goes first
    for i in range(3):
        ctx = _ctx(cfg, **{"x-n": str(i)})
        memo.peek(ctx, "openai_chat", BODY, {})
        ctx.request = ChatRequest(model="gpt-test", messages=[])
        memo.remember(ctx, entry, "exact", None, plan=None)
    assert len(memo) == 2
    assert memo.peek(_ctx(cfg, **{"x-n": "0"}), "openai_chat", BODY, {}) is None
    assert memo.peek(_ctx(cfg, **{"x-n": "2"}), "openai_chat", BODY, {}) is not None


def test_memo_is_bounded_by_the_bytes_it_holds() -> None:
    cfg = compile_config(parse_config("models: {}", {}), {})
    entry = Entry("k", "gpt-test", "key:k1", b"{}", 0.0, 1e12, 0.0, "public")
    memo = RecallMemo(max_entries=100, max_bytes=16 * len(BODY))  # room for 16 bodies of this size
    memo.stages = [Stage()]
    for i in range(20):
        ctx = _ctx(cfg, **{"x-n": str(i)})
        memo.peek(ctx, "openai_chat", BODY, {})
        ctx.request = ChatRequest(model="gpt-test", messages=[])
        memo.remember(ctx, entry, "exact", None, plan=None)
    assert len(memo) == 16  # the oldest four went
    assert memo.peek(_ctx(cfg, **{"x-n": "3"}), "openai_chat", BODY, {}) is None
    assert memo.peek(_ctx(cfg, **{"x-n": "19"}), "openai_chat", BODY, {}) is not None
    big = BODY + b" " * (memo.max_bytes // 16)  # larger than a sixteenth of the memo: never kept
    ctx = _ctx(cfg)
    memo.peek(ctx, "openai_chat", big, {})
    ctx.request = ChatRequest(model="gpt-test", messages=[])
    memo.remember(ctx, entry, "exact", None, plan=None)
    assert len(memo) == 16 and memo.peek(_ctx(cfg), "openai_chat", big, {}) is None


def test_sdk_streams_and_other_formats_are_recalled_too(gw: GatewayThread) -> None:
    """The official SDKs send the same bytes for the same call: their repeats are recalled, and a
    recalled stream is as well-formed as any replayed one."""
    import anthropic
    import openai

    oai = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)
    answer = oai.chat.completions.create(**CHAT).choices[0].message.content  # the miss
    stored(gw, 1)

    def streamed() -> str:
        chunks = oai.chat.completions.create(**CHAT, stream=True, stream_options={"include_usage": True})
        parts = [c.choices[0].delta.content or "" for c in chunks if c.choices]
        return "".join(parts)

    assert [streamed() for _ in range(3)] == [answer] * 3
    assert recalled(gw) == 2  # the first stream was decoded (and remembered), the next two recalled

    claude = anthropic.Anthropic(base_url=gw.url, api_key=MASTER_KEY, max_retries=0)
    body = {"model": "gpt-test", "max_tokens": 64, "messages": CHAT["messages"]}
    first = claude.messages.create(**body, extra_body={"temperature": 0})  # type: ignore[call-overload]
    stored(gw, 2)  # max_tokens makes it another request: a miss, then stored
    texts = []
    for _ in range(3):
        with claude.messages.stream(**body, extra_body={"temperature": 0}) as stream:  # type: ignore[arg-type]
            assert stream.response.headers["x-cache"] == "hit"
            texts.append("".join(stream.text_stream))
            # each repeat's stream carries its own id (the template filled with the request id)
            assert stream.get_final_message().id == "msg_" + stream.response.headers["x-request-id"]
    assert texts == [first.content[0].text] * 3 and recalled(gw) == 4


def test_gemini_repeats_are_recalled_with_the_route_model(gw: GatewayThread) -> None:
    """The Gemini route names the model in the path: it is part of what makes a repeat."""
    contents = [{"role": "user", "parts": [{"text": "Say hi"}]}]
    body = orjson.dumps({"contents": contents, "generationConfig": {"temperature": 0}})
    headers = {**bearer(MASTER_KEY), "content-type": "application/json"}

    def ask(path: str) -> httpx.Response:
        return HTTP.post(gw.url + path, content=body, headers=headers)

    path = "/v1beta/models/gpt-test:generateContent"
    before = cache_of(gw).stats.stored
    first = ask(path)
    assert first.status_code == 200, first.text
    stored(gw, before + 1)
    answers = [ask(path) for _ in range(3)]
    assert [a.headers["x-cache"] for a in answers] == ["hit"] * 3 and recalled(gw) == 2
    text = first.json()["candidates"][0]["content"]["parts"][0]["text"]
    assert all(a.json()["candidates"][0]["content"]["parts"][0]["text"] == text for a in answers)
    other = ask("/v1beta/models/nope:generateContent")  # the same bytes for another model: not a repeat
    assert other.status_code == 404 and recalled(gw) == 2


# ---- the answer template ------------------------------------------------------------------------------

ANSWER = Entry(
    "k",
    "m",
    "s",
    encode_response(
        ChatResponse(
            id="chatcmpl-1",
            model="gpt-test",
            choices=[
                Choice(
                    0,
                    Message("assistant", [ContentPart("text", 'an "answer"\nwith ünïcode, 100 % and %s')]),
                    "stop",
                )
            ],
            usage=Usage(12, 3),
        )
    ),
    0.0,
    1e12,
    0.0,
)
REQUESTS: dict[str, tuple[Any, dict[str, Any], dict[str, str]]] = {
    "openai": (OpenAIChatWire(), {"model": "m", "messages": [{"role": "user", "content": "hi"}]}, {}),
    "gemini": (GeminiWire(), {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, {"model": "m"}),
    "anthropic": (
        AnthropicMessagesWire(),
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        {},
    ),
    "responses": (OpenAIResponsesWire(), {"model": "m", "input": "hi"}, {}),
}


IDS = ("req_1", 'mine "odd" \\ </script> ü', "with-dashes-1", "")


@pytest.mark.parametrize("name", ["openai", "gemini"])
def test_the_answer_template_gives_what_the_format_renders(name: str) -> None:
    wire, body, params = REQUESTS[name]
    req = wire.decode(body, params)
    template = AnswerTemplate.for_json(wire, ANSWER.response, req)
    assert template is not None
    for rid, created in zip(IDS, (1_700_000_000, 5, 1, 99), strict=True):
        resp = ANSWER.response()
        resp.id, resp.created = "chatcmpl-" + rid, created
        filled = template.fill(rid, created)
        assert filled == wire.render(resp, req)
        resp.raw_bytes = filled  # what the cache stage hands on: sent as it is
        assert wire.render(resp, req) == filled


@pytest.mark.parametrize("name", ["anthropic", "responses"])
def test_formats_that_render_their_own_way_get_no_json_template(name: str) -> None:
    wire, body, params = REQUESTS[name]
    assert AnswerTemplate.for_json(wire, ANSWER.response, wire.decode(body, params)) is None


@pytest.mark.parametrize("name", ["openai", "gemini", "anthropic"])
def test_the_stream_template_gives_the_stream_the_format_renders(name: str) -> None:
    wire, body, params = REQUESTS[name]
    req = wire.decode({**body, "stream": True}, params)
    for _ in range(5):  # stream renderers stamp the current second: compare within one
        second = int(time.time())
        template = AnswerTemplate.for_stream(wire, ANSWER.response, req)
        assert template is not None
        expected = []
        for rid in IDS:
            resp = ANSWER.response()
            resp.id = "chatcmpl-" + rid
            expected.append(stream_body(wire, req, resp, resp.id))
        if int(time.time()) == second:
            break
    assert [template.fill(rid) for rid in IDS] == expected
    assert b"[DONE]" in expected[0] or b"message_stop" in expected[0] or b"finishReason" in expected[0]


def test_a_format_that_makes_its_own_ids_gets_no_stream_template() -> None:
    wire, body, params = REQUESTS["responses"]
    req = wire.decode({**body, "stream": True}, params)
    assert AnswerTemplate.for_stream(wire, ANSWER.response, req) is None


def test_a_restored_answer_drops_bytes_it_cannot_restore() -> None:
    resp = ANSWER.response()
    resp.choices[0].message.content[0].text = "mail [[EMAIL_1]]"
    resp.raw_bytes = b'{"choices": "mail [[EMAIL_1]]"}'  # rendered before the restore
    restore_response(resp, {"[[EMAIL_1]]": "a@b.example"})
    assert resp.raw_bytes is None and resp.choices[0].message.text() == "mail a@b.example"
    untouched = ANSWER.response()
    untouched.raw_bytes = b"kept"
    restore_response(untouched, {})
    assert untouched.raw_bytes == b"kept"


def test_repeats_share_the_decoded_answer_and_a_restore_changes_only_its_own() -> None:
    """Recalled repeats get the entry's answer decoded once (``Entry.shared_response``); the trust
    restore, the one step that changes an answer's text, copies before it changes anything."""
    entry = Entry("k", "m", "s", encode_response(ChatResponse("x", "m", [
        Choice(0, Message("assistant", [ContentPart("text", "write to [[EMAIL_1]]")]), "stop")
    ])), 0.0, 1e12, 0.0)  # fmt: skip
    first, second = entry.shared_response(), entry.shared_response()
    assert first is not second and first.choices is second.choices  # decoded once
    first.id = "chatcmpl-a"  # its own fields are its own
    assert second.id == "x"
    restore_response(first, {"[[EMAIL_1]]": "a@b.example"})
    assert first.choices[0].message.text() == "write to a@b.example"
    assert second.choices[0].message.text() == "write to [[EMAIL_1]]"
    assert entry.shared_response().choices[0].message.text() == "write to [[EMAIL_1]]"
    assert entry.response().choices is not entry.response().choices  # a fresh copy each time
