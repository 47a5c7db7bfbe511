"""Fake OpenAI API: chat completions, legacy completions, embeddings and models, JSON and SSE."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web

from adaptive_gateway.fakes.answer import Answer, Ask, Tool, estimate_tokens, last_user_text, make_answer
from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.state import MODEL_NAMES, FakeState, begin, new_app, retry_headers
from adaptive_gateway.fakes.streaming import Frame, dumps, json_response, send_stream

MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
EMBEDDING_DIM = 8
SSE = "text/event-stream"
DONE = b"data: [DONE]\n\n"
MALFORMED = b"data: {this is not json\n\n"

FINISH_REASONS: Mapping[str, str] = MappingProxyType(
    {"stop": "stop", "tool": "tool_calls", "length": "length"}
)

# status -> (type, code), as the real API reports them.
ERRORS: Mapping[int, tuple[str, str | None]] = MappingProxyType(
    {
        400: ("invalid_request_error", None),
        401: ("invalid_request_error", "invalid_api_key"),
        403: ("permission_denied", "unsupported_country_region_territory"),
        404: ("invalid_request_error", "model_not_found"),
        408: ("timeout", None),
        409: ("conflict", None),
        422: ("invalid_request_error", None),
        429: ("requests", "rate_limit_exceeded"),
        500: ("server_error", None),
        502: ("server_error", "bad_gateway"),
        503: ("server_error", "service_unavailable"),
        504: ("server_error", "timeout"),
    }
)


def error_response(knobs: Knobs, message: str | None = None) -> web.Response:
    status = knobs.status
    kind, code = ERRORS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    text = message or f"Fake upstream error {status}."
    body = {"error": {"message": text, "type": kind, "param": None, "code": code}}
    return web.Response(
        status=status, body=dumps(body), content_type="application/json", headers=retry_headers(knobs)
    )


def chat_ask(body: Mapping[str, Any]) -> Ask:
    """The answer-shaping parts of a chat completions request."""
    tools = tuple(
        Tool(str(fn.get("name", "")), fn.get("parameters") or {})
        for t in body.get("tools") or ()
        if isinstance(t, dict) and isinstance(fn := t.get("function"), dict)
    )
    choice = body.get("tool_choice")
    forced_name = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    if forced_name:
        tools = tuple(t for t in tools if t.name == forced_name) or tools
    fmt = body.get("response_format") or {}
    schema = fmt.get("json_schema", {}).get("schema") if fmt.get("type") == "json_schema" else None
    messages = body.get("messages")
    return Ask(
        input_tokens=estimate_tokens(messages),
        last_user_text=last_user_text(messages),
        tools=tools,
        force_tools=choice == "required" or bool(forced_name),
        no_tools=choice == "none",
        schema=schema if isinstance(schema, dict) else None,
        json_object=fmt.get("type") == "json_object",
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
    )


def usage(answer: Answer) -> dict[str, Any]:
    out = answer.output_tokens
    return {
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": out,
        "total_tokens": answer.input_tokens + out,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": len(answer.reasoning_chunks)},
    }


def chat_message(answer: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text if answer.chunks else None}
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
            for c in answer.tool_calls
        ]
    message["refusal"] = None
    return message


def _envelope(kind: str, prefix: str, model: str) -> dict[str, Any]:
    return {"id": prefix + uuid.uuid4().hex[:24], "object": kind, "created": int(time.time()), "model": model}


def chat_json(answer: Answer, model: str) -> dict[str, Any]:
    choice = {
        "index": 0,
        "message": chat_message(answer),
        "logprobs": None,
        "finish_reason": FINISH_REASONS[answer.finish],
    }
    return {**_envelope("chat.completion", "chatcmpl-", model), "choices": [choice], "usage": usage(answer)}


def _sse_prefix(base: dict[str, Any]) -> bytes:
    """`data: {<envelope>,"choices":[` encoded once per stream; each frame adds only its choice."""
    return b"data: " + dumps(base)[:-1] + b',"choices":['


def chat_frames(answer: Answer, model: str, include_usage: bool) -> list[Frame]:
    """The SSE frames of a streamed chat completion, in the order the real API sends them."""
    base = _envelope("chat.completion.chunk", "chatcmpl-", model)
    if include_usage:
        base["usage"] = None
    prefix = _sse_prefix(base)

    def frame(delta: dict[str, Any], content: bool = False, finish: str | None = None) -> Frame:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return Frame(prefix + dumps(choice) + b"]}\n\n", content)

    frames = [frame({"role": "assistant", "content": "", "refusal": None})]
    frames += [frame({"reasoning_content": piece}, True) for piece in answer.reasoning_chunks]
    frames += [frame({"content": piece}, True) for piece in answer.chunks]
    for index, call in enumerate(answer.tool_calls):
        head = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        frames.append(frame({"tool_calls": [head]}))
        frames += [
            frame({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}, True)
            for piece in call.pieces
        ]
    frames.append(frame({}, finish=FINISH_REASONS[answer.finish]))
    if include_usage:
        frames.append(Frame(b"data: " + dumps({**base, "choices": [], "usage": usage(answer)}) + b"\n\n"))
    frames.append(Frame(DONE))
    return frames


async def chat_completions(request: web.Request) -> web.StreamResponse:
    knobs, body, failed = await begin(request)
    if failed:
        return error_response(knobs)
    answer = make_answer(knobs, chat_ask(body))
    model = str(body.get("model", MODELS[0]))
    if not body.get("stream") or knobs.ignore_stream:
        return await json_response(request, chat_json(answer, model), knobs)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    frames = chat_frames(answer, model, include_usage)
    return await send_stream(request, frames, knobs, content_type=SSE, malformed=MALFORMED)


def _completion_frames(answer: Answer, model: str, include_usage: bool) -> list[Frame]:
    base = _envelope("text_completion", "cmpl-", model)

    def frame(text: str, finish: str | None = None, content: bool = True) -> Frame:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
        return Frame(b"data: " + dumps({**base, "choices": [choice]}) + b"\n\n", content)

    frames = [frame(piece) for piece in answer.chunks]
    frames.append(frame("", FINISH_REASONS[answer.finish], content=False))
    if include_usage:
        frames.append(Frame(b"data: " + dumps({**base, "choices": [], "usage": usage(answer)}) + b"\n\n"))
    frames.append(Frame(DONE))
    return frames


async def completions(request: web.Request) -> web.StreamResponse:
    knobs, body, failed = await begin(request)
    if failed:
        return error_response(knobs)
    prompt = body.get("prompt", "")
    first = prompt[0] if isinstance(prompt, list) and prompt else prompt
    ask = Ask(
        estimate_tokens(prompt), first if isinstance(first, str) else "", max_tokens=body.get("max_tokens")
    )
    answer = make_answer(knobs, ask)
    model = str(body.get("model", MODELS[0]))
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        frames = _completion_frames(answer, model, include_usage)
        return await send_stream(request, frames, knobs, content_type=SSE, malformed=MALFORMED)
    choice = {
        "text": answer.text,
        "index": 0,
        "logprobs": None,
        "finish_reason": FINISH_REASONS[answer.finish],
    }
    payload = {**_envelope("text_completion", "cmpl-", model), "choices": [choice], "usage": usage(answer)}
    return await json_response(request, payload, knobs)


def embedding_vector(item: Any) -> list[float]:
    """A unit vector of EMBEDDING_DIM floats derived from a hash of `item`."""
    digest = hashlib.sha256(dumps(item)).digest()
    raw = [b / 127.5 - 1.0 for b in digest[:EMBEDDING_DIM]]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding != "base64":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


async def embeddings(request: web.Request) -> web.StreamResponse:
    knobs, body, failed = await begin(request)
    if failed:
        return error_response(knobs)
    raw = body.get("input", "")
    items = raw if isinstance(raw, list) and raw and not isinstance(raw[0], int) else [raw]
    encoding = str(body.get("encoding_format") or "float")
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(embedding_vector(item), encoding)}
        for i, item in enumerate(items)
    ]
    tokens = estimate_tokens(raw)
    payload = {
        "object": "list",
        "data": data,
        "model": str(body.get("model", "text-embedding-3-small")),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return await json_response(request, payload, knobs)


async def models(request: web.Request) -> web.StreamResponse:
    names = request.app[MODEL_NAMES]
    data = [{"id": name, "object": "model", "created": 1700000000, "owned_by": "fake"} for name in names]
    return web.Response(body=dumps({"object": "list", "data": data}), content_type="application/json")


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("x-request-id", "req_" + uuid.uuid4().hex)


def routes() -> list[web.RouteDef]:
    """The OpenAI-compatible routes (also served by the fake Ollama)."""
    return [
        web.post("/v1/chat/completions", chat_completions),
        web.post("/v1/completions", completions),
        web.post("/v1/embeddings", embeddings),
        web.get("/v1/models", models),
    ]


def build_app(state: FakeState) -> web.Application:
    app = new_app(state, MODELS)
    app.add_routes(routes())
    app.on_response_prepare.append(_add_request_id)
    return app
