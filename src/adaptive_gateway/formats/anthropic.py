"""Anthropic Messages request JSON -> canonical :class:`ChatRequest`. Pure.

The other directions live beside it: ``anthropic_encode`` (canonical -> Messages body),
``anthropic_response`` (responses, usage) and ``anthropic_stream`` (SSE events). Blocks the canonical
model cannot represent (``tool_reference``, documents, server-tool results, ...) become text parts that
keep the original block in ``ContentPart.extra``: other targets read the text, an Anthropic target gets
the block back verbatim.
"""

from __future__ import annotations

from typing import Any

import orjson

from adaptive_gateway.errors import InvalidRequest
from adaptive_gateway.formats.anthropic_catalog import TOOL_CHOICE_IN, WIRE
from adaptive_gateway.formats.common import check_range, data_url, require_list, require_str
from adaptive_gateway.types import ChatRequest, ContentPart, Message, ResponseFormat, Role, Tool, ToolCall

# top-level fields this codec models; the rest goes to ChatRequest.extra (forwarded only to Anthropic)
_MODELED = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "stream",
        "tools",
        "tool_choice",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "metadata",
        "thinking",
        "output_config",
        "output_format",
    }
)
_ROLES: dict[str, Role] = {"user": "user", "assistant": "assistant", "system": "system"}
# Claude Code's first system block: billing data for Anthropic only. Its text changes with every release,
# so other targets would lose their prompt-prefix cache on it; it is dropped in translation.
BILLING_HEADER = "x-anthropic-billing-header:"
# ChatRequest.extra key carrying the client's anthropic-beta header to an Anthropic upstream
BETA_HEADER_KEY = "anthropic-beta"


# ---- content blocks -------------------------------------------------------------------------------------


def _plain(block: dict[str, Any]) -> dict[str, Any] | None:
    """The block itself when it carries keys beyond its two required ones (cache_control, citations)."""
    return block if len(block) > 2 else None


def _describe(block: dict[str, Any]) -> str:
    """What a text-only target reads in place of a block it cannot take."""
    kind = block.get("type")
    if kind == "tool_reference":
        return f"Tool loaded: {block.get('tool_name', '')}"
    if kind == "document":
        title = block.get("title") or ""
        source = block.get("source") or {}
        if isinstance(source, dict) and source.get("type") == "text":
            return str(source.get("data") or "")
        return f"[document {title}]".replace(" ]", "]")
    if kind == "search_result":
        inner = block.get("content") or []
        texts = [b.get("text", "") for b in inner if isinstance(b, dict)]
        return "\n".join([str(block.get("title") or ""), *texts]).strip()
    return f"[{kind}]"


def _image(block: dict[str, Any], where: str) -> ContentPart:
    source = block.get("source")
    if not isinstance(source, dict):
        raise InvalidRequest(f"{where}.source: required object", param=f"{where}.source")
    extra = _plain(block)
    kind = source.get("type")
    if kind == "base64":
        media = require_str(source.get("media_type"), f"{where}.source.media_type")
        data = require_str(source.get("data"), f"{where}.source.data")
        return ContentPart("image", data=data, media_type=media, extra=extra)
    if kind == "url":
        return ContentPart("image", url=require_str(source.get("url"), f"{where}.source.url"), extra=extra)
    if kind == "file":
        return ContentPart("text", text=f"[image file {source.get('file_id', '')}]", extra=block)
    raise InvalidRequest(
        f"{where}.source.type: expected base64, url or file (got {kind!r})", param=f"{where}.source.type"
    )


def _document(block: dict[str, Any]) -> ContentPart:
    source = block.get("source") or {}
    if isinstance(source, dict) and source.get("type") == "base64" and source.get("data"):
        media = str(source.get("media_type") or "application/pdf")
        openai_part = {
            "type": "file",
            "file": {
                "filename": block.get("title") or "document.pdf",
                "file_data": data_url(media, str(source["data"])),
            },
        }
        return ContentPart("file", data=str(source["data"]), media_type=media, extra=openai_part)
    return ContentPart("text", text=_describe(block), extra=block)


def decode_block(block: Any, where: str) -> ContentPart:
    """One user/system/tool-result content block (not tool_use / tool_result / thinking)."""
    if not isinstance(block, dict):
        raise InvalidRequest(f"{where}: each content block must be an object", param=where)
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str):
            raise InvalidRequest(f"{where}.text: required string", param=f"{where}.text")
        return ContentPart("text", text=text, extra=_plain(block))
    if kind == "image":
        return _image(block, where)
    if kind == "document":
        return _document(block)
    if isinstance(kind, str) and kind:
        return ContentPart("text", text=_describe(block), extra=block)
    raise InvalidRequest(f"{where}.type: required string", param=f"{where}.type")


