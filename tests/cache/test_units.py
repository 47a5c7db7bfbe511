"""Units of the response cache: keys and scopes, the policy, the in-process tier, entries, replay and
the semantic index. No I/O."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from adaptive_gateway.cache.entry import Entry, Selector, encode_response, storable
from adaptive_gateway.cache.keys import context_key, request_key, scope_of, semantic_text
from adaptive_gateway.cache.local import LocalCache
from adaptive_gateway.cache.policy import CachePolicy
from adaptive_gateway.cache.replay import StreamAssembler, response_events
from adaptive_gateway.cache.semantic import SemanticIndex
from adaptive_gateway.config import compile_config, parse_config
from adaptive_gateway.errors import InvalidRequest
from adaptive_gateway.pipeline.context import Principal, RequestContext
from adaptive_gateway.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    ContentPart,
    Message,
    StreamError,
    StreamEvent,
    Tool,
    ToolCall,
    Usage,
)

CONFIG = """
providers:
  p: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1"}
models:
  m: {deployments: [{provider: p, model: x}]}
  other: {deployments: [{provider: p, model: x}]}
"""


def req(text: str = "hi", **kw: object) -> ChatRequest:
    msgs = [
        Message("system", [ContentPart("text", text="be brief")]),
        Message("user", [ContentPart("text", text=text)]),
    ]
    return ChatRequest("m", msgs, **kw)  # type: ignore[arg-type]


def answer(text: str = "hello", finish: str = "stop") -> ChatResponse:
    msg = Message("assistant", [ContentPart("text", text=text)])
    return ChatResponse("chatcmpl-1", "x", [Choice(0, msg, finish)], Usage(5, 2))  # type: ignore[arg-type]


# ---- keys ---------------------------------------------------------------------------------------------


def test_key_covers_what_changes_the_answer() -> None:
    base = request_key("m", "key:a", req(temperature=0))
    assert base == request_key("m", "key:a", req(temperature=0))
    assert len(base) == 32
    for changed in (
        request_key("m", "key:a", req("other", temperature=0)),
        request_key("m", "key:a", req(temperature=0.5)),
        request_key("m", "key:a", req(temperature=0, max_tokens=10)),
        request_key("m", "key:a", req(temperature=0, stop=["x"])),
        request_key("m", "key:a", req(temperature=0, extra={"presence_penalty": 1})),
        request_key("other", "key:a", req(temperature=0)),
        request_key("m", "key:b", req(temperature=0)),
    ):
        assert changed != base


def test_key_ignores_transport_and_bookkeeping_fields() -> None:
    base = request_key("m", "s", req(temperature=0))
    assert base == request_key("m", "s", req(temperature=0, stream=True, include_usage=True))
    assert base == request_key("m", "s", req(temperature=0, user="u1", metadata={"a": 1}))
    assert base == request_key("m", "s", req(temperature=0, extra={"stream_options": {}, "user": "x"}))


def test_key_ignores_json_key_order_of_schemas() -> None:
    a = req(tools=[Tool("f", parameters={"type": "object", "properties": {"a": {}, "b": {}}})])
    b = req(tools=[Tool("f", parameters={"properties": {"b": {}, "a": {}}, "type": "object"})])
    assert request_key("m", "s", a) == request_key("m", "s", b)


def test_semantic_bucket_is_the_context_without_the_last_message() -> None:
    assert context_key("m", "s", req("one")) == context_key("m", "s", req("two"))
    other_system = req("one")
    other_system.messages[0].content[0].text = "be verbose"
    assert context_key("m", "s", other_system) != context_key("m", "s", req("one"))
    assert semantic_text(req("  What is it?  ")) == "What is it?"
    image = req()
    image.messages[-1].content.append(ContentPart("image", url="http://x/y.png"))
    assert semantic_text(image) is None


def test_scopes() -> None:
    assert scope_of(Principal("k1", "virtual", tenant="acme"), None) == "tenant:acme"
    assert scope_of(Principal("k1", "virtual"), None) == "key:k1"
    assert scope_of(Principal("master", "master"), None) == "key:master"
    own = scope_of(Principal("master", "master"), "sk-own")
    assert own.startswith("key:master|provider-key:") and "sk-own" not in own
    a = scope_of(Principal("passthrough", "passthrough"), "sk-a")
    b = scope_of(Principal("passthrough", "passthrough"), "sk-b")
    assert a != b and a.startswith("passthrough:")


# ---- policy -------------------------------------------------------------------------------------------


def ctx_for(
    request: ChatRequest,
    headers: dict[str, str] | None = None,
    cache: str = "",
    principal: Principal | None = None,
) -> tuple[RequestContext, CachePolicy]:
    cfg = compile_config(parse_config(CONFIG + (f"cache: {cache}\n" if cache else ""), {}), {})
    ctx = RequestContext("r1", "openai_chat", cfg, headers or {})
    ctx.request = request
    ctx.principal = principal or Principal("master", "master")
    return ctx, CachePolicy(cfg.source.cache)


@pytest.mark.parametrize(
    ("request_", "cache", "reason"),
    [
        (req(temperature=0.9), "", "temperature 0.9 above cache.max_temperature 0.7"),
        (req(), "", "no temperature set"),
        (req(temperature=0, n=2), "", "n=2"),
        (req(temperature=0, tools=[Tool("f")]), "", "request offers tools"),
        (req(temperature=0, extra={"builtin_tools": [{"type": "web_search"}]}), "", "request offers tools"),
        (req(temperature=0), "{models: {m: {enabled: false}}}", "cache disabled for model 'm'"),
        (req(temperature=0), "{enabled: false}", "cache disabled"),
    ],
)
def test_never_cached(request_: ChatRequest, cache: str, reason: str) -> None:
    ctx, policy = ctx_for(request_, cache=cache)
    d = policy.decide(ctx, "m")
    assert d.bypass and d.reason is not None and reason in d.reason


@pytest.mark.parametrize(
    ("request_", "cache"),
    [
        (req(temperature=0.7), ""),
        (req(), "{cache_unset_temperature: true}"),
        (req(temperature=1.2), "{max_temperature: 1.5}"),
        (req(temperature=0, tools=[Tool("f")]), "{allow_tools: true}"),
        (req(temperature=0, n=1), ""),
        (req(temperature=0), "{enabled: false, models: {m: {enabled: true}}}"),
    ],
)
def test_cacheable(request_: ChatRequest, cache: str) -> None:
    ctx, policy = ctx_for(request_, cache=cache)
    d = policy.decide(ctx, "m")
    assert d.lookup and d.store and d.shared and not d.semantic
    assert d.ttl == 3600


def test_request_headers() -> None:
    def decide(headers: dict[str, str], cache: str = "") -> object:
        ctx, policy = ctx_for(req(temperature=0), headers, cache)
        return policy.decide(ctx, "m")

    assert decide({"cache-control": "no-cache"}).bypass  # type: ignore[attr-defined]
    d = decide({"cache-control": "no-store"})
    assert d.lookup and not d.store  # type: ignore[attr-defined]
    d = decide({"x-cache-refresh": "1"})
    assert not d.lookup and d.store  # type: ignore[attr-defined]
    d = decide({"cache-control": "max-age=0"})
    assert not d.lookup and d.store  # type: ignore[attr-defined]
    d = decide({"cache-control": "public, max-age=30"})
    assert d.lookup and d.max_age == 30  # type: ignore[attr-defined]
    assert decide({"x-cache-ttl": "120"}).ttl == 120  # type: ignore[attr-defined]
    assert decide({}, "{models: {m: {ttl_seconds: 9}}}").ttl == 9  # type: ignore[attr-defined]
    for bad in (
        {"x-cache-ttl": "soon"},
        {"x-cache-ttl": "-1"},
        {"x-cache-ttl": "1e9"},
        {"cache-control": "max-age=x"},
    ):
        with pytest.raises(InvalidRequest):
            decide(bad)


def test_semantic_is_enabled_per_model_key_or_tenant() -> None:
    ctx, policy = ctx_for(req(temperature=0))
    assert not policy.decide(ctx, "m").semantic
    for cache, principal in (
        ("{semantic: {enabled: true}}", None),
        ("{semantic: {models: [m]}}", None),
        ("{models: {m: {semantic: true}}}", None),
        ("{semantic: {keys: [k1]}}", Principal("k1", "virtual")),
        ("{semantic: {tenants: [acme]}}", Principal("k2", "virtual", tenant="acme")),
    ):
        ctx, policy = ctx_for(req(temperature=0), cache=cache, principal=principal)
        assert policy.decide(ctx, "m").semantic, cache
    ctx, policy = ctx_for(
        req(temperature=0), cache="{semantic: {enabled: true}, models: {m: {semantic: false}}}"
    )
    assert not policy.decide(ctx, "m").semantic


def test_config_errors_name_the_path() -> None:
    from adaptive_gateway.config import ConfigError

    with pytest.raises(ConfigError) as err:
        parse_config(CONFIG + "cache: {models: {nope: {}}, semantic: {models: [gone], threshold: 2}}\n", {})
    text = str(err.value)
    assert "cache.models.nope: unknown model 'nope'" in text
    assert "cache.semantic.models[0]: unknown model 'gone'" in text
    assert "cache.semantic.threshold" in text
    with pytest.raises(ConfigError, match="local_max_trust 'public' is below max_trust 'internal'"):
        parse_config(CONFIG + "cache: {local_max_trust: public}\n", {})


# ---- tiers and entries --------------------------------------------------------------------------------


def entry(key: str, now: float = 0.0, ttl: float = 10.0, model: str = "m", scope: str = "s") -> Entry:
    return Entry(key, model, scope, encode_response(answer()), now, now + ttl, 0.001)


def test_local_tier_expiry_and_lru() -> None:
    cache = LocalCache(2)
    cache.put(entry("a", ttl=10))
    assert cache.get("a", 9.9) is not None
    assert cache.get("a", 10.0) is None and cache.expirations == 1
    cache.put(entry("a"))
    cache.put(entry("b"))
    cache.get("a", 1)  # a is now the most recently used
    cache.put(entry("c"))
    assert cache.get("b", 1) is None and cache.get("a", 1) is not None and cache.evictions == 1
    assert [e.key for e in cache.entries(1)] == ["a", "c"]
    assert cache.purge(Selector(key="a").matches) == 1
    assert len(cache) == 1


def test_selector() -> None:
    e = entry("k", model="m", scope="tenant:a")
    assert Selector().matches(e) and Selector("m", "tenant:a", "k").matches(e)
    assert not Selector(model="other").matches(e) and not Selector(scope="tenant:b").matches(e)


def test_entry_round_trip_and_fresh_copies() -> None:
    resp = answer()
    resp.raw, resp.raw_bytes = {"upstream": True}, b"{}"
    e = Entry("k", "m", "s", encode_response(resp), 1.0, 2.0, 0.5, "internal")
    back = Entry.from_bytes(e.to_bytes())
    assert back is not None and back.body == e.body and back.level == "internal" and back.cost_usd == 0.5
    one, two = back.response(), back.response()
    assert one == two and one is not two
    assert one.raw is None and one.raw_bytes is None  # re-rendered from canonical, never the upstream bytes
    assert Entry.from_bytes(b"garbage") is None and Entry.from_bytes(b"{}\n{}") is None


def test_what_is_storable() -> None:
    assert storable(answer()) is None
    assert storable(answer(finish="length")) is None
    assert storable(answer(finish="content_filter")) is not None
    assert storable(answer(text="")) == "empty answer"
    two = answer()
    two.choices.append(dataclasses.replace(two.choices[0], index=1))
    assert storable(two) == "not exactly one choice"


# ---- replay -------------------------------------------------------------------------------------------


class ListParser:
    """A stream parser whose "bytes" are indexes into a list of prepared events."""

    def __init__(self, events: list[StreamEvent]) -> None:
        self.events = events

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        return [self.events[i] for i in chunk]

    def close(self) -> list[StreamEvent]:
        return []


async def _drain(assembler: StreamAssembler, n: int) -> None:
    async def rest():  # type: ignore[no-untyped-def]
        for i in range(1, n):
            yield bytes([i])

    async for _ in assembler.tee(bytes([0]), rest()):
        pass


async def test_replay_round_trip_with_tools_and_reasoning() -> None:
    msg = Message(
        "assistant",
        [ContentPart("text", text="calling")],
        tool_calls=[ToolCall("c1", "f", '{"a":1}'), ToolCall("c2", "g", "{}")],
        reasoning="thinking",
        reasoning_signature="sig",
    )
    resp = ChatResponse("id1", "x", [Choice(0, msg, "tool_calls")], Usage(3, 4))
    events = response_events(resp)
    assembler = StreamAssembler(ListParser(events))
    await _drain(assembler, len(events))
    assert assembler.response() == resp


async def test_an_unfinished_or_failed_stream_is_not_assembled() -> None:
    events = response_events(answer())
    cut = StreamAssembler(ListParser(events[:-2]))  # no finish
    await _drain(cut, len(events) - 2)
    assert cut.response() is None
    failed = StreamAssembler(ListParser([*events, StreamError("boom")]))
    await _drain(failed, len(events) + 1)
    assert failed.response() is None
    never_ended = StreamAssembler(ListParser(events))
    assert never_ended.response() is None


# ---- semantic index -----------------------------------------------------------------------------------


def unit(*xs: float) -> np.ndarray:  # type: ignore[type-arg]
    v = np.zeros(4, np.float32)
    v[: len(xs)] = xs
    return v / np.linalg.norm(v)  # type: ignore[no-any-return]


def test_semantic_index_search_threshold_and_removal() -> None:
    idx = SemanticIndex(10, dims=4)
    idx.add("b1", "k1", unit(1, 0), "m", "s")
    idx.add("b1", "k2", unit(0, 1), "m", "s")
    idx.add("b2", "k3", unit(1, 0), "m", "t")
    found = idx.search("b1", unit(1, 0.1), 0.95)
    assert found is not None and found[0] == "k1" and found[1] > 0.99
    assert idx.search("b1", unit(1, 1), 0.95) is None  # cosine 0.707
    assert idx.search("nope", unit(1, 0), 0.5) is None
    idx.remove("b1", "k1")
    found = idx.search("b1", unit(1, 1), 0.5)
    assert found is not None and found[0] == "k2"
    assert idx.purge(Selector(scope="t")) == 1 and len(idx) == 1 and idx.buckets() == 1


def test_semantic_index_evicts_the_oldest() -> None:
    idx = SemanticIndex(3, dims=4)
    for i in range(20):  # grows the bucket's matrix past its first capacity
        idx.add("b", f"k{i}", unit(1, i), "m", "s")
    assert len(idx) == 3
    found = idx.search("b", unit(1, 19), 0.999)
    assert found is not None and found[0] == "k19"
    assert idx.search("b", unit(1, 0), 0.999) is None


def test_semantic_search_off_the_loop_is_confirmed_on_it() -> None:
    from adaptive_gateway.cache.semantic import best

    idx = SemanticIndex(10, dims=4)
    idx.add("b", "k1", unit(1, 0), "m", "s")
    idx.add("b", "k2", unit(0, 1), "m", "s")
    snap = idx.snapshot("b")
    assert snap is not None and best(snap, unit(1, 0)) == "k1"
    idx.remove("b", "k1")  # the loop changed the index while a worker thread searched the snapshot
    assert best(snap, unit(1, 0)) in ("k1", "k2")  # the moved row may be read either way
    assert idx.confirm("b", "k1", unit(1, 0), 0.5) is None  # gone: no hit
    assert idx.confirm("b", "k2", unit(1, 0), 0.5) is None  # still there, but its own vector is far
    assert idx.confirm("b", "k2", unit(0, 1), 0.5) == pytest.approx(1.0)
    assert idx.snapshot("nope") is None


def test_headers_of_a_model_without_cache_are_ignored() -> None:
    ctx, policy = ctx_for(req(temperature=0), {"x-cache-ttl": "never"}, cache="{enabled: false}")
    assert policy.decide(ctx, "m").reason == "cache disabled for model 'm'"
