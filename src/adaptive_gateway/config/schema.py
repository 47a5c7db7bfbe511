"""The strict configuration schema (one YAML file). Unknown keys are errors.

Secrets are written as references (``api_key: ${OPENAI_API_KEY}``) and resolved from the environment at
load time into :class:`pydantic.SecretStr`, which never prints its value.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator

from adaptive_gateway.config.cache_schema import CacheConfig
from adaptive_gateway.config.observability_schema import ObservabilityConfig
from adaptive_gateway.config.trust_schema import TrustConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(4141, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    request_log: bool = True
    request_log_file: str | None = None
    drain_seconds: float = Field(30.0, ge=0)
    reload_poll_seconds: float = Field(1.0, ge=0)


class AuthConfig(Strict):
    mode: Literal["gateway", "passthrough", "hybrid"] = "gateway"
    # sha256 hex digest of the master key; ADAPTIVE_GATEWAY_MASTER_KEY overrides
    master_key_hash: str | None = Field(None, pattern=r"^sha256:[0-9a-f]{64}$")


class StoreConfig(Strict):
    url: str | None = None  # default: sqlite under the gateway home
    usage_retention_days: int = Field(90, ge=1, description="raw usage rows; daily rollups are kept")
    flush_interval_seconds: float = Field(0.5, gt=0, description="write-behind batch interval")
    batch_size: int = Field(1000, ge=1)


class StateConfig(Strict):
    redis_url: str | None = None
    redis_prefix: str = "agw:"  # every Redis key starts with this
    key_refresh_seconds: float = Field(0.25, gt=0, description="how often replicas poll for key changes")


class LimitSet(Strict):
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    max_concurrency: int | None = Field(None, ge=1)


class LimitsConfig(Strict):
    models: dict[str, LimitSet] = {}  # per model, across all keys
    unauthenticated_rpm_per_ip: int = Field(120, ge=1, description="failed-auth requests per IP")
    default_output_tokens: int = Field(1024, ge=1, description="reserved when max_tokens is not set")


class BudgetDefaults(Strict):
    period: Literal["day", "week", "month", "total"] = "month"
    thresholds: list[float] = Field([0.8], description="fractions that fire budget.threshold")


class WebhookConfig(Strict):
    url: str
    secret: SecretStr
    events: list[str] = []  # empty: every event
    max_attempts: int = Field(5, ge=1, le=20)
    backoff_seconds: float = Field(0.5, gt=0)
    timeout_seconds: float = Field(5.0, gt=0)
    key_expiring_days: int = Field(7, ge=1)


class Timeouts(Strict):
    connect: float = Field(5.0, gt=0)
    read: float = Field(300.0, gt=0)
    total: float = Field(600.0, gt=0)


class ProbeConfig(Strict):
    """Active health probes (a cheap GET, e.g. ``/models``) of a provider."""

    enabled: bool | None = None  # None: on for local providers, off for hosted (paid) ones
    interval: float = Field(30.0, ge=0.05)
    timeout: float = Field(5.0, gt=0)
    path: str | None = None  # default per adapter: /models, /v1/models, /api/tags, ...


class RuntimeOptions(Strict):
    """The embedded llama.cpp child of a ``kind: embedded`` provider."""

    threads: int = Field(1, ge=1, le=64)
    ctx_size: int = Field(2048, ge=256)
    parallel: int = Field(4, ge=1, le=64)
    # tokens per answer when a request sets no max_tokens (llama.cpp's own default generates until end of
    # text or a full context); a request's own max_tokens wins
    max_tokens: int = Field(512, ge=1)
    autostart: bool = False  # start with the gateway instead of on first use


class ProviderConfig(Strict):
    kind: str
    base_url: str | None = None
    api_key: SecretStr | None = None
    locality: Literal["local", "hosted"] | None = None
    timeouts: Timeouts = Timeouts()
    headers: dict[str, str] = {}
    max_connections: int = Field(512, ge=1)
    # highest trust level it may receive without a grant (default: by locality, see trust.max_levels)
    max_trust: Literal["public", "internal", "confidential", "secret"] | None = None
    # embedded runtime: path of a .gguf model (the bundled SmolLM2 when unset) and the child's options
    model_path: str | None = None
    runtime: RuntimeOptions = RuntimeOptions()
    probe: ProbeConfig = ProbeConfig()


class DeploymentConfig(Strict):
    provider: str
    model: str
    weight: float = Field(1.0, ge=0)
    input_price: float | None = Field(None, ge=0, description="USD per million input tokens")
    output_price: float | None = Field(None, ge=0, description="USD per million output tokens")
    cached_input_price: float | None = Field(None, ge=0)
    context_window: int | None = Field(None, ge=1)
    max_output_tokens: int | None = Field(None, ge=1)
    # false: requests with tools are refused here (400 naming the field) instead of failing upstream
    supports_tools: bool = True
    # 0-100, from benchmarks or your own judgement; used by the quality / lowest-cost / balanced strategies
    quality: float | None = Field(None, ge=0, le=100)


Strategy = Literal[
    "weighted",
    "round-robin",
    "least-busy",
    "lowest-latency",
    "lowest-cost",
    "quality",
    "health-weighted",
    "balanced",
]
RouterMode = Literal["balanced", "cost", "latency", "quality"]


class RetryConfig(Strict):
    """Retries of retryable failures (connect errors, 408, 429, 5xx and ``retry_on``); a timeout moves on
    to the next candidate without waiting for the same deployment again."""

    retries: int = Field(2, ge=0, le=10, description="passes over the failed candidates after the first")
    backoff_base: float = Field(0.25, ge=0, description="seconds; doubles each pass, full jitter")
    backoff_max: float = Field(8.0, ge=0)
    retry_on: list[Annotated[int, Field(ge=400, le=599)]] = Field(
        [], description="extra upstream statuses treated as retryable"
    )
    max_retry_after: float = Field(5.0, ge=0, description="a longer Retry-After is not waited for")
    attempt_timeout: float | None = Field(None, gt=0, description="seconds per attempt (to first byte)")
    total_timeout: float | None = Field(None, gt=0, description="seconds for all attempts together")


class BreakerConfig(Strict):
    """Circuit breaker of each deployment of the model."""

    enabled: bool = True
    failure_threshold: int = Field(5, ge=1, description="consecutive failures that open it")
    failure_rate: float | None = Field(None, gt=0, le=1, description="or this failure rate over window")
    window: float = Field(60.0, gt=0)
    min_requests: int = Field(20, ge=1, description="requests in the window before the rate counts")
    open_seconds: float = Field(300.0, gt=0)
    jitter: float = Field(0.1, ge=0, le=1, description="open period stretched by up to this fraction")
    close_after: int = Field(3, ge=1, description="successful half-open probes that close it")
    probe_timeout: float = Field(30.0, gt=0, description="seconds a half-open probe slot is held")


class ModelConfig(Strict):
    # a model has deployments, or is virtual: a traffic `split` across models or a `router` mode
    deployments: list[DeploymentConfig] = []
    description: str = ""
    strategy: Strategy = "weighted"
    fallbacks: list[str] = []
    context_fallback: str | None = None  # a larger-context model for requests too long for the chain
    content_policy_fallback: bool = True
    retry: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()
    max_latency_ms: float | None = Field(None, gt=0, description="lowest-cost: latency threshold")
    min_quality: float | None = Field(None, ge=0, le=100, description="lowest-cost: quality threshold")
    split: dict[str, Annotated[float, Field(ge=0)]] = Field(
        {}, description="traffic split: model -> weight (e.g. 70 / 30)"
    )
    sticky: str | None = Field(None, pattern=r"^(key|header:[A-Za-z0-9_-]+)$")
    router: RouterMode | None = None
    models: list[str] = Field([], description="router: the models to choose across (default: all)")


McpServerName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")]


class McpServerConfig(Strict):
    """An MCP server the gateway connects to and re-exposes at ``/mcp`` as ``<name>__<tool>`` (docs/mcp.md).

    Either ``command`` (with ``args``, ``env``, ``cwd``: a stdio child process) or ``url`` (with
    ``headers``: streamable HTTP).
    """

    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = {}
    enabled: bool = True
    tools: list[str] | None = None  # upstream tools exposed (glob patterns); None: all
    keys: dict[str, list[str]] | None = None  # key id -> tool patterns it may call; None: every key
    max_trust: Literal["public", "internal", "confidential", "secret"] = "internal"  # argument content
    timeout: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either 'command' (stdio) or 'url' (streamable HTTP)")
        return self


class GatewayConfig(Strict):
    version: Literal[1] = 1
    # offline: only `locality: local` providers are used (`adaptive-llm-gateway mode offline|online`)
    mode: Literal["online", "offline"] = "online"
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    store: StoreConfig = StoreConfig()
    state: StateConfig = StateConfig()
    limits: LimitsConfig = LimitsConfig()
    budgets: BudgetDefaults = BudgetDefaults()
    webhooks: list[WebhookConfig] = []
    providers: dict[str, ProviderConfig] = {}
    models: dict[str, ModelConfig] = {}
    aliases: dict[str, str] = {}
    mcp_servers: dict[McpServerName, McpServerConfig] = {}
    trust: TrustConfig = TrustConfig()  # trust levels, policy, consent, receipts (docs/trust.md)
    observability: ObservabilityConfig = ObservabilityConfig()  # metrics, traces (docs/observability.md)
    cache: CacheConfig = CacheConfig()  # exact and semantic response cache (docs/cache.md)
