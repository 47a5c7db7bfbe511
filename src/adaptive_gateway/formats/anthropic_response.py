"""Anthropic Messages responses and usage <-> canonical :class:`ChatResponse` / :class:`Usage`. Pure."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from adaptive_gateway.formats.anthropic_catalog import FINISH_TO_STOP, STOP_REASONS
from adaptive_gateway.types import ChatResponse, Choice, ContentPart, FinishReason, Message, ToolCall, Usage


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex[:24]


def message_id(candidate: str | None) -> str:
    """Anthropic ids start with ``msg_``; other upstreams' ids are re-prefixed."""
    if candidate and candidate.startswith("msg_"):
        return candidate
    if candidate:
        return "msg_" + candidate.split("-", 1)[-1]
    return new_message_id()


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def decode_usage(u: Any) -> Usage | None:
    """Anthropic counts cache reads and cache writes apart from ``input_tokens``; canonical input is the
    total prompt (as OpenAI counts it) with the cache reads in ``cached_input_tokens``."""
    if not isinstance(u, dict):
        return None
    cached = _int(u.get("cache_read_input_tokens"))
    details = u.get("output_tokens_details")
    return Usage(
        input_tokens=_int(u.get("input_tokens")) + cached + _int(u.get("cache_creation_input_tokens")),
        output_tokens=_int(u.get("output_tokens")),
        cached_input_tokens=cached,
        reasoning_tokens=_int(details.get("thinking_tokens")) if isinstance(details, dict) else 0,
    )


def encode_usage(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": max(u.input_tokens - u.cached_input_tokens, 0),
        "output_tokens": u.output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": u.cached_input_tokens,
    }


def stop_reason_of(reason: Any) -> FinishReason:
    return STOP_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def decode_response(body: dict[str, Any]) -> ChatResponse:
    msg = Message("assistant")
    thoughts: list[str] = []
    content = body.get("content")
    for block in content if isinstance(content, list) else []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            msg.content.append(ContentPart("text", text=str(block.get("text") or "")))
        elif kind == "tool_use":
            msg.tool_calls.append(
                ToolCall(
                    str(block.get("id") or ""),
                    str(block.get("name") or ""),
                    orjson.dumps(block.get("input") or {}).decode(),
                )
            )
        elif kind == "thinking":
            thoughts.append(str(block.get("thinking") or ""))
            signature = block.get("signature")
            if isinstance(signature, str) and signature:
                msg.reasoning_signature = signature
    if thoughts:
        msg.reasoning = "\n\n".join(thoughts)
    return ChatResponse(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        choices=[Choice(0, msg, stop_reason_of(body.get("stop_reason")))],
        usage=decode_usage(body.get("usage")),
        created=int(time.time()),
        raw=body,
    )


def passthrough_response(body: dict[str, Any], raw: bytes) -> ChatResponse:
    """A response forwarded byte for byte to a Messages client: id, model and usage read, the content
    decoded only on demand (:func:`materialize`), as the OpenAI codec does for its own passthrough."""
    return ChatResponse(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        choices=[],
        usage=decode_usage(body.get("usage")),
        raw=body,
        raw_bytes=raw,
    )


def materialize(resp: ChatResponse) -> ChatResponse:
    """Fill ``choices`` of a passthrough response (a no-op when they are already decoded)."""
    if not resp.choices and resp.raw is not None:
        resp.choices = decode_response(resp.raw).choices
    return resp


def stop_reason(finish: str | None, has_tool_calls: bool) -> str:
    """Canonical finish -> Anthropic stop_reason. Tool calls always end as ``tool_use``: some upstreams
    say "stop" even then, and Claude Code only runs tools on ``tool_use``."""
    if has_tool_calls and finish in (None, "stop", "tool_calls"):
        return "tool_use"
    return FINISH_TO_STOP.get(finish or "stop", "end_turn")


def encode_content(msg: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if msg.reasoning:
        blocks.append(
            {"type": "thinking", "thinking": msg.reasoning, "signature": msg.reasoning_signature or ""}
        )
    text = msg.text()
    if text:
        blocks.append({"type": "text", "text": text})
    for t in msg.tool_calls:
        try:
            args = orjson.loads(t.arguments) if t.arguments.strip() else {}
        except orjson.JSONDecodeError:
            args = {"_raw_arguments": t.arguments}
        blocks.append(
            {
                "type": "tool_use",
                "id": t.id,
                "name": t.name,
                "input": args if isinstance(args, dict) else {"value": args},
            }
        )
    return blocks


def encode_response(resp: ChatResponse, model: str) -> dict[str, Any]:
    """Canonical response -> a Messages response body (the first choice; Anthropic has no ``n``)."""
    choice = resp.choices[0] if resp.choices else Choice(0, Message("assistant"), "stop")
    msg = choice.message
    return {
        "id": message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": model or resp.model,
        "content": encode_content(msg),
        "stop_reason": stop_reason(choice.finish_reason, bool(msg.tool_calls)),
        "stop_sequence": None,
        "usage": encode_usage(resp.usage or Usage()),
    }
