"""The estimated prompt tokens of a request, for context-window checks.

Uses the shared estimator in ``formats/tokens.py`` when it is there, else about four characters a token.
"""

from __future__ import annotations

from collections.abc import Callable

from adaptive_gateway.types import ChatRequest

PER_MESSAGE = 4


def rough_tokens(req: ChatRequest) -> int:
    """About four characters a token over message text and tool definitions."""
    chars = sum(len(p.text) + len(p.url or "") for m in req.messages for p in m.content)
    chars += sum(len(t.name) + len(t.description) + len(str(t.parameters)) for t in req.tools)
    return chars // 4 + PER_MESSAGE * len(req.messages)


def _estimator() -> Callable[[ChatRequest], int]:
    try:
        from adaptive_gateway.formats.tokens import estimate_request_tokens
    except ImportError:
        return rough_tokens
    return estimate_request_tokens


request_tokens: Callable[[ChatRequest], int] = _estimator()
