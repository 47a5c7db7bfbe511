"""Pieces of the OpenAI chat format shared by its request/response and stream codecs."""

from __future__ import annotations

from typing import Any

from adaptive_gateway.types import FinishReason, Usage

FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def decode_usage(u: dict[str, Any] | None) -> Usage | None:
    if not u:
        return None
    return Usage(
        input_tokens=u.get("prompt_tokens") or 0,
        output_tokens=u.get("completion_tokens") or 0,
        cached_input_tokens=(u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
        reasoning_tokens=(u.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0,
    )


def encode_usage(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }
