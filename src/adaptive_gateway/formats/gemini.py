"""Gemini ``generateContent`` responses <-> canonical types, and the helpers every Gemini codec shares.

Pure; used by ``wire/gemini.py`` (clients) and ``providers/gemini.py`` (upstreams). Requests are in
:mod:`~adaptive_gateway.formats.gemini_request` (decode) and :mod:`~adaptive_gateway.formats.gemini_encode`,
streams in :mod:`~adaptive_gateway.formats.gemini_stream`.
Gemini accepts camelCase and snake_case for every field (the Python SDK mixes them), so reads go
through :func:`g`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from adaptive_gateway.errors import UpstreamError
from adaptive_gateway.types import (
    ChatResponse,
    Choice,
    ContentPart,
    FinishReason,
    Message,
    ToolCall,
    Usage,
)

_FIELDS = (
    "inlineData",
    "mimeType",
    "fileData",
    "fileUri",
    "functionCall",
    "functionResponse",
    "thoughtSignature",
    "systemInstruction",
    "functionDeclarations",
    "parametersJsonSchema",
    "toolConfig",
    "functionCallingConfig",
    "allowedFunctionNames",
    "generationConfig",
    "topP",
    "topK",
    "maxOutputTokens",
    "stopSequences",
    "candidateCount",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "thinkingConfig",
    "thinkingBudget",
    "thinkingLevel",
    "includeThoughts",
    "finishReason",
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokenCount",
    "cachedContentTokenCount",
    "thoughtsTokenCount",
    "responseId",
    "modelVersion",
    "promptFeedback",
    "blockReason",
    "executableCode",
    "codeExecutionResult",
)
_SNAKE: Mapping[str, str] = MappingProxyType({f: re.sub(r"(?=[A-Z])", "_", f).lower() for f in _FIELDS})

FINISH_IN: Mapping[str, FinishReason] = MappingProxyType(
    {
        "STOP": "stop",
        "MAX_TOKENS": "length",
        "SAFETY": "content_filter",
        "RECITATION": "content_filter",
        "BLOCKLIST": "content_filter",
        "PROHIBITED_CONTENT": "content_filter",
        "SPII": "content_filter",
        "IMAGE_SAFETY": "content_filter",
        "IMAGE_PROHIBITED_CONTENT": "content_filter",
        "MODEL_ARMOR": "content_filter",
        "MALFORMED_FUNCTION_CALL": "error",
        "UNEXPECTED_TOOL_CALL": "error",
        "MALFORMED_RESPONSE": "error",
        "OTHER": "stop",
        "LANGUAGE": "stop",
        "FINISH_REASON_UNSPECIFIED": "stop",
    }
)
FINISH_OUT: Mapping[str, str] = MappingProxyType(
    {
        "stop": "STOP",
        "length": "MAX_TOKENS",
        "tool_calls": "STOP",
        "content_filter": "SAFETY",
        "error": "OTHER",
    }
)


def g(node: Any, camel: str) -> Any:
    """Field ``camel`` of a Gemini object under either spelling (``inlineData`` / ``inline_data``)."""
    if not isinstance(node, dict):
        return None
    value = node.get(camel)
    if value is None and camel in _SNAKE:
        value = node.get(_SNAKE[camel])
    return value


def new_call_id() -> str:
    """A fresh tool-call id for calls an upstream Gemini returned (unique across a conversation)."""
    return "call_" + os.urandom(9).hex()


def part_kind(mime: str) -> str:
    """Canonical part type for a media type: image, audio or file."""
    major = mime.split("/", 1)[0]
    return major if major in ("image", "audio") else "file"


def finish_reason(raw: Any, has_tool_calls: bool) -> FinishReason:
    if has_tool_calls and raw in (None, "STOP"):
        return "tool_calls"
    return FINISH_IN.get(str(raw), "stop") if raw else "stop"


# ---- responses ------------------------------------------------------------------------------------------


def decode_usage(meta: Any) -> Usage | None:
    """``usageMetadata`` -> Usage; output tokens include thoughts (as OpenAI counts reasoning)."""
    if not isinstance(meta, dict):
        return None
    thoughts = g(meta, "thoughtsTokenCount") or 0
    return Usage(
        input_tokens=g(meta, "promptTokenCount") or 0,
        output_tokens=(g(meta, "candidatesTokenCount") or 0) + thoughts,
        cached_input_tokens=g(meta, "cachedContentTokenCount") or 0,
        reasoning_tokens=thoughts,
    )


def encode_usage(u: Usage) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "promptTokenCount": u.input_tokens,
        "candidatesTokenCount": max(u.output_tokens - u.reasoning_tokens, 0),
        "totalTokenCount": u.total_tokens,
    }
    if u.reasoning_tokens:
        meta["thoughtsTokenCount"] = u.reasoning_tokens
    if u.cached_input_tokens:
        meta["cachedContentTokenCount"] = u.cached_input_tokens
    return meta


def decode_model_parts(parts: list[Any]) -> Message:
    """A model turn's parts (response candidate) -> assistant message with fresh tool-call ids."""
    msg = Message("assistant")
    for part in parts:
        if not isinstance(part, dict):
            continue
        sig = g(part, "thoughtSignature")
        if sig and msg.reasoning_signature is None:
            msg.reasoning_signature = sig
        call = g(part, "functionCall")
        if isinstance(call, dict):
            cid = call.get("id") or new_call_id()
            msg.tool_calls.append(
                ToolCall(cid, str(call.get("name") or ""), orjson.dumps(call.get("args") or {}).decode())
            )
        elif part.get("thought") is True:
            msg.reasoning = (msg.reasoning or "") + (part.get("text") or "")
        elif isinstance(part.get("text"), str):
            if part["text"]:
                msg.content.append(ContentPart("text", text=part["text"]))
        elif isinstance(blob := g(part, "inlineData"), dict):
            mime = g(blob, "mimeType") or "application/octet-stream"
            msg.content.append(ContentPart(part_kind(mime), data=blob.get("data"), media_type=mime))
    return msg


