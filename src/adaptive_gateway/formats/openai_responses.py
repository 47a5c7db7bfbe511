"""OpenAI Responses request JSON -> canonical :class:`ChatRequest`. Pure.

What Codex CLI and ``client.responses.create`` send: ``instructions``, ``input`` (a string or a list of
items: messages, ``function_call`` / ``function_call_output``, ``custom_tool_call`` / ``..._output``,
``reasoning``), tools (see :mod:`.openai_responses_tools`), ``text.format``, sampling fields.

Stateless by design: the gateway stores no responses, so ``previous_response_id``, ``conversation``,
``background`` and ``item_reference`` items are refused with a 400 naming the field. ``store`` is
accepted and ignored (Codex always sends ``store: false`` with the whole history).

Reasoning items round-trip only when they came from this gateway: their ``encrypted_content`` then holds
:data:`SIGNATURE_PREFIX` + the upstream's reasoning signature (e.g. an Anthropic thinking signature),
and they become ``Message.reasoning`` / ``reasoning_signature`` on the next assistant message. Reasoning
items encrypted by OpenAI itself are kept only in ``ChatRequest.raw`` (no upstream here can read them).
The response side lives in :mod:`.openai_responses_output`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from adaptive_gateway.errors import InvalidRequest, UnsupportedContent
from adaptive_gateway.formats.common import check_range, parse_data_url, require_list, require_str
from adaptive_gateway.formats.openai_responses_tools import ToolNames, decode_tool_choice, decode_tools
from adaptive_gateway.types import ChatRequest, ContentPart, Message, ResponseFormat, Role, ToolCall

WIRE = "openai_responses"
SIGNATURE_PREFIX = "agw1:"
log = logging.getLogger("adaptive_gateway.formats.openai_responses")

_MESSAGE_ROLES: dict[str, Role] = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
    "developer": "developer",
}
# top-level fields this codec models; the rest go to ChatRequest.extra
_MODELED = frozenset(
    {
        "model",
        "input",
        "instructions",
        "stream",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "temperature",
        "top_p",
        "max_output_tokens",
        "text",
        "reasoning",
        "metadata",
        "user",
    }
)
# the gateway keeps no state between requests: these need stored responses / conversations
_STATEFUL = {
    "previous_response_id": "the gateway does not store responses; send the whole conversation in `input` "
    "(as Codex does with store:false)",
    "conversation": "the gateway does not store conversations; send the whole conversation in `input`",
    "prompt": "stored prompt templates are not supported; send the prompt text in `instructions` / `input`",
}
# items produced by OpenAI-hosted tools: no upstream here can use them, so history drops them
_HOSTED_ITEMS = frozenset(
    {
        "web_search_call",
        "file_search_call",
        "computer_call",
        "computer_call_output",
        "code_interpreter_call",
        "image_generation_call",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "mcp_call",
        "tool_search_call",
        "tool_search_output",
        "compaction",
        "compaction_summary",
        "program",
        "program_output",
        "additional_tools",
    }
)
_FILE_REFUSAL = (
    "file references (file_id) need OpenAI's file store, which the gateway does not have; "
    "send the content inline"
)


# ---- content parts ----------------------------------------------------------------------------------------


def _text(part: dict[str, Any], where: str) -> ContentPart:
    text = part.get("text", "")
    if not isinstance(text, str):
        raise InvalidRequest(f"{where}.text: must be a string", param=f"{where}.text")
    return ContentPart("text", text=text)


def _refusal(part: dict[str, Any], where: str) -> ContentPart:
    return ContentPart("text", text=str(part.get("refusal") or ""))


def _image(part: dict[str, Any], where: str) -> ContentPart:
    if part.get("file_id"):
        raise UnsupportedContent(
            f"{where}.file_id: {_FILE_REFUSAL} as image_url (a data: or https URL)", param=f"{where}.file_id"
        )
    url = part.get("image_url")
    if isinstance(url, dict):  # tolerate the chat-completions shape
        url = url.get("url")
    url = require_str(url, f"{where}.image_url")
    detail = part.get("detail")
    media, data = parse_data_url(url)
    if data is not None:
        return ContentPart("image", data=data, media_type=media, detail=detail)
    return ContentPart("image", url=url, detail=detail)


def _file(part: dict[str, Any], where: str) -> ContentPart:
    if part.get("file_id"):
        raise UnsupportedContent(f"{where}.file_id: {_FILE_REFUSAL} as file_data", param=f"{where}.file_id")
    if part.get("file_url"):
        raise UnsupportedContent(
            f"{where}.file_url: file URLs are not supported; send the file inline as "
            "file_data (a base64 data: URL)",
            param=f"{where}.file_url",
        )
    file_data = require_str(part.get("file_data"), f"{where}.file_data")
    filename = part.get("filename") or "file"
    media, data = parse_data_url(file_data)
    if data is None:  # bare base64: guess from the name
        media, data = (
            ("application/pdf" if filename.endswith(".pdf") else "application/octet-stream"),
            file_data,
        )
        file_data = f"data:{media};base64,{data}"
    # ``extra`` holds the chat-completions form of the same part, which OpenAI-compatible upstreams take
    chat = {"type": "file", "file": {"filename": filename, "file_data": file_data}}
    return ContentPart("file", data=data, media_type=media, extra=chat)


def _audio(part: dict[str, Any], where: str) -> ContentPart:
    audio = part.get("input_audio")
    if not isinstance(audio, dict):
        raise InvalidRequest(f"{where}.input_audio: required object", param=f"{where}.input_audio")
    fmt = audio.get("format") or "wav"
    return ContentPart(
        "audio", data=require_str(audio.get("data"), f"{where}.input_audio.data"), media_type=f"audio/{fmt}"
    )


_PARTS: dict[str, Callable[[dict[str, Any], str], ContentPart]] = {
    "input_text": _text,
    "output_text": _text,
    "text": _text,
    "summary_text": _text,
    "reasoning_text": _text,
    "refusal": _refusal,
    "input_image": _image,
    "input_file": _file,
    "input_audio": _audio,
}


def _content(content: Any, where: str) -> list[ContentPart]:
    if content is None:
        return []
    if isinstance(content, str):
        return [ContentPart("text", text=content)]
    parts = []
    for i, part in enumerate(require_list(content, where)):
        here = f"{where}[{i}]"
        decode = _PARTS.get(str(part.get("type"))) if isinstance(part, dict) else None
        if decode is None:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise InvalidRequest(
                f"{here}.type: unsupported content part type {kind!r} (expected one of "
                f"{', '.join(sorted(_PARTS))})",
                param=f"{here}.type",
            )
        parts.append(decode(part, here))
    return parts


# ---- input items ------------------------------------------------------------------------------------------


class _History:
    """Accumulates canonical messages from Responses items (one pass, in order)."""

    __slots__ = ("messages", "names", "pending_reasoning", "skipped")

    def __init__(self, names: ToolNames) -> None:
        self.messages: list[Message] = []
        self.names = names
        self.pending_reasoning: tuple[str, str] | None = None
        self.skipped: list[str] = []

    def _assistant_turn(self, msg: Message) -> Message:
        if self.pending_reasoning is not None:
            msg.reasoning, msg.reasoning_signature = self.pending_reasoning
            self.pending_reasoning = None
        self.messages.append(msg)
        return msg

    def message(self, item: dict[str, Any], where: str) -> None:
        role = _MESSAGE_ROLES.get(str(item.get("role")))
        if role is None:
            raise InvalidRequest(
                f"{where}.role: unknown role {item.get('role')!r} (expected one of "
                f"{', '.join(_MESSAGE_ROLES)})",
                param=f"{where}.role",
            )
        msg = Message(role, _content(item.get("content"), f"{where}.content"))
        if role == "assistant":
            self._assistant_turn(msg)
        else:
            self.messages.append(msg)

    def call(self, call: ToolCall) -> None:
        """A tool call joins the assistant message right before it (parallel calls share one)."""
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == "assistant" and self.pending_reasoning is None:
            last.tool_calls.append(call)
        else:
            self._assistant_turn(Message("assistant")).tool_calls.append(call)

    def function_call(self, item: dict[str, Any], where: str) -> None:
        args = item.get("arguments")
        name = self.names.flat(require_str(item.get("name"), f"{where}.name"), item.get("namespace"))
        self.call(
            ToolCall(
                id=require_str(item.get("call_id"), f"{where}.call_id"),
                name=name,
                arguments=args if isinstance(args, str) else orjson.dumps(args or {}).decode(),
            )
        )

    def custom_call(self, item: dict[str, Any], where: str) -> None:
        name = self.names.flat(require_str(item.get("name"), f"{where}.name"), item.get("namespace"))
        args = orjson.dumps({"input": item.get("input") or ""}).decode()
        self.call(ToolCall(require_str(item.get("call_id"), f"{where}.call_id"), name, args))

    def call_output(self, item: dict[str, Any], where: str) -> None:
        output = item.get("output")
        is_error = False
        if isinstance(output, dict):  # older Codex failure shape: {content, success}
            is_error = output.get("success") is False
            output = output.get("content")
        msg = Message(
            "tool",
            _content(output if output is not None else "", f"{where}.output"),
            tool_call_id=require_str(item.get("call_id"), f"{where}.call_id"),
            is_error=is_error,
        )
        self.messages.append(msg)

    def reasoning(self, item: dict[str, Any], where: str) -> None:
        enc = item.get("encrypted_content")
        if not isinstance(enc, str) or not enc.startswith(SIGNATURE_PREFIX):
            return  # OpenAI's own encrypted reasoning: only an OpenAI Responses upstream could read it
        texts = item.get("summary") or item.get("content") or []
        text = "".join(t.get("text") or "" for t in texts if isinstance(t, dict))
        self.pending_reasoning = (text, enc[len(SIGNATURE_PREFIX) :])


_ITEMS: dict[str, Callable[[_History, dict[str, Any], str], None]] = {
    "message": _History.message,
    "function_call": _History.function_call,
    "function_call_output": _History.call_output,
    "custom_tool_call": _History.custom_call,
    "custom_tool_call_output": _History.call_output,
    "reasoning": _History.reasoning,
}


def _item(history: _History, item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise InvalidRequest(f"{where}: each input item must be an object", param=where)
    kind = item.get("type") or ("message" if "role" in item else "")
    handler = _ITEMS.get(kind) if isinstance(kind, str) else None
    if handler is not None:
        handler(history, item, where)
    elif kind in _HOSTED_ITEMS:
        history.skipped.append(f"{where} ({kind})")
    elif kind == "item_reference":
        raise InvalidRequest(
            f"{where}: item_reference needs stored items, which the gateway does not keep; "
            "send the item itself",
            param=where,
        )
    else:
        raise InvalidRequest(f"{where}.type: unsupported input item type {kind!r}", param=f"{where}.type")


def decode_messages(body: dict[str, Any], names: ToolNames) -> tuple[list[Message], list[str]]:
    """``instructions`` + ``input`` -> canonical messages, and the items skipped (hosted-tool history)."""
    history = _History(names)
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise InvalidRequest("instructions: must be a string", param="instructions")
        if instructions:
            history.messages.append(Message("system", [ContentPart("text", text=instructions)]))
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        history.messages.append(Message("user", [ContentPart("text", text=raw_input)]))
    else:
        for i, item in enumerate(require_list(raw_input, "input")):
            _item(history, item, f"input[{i}]")
    if not any(m.role != "system" for m in history.messages):
        raise InvalidRequest("input: must contain at least one message or item", param="input")
    return history.messages, history.skipped


# ---- request ----------------------------------------------------------------------------------------------


def _response_format(text: Any) -> ResponseFormat | None:
    if text is None:
        return None
    if not isinstance(text, dict):
        raise InvalidRequest("text: must be an object", param="text")
    fmt = text.get("format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        raise InvalidRequest(
            "text.format.type: expected text, json_object or json_schema", param="text.format.type"
        )
    if kind == "text":
        return None
    schema = fmt.get("schema")
    if kind == "json_schema" and not isinstance(schema, dict):
        raise InvalidRequest("text.format.schema: required JSON schema object", param="text.format.schema")
    return ResponseFormat(kind, schema, fmt.get("name"), fmt.get("strict"))


def _refuse_stateful(body: dict[str, Any]) -> None:
    for name, why in _STATEFUL.items():
        if body.get(name):
            raise InvalidRequest(f"{name}: not supported: {why}", param=name, code="unsupported_parameter")
    if body.get("background"):
        raise InvalidRequest(
            "background: not supported: background responses need stored state, which the "
            "gateway does not keep; use stream: true",
            param="background",
            code="unsupported_parameter",
        )


def _flag(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(f"{name}: must be a boolean", param=name)
    return value


def decode_request(body: dict[str, Any]) -> ChatRequest:
    """Validate and decode a Responses body; raises :class:`InvalidRequest` naming the field."""
    model = require_str(body.get("model"), "model")
    _refuse_stateful(body)
    decoded = decode_tools(body.get("tools"))
    messages, skipped = decode_messages(body, decoded.names)
    if decoded.dropped or skipped:
        log.info(
            "responses request: dropped hosted tools %s and history items %s (no upstream runs them)",
            decoded.dropped,
            skipped,
        )
    reasoning = body.get("reasoning")
    metadata = body.get("metadata")
    req = ChatRequest(
        model=model,
        messages=messages,
        stream=bool(_flag(body, "stream")),
        include_usage=True,
        tools=decoded.tools,
        tool_choice=decode_tool_choice(body.get("tool_choice"), decoded.names, bool(decoded.tools)),
        parallel_tool_calls=_flag(body, "parallel_tool_calls") if decoded.tools else None,
        temperature=check_range(body.get("temperature"), "temperature", 0.0, 2.0),
        top_p=check_range(body.get("top_p"), "top_p", 0.0, 1.0),
        max_tokens=check_range(body.get("max_output_tokens"), "max_output_tokens", 1, None),
        response_format=_response_format(body.get("text")),
        reasoning_effort=reasoning.get("effort") if isinstance(reasoning, dict) else None,
        user=body.get("user") if isinstance(body.get("user"), str) else None,
        metadata=metadata if isinstance(metadata, dict) else {},
        wire=WIRE,
        raw=body,
    )
    req.extra = {k: v for k, v in body.items() if k not in _MODELED}
    return req