def _content_blocks(content: Any, where: str) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if content is None:
        return []
    return require_list(content, where)


def _tool_result(block: dict[str, Any], where: str) -> Message:
    tool_use_id = require_str(block.get("tool_use_id"), f"{where}.tool_use_id")
    content = block.get("content")
    parts = [
        decode_block(b, f"{where}.content[{i}]")
        for i, b in enumerate(_content_blocks(content, f"{where}.content"))
    ]
    return Message("tool", parts, tool_call_id=tool_use_id, is_error=block.get("is_error") is True)


def _tool_use(block: dict[str, Any], where: str) -> ToolCall:
    args = block.get("input")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise InvalidRequest(f"{where}.input: must be an object", param=f"{where}.input")
    return ToolCall(
        require_str(block.get("id"), f"{where}.id"),
        require_str(block.get("name"), f"{where}.name"),
        orjson.dumps(args).decode(),
    )


def _assistant(blocks: list[Any], where: str) -> Message:
    msg = Message("assistant")
    thoughts: list[str] = []
    for i, block in enumerate(blocks):
        at = f"{where}[{i}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_use":
            msg.tool_calls.append(_tool_use(block, at))
        elif kind == "thinking":
            thoughts.append(str(block.get("thinking") or ""))
            signature = block.get("signature")
            if isinstance(signature, str) and signature:
                msg.reasoning_signature = signature
        elif kind == "redacted_thinking":
            continue  # opaque; only an Anthropic target could use it, and that one gets the raw body
        else:
            msg.content.append(decode_block(block, at))
    if thoughts:
        msg.reasoning = "\n\n".join(thoughts)
    return msg


def _decode_message(m: Any, where: str) -> list[Message]:
    """One Messages-API message -> canonical messages (tool results become ``tool`` messages first)."""
    if not isinstance(m, dict):
        raise InvalidRequest(f"{where}: each message must be an object", param=where)
    role_name = m.get("role")
    role = _ROLES.get(role_name) if isinstance(role_name, str) else None
    if role is None:
        raise InvalidRequest(
            f"{where}.role: expected user, assistant or system (got {m.get('role')!r})", param=f"{where}.role"
        )
    blocks = _content_blocks(m.get("content"), f"{where}.content")
    if role == "assistant":
        return [_assistant(blocks, f"{where}.content")]
    tools: list[Message] = []
    parts: list[ContentPart] = []
    for i, block in enumerate(blocks):
        at = f"{where}.content[{i}]"
        if isinstance(block, dict) and block.get("type") == "tool_result":
            tools.append(_tool_result(block, at))
        else:
            parts.append(decode_block(block, at))
    if parts or not tools:
        tools.append(Message(role, parts))
    return tools


def _decode_system(system: Any) -> list[Message]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [Message("system", [ContentPart("text", text=system)])]
    parts = []
    for i, block in enumerate(require_list(system, "system")):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise InvalidRequest(f"system[{i}]: expected a text block", param=f"system[{i}]")
        part = decode_block(block, f"system[{i}]")
        if not part.text.startswith(BILLING_HEADER):
            parts.append(part)
    return [Message("system", parts)] if parts else []


# ---- tools and options ----------------------------------------------------------------------------------


def _decode_tools(tools: Any) -> tuple[list[Tool], list[str]]:
    """(client tools, field paths of server tools such as web_search that only Anthropic runs)."""
    out, builtin = [], []
    for i, t in enumerate(require_list(tools, "tools")):
        if not isinstance(t, dict):
            raise InvalidRequest(f"tools[{i}]: must be an object", param=f"tools[{i}]")
        schema = t.get("input_schema")
        if schema is None and t.get("type") not in (None, "custom"):
            builtin.append(f"tools[{i}]")  # refused by other targets (pipeline/media), kept for Anthropic
            continue
        if not isinstance(schema, dict):
            raise InvalidRequest(
                f"tools[{i}].input_schema: required JSON schema object", param=f"tools[{i}].input_schema"
            )
        out.append(
            Tool(
                require_str(t.get("name"), f"tools[{i}].name"),
                str(t.get("description") or ""),
                schema,
                t.get("strict") if isinstance(t.get("strict"), bool) else None,
            )
        )
    return out, builtin


