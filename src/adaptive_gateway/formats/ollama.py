"""Ollama's native ``/api/chat`` JSON <-> canonical types. Pure; used by ``providers/ollama.py``.

Differences from the OpenAI shape that matter: images are a list of base64 strings on the message,
tool-call arguments are JSON *objects*, tool results name their tool (``tool_name``), structured
output is ``format`` (a JSON schema or ``"json"``), sampling settings live in ``options``, reasoning
is ``think`` / ``message.thinking``, and streams are NDJSON lines ending with ``done: true``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from adaptive_gateway.errors import UnsupportedContent
from adaptive_gateway.formats.validate import arguments_object
from adaptive_gateway.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    ContentPart,
    FinishReason,
    Message,
    ReasoningDelta,
    StreamEvent,
    StreamFinish,
    StreamStart,
    StreamUsage,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

DONE_REASONS: Mapping[str, FinishReason] = MappingProxyType(
    {"stop": "stop", "length": "length", "load": "stop", "unload": "stop"}
)
# canonical field -> options key
_OPTIONS: Mapping[str, str] = MappingProxyType(
    {"temperature": "temperature", "top_p": "top_p", "max_tokens": "num_predict", "seed": "seed"}
)
_ROLES: Mapping[str, str] = MappingProxyType(
    {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
)


def new_call_id() -> str:
    return "call_" + os.urandom(9).hex()


# ---- requests -------------------------------------------------------------------------------------------


def _message(m: Message, where: str, names: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"role": _ROLES[m.role], "content": m.text()}
    images = []
    for j, p in enumerate(m.content):
        if p.type == "image" and p.data is not None:
            images.append(p.data)
        elif p.type != "text":
            # http(s) images were inlined by the pipeline; anything left is content Ollama cannot take
            what = "image URL" if p.type == "image" else f"{p.type} content"
            raise UnsupportedContent(
                f"{where}.content[{j}]: {what} cannot be sent to Ollama (it takes text and base64 images)",
                param=f"{where}.content[{j}]",
            )
    if images:
        out["images"] = images
    if m.reasoning:
        out["thinking"] = m.reasoning
    if m.tool_calls:
        names.update((tc.id, tc.name) for tc in m.tool_calls)
        out["tool_calls"] = [
            {
                "function": {
                    "name": tc.name,
                    "arguments": arguments_object(
                        tc.arguments, f"{where}.tool_calls[{k}].function.arguments"
                    ),
                }
            }
            for k, tc in enumerate(m.tool_calls)
        ]
    if m.role == "tool":
        name = names.get(m.tool_call_id or "") or m.name
        if name:
            out["tool_name"] = name
    return out


def _think(req: ChatRequest) -> bool | None:
    if req.reasoning_effort is not None:
        return req.reasoning_effort not in ("none", "minimal")
    if req.thinking_budget is not None:
        return req.thinking_budget > 0
    return None


def encode_request(req: ChatRequest, model: str) -> dict[str, Any]:
    """Canonical request -> ``/api/chat`` body for ``model``."""
    names: dict[str, str] = {}
    body: dict[str, Any] = {
        "model": model,
        "messages": [_message(m, f"messages[{i}]", names) for i, m in enumerate(req.messages)],
        "stream": req.stream,
    }
    if req.tools and req.tool_choice != "none":
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
            }
            for t in req.tools
        ]
    rf = req.response_format
    if rf is not None and rf.type == "json_schema" and rf.schema is not None:
        body["format"] = rf.schema
    elif rf is not None and rf.type in ("json_object", "json_schema"):
        body["format"] = "json"
    options = {key: getattr(req, name) for name, key in _OPTIONS.items() if getattr(req, name) is not None}
    if req.stop:
        options["stop"] = req.stop
    if options:
        body["options"] = options
    think = _think(req)
    if think is not None:
        body["think"] = think
    return body


# ---- responses ------------------------------------------------------------------------------------------


def decode_usage(body: dict[str, Any]) -> Usage | None:
    if "prompt_eval_count" not in body and "eval_count" not in body:
        return None
    return Usage(input_tokens=body.get("prompt_eval_count") or 0, output_tokens=body.get("eval_count") or 0)


def _arguments(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value or {}).decode()


def _tool_calls(message: dict[str, Any]) -> list[ToolCall]:
    out = []
    for tc in message.get("tool_calls") or []:
        fn = tc.get("function") if isinstance(tc, dict) else None
        if isinstance(fn, dict):
            out.append(
                ToolCall(
                    tc.get("id") or new_call_id(), str(fn.get("name") or ""), _arguments(fn.get("arguments"))
                )
            )
    return out


def finish_reason(raw: Any, has_tool_calls: bool) -> FinishReason:
    if has_tool_calls:
        return "tool_calls"
    return DONE_REASONS.get(str(raw), "stop")


def decode_response(body: dict[str, Any]) -> ChatResponse:
    message = body.get("message") or {}
    msg = Message("assistant")
    if message.get("content"):
        msg.content.append(ContentPart("text", text=message["content"]))
    if message.get("thinking"):
        msg.reasoning = message["thinking"]
    msg.tool_calls = _tool_calls(message)
    return ChatResponse(
        id="chatcmpl-" + os.urandom(12).hex(),
        model=body.get("model") or "",
        choices=[Choice(0, msg, finish_reason(body.get("done_reason"), bool(msg.tool_calls)))],
        usage=decode_usage(body),
        raw=body,
    )


class StreamDecoder:
    """NDJSON lines (decoded) -> canonical events. Ollama sends each tool call whole, so each becomes
    a start and one complete arguments delta."""

    __slots__ = ("_calls", "_started")

    def __init__(self) -> None:
        self._started = False
        self._calls = 0

    def feed(self, line: dict[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if not self._started:
            self._started = True
            out.append(StreamStart("chatcmpl-" + os.urandom(12).hex(), line.get("model") or ""))
        message = line.get("message") or {}
        if message.get("thinking"):
            out.append(ReasoningDelta(message["thinking"]))
        if message.get("content"):
            out.append(TextDelta(message["content"]))
        for tc in _tool_calls(message):
            out.append(ToolCallStart(self._calls, tc.id, tc.name))
            out.append(ToolCallDelta(self._calls, tc.arguments))
            self._calls += 1
        if line.get("done"):
            out.append(StreamFinish(finish_reason(line.get("done_reason"), self._calls > 0)))
            usage = decode_usage(line)
            if usage is not None:
                out.append(StreamUsage(usage))
        return out
