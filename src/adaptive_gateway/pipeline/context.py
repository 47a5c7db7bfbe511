"""The per-request context that flows through the pipeline stages."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from adaptive_gateway.config import CompiledConfig, Deployment
from adaptive_gateway.errors import Attempt
from adaptive_gateway.types import ChatRequest, ChatResponse, Usage


@dataclass(slots=True)
class Principal:
    """Who is calling. ``kind`` is master | virtual | passthrough."""

    id: str
    kind: str
    key_prefix: str = ""
    tenant: str | None = None
    allowed_models: frozenset[str] | None = None  # None = all
    roles: frozenset[str] = frozenset({"admin"})
    trust_level: str | None = None  # a virtual key's own default trust level (the key table sets it)


class Answered:
    """A stage's own answer to the request (a cache hit), left as ``ctx.answer``: the remaining stages,
    routing and execution are skipped. :meth:`Gateway.complete` returns ``response``;
    :meth:`Gateway.open_stream` returns the ``Answered``, which the server replays as a stream
    (``server/proxy.py``). A value, not an exception: unwinding the stage, the planner and the wrappers
    around them cost ~2 % of a cache hit (docs/benchmarks.md, tenth session)."""

    __slots__ = ("response", "stream_body")

    def __init__(self, response: ChatResponse, stream_body: bytes | None = None) -> None:
        self.response = response
        # for a streamed request: the whole stream in the client's format, when the stage has it rendered
        self.stream_body = stream_body


@dataclass(slots=True)
class RequestContext:
    request_id: str
    route: str
    config: CompiledConfig
    headers: dict[str, str]
    client_ip: str = ""
    started: float = field(default_factory=time.perf_counter)
    principal: Principal | None = None
    provider_key: str | None = None  # the client's own provider key (passthrough / hybrid)
    request: ChatRequest | None = None
    deployment: Deployment | None = None
    attempts: list[Attempt] = field(default_factory=list)
    fallbacks: int = 0
    usage: Usage | None = None
    cost: float = 0.0
    status: int = 200
    error: str | None = None
    first_byte_at: float | None = None
    extra_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    ended: float | None = None  # perf_counter when the response was done (set by Gateway.finish)
    answer: Answered | None = None  # set by a stage that answers the request itself (a cache hit)

    def elapsed_ms(self) -> float:
        """Milliseconds from the start to the end of the request (to now while it runs)."""
        return ((self.ended or time.perf_counter()) - self.started) * 1000

    def settle(self, usage: Usage | None) -> None:
        """Record final usage and its cost at the chosen deployment's prices."""
        self.usage = usage
        if usage is not None and self.deployment is not None:
            self.cost = self.deployment.cost(
                usage.input_tokens, usage.output_tokens, usage.cached_input_tokens
            )
