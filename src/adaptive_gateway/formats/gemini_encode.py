"""Canonical requests -> Gemini ``generateContent`` bodies (other clients to a Gemini upstream). Pure.

The model goes in the URL. Consecutive tool results become one content of ``functionResponse`` parts;
tools and structured output are sent as JSON Schema (``parametersJsonSchema`` / ``responseJsonSchema``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from adaptive_gateway.errors import UnsupportedContent
from adaptive_gateway.formats.gemini import encode_media
from adaptive_gateway.formats.gemini_schema import for_gemini
from adaptive_gateway.formats.validate import arguments_object
from adaptive_gateway.types import ChatRequest, Message

_MODES_OUT: Mapping[str, str] = MappingProxyType(
    {"auto": "AUTO", "required": "ANY", "any": "ANY", "none": "NONE"}
)
# reasoning effort -> thinking budget (the mapping Google's own OpenAI-compatible endpoint uses)
_EFFORT_BUDGET: Mapping[str, int] = MappingProxyType(
    {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768}
)
# Gemini 3 rejects a function call in history without its thought signature; calls made by other
# models (or whose signature the client dropped) carry Google's documented validator bypass
SKIP_SIGNATURE = "skip_thought_signature_validator"


def _user_parts(m: Message, where: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for j, p in enumerate(m.content):
        if p.type == "text":
            parts.append({"text": p.text})
        elif p.type in ("image", "audio", "file") and (p.data is not None or p.url):
            parts.append(encode_media(p))
        else:
            raise UnsupportedContent(
                f"{where}.content[{j}]: {p.type} content cannot be sent to Gemini",
                param=f"{where}.content[{j}]",
            )
    return parts


def _model_parts(m: Message, where: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {"text": p.text} if p.type == "text" else encode_media(p)
        for p in m.content
        if (p.type == "text" and p.text) or (p.type in ("image", "audio", "file") and (p.data or p.url))
    ]
    calls: list[dict[str, Any]] = [
        {
            "functionCall": {
                "name": tc.name,
                "args": arguments_object(tc.arguments, f"{where}.tool_calls[{k}].function.arguments"),
            }
        }
        for k, tc in enumerate(m.tool_calls)
    ]
    if calls:
        calls[0]["thoughtSignature"] = m.reasoning_signature or SKIP_SIGNATURE
    elif parts and m.reasoning_signature:
        parts[-1]["thoughtSignature"] = m.reasoning_signature
    return parts + calls or [{"text": ""}]


def _function_response(m: Message, names: dict[str, str]) -> dict[str, Any]:
    text = m.text()
    try:
        value = orjson.loads(text) if text.strip() else {}
    except orjson.JSONDecodeError:
        value = text
    response = value if isinstance(value, dict) else {("error" if m.is_error else "output"): value}
    name = names.get(m.tool_call_id or "") or m.name or ""
    return {"functionResponse": {"name": name, "response": response}}


def _encode_messages(messages: list[Message]) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    results: list[dict[str, Any]] | None = None  # the open content collecting tool results
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if m.role == "tool":
            # parallel results go back in one content, as Gemini expects
            if results is None:
                results = []
                contents.append({"role": "user", "parts": results})
            results.append(_function_response(m, names))
            continue
        results = None
        if m.role in ("system", "developer"):
            system.append(m.text())
        elif m.role == "assistant":
            names.update((tc.id, tc.name) for tc in m.tool_calls)
            contents.append({"role": "model", "parts": _model_parts(m, where)})
        else:
            contents.append({"role": "user", "parts": _user_parts(m, where)})
    return system, contents


def _tool_config(choice: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        mode = _MODES_OUT.get(choice)
        return {"functionCallingConfig": {"mode": mode}} if mode else None
    fn = choice.get("function") if isinstance(choice.get("function"), dict) else choice
    name = fn.get("name") if isinstance(fn, dict) else None
    if isinstance(name, str):
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    mode = _MODES_OUT.get(str(choice.get("type")))
    return {"functionCallingConfig": {"mode": mode}} if mode else None


def _generation_config(req: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name, key in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("max_tokens", "maxOutputTokens"),
        ("n", "candidateCount"),
        ("seed", "seed"),
    ):
        value = getattr(req, name)
        if value is not None:
            config[key] = value
    if req.stop:
        config["stopSequences"] = req.stop
    rf = req.response_format
    if rf is not None and rf.type in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        if rf.type == "json_schema" and rf.schema is not None:
            config["responseJsonSchema"] = for_gemini(rf.schema)
    budget = req.thinking_budget
    if budget is None and req.reasoning_effort is not None:
        budget = _EFFORT_BUDGET.get(req.reasoning_effort)
    if budget is not None:
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget > 0}
    return config


def encode(req: ChatRequest) -> dict[str, Any]:
    """Canonical request -> generateContent body (the model goes in the URL)."""
    system, contents = _encode_messages(req.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": t} for t in system]}
    if req.tools and req.tool_choice != "none":
        decls = [
            {"name": t.name, "description": t.description, "parametersJsonSchema": for_gemini(t.parameters)}
            for t in req.tools
        ]
        body["tools"] = [{"functionDeclarations": decls}]
        tool_config = _tool_config(req.tool_choice)
        if tool_config is not None:
            body["toolConfig"] = tool_config
    config = _generation_config(req)
    if config:
        body["generationConfig"] = config
    return body