def decode_response(body: dict[str, Any]) -> ChatResponse:
    choices = []
    for k, cand in enumerate(body.get("candidates") or []):
        msg = decode_model_parts(g(cand.get("content"), "parts") or [])
        reason = finish_reason(g(cand, "finishReason"), bool(msg.tool_calls))
        choices.append(Choice(cand.get("index", k), msg, reason))
    if not choices and g(g(body, "promptFeedback"), "blockReason"):
        choices.append(Choice(0, Message("assistant"), "content_filter"))
    return ChatResponse(
        id=g(body, "responseId") or "resp_" + os.urandom(8).hex(),
        model=g(body, "modelVersion") or "",
        choices=choices,
        usage=decode_usage(g(body, "usageMetadata")),
        raw=body,
    )


def _args(tc: ToolCall) -> dict[str, Any]:
    if not tc.arguments.strip():
        return {}
    try:
        value = orjson.loads(tc.arguments)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise UpstreamError(
            f"upstream returned arguments for tool '{tc.name}' that are not a JSON object: "
            f"{tc.arguments[:80]!r}",
            status=502,
        )
    return value


def encode_media(p: ContentPart) -> dict[str, Any]:
    """An image / audio / file part as ``inlineData`` (base64) or ``fileData`` (URL)."""
    mime = p.media_type or ("image/png" if p.type == "image" else "application/octet-stream")
    if p.data is not None:
        return {"inlineData": {"mimeType": mime, "data": p.data}}
    if p.url and p.url.startswith("data:"):
        media, _, data = p.url[5:].partition(";base64,")
        return {"inlineData": {"mimeType": media or mime, "data": data}}
    return {"fileData": {"mimeType": mime, "fileUri": p.url or ""}}


def encode_model_parts(m: Message) -> list[dict[str, Any]]:
    """Assistant message -> model parts for a client: thought, text, media, whole function calls."""
    parts: list[dict[str, Any]] = []
    if m.reasoning:
        parts.append({"text": m.reasoning, "thought": True})
    for p in m.content:
        if p.type == "text":
            parts.append({"text": p.text})
        elif p.type in ("image", "audio", "file"):
            parts.append(encode_media(p))
    for tc in m.tool_calls:
        parts.append({"functionCall": {"id": tc.id, "name": tc.name, "args": _args(tc)}})
    if m.reasoning_signature:
        if not parts:
            parts.append({"text": ""})
        parts[0]["thoughtSignature"] = m.reasoning_signature
    return parts or [{"text": ""}]


def encode_response(resp: ChatResponse) -> dict[str, Any]:
    candidates = [
        {
            "content": {"role": "model", "parts": encode_model_parts(c.message)},
            "finishReason": FINISH_OUT.get(c.finish_reason or "stop", "STOP"),
            "index": c.index,
        }
        for c in resp.choices
    ]
    out: dict[str, Any] = {"candidates": candidates, "modelVersion": resp.model, "responseId": resp.id}
    if resp.usage is not None:
        out["usageMetadata"] = encode_usage(resp.usage)
    return out
