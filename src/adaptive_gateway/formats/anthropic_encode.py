"""Canonical :class:`ChatRequest` -> Anthropic Messages request body. Pure.

A request that arrived in the Messages format is forwarded as the client sent it, with only the model
swapped (and ``max_tokens`` filled in when missing): unknown fields such as ``context_management`` pass
through untouched. Everything else is re-encoded from the canonical types.
"""

from __future__ import annotations

from typing import Any

import orjson

from adaptive_gateway.errors import InvalidRequest, UnsupportedContent
from adaptive_gateway.formats.anthropic_catalog import (
    BLOCK_PASSTHROUGH_KEYS,
    MIN_THINKING_BUDGET,
    THINKING_BUDGETS,
    TOOL_CHOICE_OUT,
    WIRE,
)
from adaptive_gateway.formats.common import parse_data_url
from adaptive_gateway.types import ChatRequest, ContentPart, Message, Tool

JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose, no code fences."
)


def _keep(out: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    if extra:
        for key in BLOCK_PASSTHROUGH_KEYS:
            if key in extra:
                out[key] = extra[key]
    return out


def _file_block(p: ContentPart, where: str) -> dict[str, Any]:
    media, data = p.media_type, p.data
    file = (p.extra or {}).get("file")
    if data is None and isinstance(file, dict) and isinstance(file.get("file_data"), str):
        media, data = parse_data_url(file["file_data"])
    if not data:
        raise UnsupportedContent(
            f"{where}: only inline (base64) files can be sent to an Anthropic model", param=where
        )
    return {
        "type": "document",
        "source": {"type": "base64", "media_type": media or "application/pdf", "data": data},
    }


def encode_part(p: ContentPart, where: str) -> dict[str, Any] | None:
    """One canonical part -> a content block (None for parts with nothing to send, e.g. empty text)."""
    extra = p.extra
    if extra is not None and extra.get("type") not in (None, "text", "image", "file") and p.type == "text":
        return extra  # an Anthropic-only block (tool_reference, document, ...) that came in verbatim
    if p.type == "text":
        return _keep({"type": "text", "text": p.text}, extra) if p.text else None
    if p.type == "image":
        if p.data is not None:
            source = {"type": "base64", "media_type": p.media_type or "image/png", "data": p.data}
        elif p.url:
            source = {"type": "url", "url": p.url}
        else:
            raise InvalidRequest(f"{where}: image without data or url", param=where)
        return _keep({"type": "image", "source": source}, extra)
    if p.type == "file":
        return _file_block(p, where)
    raise UnsupportedContent(
        f"{where}: {p.type} content is not supported by the Anthropic Messages API", param=where
    )


def _blocks(m: Message, where: str) -> list[dict[str, Any]]:
    out = []
    for j, p in enumerate(m.content):
        block = encode_part(p, f"{where}.content[{j}]")
        if block is not None:
            out.append(block)
    return out


def _tool_input(arguments: str) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        # a truncated call replayed from history: keep the text rather than fail the whole conversation
        return {"_raw_arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def _assistant(m: Message, where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if m.reasoning and m.reasoning_signature:  # Anthropic rejects thinking blocks without a signature
        blocks.append({"type": "thinking", "thinking": m.reasoning, "signature": m.reasoning_signature})
    blocks += _blocks(m, where)
    blocks += [
        {"type": "tool_use", "id": t.id, "name": t.name, "input": _tool_input(t.arguments)}
        for t in m.tool_calls
    ]
    return blocks


def _tool_result(m: Message, where: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id or ""}
    parts = _blocks(m, where)
    if parts:
        only_text = all(b.get("type") == "text" and len(b) == 2 for b in parts)
        block["content"] = "".join(b["text"] for b in parts) if only_text else parts
    if m.is_error:
        block["is_error"] = True
    return block


def _content(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if len(blocks) == 1 and blocks[0].get("type") == "text" and len(blocks[0]) == 2:
        return str(blocks[0]["text"])
    return blocks


def encode_messages(messages: list[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Canonical messages -> (system blocks, Messages-API messages).

    Leading system / developer messages become ``system``; later ones stay in place as ``role: system``
    (as Claude Code sends them). Tool results and the user turn after them share one user message, so
    the results of parallel calls sit together right after the assistant turn that made them.
    """
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    results_open = False  # the last user message holds tool results and may take more
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if m.role in ("system", "developer"):
            blocks = _blocks(m, where)
            if not out:
                system += blocks
            elif blocks:
                out.append({"role": "system", "content": blocks})
            results_open = False
        elif m.role == "tool":
            if results_open:
                out[-1]["content"].append(_tool_result(m, where))
            else:
                out.append({"role": "user", "content": [_tool_result(m, where)]})
                results_open = True
        elif m.role == "user":
            blocks = _blocks(m, where)
            if results_open:
                out[-1]["content"] += blocks
            else:
                out.append({"role": "user", "content": blocks})
            results_open = False
        else:
            blocks = _assistant(m, where)
            if blocks:
                out.append({"role": "assistant", "content": blocks})
            results_open = False
    for msg in out:
        if msg["role"] != "system":
            msg["content"] = _content(msg["content"])
    return system, out


def _tools(tools: list[Tool]) -> list[dict[str, Any]]:
    out = []
    for t in tools:
        schema = t.parameters if "type" in t.parameters else {"type": "object", **t.parameters}
        tool: dict[str, Any] = {"name": t.name, "input_schema": schema}
        if t.description:
            tool["description"] = t.description
        out.append(tool)
    return out


def _tool_choice(req: ChatRequest) -> dict[str, Any] | None:
    choice = req.tool_choice
    out: dict[str, Any] | None = None
    if isinstance(choice, str):
        kind = TOOL_CHOICE_OUT.get(choice)
        if kind is None:
            raise InvalidRequest(f"tool_choice: unknown value {choice!r}", param="tool_choice")
        out = {"type": kind}
    elif isinstance(choice, dict):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else choice.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("tool_choice: expected a function name", param="tool_choice")
        out = {"type": "tool", "name": name}
    if req.parallel_tool_calls is False:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


def _thinking_budget(req: ChatRequest) -> int | None:
    if req.thinking_budget:
        return max(req.thinking_budget, MIN_THINKING_BUDGET)
    return THINKING_BUDGETS.get(req.reasoning_effort or "none")


def encode_request(req: ChatRequest, model: str, default_max_tokens: int) -> dict[str, Any]:
    """Canonical request -> Messages body for ``model``; ``default_max_tokens`` when none was asked."""
    if req.wire == WIRE and req.raw is not None:
        forwarded = {**req.raw, "model": model}
        forwarded.setdefault("max_tokens", default_max_tokens)
        return forwarded
    if req.n is not None and req.n > 1:
        raise InvalidRequest("n: Anthropic models return a single choice (n must be 1)", param="n")
    system, messages = encode_messages(req.messages)
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": req.max_tokens or default_max_tokens,
        "messages": messages,
    }
    rf = req.response_format
    if rf is not None and rf.type == "json_object":
        system.append({"type": "text", "text": JSON_OBJECT_INSTRUCTION})
    elif rf is not None and rf.type == "json_schema" and rf.schema is not None:
        body["output_config"] = {"format": {"type": "json_schema", "schema": rf.schema}}
    if system:
        body["system"] = system
    if req.tools:
        body["tools"] = _tools(req.tools)
        choice = _tool_choice(req)
        if choice is not None:
            body["tool_choice"] = choice
    budget = _thinking_budget(req)
    if budget:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if body["max_tokens"] <= budget:
            body["max_tokens"] += budget
    else:  # Anthropic refuses temperature / top_p next to extended thinking
        if req.temperature is not None:
            body["temperature"] = min(req.temperature, 1.0)
        if req.top_p is not None:
            body["top_p"] = req.top_p
    if req.stop:
        body["stop_sequences"] = [s for s in req.stop if s.strip()]
    if req.user:
        body["metadata"] = {"user_id": req.user}
    if req.stream:
        body["stream"] = True
    return body
