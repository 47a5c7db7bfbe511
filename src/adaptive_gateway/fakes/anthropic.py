"""Fake Anthropic Messages API: /v1/messages (JSON and named-event SSE), count_tokens, models."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web

from adaptive_gateway.fakes.answer import (
    Answer,
    Ask,
    Tool,
    estimate_tokens,
    last_user_text,
    make_answer,
    split_words,
)
from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.state import (
    MODEL_NAMES,
    FakeState,
    Handler,
    begin,
    new_app,
    read_json,
    retry_headers,
)
from adaptive_gateway.fakes.streaming import Frame, dumps, json_response, send_stream

MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1")
SSE = "text/event-stream"
DEFAULT_THINKING = "Let me think."
THINKING_TYPES = frozenset({"enabled", "adaptive"})
MALFORMED = b"event: content_block_delta\ndata: {this is not json\n\n"

STOP_REASONS: Mapping[str, str] = MappingProxyType(
    {"stop": "end_turn", "tool": "tool_use", "length": "max_tokens"}
)

ERROR_TYPES: Mapping[int, str] = MappingProxyType(
    {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "billing_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        500: "api_error",
        504: "timeout_error",
        529: "overloaded_error",
    }
)


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_" + uuid.uuid4().hex[:24],
    }


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    body = dumps(error_body(status, message))
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def knob_error(knobs: Knobs) -> web.Response:
    return error_response(knobs.status, f"Fake upstream error {knobs.status}.", retry_headers(knobs))


@web.middleware
async def require_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Anthropic rejects requests without a key (401) or without `anthropic-version` (400)."""
    auth = request.headers.get("authorization", "")
    if not request.headers.get("x-api-key") and not auth.lower().startswith("bearer "):
        return error_response(401, "x-api-key header is required")
    if not request.headers.get("anthropic-version"):
        return error_response(400, "anthropic-version: header is required")
    return await handler(request)


def messages_ask(body: Mapping[str, Any]) -> Ask:
    """The answer-shaping parts of a Messages request (client tools, tool_choice, output format)."""
    tools = tuple(
        Tool(str(t.get("name", "")), t["input_schema"])
        for t in body.get("tools") or ()
        if isinstance(t, dict) and isinstance(t.get("input_schema"), dict)
    )
    choice = body.get("tool_choice") or {}
    forced = choice.get("name") if choice.get("type") == "tool" else None
    if forced:
        tools = tuple(t for t in tools if t.name == forced) or tools
    fmt = (body.get("output_config") or {}).get("format") or body.get("output_format") or {}
    schema = fmt.get("schema") if fmt.get("type") == "json_schema" else None
    messages = body.get("messages")
    return Ask(
        input_tokens=estimate_tokens(messages),
        last_user_text=last_user_text(messages),
        tools=tools,
        force_tools=choice.get("type") == "any" or bool(forced),
        no_tools=choice.get("type") == "none",
        schema=schema if isinstance(schema, dict) else None,
        max_tokens=body.get("max_tokens"),
    )


def thinking_text(body: Mapping[str, Any], knobs: Knobs) -> str | None:
    """Thinking is shown only when the request enables it; the knob supplies the text."""
    thinking = body.get("thinking") or {}
    if thinking.get("type") not in THINKING_TYPES:
        return None
    return knobs.reasoning or DEFAULT_THINKING


