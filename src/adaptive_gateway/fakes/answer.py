"""What a fake upstream answers, decided once per request independently of the wire format."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.schema import sample

DEFAULT_TEXT = "This is a concise summary from the fake upstream."
_DEFAULT_WORDS = tuple(DEFAULT_TEXT.split())
_WORD = re.compile(r"\s*\S+\s*$|\s*\S+")
_ARG_PIECES = 3

Finish = Literal["stop", "tool", "length"]


@dataclass(frozen=True)
class Tool:
    """A callable tool as declared in the request."""

    name: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Ask:
    """The parts of a request that shape the fake answer, extracted by each wire format."""

    input_tokens: int = 1
    last_user_text: str = ""
    tools: tuple[Tool, ...] = ()
    force_tools: bool = False
    """The request's tool choice demands a call (required / any / a named tool)."""
    no_tools: bool = False
    """The request's tool choice forbids calls."""
    schema: dict[str, Any] | None = None
    json_object: bool = False
    max_tokens: int | None = None


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    arguments_json: str
    pieces: tuple[str, ...]
    """arguments_json split into the pieces a stream sends."""


@dataclass(frozen=True)
class Answer:
    chunks: tuple[str, ...]
    """Content pieces; joined they are the answer text."""
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str | None = None
    finish: Finish = "stop"
    input_tokens: int = 1
    reasoning_chunks: tuple[str, ...] = field(default=())

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    @property
    def output_tokens(self) -> int:
        pieces = sum(len(call.pieces) for call in self.tool_calls)
        return len(self.chunks) + len(self.reasoning_chunks) + pieces


def estimate_tokens(payload: Any) -> int:
    """Deterministic input-token estimate: a quarter of the compact UTF-8 JSON bytes, at least 1."""
    return max(1, len(orjson.dumps(payload)) // 4)


def split_words(text: str) -> tuple[str, ...]:
    """Pieces of `text` that keep their leading whitespace, so joining them restores the text."""
    return tuple(_WORD.findall(text)) or ((text,) if text else ())


def split_pieces(text: str, count: int = _ARG_PIECES) -> tuple[str, ...]:
    """`text` cut into `count` roughly equal non-empty pieces."""
    if len(text) <= count:
        return tuple(text) if text else ("",)
    size = -(-len(text) // count)
    return tuple(text[i : i + size] for i in range(0, len(text), size))


def default_words(tokens: int) -> tuple[str, ...]:
    words = [_DEFAULT_WORDS[i % len(_DEFAULT_WORDS)] for i in range(max(0, tokens))]
    return split_words(" ".join(words))


def make_answer(knobs: Knobs, ask: Ask, id_prefix: str = "call_") -> Answer:
    """The answer for `ask` under `knobs`: tool calls, structured JSON, echo, fixed or default text."""
    reasoning = knobs.reasoning
    reasoning_chunks = split_words(reasoning) if reasoning else ()
    calls = _tool_calls(knobs, ask, id_prefix)
    if calls:
        return Answer((), calls, reasoning, "tool", ask.input_tokens, reasoning_chunks)
    chunks = _content(knobs, ask)
    finish: Finish = "stop"
    if ask.max_tokens is not None and 0 < ask.max_tokens < len(chunks):
        chunks, finish = chunks[: ask.max_tokens], "length"
    return Answer(chunks, (), reasoning, finish, ask.input_tokens, reasoning_chunks)


def _content(knobs: Knobs, ask: Ask) -> tuple[str, ...]:
    if ask.schema is not None:
        return split_words(json.dumps(sample(ask.schema)))
    base = _base_text(knobs, ask)
    if ask.json_object:
        return split_words(json.dumps({"answer": "".join(base)}))
    return base


def _base_text(knobs: Knobs, ask: Ask) -> tuple[str, ...]:
    if knobs.echo:
        return split_words(ask.last_user_text)
    if knobs.text is not None:
        return split_words(knobs.text)
    return default_words(knobs.tokens)


def _tool_calls(knobs: Knobs, ask: Ask, id_prefix: str) -> tuple[ToolCall, ...]:
    if ask.no_tools or not ask.tools or not (knobs.tool_call or ask.force_tools):
        return ()
    count = max(1, knobs.parallel_tools)
    return tuple(_tool_call(ask.tools[i % len(ask.tools)], id_prefix) for i in range(count))


def _tool_call(tool: Tool, id_prefix: str) -> ToolCall:
    arguments = sample(tool.schema) if tool.schema else {}
    if not isinstance(arguments, dict):
        arguments = {}
    text = json.dumps(arguments)
    call_id = id_prefix + uuid.uuid4().hex[:24]
    return ToolCall(call_id, tool.name, arguments, text, split_pieces(text))


def text_of(content: Any) -> str:
    """Plain text of a message content that is a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(text_of(part) for part in content)
    if isinstance(content, dict):
        text = content.get("text")
        return text if isinstance(text, str) else ""
    return ""


def last_user_text(messages: Any, role_key: str = "role", user: str = "user") -> str:
    """Text of the last message whose role is `user` (Gemini passes `parts` as the content)."""
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get(role_key, user) == user:
            return text_of(message.get("content", message.get("parts")))
    return ""
