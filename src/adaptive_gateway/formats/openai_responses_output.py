"""Canonical response / stream events -> OpenAI Responses JSON and its streaming event sequence. Pure.

Output items, in order: a ``reasoning`` item (when the upstream reasoned; its ``encrypted_content``
carries the upstream's reasoning signature behind :data:`SIGNATURE_PREFIX` so it can come back), one
``message`` item with an ``output_text`` part, then one ``function_call`` (or ``custom_tool_call``) item
per tool call, with namespaced / custom names mapped back (see :mod:`.openai_responses_tools`).

The stream follows the OpenAI SDK's typed events (``openai.types.responses``) and what Codex needs:
``response.created``, ``response.in_progress``, then per item ``response.output_item.added`` ... deltas ...
``response.output_item.done``, and always a final ``response.completed`` carrying the whole response and
its usage (with ``status: "incomplete"`` when the output was cut by ``max_output_tokens``: Codex treats
any stream without ``response.completed`` as failed). A failure after the stream started ends it with
``response.failed`` (``response.error`` has ``code`` and ``message``), which Codex and the SDK understand.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from adaptive_gateway.formats.openai_responses import SIGNATURE_PREFIX
from adaptive_gateway.formats.openai_responses_tools import ToolNames, tool_names
from adaptive_gateway.types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    Message,
    Usage,
)

# finish reasons that end a response as "incomplete", with the reason OpenAI reports
_INCOMPLETE: dict[str, str] = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()


def encode_usage(u: Usage | None) -> dict[str, Any] | None:
    if u is None:
        return None
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_input_tokens, "cache_write_tokens": 0},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.total_tokens,
    }


def envelope(req: ChatRequest, response_id: str, created: int) -> dict[str, Any]:
    """The response object around the output: request settings echoed back, as OpenAI does."""
    body = req.raw or {}
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, dict):
        reasoning = {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": req.model,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "service_tier": "default",
        "store": False,
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def finish_status(reason: FinishReason | None) -> tuple[str, dict[str, Any] | None]:
    """``(status, incomplete_details)`` for a finish reason."""
    why = _INCOMPLETE.get(reason or "stop")
    return ("incomplete", {"reason": why}) if why else ("completed", None)


# ---- output items ------------------------------------------------------------------------------------------


def reasoning_item(item_id: str, text: str, signature: str | None) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": text}] if text else [],
        "encrypted_content": SIGNATURE_PREFIX + signature if signature else None,
        "status": "completed",
    }


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [output_text(text)],
    }


def custom_input(arguments: str) -> str:
    """The free-form input of a custom tool call, out of its ``{"input": ...}`` arguments."""
    try:
        parsed = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments
    value = parsed.get("input") if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else arguments


def call_item(
    item_id: str, call_id: str, flat: str, arguments: str, names: ToolNames, status: str = "completed"
) -> dict[str, Any]:
    """A ``function_call`` / ``custom_tool_call`` item with the client's own tool name."""
    ident = names.client(flat)
    if ident.custom:
        item = {
            "id": item_id,
            "type": "custom_tool_call",
            "call_id": call_id,
            "name": ident.name,
            "input": custom_input(arguments),
        }
    else:
        item = {
            "id": item_id,
            "type": "function_call",
            "call_id": call_id,
            "name": ident.name,
            "arguments": arguments,
            "status": status,
        }
    if ident.namespace:
        item["namespace"] = ident.namespace
    return item


def output_items(msg: Message, status: str, names: ToolNames) -> list[dict[str, Any]]:
    items = []
    if msg.reasoning or msg.reasoning_signature:
        items.append(reasoning_item(new_id("rs_"), msg.reasoning or "", msg.reasoning_signature))
    text = msg.text()
    if text or not msg.tool_calls:
        items.append(message_item(new_id("msg_"), text, status))
    for tc in msg.tool_calls:
        prefix = "ctc_" if names.client(tc.name).custom else "fc_"
        items.append(call_item(new_id(prefix), tc.id, tc.name, tc.arguments, names))
    return items


def encode_response(resp: ChatResponse, req: ChatRequest) -> dict[str, Any]:
    """A complete (non-streaming) Responses object for the first choice of ``resp``."""
    choice = resp.choices[0] if resp.choices else None
    status, incomplete = finish_status(choice.finish_reason if choice else "stop")
    msg = choice.message if choice else Message("assistant")
    out = envelope(req, new_id("resp_"), resp.created or int(time.time()))
    out.update(
        status=status,
        incomplete_details=incomplete,
        completed_at=int(time.time()),
        output=output_items(msg, "incomplete" if incomplete else "completed", tool_names(req.raw)),
        usage=encode_usage(resp.usage),
    )
    return out
