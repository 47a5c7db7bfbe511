"""Between answers and streams: a cached :class:`ChatResponse` replayed as canonical stream events
(which the client format's stream renderer turns into a well-formed stream, usage included), and a
streamed answer assembled back into a ``ChatResponse`` so that it can be stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from adaptive_gateway.providers.base import StreamParser
from adaptive_gateway.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    ContentPart,
    FinishReason,
    Message,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    StreamFinish,
    StreamStart,
    StreamUsage,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from adaptive_gateway.wire.base import Wire


def response_events(resp: ChatResponse) -> list[StreamEvent]:
    """The events a stream of ``resp`` would have carried: start, per choice reasoning, text, tool
    calls and finish, then usage."""
    events: list[StreamEvent] = [StreamStart(resp.id, resp.model)]
    for choice in resp.choices:
        msg, i = choice.message, choice.index
        if msg.reasoning or msg.reasoning_signature:
            events.append(ReasoningDelta(msg.reasoning or "", msg.reasoning_signature, i))
        text = msg.text()
        if text:
            events.append(TextDelta(text, i))
        for n, call in enumerate(msg.tool_calls):
            events.append(ToolCallStart(n, call.id, call.name, i))
            events.append(ToolCallDelta(n, call.arguments, i))
        events.append(StreamFinish(choice.finish_reason or "stop", i))
    if resp.usage is not None:
        events.append(StreamUsage(resp.usage))
    return events


def stream_body(wire: Wire, req: ChatRequest, resp: ChatResponse, response_id: str) -> bytes:
    """A whole answer as one stream in ``wire``'s format (a cache hit replayed to a streaming client)."""
    renderer = wire.stream_renderer(req, response_id)
    return b"".join([renderer.render(ev) for ev in response_events(resp)]) + renderer.finish()


@dataclass(slots=True)
class _Choice:
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    signature: str | None = None
    calls: dict[int, ToolCall] = field(default_factory=dict)
    finish: FinishReason | None = None


class StreamAssembler:
    """Watches a stream's bytes with its own parser and rebuilds the answer. ``response()`` is None
    unless the stream ended normally, every choice finished and no event reported an error; a parse
    failure only disables the capture, never the client's stream."""

    def __init__(self, parser: StreamParser) -> None:
        self._parser = parser
        self._choices: dict[int, _Choice] = {}
        self._id = ""
        self._model = ""
        self._usage: Usage | None = None
        self._broken = False
        self._ended = False

    async def tee(self, first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``rest`` unchanged, with ``first`` and every chunk fed to the parser on the way."""
        self._feed(first)
        async for chunk in rest:
            self._feed(chunk)
            yield chunk
        if not self._broken:
            try:
                self._apply(self._parser.close())
            except Exception:
                self._broken = True
        self._ended = True

    def _feed(self, chunk: bytes) -> None:
        if self._broken:
            return
        try:
            self._apply(self._parser.feed(chunk))
        except Exception:  # the client's own path reports the failure; we only stop capturing
            self._broken = True

    def _choice(self, index: int) -> _Choice:
        c = self._choices.get(index)
        if c is None:
            c = self._choices[index] = _Choice()
        return c

    def _apply(self, events: list[StreamEvent]) -> None:
        for ev in events:
            if isinstance(ev, TextDelta):
                self._choice(ev.index).text.append(ev.text)
            elif isinstance(ev, ToolCallDelta):
                call = self._choice(ev.index).calls.get(ev.tool_index)
                if call is None:
                    self._broken = True  # arguments for a call that never started
                else:
                    call.arguments += ev.arguments
            elif isinstance(ev, ToolCallStart):
                calls = self._choice(ev.index).calls
                if ev.tool_index not in calls:
                    calls[ev.tool_index] = ToolCall(ev.id, ev.name, "")
            elif isinstance(ev, ReasoningDelta):
                c = self._choice(ev.index)
                c.reasoning.append(ev.text)
                c.signature = ev.signature or c.signature
            elif isinstance(ev, StreamFinish):
                self._choice(ev.index).finish = ev.reason
            elif isinstance(ev, StreamUsage):
                self._usage = ev.usage
            elif isinstance(ev, StreamStart):
                self._id, self._model = ev.id or self._id, ev.model or self._model
            elif isinstance(ev, StreamError):
                self._broken = True

    def response(self) -> ChatResponse | None:
        if not self._ended or self._broken or not self._choices:
            return None
        if any(c.finish is None for c in self._choices.values()):
            return None
        choices = [
            Choice(
                index,
                Message(
                    "assistant",
                    [ContentPart("text", text="".join(c.text))] if c.text else [],
                    tool_calls=[c.calls[n] for n in sorted(c.calls)],
                    reasoning="".join(c.reasoning) or None,
                    reasoning_signature=c.signature,
                ),
                c.finish,
            )
            for index, c in sorted(self._choices.items())
        ]
        return ChatResponse(self._id, self._model, choices, self._usage)