def _decode_tool_choice(choice: Any) -> tuple[str | dict[str, Any] | None, bool | None]:
    """Anthropic tool_choice -> (canonical tool_choice, parallel_tool_calls)."""
    if choice is None:
        return None, None
    if not isinstance(choice, dict):
        raise InvalidRequest('tool_choice: must be an object like {"type": "auto"}', param="tool_choice")
    kind = choice.get("type")
    parallel = False if choice.get("disable_parallel_tool_use") is True else None
    if kind == "tool":
        name = require_str(choice.get("name"), "tool_choice.name")
        return {"type": "function", "function": {"name": name}}, parallel
    mapped = TOOL_CHOICE_IN.get(kind) if isinstance(kind, str) else None
    if mapped is None:
        raise InvalidRequest(
            f"tool_choice.type: expected auto, any, tool or none (got {kind!r})", param="tool_choice.type"
        )
    return mapped, parallel


def _decode_thinking(thinking: Any) -> int | None:
    """The budget of ``{type: enabled, budget_tokens}``; other kinds (adaptive, disabled, between_tools,
    and any newer one) carry none and are forwarded as they are to Anthropic targets."""
    if thinking is None:
        return None
    if not isinstance(thinking, dict):
        raise InvalidRequest("thinking: must be an object", param="thinking")
    if thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise InvalidRequest(
            "thinking.budget_tokens: required positive integer", param="thinking.budget_tokens"
        )
    return budget


def _decode_output_format(body: dict[str, Any]) -> ResponseFormat | None:
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    where = "output_config.format"
    if fmt is None:
        fmt, where = body.get("output_format"), "output_format"
    if fmt is None:
        return None
    if (
        not isinstance(fmt, dict)
        or fmt.get("type") != "json_schema"
        or not isinstance(fmt.get("schema"), dict)
    ):
        raise InvalidRequest(f"{where}: expected {{type: json_schema, schema: {{...}}}}", param=where)
    schema = fmt["schema"]
    title = schema.get("title")
    return ResponseFormat("json_schema", schema, title if isinstance(title, str) else None)


def _max_tokens(value: Any) -> int | None:
    if value is None:
        return None  # filled from the deployment / model catalog when the target needs it
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"max_tokens: must be an integer >= 1 (got {value!r})", param="max_tokens")
    return value


def _stop_sequences(value: Any) -> list[str]:
    if value is None:
        return []
    items = require_list(value, "stop_sequences")
    if not all(isinstance(s, str) for s in items):
        raise InvalidRequest("stop_sequences: must be a list of strings", param="stop_sequences")
    return list(items)


def decode_request(body: dict[str, Any], beta: str | None = None) -> ChatRequest:
    """Validate and decode a Messages body; raises :class:`InvalidRequest` naming the field.

    ``beta`` is the client's ``anthropic-beta`` header, forwarded to Anthropic upstreams.
    """
    model = require_str(body.get("model"), "model")
    raw_messages = require_list(body.get("messages"), "messages")
    if not raw_messages:
        raise InvalidRequest("messages: must contain at least one message", param="messages")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("stream: must be a boolean", param="stream")
    messages = _decode_system(body.get("system"))
    for i, m in enumerate(raw_messages):
        messages.extend(_decode_message(m, f"messages[{i}]"))
    tool_choice, parallel = _decode_tool_choice(body.get("tool_choice"))
    tools, builtin = _decode_tools(body["tools"]) if body.get("tools") else ([], [])
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidRequest("metadata: must be an object", param="metadata")
    user = (metadata or {}).get("user_id")
    req = ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        include_usage=True,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        temperature=check_range(body.get("temperature"), "temperature", 0.0, 1.0),
        top_p=check_range(body.get("top_p"), "top_p", 0.0, 1.0),
        max_tokens=_max_tokens(body.get("max_tokens")),
        stop=_stop_sequences(body.get("stop_sequences")),
        response_format=_decode_output_format(body),
        thinking_budget=_decode_thinking(body.get("thinking")),
        user=user if isinstance(user, str) else None,
        metadata=metadata or {},
        wire=WIRE,
        raw=body,
    )
    check_range(body.get("top_k"), "top_k", 0, None)
    req.extra = {k: v for k, v in body.items() if k not in _MODELED}
    if builtin:
        req.extra["builtin_tools"] = builtin
    if beta:
        req.extra[BETA_HEADER_KEY] = beta
    return req
