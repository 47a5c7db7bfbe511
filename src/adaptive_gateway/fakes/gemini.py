"""Fake Gemini API: models/{m}:generateContent, :streamGenerateContent (SSE or JSON array), and friends."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web

from adaptive_gateway.fakes.answer import Answer, Ask, Tool, estimate_tokens, last_user_text, make_answer
from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.openai import embedding_vector
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

MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-embedding-001")
API_VERSIONS = ("v1beta", "v1")
MALFORMED = b"data: {this is not json\r\n\r\n"

FINISH_REASONS: Mapping[str, str] = MappingProxyType({"stop": "STOP", "tool": "STOP", "length": "MAX_TOKENS"})

STATUSES: Mapping[int, str] = MappingProxyType(
    {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        409: "ABORTED",
        429: "RESOURCE_EXHAUSTED",
        499: "CANCELLED",
        500: "INTERNAL",
        501: "NOT_IMPLEMENTED",
        503: "UNAVAILABLE",
        504: "DEADLINE_EXCEEDED",
    }
)

NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    code = STATUSES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    body = dumps({"error": {"code": status, "message": message, "status": code}})
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def knob_error(knobs: Knobs) -> web.Response:
    return error_response(knobs.status, f"Fake upstream error {knobs.status}.", retry_headers(knobs))


@web.middleware
async def require_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Gemini takes the key from `x-goog-api-key` or `?key=`; without one it answers 403."""
    if not request.headers.get("x-goog-api-key") and not request.query.get("key"):
        return error_response(403, NO_KEY)
    return await handler(request)


def _get(node: Any, camel: str, snake: str) -> Any:
    """Gemini accepts both spellings of every field."""
    if not isinstance(node, Mapping):
        return None
    return node.get(camel, node.get(snake))


def _declared_tools(body: Mapping[str, Any]) -> tuple[Tool, ...]:
    tools: list[Tool] = []
    for entry in body.get("tools") or ():
        for decl in _get(entry, "functionDeclarations", "function_declarations") or ():
            schema = (
                _get(decl, "parametersJsonSchema", "parameters_json_schema") or decl.get("parameters") or {}
            )
            tools.append(Tool(str(decl.get("name", "")), schema))
    return tuple(tools)


def _response_schema(config: Any) -> Any:
    return _get(config, "responseJsonSchema", "response_json_schema") or _get(
        config, "responseSchema", "response_schema"
    )


def generate_ask(body: Mapping[str, Any]) -> Ask:
    """The answer-shaping parts of a generateContent request."""
    tools = _declared_tools(body)
    calling = _get(
        _get(body, "toolConfig", "tool_config"), "functionCallingConfig", "function_calling_config"
    )
    mode = str(_get(calling, "mode", "mode") or "AUTO").upper()
    allowed = _get(calling, "allowedFunctionNames", "allowed_function_names") or ()
    if allowed:
        tools = tuple(t for t in tools if t.name in allowed) or tools
    config = _get(body, "generationConfig", "generation_config") or {}
    wants_json = _get(config, "responseMimeType", "response_mime_type") == "application/json"
    schema = _response_schema(config) if wants_json else None
    contents = body.get("contents")
    return Ask(
        input_tokens=estimate_tokens(contents),
        last_user_text=last_user_text(contents),
        tools=tools,
        force_tools=mode in {"ANY", "VALIDATED"},
        no_tools=mode == "NONE",
        schema=schema if isinstance(schema, dict) else None,
        json_object=wants_json and schema is None,
        max_tokens=_get(config, "maxOutputTokens", "max_output_tokens"),
    )


def usage(answer: Answer, final: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"promptTokenCount": answer.input_tokens}
    if final:
        visible = answer.output_tokens - len(answer.reasoning_chunks)
        meta["candidatesTokenCount"] = visible
        if answer.reasoning_chunks:
            meta["thoughtsTokenCount"] = len(answer.reasoning_chunks)
    meta["totalTokenCount"] = answer.input_tokens + (answer.output_tokens if final else 0)
    return meta


def _parts(answer: Answer) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if answer.reasoning:
        parts.append({"text": answer.reasoning, "thought": True})
    if answer.chunks:
        parts.append({"text": answer.text})
    parts += [{"functionCall": {"name": c.name, "args": c.arguments}} for c in answer.tool_calls]
    return parts


