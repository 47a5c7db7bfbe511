"""Canonical request / response / stream types.

Every client wire format parses into :class:`ChatRequest` and renders from :class:`ChatResponse` or a
sequence of :data:`StreamEvent`. Provider adapters build upstream requests from these types and parse
upstream answers back into them. Nothing here does I/O.

``ChatRequest.raw`` keeps the client's decoded body: when the inbound and outbound formats are the same
the adapter forwards it (with the model swapped) instead of re-encoding a lossy translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


@dataclass(slots=True)
class ContentPart:
    """One piece of message content. ``type`` is text | image | audio | file | other."""

    type: str
    text: str = ""
    # image / audio / file: either a URL or inline base64 data with its media type
    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None
    # the original part, for formats that carry fields we don't model (e.g. cache_control)
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as OpenAI carries it
    type: str = "function"


@dataclass(slots=True)
class Message:
    role: Role
    content: list[ContentPart] = field(default_factory=list)
    name: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    # model reasoning ("thinking") and its opaque signature, when the upstream returns them
    reasoning: str | None = None
    reasoning_signature: str | None = None
    is_error: bool = False  # tool results that report a failure (Anthropic is_error)

    def text(self) -> str:
        """The concatenated text parts (the part's own string when there is one text part)."""
        content = self.content
        if len(content) == 1 and content[0].type == "text":
            return content[0].text
        return "".join(p.text for p in content if p.type == "text")


@dataclass(slots=True)
class Tool:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


@dataclass(slots=True)
class ResponseFormat:
    """Structured-output request: ``text``, ``json_object`` or ``json_schema``."""

    type: str = "text"
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    stream: bool = False
    include_usage: bool = False
    tools: list[Tool] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    n: int | None = None
    seed: int | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    thinking_budget: int | None = None
    user: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # inbound wire format name and the decoded body as the client sent it
    wire: str = "openai_chat"
    raw: dict[str, Any] | None = None
    # fields of the client format we don't model; passed through when the target speaks the same format
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.reasoning_tokens += other.reasoning_tokens


@dataclass(slots=True)
class Choice:
    index: int
    message: Message
    finish_reason: FinishReason | None = "stop"
    logprobs: Any = None


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    created: int = 0
    # upstream body as decoded (passthrough) and its exact bytes when they can be forwarded unchanged
    raw: dict[str, Any] | None = None
    raw_bytes: bytes | None = None


@dataclass(slots=True)
class SharedResponse(ChatResponse):
    """A response whose ``choices`` and ``usage`` are shared with other responses: a cached answer
    handed to every recalled repeat of a request (``cache/entry.py``), decoded once. Its own fields may
    be set; what it shares must be copied before it is changed (``trust/restore.py`` does)."""


# ---- stream events ------------------------------------------------------------------------------------


@dataclass(slots=True)
class StreamStart:
    id: str
    model: str


@dataclass(slots=True)
class TextDelta:
    text: str
    index: int = 0


@dataclass(slots=True)
class ReasoningDelta:
    text: str = ""
    signature: str | None = None
    index: int = 0


@dataclass(slots=True)
class ToolCallStart:
    tool_index: int
    id: str
    name: str
    index: int = 0


@dataclass(slots=True)
class ToolCallDelta:
    tool_index: int
    arguments: str
    index: int = 0


@dataclass(slots=True)
class StreamFinish:
    reason: FinishReason
    index: int = 0


@dataclass(slots=True)
class StreamUsage:
    usage: Usage


@dataclass(slots=True)
class StreamError:
    """A failure after the stream started: rendered as the client format's in-stream error event."""

    message: str
    type: str = "upstream_error"
    status: int = 502


StreamEvent = (
    StreamStart
    | TextDelta
    | ReasoningDelta
    | ToolCallStart
    | ToolCallDelta
    | StreamFinish
    | StreamUsage
    | StreamError
)