def signature(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def usage(answer: Answer, output_tokens: int | None = None) -> dict[str, Any]:
    return {
        "input_tokens": answer.input_tokens,
        "output_tokens": answer.output_tokens if output_tokens is None else output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def content_blocks(answer: Answer) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if answer.reasoning:
        blocks.append(
            {"type": "thinking", "thinking": answer.reasoning, "signature": signature(answer.reasoning)}
        )
    if answer.chunks:
        blocks.append({"type": "text", "text": answer.text})
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in answer.tool_calls
    ]
    return blocks


def message_json(answer: Answer, model: str) -> dict[str, Any]:
    return {
        "id": "msg_" + uuid.uuid4().hex[:24],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content_blocks(answer),
        "stop_reason": STOP_REASONS[answer.finish],
        "stop_sequence": None,
        "usage": usage(answer),
    }


def event(kind: str, payload: dict[str, Any], content: bool = False) -> Frame:
    return Frame(
        b"event: " + kind.encode() + b"\ndata: " + dumps({"type": kind, **payload}) + b"\n\n", content
    )


def _block(
    index: int, start: dict[str, Any], deltas: list[dict[str, Any]], tail: list[dict[str, Any]]
) -> list[Frame]:
    frames = [event("content_block_start", {"index": index, "content_block": start})]
    frames += [event("content_block_delta", {"index": index, "delta": d}, True) for d in deltas]
    frames += [event("content_block_delta", {"index": index, "delta": d}) for d in tail]
    frames.append(event("content_block_stop", {"index": index}))
    return frames


def _blocks(answer: Answer) -> list[list[Frame]]:
    blocks: list[list[Frame]] = []
    if answer.reasoning:
        deltas = [{"type": "thinking_delta", "thinking": p} for p in answer.reasoning_chunks]
        tail = [{"type": "signature_delta", "signature": signature(answer.reasoning)}]
        blocks.append(
            _block(len(blocks), {"type": "thinking", "thinking": "", "signature": ""}, deltas, tail)
        )
    if answer.chunks:
        deltas = [{"type": "text_delta", "text": p} for p in answer.chunks]
        blocks.append(_block(len(blocks), {"type": "text", "text": ""}, deltas, []))
    for call in answer.tool_calls:
        start = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in call.pieces]
        blocks.append(_block(len(blocks), start, deltas, []))
    return blocks


def message_frames(answer: Answer, model: str) -> list[Frame]:
    """The SSE events of a streamed message, each with its `event:` line, in the API's order."""
    start = {**message_json(answer, model), "content": [], "stop_reason": None, "usage": usage(answer, 1)}
    frames = [event("message_start", {"message": start})]
    for position, block in enumerate(_blocks(answer)):
        frames += block[:1]
        if position == 0:
            frames.append(event("ping", {}))
        frames += block[1:]
    delta = {"stop_reason": STOP_REASONS[answer.finish], "stop_sequence": None}
    frames.append(event("message_delta", {"delta": delta, "usage": {"output_tokens": answer.output_tokens}}))
    frames.append(event("message_stop", {}))
    return frames


async def messages(request: web.Request) -> web.StreamResponse:
    knobs, body, failed = await begin(request)
    if failed:
        return knob_error(knobs)
    answer = make_answer(knobs, messages_ask(body), "toolu_")
    reasoning = thinking_text(body, knobs)
    answer = _with_reasoning(answer, reasoning)
    model = str(body.get("model", MODELS[0]))
    if not body.get("stream") or knobs.ignore_stream:
        return await json_response(request, message_json(answer, model), knobs)
    frames = message_frames(answer, model)
    return await send_stream(request, frames, knobs, content_type=SSE, malformed=MALFORMED)


def _with_reasoning(answer: Answer, reasoning: str | None) -> Answer:
    chunks = split_words(reasoning) if reasoning else ()
    return Answer(answer.chunks, answer.tool_calls, reasoning, answer.finish, answer.input_tokens, chunks)


async def count_tokens(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    tokens = estimate_tokens(body.get("messages"))
    return web.Response(body=dumps({"input_tokens": tokens}), content_type="application/json")


def _model_info(name: str) -> dict[str, Any]:
    return {"type": "model", "id": name, "display_name": name, "created_at": "2025-09-29T00:00:00Z"}


async def models(request: web.Request) -> web.StreamResponse:
    names = request.app[MODEL_NAMES]
    payload = {
        "data": [_model_info(n) for n in names],
        "has_more": False,
        "first_id": names[0],
        "last_id": names[-1],
    }
    return web.Response(body=dumps(payload), content_type="application/json")


async def model(request: web.Request) -> web.StreamResponse:
    return web.Response(body=dumps(_model_info(request.match_info["model"])), content_type="application/json")


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("request-id", "req_" + uuid.uuid4().hex[:24])


def build_app(state: FakeState) -> web.Application:
    app = new_app(state, MODELS)
    app.middlewares.append(require_headers)
    app.add_routes(
        [
            web.post("/v1/messages", messages),
            web.post("/v1/messages/count_tokens", count_tokens),
            web.get("/v1/models", models),
            web.get("/v1/models/{model}", model),
        ]
    )
    app.on_response_prepare.append(_add_request_id)
    return app
