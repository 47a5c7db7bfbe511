"""Fake Ollama: native /api/chat, /api/generate, /api/embed (NDJSON streams by default) plus the /v1 API."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web

from adaptive_gateway.fakes import openai
from adaptive_gateway.fakes.answer import Answer, Ask, Tool, estimate_tokens, last_user_text, make_answer
from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.state import MODEL_NAMES, FakeState, begin, new_app, read_json, retry_headers
from adaptive_gateway.fakes.streaming import Frame, dumps, json_response, send_stream

MODELS = ("llama3.2:latest", "qwen3:8b", "nomic-embed-text:latest")
VERSION = "0.12.6"
CONTEXT_LENGTH = 131072
NDJSON = "application/x-ndjson"
MALFORMED = b"{this is not json\n"
CREATED_AT = "2025-10-01T00:00:00.000000000Z"

DONE_REASONS: Mapping[str, str] = MappingProxyType({"stop": "stop", "tool": "stop", "length": "length"})


def error_response(knobs: Knobs) -> web.Response:
    body = dumps({"error": f"fake upstream error {knobs.status}"})
    return web.Response(
        status=knobs.status, body=body, content_type="application/json", headers=retry_headers(knobs)
    )


def chat_ask(body: Mapping[str, Any]) -> Ask:
    """The answer-shaping parts of an /api/chat request (tools, format, options.num_predict)."""
    tools = tuple(
        Tool(str(fn.get("name", "")), fn.get("parameters") or {})
        for t in body.get("tools") or ()
        if isinstance(t, dict) and isinstance(fn := t.get("function"), dict)
    )
    fmt = body.get("format")
    messages = body.get("messages")
    return Ask(
        input_tokens=estimate_tokens(messages),
        last_user_text=last_user_text(messages),
        tools=tools,
        schema=fmt if isinstance(fmt, dict) else None,
        json_object=fmt == "json",
        max_tokens=(body.get("options") or {}).get("num_predict"),
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())


def _totals(answer: Answer) -> dict[str, Any]:
    return {
        "done_reason": DONE_REASONS[answer.finish],
        "total_duration": 1_000_000,
        "load_duration": 100_000,
        "prompt_eval_count": answer.input_tokens,
        "prompt_eval_duration": 200_000,
        "eval_count": answer.output_tokens,
        "eval_duration": 700_000,
    }


def _tool_calls(answer: Answer) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "function": {"index": i, "name": c.name, "arguments": c.arguments}}
        for i, c in enumerate(answer.tool_calls)
    ]


def chat_message(answer: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text}
    if answer.reasoning:
        message["thinking"] = answer.reasoning
    if answer.tool_calls:
        message["tool_calls"] = _tool_calls(answer)
    return message


def chat_lines(answer: Answer, model: str) -> list[Frame]:
    """NDJSON lines: thinking and content pieces, one line with all tool calls, then the done line."""
    created = _now()

    def line(message: dict[str, Any], content: bool = True) -> Frame:
        payload = {"model": model, "created_at": created, "message": message, "done": False}
        return Frame(dumps(payload) + b"\n", content)

    frames = [line({"role": "assistant", "content": "", "thinking": p}) for p in answer.reasoning_chunks]
    frames += [line({"role": "assistant", "content": p}) for p in answer.chunks]
    if answer.tool_calls:
        frames.append(line({"role": "assistant", "content": "", "tool_calls": _tool_calls(answer)}))
    done = {
        "model": model,
        "created_at": created,
        "message": {"role": "assistant", "content": ""},
        "done": True,
    }
    frames.append(Frame(dumps({**done, **_totals(answer)}) + b"\n"))
    return frames


async def chat(request: web.Request) -> web.StreamResponse:
    knobs, body, failed = await begin(request)
    if failed:
        return error_response(knobs)
    answer = make_answer(knobs, chat_ask(body))
    model = str(body.get("model", MODELS[0]))
    if body.get("stream", True) is False:
        payload = {"model": model, "created_at": _now(), "message": chat_message(answer), "done": True}
        return await json_response(request, {**payload, **_totals(answer)}, knobs)
    frames = chat_lines(answer, model)
    return await send_stream(request, frames, knobs, content_type=NDJSON, malformed=MALFORMED)


async def generate(request: web.Request) -> web.StreamResponse:
    knobs, body, failed = await begin(request)
    if failed:
        return error_response(knobs)
    prompt = str(body.get("prompt", ""))
    ask = Ask(estimate_tokens(prompt), prompt, max_tokens=(body.get("options") or {}).get("num_predict"))
    answer = make_answer(knobs, ask)
    model, created = str(body.get("model", MODELS[0])), _now()
    head = {"model": model, "created_at": created}
    if body.get("stream", True) is False:
        return await json_response(
            request, {**head, "response": answer.text, "done": True, **_totals(answer)}, knobs
        )
    frames = [Frame(dumps({**head, "response": p, "done": False}) + b"\n", True) for p in answer.chunks]
    frames.append(Frame(dumps({**head, "response": "", "done": True, **_totals(answer)}) + b"\n"))
    return await send_stream(request, frames, knobs, content_type=NDJSON, malformed=MALFORMED)


async def embed(request: web.Request) -> web.StreamResponse:
    knobs, body, failed = await begin(request)
    if failed:
        return error_response(knobs)
    raw = body.get("input", "")
    items = raw if isinstance(raw, list) else [raw]
    payload = {
        "model": str(body.get("model", MODELS[-1])),
        "embeddings": [openai.embedding_vector(item) for item in items],
        "total_duration": 1_000_000,
        "load_duration": 100_000,
        "prompt_eval_count": estimate_tokens(raw),
    }
    return await json_response(request, payload, knobs)


def _details(name: str) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": name.split(":")[0].rstrip("0123456789."),
        "families": ["llama"],
        "parameter_size": "3.2B",
        "quantization_level": "Q4_K_M",
    }


async def tags(request: web.Request) -> web.StreamResponse:
    models = [
        {
            "name": name,
            "model": name,
            "modified_at": CREATED_AT,
            "size": 2_019_393_189,
            "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": _details(name),
        }
        for name in request.app[MODEL_NAMES]
    ]
    return web.Response(body=dumps({"models": models}), content_type="application/json")


async def version(request: web.Request) -> web.StreamResponse:
    return web.Response(body=dumps({"version": VERSION}), content_type="application/json")


async def show(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    name = str(body.get("model") or body.get("name") or MODELS[0])
    payload = {
        "modelfile": f"FROM {name}\n",
        "parameters": "stop <|eot_id|>",
        "template": "{{ .Prompt }}",
        "details": _details(name),
        "model_info": {
            "general.architecture": "llama",
            "general.parameter_count": 3_212_749_888,
            "llama.context_length": CONTEXT_LENGTH,
            "llama.embedding_length": 3072,
        },
        "capabilities": ["completion", "tools"],
        "modified_at": CREATED_AT,
    }
    return web.Response(body=dumps(payload), content_type="application/json")


async def root(request: web.Request) -> web.StreamResponse:
    return web.Response(text="Ollama is running")


def build_app(state: FakeState) -> web.Application:
    app = new_app(state, MODELS)
    app.add_routes(
        [
            web.get("/", root),
            web.post("/api/chat", chat),
            web.post("/api/generate", generate),
            web.post("/api/embed", embed),
            web.get("/api/tags", tags),
            web.get("/api/version", version),
            web.post("/api/show", show),
            *openai.routes(),
        ]
    )
    return app
