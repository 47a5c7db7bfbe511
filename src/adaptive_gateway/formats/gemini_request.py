"""Gemini ``generateContent`` request bodies -> :class:`ChatRequest` (Gemini clients). Pure; the other
direction is :mod:`~adaptive_gateway.formats.gemini_encode`.

Function calls in a request carry no ids (or optional ones): they are numbered ``call_<n>`` in order
and each ``functionResponse`` is matched to the earliest unanswered call of the same name, so the
ids are stable each time a client re-sends its history.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from adaptive_gateway.errors import InvalidRequest
from adaptive_gateway.formats.common import check_range, require_list, require_str
from adaptive_gateway.formats.gemini import g, part_kind
from adaptive_gateway.formats.gemini_schema import to_json_schema
from adaptive_gateway.formats.validate import check_schema, standard_base64
from adaptive_gateway.types import ChatRequest, ContentPart, Message, ResponseFormat, Tool, ToolCall

_MODELED = frozenset(
    {
        "contents",
        "systemInstruction",
        "system_instruction",
        "tools",
        "toolConfig",
        "tool_config",
        "generationConfig",
        "generation_config",
    }
)
_MODES_IN: Mapping[str, str] = MappingProxyType(
    {"AUTO": "auto", "ANY": "required", "VALIDATED": "auto", "NONE": "none", "MODE_UNSPECIFIED": "auto"}
)


class _CallIds:
    """Numbers function calls and matches responses to them (see module docstring)."""

    __slots__ = ("n", "pending")

    def __init__(self) -> None:
        self.n = 0
        self.pending: list[tuple[str, str]] = []

    def call(self, name: str, given: Any) -> str:
        cid = given if isinstance(given, str) and given else f"call_{self.n}"
        self.n += 1
        self.pending.append((cid, name))
        return cid

    def answer(self, name: str, given: Any) -> str:
        if isinstance(given, str) and given:
            self.pending = [p for p in self.pending if p[0] != given]
            return given
        for i, (cid, pending_name) in enumerate(self.pending):
            if pending_name == name:
                del self.pending[i]
                return cid
        if self.pending:
            return self.pending.pop(0)[0]
        cid = f"call_{self.n}"
        self.n += 1
        return cid


# ---- decode ---------------------------------------------------------------------------------------------


def _media(part: dict[str, Any], where: str) -> ContentPart | None:
    blob = g(part, "inlineData")
    if isinstance(blob, dict):
        mime = require_str(g(blob, "mimeType"), f"{where}.inlineData.mimeType")
        data = standard_base64(
            require_str(blob.get("data"), f"{where}.inlineData.data"), f"{where}.inlineData.data"
        )
        return ContentPart(part_kind(mime), data=data, media_type=mime)
    ref = g(part, "fileData")
    if isinstance(ref, dict):
        uri = require_str(g(ref, "fileUri"), f"{where}.fileData.fileUri")
        mime = g(ref, "mimeType")
        return ContentPart(part_kind(mime) if mime else "image", url=uri, media_type=mime)
    return None


def _model_turn(parts: list[Any], where: str, ids: _CallIds) -> Message:
    msg = Message("assistant")
    for j, part in enumerate(parts):
        pw = f"{where}.parts[{j}]"
        if not isinstance(part, dict):
            raise InvalidRequest(f"{pw}: each part must be an object", param=pw)
        sig = g(part, "thoughtSignature")
        if sig and msg.reasoning_signature is None:
            msg.reasoning_signature = sig
        call = g(part, "functionCall")
        if isinstance(call, dict):
            name = require_str(call.get("name"), f"{pw}.functionCall.name")
            args = call.get("args") or {}
            msg.tool_calls.append(ToolCall(ids.call(name, call.get("id")), name, orjson.dumps(args).decode()))
        elif part.get("thought") is True:
            msg.reasoning = (msg.reasoning or "") + str(part.get("text") or "")
        elif isinstance(part.get("text"), str):
            if part["text"]:
                msg.content.append(ContentPart("text", text=part["text"]))
        elif (media := _media(part, pw)) is not None:
            msg.content.append(media)
        elif not sig:
            # executableCode, codeExecutionResult...: kept so a non-Gemini target refuses it clearly
            msg.content.append(ContentPart("other", extra=part))
    return msg


def _tool_result(resp: dict[str, Any], where: str, ids: _CallIds) -> Message:
    name = require_str(resp.get("name"), f"{where}.functionResponse.name")
    body = resp.get("response")
    if body is not None and not isinstance(body, dict):
        raise InvalidRequest(f"{where}.functionResponse.response: must be an object", param=where)
    body = body or {}
    error = "error" in body and "output" not in body
    text = orjson.dumps(body).decode()
    return Message(
        "tool",
        [ContentPart("text", text=text)],
        name=name,
        tool_call_id=ids.answer(name, resp.get("id")),
        is_error=error,
    )


def _user_turn(parts: list[Any], where: str, ids: _CallIds) -> list[Message]:
    results: list[Message] = []
    user = Message("user")
    for j, part in enumerate(parts):
        pw = f"{where}.parts[{j}]"
        if not isinstance(part, dict):
            raise InvalidRequest(f"{pw}: each part must be an object", param=pw)
        resp = g(part, "functionResponse")
        if isinstance(resp, dict):
            results.append(_tool_result(resp, pw, ids))
        elif isinstance(part.get("text"), str):
            if part.get("thought") is not True:
                user.content.append(ContentPart("text", text=part["text"]))
        elif (media := _media(part, pw)) is not None:
            user.content.append(media)
        else:
            raise InvalidRequest(
                f"{pw}: unsupported part (expected text, inlineData, fileData or functionResponse)", param=pw
            )
    return results + ([user] if user.content else [])


def _contents(contents: list[Any]) -> list[Message]:
    ids = _CallIds()
    out: list[Message] = []
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, dict):
            raise InvalidRequest(f"{where}: each content must be an object", param=where)
        role = content.get("role") or "user"
        parts = require_list(content.get("parts"), f"{where}.parts")
        if role == "model":
            out.append(_model_turn(parts, where, ids))
        elif role in ("user", "function"):
            out.extend(_user_turn(parts, where, ids))
        else:
            raise InvalidRequest(
                f"{where}.role: unknown role {role!r} (expected user or model)", param=f"{where}.role"
            )
    return out


def _system(value: Any) -> list[Message]:
    if value is None:
        return []
    if isinstance(value, str):
        return [Message("system", [ContentPart("text", text=value)])]
    parts = g(value, "parts") if isinstance(value, dict) else value
    texts = [
        p["text"]
        for p in require_list(parts, "systemInstruction.parts")
        if isinstance(p, dict) and isinstance(p.get("text"), str)
    ]
    return [Message("system", [ContentPart("text", text="\n".join(texts))])] if texts else []


def _declaration(d: Any, where: str) -> Tool:
    if not isinstance(d, dict):
        raise InvalidRequest(f"{where}: must be an object", param=where)
    name = require_str(d.get("name"), f"{where}.name")
    schema = g(d, "parametersJsonSchema")
    if schema is not None:
        check_schema(schema, f"{where}.parametersJsonSchema")
    elif (params := d.get("parameters")) is not None:
        check_schema(params, f"{where}.parameters")
        schema = to_json_schema(params)
    return Tool(name, d.get("description") or "", schema or {"type": "object", "properties": {}})


def _tools(tools: Any) -> tuple[list[Tool], list[str]]:
    """Function declarations, and the names of built-in tools (googleSearch, codeExecution...)."""
    out: list[Tool] = []
    builtin: list[str] = []
    for i, t in enumerate(require_list(tools, "tools")):
        decls = g(t, "functionDeclarations")
        if decls is None:
            builtin.extend(f"tools[{i}].{k}" for k in (t if isinstance(t, dict) else {}))
            continue
        for j, d in enumerate(require_list(decls, f"tools[{i}].functionDeclarations")):
            out.append(_declaration(d, f"tools[{i}].functionDeclarations[{j}]"))
    return out, builtin


def _tool_choice(config: Any, tools: list[Tool]) -> tuple[str | dict[str, Any] | None, list[Tool]]:
    calling = g(config, "functionCallingConfig")
    if not isinstance(calling, dict):
        return None, tools
    mode = str(calling.get("mode") or "AUTO").upper()
    choice = _MODES_IN.get(mode)
    if choice is None:
        raise InvalidRequest(
            f"toolConfig.functionCallingConfig.mode: unknown mode {mode!r}",
            param="toolConfig.functionCallingConfig.mode",
        )
    allowed = g(calling, "allowedFunctionNames") or []
    if allowed and choice == "required":
        tools = [t for t in tools if t.name in allowed] or tools
        if len(allowed) == 1:
            return {"type": "function", "function": {"name": allowed[0]}}, tools
    return choice, tools


def _response_format(config: dict[str, Any]) -> ResponseFormat | None:
    schema = g(config, "responseJsonSchema")
    if schema is not None:
        check_schema(schema, "generationConfig.responseJsonSchema")
    elif (legacy := g(config, "responseSchema")) is not None:
        check_schema(legacy, "generationConfig.responseSchema")
        schema = to_json_schema(legacy)
    if schema is not None:
        return ResponseFormat(
            "json_schema", schema, schema.get("title") if isinstance(schema, dict) else None
        )
    if g(config, "responseMimeType") == "application/json":
        return ResponseFormat("json_object")
    return None


def _generation(req: ChatRequest, config: Any) -> None:
    if config is None:
        return
    if not isinstance(config, dict):
        raise InvalidRequest("generationConfig: must be an object", param="generationConfig")
    req.temperature = check_range(config.get("temperature"), "generationConfig.temperature", 0.0, 2.0)
    req.top_p = check_range(g(config, "topP"), "generationConfig.topP", 0.0, 1.0)
    req.max_tokens = check_range(g(config, "maxOutputTokens"), "generationConfig.maxOutputTokens", 1, None)
    req.n = check_range(g(config, "candidateCount"), "generationConfig.candidateCount", 1, 8)
    req.seed = config.get("seed")
    stop = g(config, "stopSequences")
    if stop is not None:
        req.stop = [s for s in require_list(stop, "generationConfig.stopSequences") if isinstance(s, str)]
    req.response_format = _response_format(config)
    thinking = g(config, "thinkingConfig")
    if isinstance(thinking, dict):
        budget = g(thinking, "thinkingBudget")
        if isinstance(budget, int) and budget > 0:
            req.thinking_budget = budget
        level = g(thinking, "thinkingLevel")
        if isinstance(level, str):
            req.reasoning_effort = level.lower()


def decode(body: dict[str, Any], model: str, stream: bool) -> ChatRequest:
    """Validate and decode a generateContent body; raises :class:`InvalidRequest` naming the field."""
    contents = require_list(body.get("contents"), "contents")
    if not contents:
        raise InvalidRequest("contents: must contain at least one content", param="contents")
    messages = _system(g(body, "systemInstruction")) + _contents(contents)
    tools, builtin = _tools(body["tools"]) if body.get("tools") else ([], [])
    choice, tools = _tool_choice(g(body, "toolConfig"), tools)
    req = ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        include_usage=True,
        tools=tools,
        tool_choice=choice,
        wire="gemini",
        raw=body,
    )
    _generation(req, g(body, "generationConfig"))
    req.extra = {k: v for k, v in body.items() if k not in _MODELED}
    if builtin:
        req.extra["builtin_tools"] = builtin
    return req
