"""Cache keys: a hash of the canonical request (what changes the answer) and the caller's scope.

The key covers the model, every message (roles, content parts, tool calls and results), the tools and
tool choice, the sampling parameters, the response format, reasoning settings and the client-format
fields the codecs do not model (``ChatRequest.extra``) except the few that never change the answer
(``user``, ``metadata``, ``stream_options``, ...). Streaming and usage reporting are not part of it: a
streamed request hits an entry stored by a non-streamed one and the other way round. Dict keys are
sorted, so the order a client writes a JSON schema in does not matter.
"""

from __future__ import annotations

import hashlib

import msgspec

from adaptive_gateway.pipeline.context import Principal
from adaptive_gateway.types import ChatRequest

KEY_VERSION = b"cache-key-v1\0"
# client-format fields that never change the answer
NON_SEMANTIC = frozenset(
    {
        "stream_options",
        "user",
        "metadata",
        "store",
        "service_tier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "safety_identifier",
    }
)
_ENCODER = msgspec.json.Encoder(order="sorted")  # stateless; sorted keys make the hash canonical


def scope_of(principal: Principal | None, provider_key: str | None) -> str:
    """Who may share entries: a tenant's keys share one scope; a key without a tenant is its own scope;
    passthrough callers (everyone presents a provider key, no gateway key) are scoped by that key, and
    hybrid callers that send their own provider key get a scope of their own within their tenant."""
    if principal is None:
        return "anonymous"
    if principal.kind == "passthrough":
        digest = hashlib.sha256((provider_key or principal.key_prefix).encode()).hexdigest()[:24]
        return "passthrough:" + digest
    scope = "tenant:" + principal.tenant if principal.tenant else "key:" + principal.id
    if provider_key:  # hybrid mode: the caller's own provider account answered
        scope += "|provider-key:" + hashlib.sha256(provider_key.encode()).hexdigest()[:24]
    return scope


def _params(req: ChatRequest) -> tuple[object, ...]:
    extra = {k: v for k, v in req.extra.items() if k not in NON_SEMANTIC} or None if req.extra else None
    return (
        req.tools,
        req.tool_choice,
        req.parallel_tool_calls,
        req.temperature,
        req.top_p,
        req.max_tokens,
        req.stop,
        req.seed,
        req.response_format,
        req.reasoning_effort,
        req.thinking_budget,
        extra,
    )


def _digest(*parts: object) -> str:
    # SHA-256 over BLAKE2b: hardware-accelerated on current CPUs (~1.3 µs vs ~2 µs for a 2 KB request)
    return hashlib.sha256(KEY_VERSION + _ENCODER.encode(parts)).hexdigest()[:32]


def request_key(model: str, scope: str, req: ChatRequest) -> str:
    """The exact-cache key (32 hex characters)."""
    return _digest(model, scope, req.messages, _params(req))


def context_key(model: str, scope: str, req: ChatRequest) -> str:
    """The semantic bucket: everything but the last message, which is compared by meaning."""
    return _digest("semantic", model, scope, req.messages[:-1], _params(req))


def semantic_text(req: ChatRequest) -> str | None:
    """The last message's text when it is a user message of text only, else None (not comparable)."""
    if not req.messages:
        return None
    last = req.messages[-1]
    if last.role != "user" or not last.content or any(p.type != "text" for p in last.content):
        return None
    text = last.text().strip()
    return text or None


def short_hash(value: str) -> str:
    """A fixed-width name for a model or scope inside shared-tier key names (no glob characters)."""
    return hashlib.blake2b(value.encode(), digest_size=6).hexdigest()