def _chunk(parts: list[dict[str, Any]], answer: Answer, model: str, rid: str, final: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if final:
        candidate["finishReason"] = FINISH_REASONS[answer.finish]
    return {
        "candidates": [candidate],
        "usageMetadata": usage(answer, final),
        "modelVersion": model,
        "responseId": rid,
    }


def response_json(answer: Answer, model: str) -> dict[str, Any]:
    return _chunk(_parts(answer), answer, model, uuid.uuid4().hex[:22], final=True)


def stream_chunks(answer: Answer, model: str) -> list[tuple[dict[str, Any], bool]]:
    """(chunk, is_content) pairs: thought and text pieces, whole functionCall parts, then the finish."""
    rid = uuid.uuid4().hex[:22]
    pieces: list[dict[str, Any]] = [{"text": p, "thought": True} for p in answer.reasoning_chunks]
    pieces += [{"text": p} for p in answer.chunks]
    chunks = [(_chunk([p], answer, model, rid, final=False), True) for p in pieces]
    if answer.tool_calls:
        calls = [{"functionCall": {"name": c.name, "args": c.arguments}} for c in answer.tool_calls]
        chunks.append((_chunk(calls, answer, model, rid, final=False), True))
    chunks.append((_chunk([{"text": ""}], answer, model, rid, final=True), False))
    return chunks


async def generate(request: web.Request, model: str) -> web.StreamResponse:
    knobs, body, failed = await begin(request)
    if failed:
        return knob_error(knobs)
    answer = make_answer(knobs, generate_ask(body))
    return await json_response(request, response_json(answer, model), knobs)


async def stream_generate(request: web.Request, model: str) -> web.StreamResponse:
    knobs, body, failed = await begin(request)
    if failed:
        return knob_error(knobs)
    chunks = stream_chunks(make_answer(knobs, generate_ask(body)), model)
    if request.query.get("alt") == "sse":
        frames = [Frame(b"data: " + dumps(c) + b"\r\n\r\n", content) for c, content in chunks]
        return await send_stream(
            request, frames, knobs, content_type="text/event-stream", malformed=MALFORMED
        )
    # Without alt=sse the API streams one JSON array.
    last = len(chunks) - 1
    frames = [
        Frame((b"[" if i == 0 else b"") + dumps(c) + (b"]" if i == last else b",\r\n"), content)
        for i, (c, content) in enumerate(chunks)
    ]
    return await send_stream(
        request, frames, knobs, content_type="application/json", malformed=b"{not json,\r\n"
    )


async def count_tokens(request: web.Request, model: str) -> web.StreamResponse:
    body = await read_json(request)
    contents = body.get("contents") or _get(body.get("generateContentRequest"), "contents", "contents")
    return web.Response(
        body=dumps({"totalTokens": estimate_tokens(contents)}), content_type="application/json"
    )


async def embed(request: web.Request, model: str) -> web.StreamResponse:
    knobs, body, failed = await begin(request)
    if failed:
        return knob_error(knobs)
    return await json_response(
        request, {"embedding": {"values": embedding_vector(body.get("content"))}}, knobs
    )


async def batch_embed(request: web.Request, model: str) -> web.StreamResponse:
    knobs, body, failed = await begin(request)
    if failed:
        return knob_error(knobs)
    items = [{"values": embedding_vector(r.get("content"))} for r in body.get("requests") or ()]
    return await json_response(request, {"embeddings": items}, knobs)


Method = Callable[[web.Request, str], Awaitable[web.StreamResponse]]

METHODS: Mapping[str, Method] = MappingProxyType(
    {
        "generateContent": generate,
        "streamGenerateContent": stream_generate,
        "countTokens": count_tokens,
        "embedContent": embed,
        "batchEmbedContents": batch_embed,
    }
)


async def model_method(request: web.Request) -> web.StreamResponse:
    model, _, method = request.match_info["target"].partition(":")
    handler = METHODS.get(method)
    if handler is None:
        return error_response(404, f"Method {method!r} not found for models/{model}.")
    return await handler(request, model)


def _model_info(name: str) -> dict[str, Any]:
    return {
        "name": "models/" + name,
        "version": "001",
        "displayName": name,
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": list(METHODS),
    }


async def models(request: web.Request) -> web.StreamResponse:
    names = request.app[MODEL_NAMES]
    return web.Response(
        body=dumps({"models": [_model_info(n) for n in names]}), content_type="application/json"
    )


async def model(request: web.Request) -> web.StreamResponse:
    return web.Response(
        body=dumps(_model_info(request.match_info["target"])), content_type="application/json"
    )


def build_app(state: FakeState) -> web.Application:
    app = new_app(state, MODELS)
    app.middlewares.append(require_key)
    for version in API_VERSIONS:
        app.add_routes(
            [
                web.get(f"/{version}/models", models),
                web.get(f"/{version}/models/{{target}}", model),
                web.post(f"/{version}/models/{{target}}", model_method),
            ]
        )
    return app
