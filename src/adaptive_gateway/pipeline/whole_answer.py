"""An upstream that answers a streamed request with one whole JSON answer.

Some OpenAI- or Anthropic-compatible servers cannot stream, or ignore ``"stream": true`` behind a
proxy, and send the whole answer as ``application/json``. Fed to the stream parser (or passed through),
those bytes would reach the client as a malformed stream with no usage. Instead the executor decodes the
answer and renders it as the stream the upstream's own format would have sent (usage included), and
everything after (pass-through or translation to the client's format, trust restore, usage and cost,
the cache's stream capture) treats it as the upstream's stream.

Only for adapters whose streams are always server-sent events: OpenAI chat and Anthropic messages.
Gemini streams a JSON array as ``application/json`` when asked without ``alt=sse``, and Ollama streams
NDJSON, whose parser reads a single JSON answer as it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from adaptive_gateway.cache.replay import stream_body
from adaptive_gateway.providers.base import Adapter
from adaptive_gateway.types import ChatRequest
from adaptive_gateway.wire.anthropic import AnthropicMessagesWire
from adaptive_gateway.wire.base import Wire
from adaptive_gateway.wire.openai_chat import OpenAIChatWire

# native wire format -> the wire that renders its streams
_SSE_WIRES: dict[str, Callable[[], Wire]] = {
    OpenAIChatWire.name: OpenAIChatWire,
    AnthropicMessagesWire.name: AnthropicMessagesWire,
}


def is_whole_answer(adapter: Adapter, headers: Mapping[str, str]) -> bool:
    """True when a 2xx answer to a streamed request is one JSON document, not the stream asked for."""
    if adapter.native_wire not in _SSE_WIRES:
        return False
    ctype = headers.get("content-type", "")
    return ctype.partition(";")[0].strip().lower() == "application/json"


def as_native_stream(adapter: Adapter, req: ChatRequest, body: bytes) -> bytes:
    """The whole answer ``body`` as the stream the upstream's format would have sent (raises the
    adapter's ``UpstreamError`` when it is not a valid answer)."""
    wire = _SSE_WIRES[adapter.native_wire or ""]()
    # decoded the whole way (not the same-format pass-through shape, which keeps only id and usage),
    # and rendered with its usage: the executor asks upstream streams for usage and the pass-through
    # filter hides that chunk from a client that did not ask
    decoded = dataclasses.replace(req, wire="", raw=None, include_usage=True)
    resp = adapter.parse(body, decoded)
    return stream_body(wire, decoded, resp, resp.id or "upstream")
