"""OpenAI Chat Completions JSON <-> canonical types. Pure; shared by ``wire/`` (clients) and
``providers/`` (upstreams), so each direction is written once.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from adaptive_gateway.errors import InvalidRequest
from adaptive_gateway.formats.common import (
    ROLES,
    check_range,
    data_url,
    parse_data_url,
    require_list,
    require_str,
)

# shared pieces and the streaming half live in their own modules; re-exported (see __all__)
from adaptive_gateway.formats.openai_chat_stream import StreamDecoder, StreamEncoder
from adaptive_gateway.formats.openai_shared import FINISH, decode_usage, encode_usage
from adaptive_gateway.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    ContentPart,
    Message,
    ResponseFormat,
    Tool,
    ToolCall,
)

# top-level request fields this codec models; everything else goes to ChatRequest.extra
_MODELED = frozenset(
    [
        "model",
        "messages",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "n",
        "seed",
        "response_format",
        "reasoning_effort",
        "user",
        "metadata",
    ]
)


# ---- requests -------------------------------------------------------------------------------------------


def _decode_part(part: Any, where: str) -> ContentPart:
    if not isinstance(part, dict):
        raise InvalidRequest(f"{where}: each content part must be an object", param=where)
    kind = part.get("type")
    if kind == "text":
        return ContentPart("text", text=require_str(part.get("text"), f"{where}.text"))
    if kind == "image_url":
        img = part.get("image_url")
        url = img.get("url") if isinstance(img, dict) else img
        url = require_str(url, f"{where}.image_url.url")
        detail = img.get("detail") if isinstance(img, dict) else None
        media, data = parse_data_url(url)
        if data is not None:
            return ContentPart("image", data=data, media_type=media, detail=detail)
        return ContentPart("image", url=url, detail=detail)
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        return ContentPart("audio", data=audio.get("data"), media_type=f"audio/{audio.get('format', 'wav')}")
    if kind == "file":
        return ContentPart("file", extra=part)
    raise InvalidRequest(f"{where}.type: unsupported content part type {kind!r}", param=f"{where}.type")


def _decode_content(content: Any, where: str) -> list[ContentPart]:
    if content is None:
        return []
    if isinstance(content, str):
        return [ContentPart("text", text=content)]
    items = require_list(content, where)
    return [_decode_part(p, f"{where}[{i}]") for i, p in enumerate(items)]


def _decode_message(m: Any, where: str) -> Message:
    if not isinstance(m, dict):
        raise InvalidRequest(f"{where}: each message must be an object", param=where)
    role = m.get("role")
    if role not in ROLES:
        raise InvalidRequest(
            f"{where}.role: unknown role {role!r} (expected one of {', '.join(sorted(ROLES))})",
            param=f"{where}.role",
        )
    content = m.get("content")
    # plain text (most messages): no list to walk, and no field path to format unless it fails
    parts = (
        [ContentPart("text", text=content)]
        if type(content) is str
        else _decode_content(content, f"{where}.content")
    )
    msg = Message(role=role, content=parts, name=m.get("name"))
    for i, tc in enumerate(m.get("tool_calls") or ()):
        fn = tc.get("function") or {}
        args = fn.get("arguments")
        msg.tool_calls.append(
            ToolCall(
                id=require_str(tc.get("id"), f"{where}.tool_calls[{i}].id"),
                name=require_str(fn.get("name"), f"{where}.tool_calls[{i}].function.name"),
                arguments=args if isinstance(args, str) else orjson.dumps(args or {}).decode(),
            )
        )
    if role == "tool":
        msg.tool_call_id = require_str(m.get("tool_call_id"), f"{where}.tool_call_id")
    reasoning = m.get("reasoning_content") or m.get("reasoning")
    if isinstance(reasoning, str):
        msg.reasoning = reasoning
    return msg


def _decode_tools(tools: Any) -> list[Tool]:
    out = []
    for i, t in enumerate(require_list(tools, "tools")):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or (t.get("type", "function") != "function"):
            raise InvalidRequest(
                f"tools[{i}]: expected {{type: function, function: {{...}}}}", param=f"tools[{i}]"
            )
        params = fn.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(params, dict):
            raise InvalidRequest(
                f"tools[{i}].function.parameters: must be a JSON schema object",
                param=f"tools[{i}].function.parameters",
            )
        out.append(
            Tool(
                require_str(fn.get("name"), f"tools[{i}].function.name"),
                fn.get("description") or "",
                params,
                fn.get("strict"),
            )
        )
    return out


def _decode_response_format(rf: Any) -> ResponseFormat | None:
    if rf is None:
        return None
    if not isinstance(rf, dict) or rf.get("type") not in ("text", "json_object", "json_schema"):
        raise InvalidRequest(
            "response_format.type: expected text, json_object or json_schema", param="response_format"
        )
    js = rf.get("json_schema") or {}
    if rf["type"] == "json_schema" and not isinstance(js.get("schema"), dict):
        raise InvalidRequest("response_format.json_schema.schema: required object", param="response_format")
    return ResponseFormat(rf["type"], js.get("schema"), js.get("name"), js.get("strict"))


def decode_request(body: dict[str, Any]) -> ChatRequest:
    """Validate and decode a chat completions body; raises :class:`InvalidRequest` naming the field."""
    model = require_str(body.get("model"), "model")
    messages = require_list(body.get("messages"), "messages")
    if not messages:
        raise InvalidRequest("messages: must contain at least one message", param="messages")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("stream: must be a boolean", param="stream")
    stop = body.get("stop")
    req = ChatRequest(
        model=model,
        messages=[_decode_message(m, f"messages[{i}]") for i, m in enumerate(messages)],
        stream=stream,
        include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
        tools=_decode_tools(body["tools"]) if body.get("tools") else [],
        tool_choice=body.get("tool_choice"),
        parallel_tool_calls=body.get("parallel_tool_calls"),
        temperature=check_range(body.get("temperature"), "temperature", 0.0, 2.0),
        top_p=check_range(body.get("top_p"), "top_p", 0.0, 1.0),
        max_tokens=check_range(
            body.get("max_completion_tokens", body.get("max_tokens")), "max_tokens", 1, None
        ),
        stop=[stop] if isinstance(stop, str) else list(stop or []),
        n=check_range(body.get("n"), "n", 1, 128),
        seed=body.get("seed"),
        response_format=_decode_response_format(body.get("response_format")),
        reasoning_effort=body.get("reasoning_effort"),
        user=body.get("user"),
        metadata=body.get("metadata") or {},
        wire="openai_chat",
        raw=body,
    )
    req.extra = {k: v for k, v in body.items() if k not in _MODELED}
    return req


def _encode_part(p: ContentPart) -> dict[str, Any]:
    if p.type == "text":
        return {"type": "text", "text": p.text}
    if p.type == "image":
        url = p.url or data_url(p.media_type or "image/png", p.data or "")
        img: dict[str, Any] = {"url": url}
        if p.detail:
            img["detail"] = p.detail
        return {"type": "image_url", "image_url": img}
    if p.type == "audio":
        fmt = (p.media_type or "audio/wav").split("/")[-1]
        return {"type": "input_audio", "input_audio": {"data": p.data, "format": fmt}}
    return dict(p.extra or {"type": p.type})


def encode_message(m: Message, developer_role: bool = False) -> dict[str, Any]:
    role = m.role if (m.role != "developer" or developer_role) else "system"
    out: dict[str, Any] = {"role": role}
    only_text = all(p.type == "text" for p in m.content)
    if role in ("system", "developer", "tool", "assistant") and only_text:
        out["content"] = m.text() if (m.content or role != "assistant") else None
    else:
        out["content"] = [_encode_part(p) for p in m.content]
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
            for t in m.tool_calls
        ]
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    if m.name:
        out["name"] = m.name
    return out


def encode_request(req: ChatRequest, model: str) -> dict[str, Any]:
    """Canonical request -> chat completions body for ``model``.

    Same-format requests forward the client's body with only the model swapped (no lossy re-encoding).
    """
    if req.wire == "openai_chat" and req.raw is not None:
        return {**req.raw, "model": model}
    body: dict[str, Any] = {"model": model, "messages": [encode_message(m) for m in req.messages]}
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if req.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
            }
            for t in req.tools
        ]
    if req.tool_choice is not None:
        body["tool_choice"] = req.tool_choice
    rf = req.response_format
    if rf is not None and rf.type == "json_schema":
        js: dict[str, Any] = {"name": rf.name or "response", "schema": rf.schema}
        if rf.strict is not None:
            js["strict"] = rf.strict
        body["response_format"] = {"type": "json_schema", "json_schema": js}
    elif rf is not None:
        body["response_format"] = {"type": rf.type}
    for name in (
        "temperature",
        "top_p",
        "max_tokens",
        "n",
        "seed",
        "parallel_tool_calls",
        "reasoning_effort",
    ):
        value = getattr(req, name)
        if value is not None:
            body[name] = value
    if req.stop:
        body["stop"] = req.stop
    return body


# ---- responses ------------------------------------------------------------------------------------------


def decode_response(body: dict[str, Any]) -> ChatResponse:
    choices = []
    for c in body.get("choices") or []:
        m = c.get("message") or {}
        msg = _decode_message({**m, "role": "assistant"}, f"choices[{c.get('index', 0)}].message")
        choices.append(
            Choice(
                c.get("index", 0),
                msg,
                FINISH.get(c.get("finish_reason") or "stop", "stop"),
                c.get("logprobs"),
            )
        )
    return ChatResponse(
        id=body.get("id") or "",
        model=body.get("model") or "",
        choices=choices,
        usage=decode_usage(body.get("usage")),
        created=body.get("created") or int(time.time()),
        raw=body,
    )


def passthrough_response(body: dict[str, Any], raw: bytes) -> ChatResponse:
    """A response forwarded byte for byte: id, model and usage read; choices decoded on demand."""
    return ChatResponse(
        id=body.get("id") or "",
        model=body.get("model") or "",
        choices=[],
        usage=decode_usage(body.get("usage")),
        created=body.get("created") or 0,
        raw=body,
        raw_bytes=raw,
    )


def materialize(resp: ChatResponse) -> ChatResponse:
    """Fill ``choices`` of a passthrough response (a no-op when they are already decoded)."""
    if not resp.choices and resp.raw is not None:
        resp.choices = decode_response(resp.raw).choices
    return resp


def encode_response(resp: ChatResponse) -> dict[str, Any]:
    choices = []
    for c in resp.choices:
        msg = encode_message(c.message)
        if c.message.reasoning:
            msg["reasoning_content"] = c.message.reasoning
        choices.append(
            {"index": c.index, "message": msg, "finish_reason": c.finish_reason, "logprobs": c.logprobs}
        )
    out: dict[str, Any] = {
        "id": resp.id,
        "object": "chat.completion",
        "created": resp.created or int(time.time()),
        "model": resp.model,
        "choices": choices,
    }
    if resp.usage is not None:
        out["usage"] = encode_usage(resp.usage)
    return out


__all__ = [
    "FINISH",
    "StreamDecoder",
    "StreamEncoder",
    "decode_request",
    "decode_response",
    "decode_usage",
    "encode_message",
    "encode_request",
    "encode_response",
    "encode_usage",
    "materialize",
    "passthrough_response",
]
