"""Anthropic request defaults as data: ``max_tokens`` per model family (required by the Messages API),
thinking budgets per reasoning effort, and the name maps shared by both directions of the codec.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from adaptive_gateway.types import FinishReason

API_VERSION: Final = "2023-06-01"
WIRE: Final = "anthropic_messages"

# (model-name prefix, default max_tokens) — the first matching prefix wins, so longer prefixes go first.
# Used when the client's format does not carry max_tokens and the deployment sets no max_output_tokens.
MAX_TOKENS_DEFAULTS: Final[tuple[tuple[str, int], ...]] = (
    ("claude-3-haiku", 4096),
    ("claude-3-opus", 4096),
    ("claude-3-sonnet", 4096),
    ("claude-3-5-haiku", 8192),
    ("claude-3-5-sonnet", 8192),
    ("claude-3-7-sonnet", 16384),
    ("claude-haiku-4", 16384),
    ("claude-sonnet-4", 16384),
    ("claude-opus-4", 16384),
    ("claude-", 8192),
)
FALLBACK_MAX_TOKENS: Final = 4096


def default_max_tokens(model: str) -> int:
    """The catalog's max_tokens for an upstream model name (``FALLBACK_MAX_TOKENS`` when unknown)."""
    name = model.lower().rsplit("/", 1)[-1]  # "anthropic/claude-..." style names
    for prefix, tokens in MAX_TOKENS_DEFAULTS:
        if name.startswith(prefix):
            return tokens
    return FALLBACK_MAX_TOKENS


# canonical reasoning_effort -> Anthropic thinking budget (None = thinking off)
THINKING_BUDGETS: Final = MappingProxyType(
    {
        "none": None,
        "minimal": None,
        "low": 2048,
        "medium": 8192,
        "high": 16384,
        "xhigh": 32768,
        "max": 32768,
    }
)
MIN_THINKING_BUDGET: Final = 1024

STOP_REASONS: Final[MappingProxyType[str, FinishReason]] = MappingProxyType(
    {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "pause_turn": "stop",
        "max_tokens": "length",
        "model_context_window_exceeded": "length",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
    }
)
FINISH_TO_STOP: Final[MappingProxyType[str, str]] = MappingProxyType(
    {
        "stop": "end_turn",
        "length": "max_tokens",
        "tool_calls": "tool_use",
        "content_filter": "refusal",
        "error": "end_turn",
    }
)

# Anthropic tool_choice.type <-> canonical (OpenAI-style) tool_choice strings
TOOL_CHOICE_IN: Final = MappingProxyType({"auto": "auto", "any": "required", "none": "none"})
TOOL_CHOICE_OUT: Final = MappingProxyType({"auto": "auto", "required": "any", "none": "none"})

# Anthropic error type per HTTP status (errors rendered on /v1/messages and parsed from upstreams)
ERROR_TYPES: Final = MappingProxyType(
    {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "billing_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        500: "api_error",
        504: "timeout_error",
        529: "overloaded_error",
    }
)


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


# content block types of the Messages API that the canonical model does not represent; kept verbatim in
# ContentPart.extra and re-emitted only when the target speaks Anthropic too
NATIVE_ONLY_BLOCKS: Final = frozenset(
    {
        "tool_reference",
        "document",
        "search_result",
        "container_upload",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
    }
)
# per-block keys worth keeping when a block is re-encoded for Anthropic (prompt caching, citations)
BLOCK_PASSTHROUGH_KEYS: Final = ("cache_control", "citations")
