"""One finished request as metrics, stats and logs see it: plain values, no prompt text, no key.

Built once per request by the server's observability finisher and handed to :class:`GatewayMetrics` and
:class:`Stats`; every label value in it is bounded (config names, status codes, error codes, a capped set
of client names), never a value a client can invent freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field

UNKNOWN = "unknown"


@dataclass(slots=True)
class Sample:
    route: str
    model: str  # the configured model that answered (or was asked for), else "unknown"
    deployment: str  # deployment id, "" when none was chosen
    provider: str  # provider name, "" when none was chosen
    status: int
    latency_s: float
    key: str = ""  # key id (never the key), "" when unauthenticated
    key_prefix: str = ""
    tenant: str = ""
    client: str = "other"  # the client family from the user agent
    stream: bool = False
    upstream_s: float | None = None  # the answering attempt's upstream time
    ttft_s: float | None = None  # streams: request start to the first upstream chunk
    tokens_per_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    retries: int = 0
    fallbacks: int = 0
    # failed upstream attempts as (deployment id, status)
    failed_attempts: list[tuple[str, int]] = field(default_factory=list)
    rejection: str | None = None  # the gateway's own 429: rate_limit_exceeded, budget_exceeded, ...
    policy_block: str | None = None  # why a policy refused the request
    redactions: dict[str, int] | None = None  # redacted finding type -> count
    trust_level: str | None = None
    cache: str | None = None  # the response cache's verdict: hit | semantic | miss | bypass
    trace_id: str | None = None
    request_id: str = ""
    receipt_id: str | None = None
    error: str | None = None
    ts: float = 0.0  # wall-clock time the request finished

    @property
    def ok(self) -> bool:
        return self.status < 400
