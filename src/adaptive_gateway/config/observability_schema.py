"""The ``observability:`` section of the config: metrics, traces, request-log content, the live stats that
feed the dashboard, the public status page (docs/observability.md).

Every field has a default, so a config without the section gets metrics at ``/metrics``, the dashboard
at ``/ui`` and ``/status``, and no traces (tracing is opt-in).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

Level = Literal["public", "internal", "confidential", "secret"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricsConfig(_Strict):
    enabled: bool = True
    # per-request updates are buffered in memory and folded into the Prometheus series this often
    flush_interval_seconds: float = Field(1.0, gt=0, le=60)
    per_key: bool = Field(True, description="requests, tokens and cost per virtual key")
    # /metrics needs a key unless this is false (then anyone who can reach the port may scrape it)
    require_key: bool = True


class TracingConfig(_Strict):
    """OpenTelemetry spans (GenAI semantic conventions); off unless ``enabled``."""

    enabled: bool = False
    exporter: Literal["otlp", "console", "memory"] = "otlp"
    # OTLP over HTTP/protobuf; default: $OTEL_EXPORTER_OTLP_ENDPOINT, else http://127.0.0.1:4318
    endpoint: str | None = None
    headers: dict[str, SecretStr] = {}
    service_name: str = "adaptive-llm-gateway"
    sample_ratio: float = Field(1.0, ge=0, le=1, description="parent-based ratio sampler")
    export_timeout_seconds: float = Field(10.0, gt=0)


class LogsConfig(_Strict):
    """What the one-line-per-request log may hold beyond its metadata."""

    record_content: bool = Field(False, description="prompt and answer text in the request log")
    record_max_level: Level = Field("public", description="only requests at or below this trust level")
    record_max_chars: int = Field(2000, ge=1, le=1_000_000)


class StatsConfig(_Strict):
    recent_requests: int = Field(1000, ge=10, le=100_000, description="the /api/traces ring buffer")
    max_clients: int = Field(50, ge=1, le=1000, description="distinct clients tracked (others: 'other')")


class ObservabilityConfig(_Strict):
    metrics: MetricsConfig = MetricsConfig()
    tracing: TracingConfig = TracingConfig()
    logs: LogsConfig = LogsConfig()
    stats: StatsConfig = StatsConfig()
    status_page: bool = Field(True, description="the public /status page (no secrets)")
    dashboard: bool = Field(True, description="the web UI at /ui")
