"""Fake upstream providers: real local HTTP servers speaking the OpenAI, Anthropic, Gemini and Ollama
wire formats, with knobs for latency, errors, 429 + Retry-After, dropped and malformed streams.

Used by the gateway's tests (`FakeUpstream`) and benchmarks (`python -m adaptive_gateway.fakes`).
"""

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream, Kind
from adaptive_gateway.fakes.state import Received, StreamStats

__all__ = ["FakeUpstream", "Kind", "Knobs", "Received", "StreamStats"]
