"""Pre-request estimates: prompt tokens, the output tokens to reserve, and the cost upper bound."""

from __future__ import annotations

from collections.abc import Callable

from adaptive_gateway.config import Model
from adaptive_gateway.store.models import NANO
from adaptive_gateway.types import ChatRequest


def _fallback_estimate(req: ChatRequest) -> int:
    """About four characters per token, when the shared estimator is not available."""
    chars = sum(len(p.text or "") for m in req.messages for p in m.content)
    return 8 + chars // 4


def _estimator() -> Callable[[ChatRequest], int]:
    try:
        from adaptive_gateway.formats.tokens import estimate_request_tokens
    except ImportError:  # an older core without the shared estimator
        return _fallback_estimate
    return estimate_request_tokens


estimate_prompt_tokens: Callable[[ChatRequest], int] = _estimator()


def quick_prompt_tokens(req: ChatRequest) -> int | None:
    """A slightly high estimate (a third of the characters) for plain ASCII text requests, in about
    a microsecond; None when only the full estimator applies (images, tools, schemas, non-ASCII)."""
    if req.tools or req.response_format is not None:
        return None
    total = 8
    for m in req.messages:
        if m.tool_calls or m.reasoning:
            return None
        total += 4
        for p in m.content:
            if p.type != "text" or not p.text.isascii():
                return None
            total += len(p.text) // 3 + 1
    return total


def output_allowance(req: ChatRequest | None, key_max: int | None, default: int) -> int:
    """Output tokens to reserve: the request's max_tokens, else the key's cap, else the configured
    default (``limits.default_output_tokens``). Only the first two make the reservation a true bound."""
    if req is not None and req.max_tokens:
        return req.max_tokens
    return key_max or default


def cost_bound_nano(model: Model | None, input_tokens: int, output_tokens: int) -> int:
    """Nano-USD at the most expensive deployment of the model (an upper bound for any route)."""
    if model is None or not model.deployments:
        return 0
    worst = 0.0  # USD per million tokens (Deployment.cost, without cached input)
    for d in model.deployments:
        worst = max(worst, d.input_price * input_tokens + d.output_price * output_tokens)
    return round(worst * (NANO // 1_000_000))
