"""What each fake upstream received, normalized across native formats, so one assertion checks every
pairing: system text, turns, images, tool declarations, tool history, schema, the fake's input count."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from adaptive_gateway.fakes.answer import estimate_tokens
from adaptive_gateway.formats.gemini_schema import to_json_schema

Image = tuple[str, Any]  # ("data", bytes) | ("url", str)
Step = tuple[str, str, Any]  # ("call" | "result", tool name, args | result value)


def _json(text: Any) -> Any:
    if isinstance(text, str):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def _b64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data.replace("+", "-").replace("/", "_") + "=" * (-len(data) % 4))


def _g(node: Any, camel: str, snake: str) -> Any:
    return node.get(camel, node.get(snake)) if isinstance(node, dict) else None


# ---- OpenAI chat completions ---------------------------------------------------------------------------


def _oa_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if p.get("type") == "text")


class OpenAIView:
    def system(self, b: dict[str, Any]) -> str:
        return "\n".join(
            _oa_text(m["content"]) for m in b["messages"] if m["role"] in ("system", "developer")
        )

    def turns(self, b: dict[str, Any]) -> list[tuple[str, str]]:
        return [
            (m["role"], _oa_text(m.get("content")))
            for m in b["messages"]
            if m["role"] in ("user", "assistant") and _oa_text(m.get("content"))
        ]

    def images(self, b: dict[str, Any]) -> list[Image]:
        out: list[Image] = []
        for m in b["messages"]:
            for p in m.get("content") if isinstance(m.get("content"), list) else []:
                if p.get("type") == "image_url":
                    url = p["image_url"]["url"]
                    out.append(
                        ("data", _b64(url.split(",", 1)[1])) if url.startswith("data:") else ("url", url)
                    )
        return out

    def tools(self, b: dict[str, Any]) -> list[tuple[str, Any]]:
        return [(t["function"]["name"], t["function"].get("parameters")) for t in b.get("tools") or []]

    def tool_history(self, b: dict[str, Any]) -> list[Step]:
        names: dict[str, str] = {}
        out: list[Step] = []
        for m in b["messages"]:
            for tc in m.get("tool_calls") or []:
                names[tc["id"]] = tc["function"]["name"]
                out.append(("call", tc["function"]["name"], json.loads(tc["function"]["arguments"])))
            if m["role"] == "tool":
                out.append(("result", names.get(m["tool_call_id"], "?"), _json(_oa_text(m["content"]))))
        return out

    def schema(self, b: dict[str, Any]) -> Any:
        return ((b.get("response_format") or {}).get("json_schema") or {}).get("schema")

    def input_tokens(self, b: dict[str, Any]) -> int:
        return estimate_tokens(b.get("messages"))


# ---- Anthropic messages --------------------------------------------------------------------------------


def _an_blocks(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])


def _an_text(content: Any) -> str:
    return "".join(b.get("text", "") for b in _an_blocks(content) if b.get("type") == "text")


class AnthropicView:
    def system(self, b: dict[str, Any]) -> str:
        return _an_text(b.get("system"))

    def turns(self, b: dict[str, Any]) -> list[tuple[str, str]]:
        return [(m["role"], _an_text(m["content"])) for m in b["messages"] if _an_text(m["content"])]

    def images(self, b: dict[str, Any]) -> list[Image]:
        out: list[Image] = []
        for m in b["messages"]:
            for blk in _an_blocks(m["content"]):
                if blk.get("type") == "image":
                    src = blk["source"]
                    out.append(
                        ("data", _b64(src["data"])) if src["type"] == "base64" else ("url", src["url"])
                    )
        return out

    def tools(self, b: dict[str, Any]) -> list[tuple[str, Any]]:
        return [(t["name"], t.get("input_schema")) for t in b.get("tools") or []]

    def tool_history(self, b: dict[str, Any]) -> list[Step]:
        names: dict[str, str] = {}
        out: list[Step] = []
        for m in b["messages"]:
            for blk in _an_blocks(m["content"]):
                if blk.get("type") == "tool_use":
                    names[blk["id"]] = blk["name"]
                    out.append(("call", blk["name"], blk["input"]))
                elif blk.get("type") == "tool_result":
                    content = blk.get("content")
                    text = content if isinstance(content, str) else _an_text(content)
                    out.append(("result", names.get(blk["tool_use_id"], "?"), _json(text)))
        return out

    def schema(self, b: dict[str, Any]) -> Any:
        fmt = (b.get("output_config") or {}).get("format") or b.get("output_format") or {}
        return fmt.get("schema")

    def input_tokens(self, b: dict[str, Any]) -> int:
        return estimate_tokens(b.get("messages"))


# ---- Gemini --------------------------------------------------------------------------------------------


class GeminiView:
    def system(self, b: dict[str, Any]) -> str:
        inst = _g(b, "systemInstruction", "system_instruction") or {}
        return "\n".join(p.get("text", "") for p in inst.get("parts") or [])

    def turns(self, b: dict[str, Any]) -> list[tuple[str, str]]:
        out = []
        for c in b["contents"]:
            text = "".join(p.get("text", "") for p in c["parts"] if not p.get("thought"))
            if text:
                out.append(("assistant" if c.get("role") == "model" else "user", text))
        return out

    def images(self, b: dict[str, Any]) -> list[Image]:
        out: list[Image] = []
        for c in b["contents"]:
            for p in c["parts"]:
                if (blob := _g(p, "inlineData", "inline_data")) is not None:
                    out.append(("data", _b64(blob["data"])))
                elif (ref := _g(p, "fileData", "file_data")) is not None:
                    out.append(("url", _g(ref, "fileUri", "file_uri")))
        return out

    def tools(self, b: dict[str, Any]) -> list[tuple[str, Any]]:
        out = []
        for t in b.get("tools") or []:
            for d in _g(t, "functionDeclarations", "function_declarations") or []:
                schema = _g(d, "parametersJsonSchema", "parameters_json_schema")
                out.append((d["name"], schema if schema is not None else to_json_schema(d.get("parameters"))))
        return out

    def tool_history(self, b: dict[str, Any]) -> list[Step]:
        out: list[Step] = []
        for c in b["contents"]:
            for p in c["parts"]:
                if (call := _g(p, "functionCall", "function_call")) is not None:
                    out.append(("call", call["name"], call.get("args") or {}))
                elif (resp := _g(p, "functionResponse", "function_response")) is not None:
                    out.append(("result", resp["name"], resp.get("response")))
        return out

    def schema(self, b: dict[str, Any]) -> Any:
        config = _g(b, "generationConfig", "generation_config") or {}
        schema = _g(config, "responseJsonSchema", "response_json_schema")
        return (
            schema if schema is not None else to_json_schema(_g(config, "responseSchema", "response_schema"))
        )

    def input_tokens(self, b: dict[str, Any]) -> int:
        return estimate_tokens(b.get("contents"))


# ---- Ollama --------------------------------------------------------------------------------------------


class OllamaView(OpenAIView):
    def images(self, b: dict[str, Any]) -> list[Image]:
        return [("data", _b64(img)) for m in b["messages"] for img in m.get("images") or []]

    def tool_history(self, b: dict[str, Any]) -> list[Step]:
        out: list[Step] = []
        for m in b["messages"]:
            for tc in m.get("tool_calls") or []:
                out.append(("call", tc["function"]["name"], tc["function"]["arguments"]))
            if m["role"] == "tool":
                out.append(("result", m.get("tool_name", "?"), _json(m["content"])))
        return out

    def schema(self, b: dict[str, Any]) -> Any:
        return b.get("format")


VIEWS: Mapping[str, Callable[[], Any]] = {
    "openai": OpenAIView,
    "anthropic": AnthropicView,
    "gemini": GeminiView,
    "ollama": OllamaView,
}
