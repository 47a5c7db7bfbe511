"""The ``observability:`` section of the config: metrics, traces, request-log content, prompt and answer
recording, the live stats that feed the dashboard, the public status page (docs/observability.md).

Every field has a default, so a config without the section gets metrics at ``/metrics``, the dashboard
at ``/ui`` and ``/status``, and no traces and no recordings (both are opt-in).
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


class RecordingConfig(_Strict):
    """Prompts and answers kept in the gateway's store (``GET /api/recordings``); off unless ``enabled``.

    Only requests at or below ``max_level`` (``secret`` is never recorded), as sent upstream: after
    redaction, and with a request's placeholders kept in its answer.
    """

    enabled: bool = False
    max_level: Literal["public", "internal", "confidential"] = "public"
    # all: every key unless its metadata says "record": false; opted_in: only keys saying "record": true
    keys: Literal["all", "opted_in"] = "all"
    max_chars: int = Field(100_000, ge=1, le=10_000_000, description="per message and per answer")
    retention_days: int = Field(30, ge=1, le=3650)
    max_rows: int | None = Field(
        1_000_000, ge=1, description="the oldest beyond this are pruned; null: no bound"
    )
    prune_interval_seconds: float = Field(3600.0, ge=1, le=86400)


class StatsConfig(_Strict):
    recent_requests: int = Field(1000, ge=10, le=100_000, description="the /api/traces ring buffer")
    recent_per_second: int = Field(
        100, ge=1, le=1_000_000, description="successful requests the ring keeps per second (failed: all)"
    )
    max_clients: int = Field(50, ge=1, le=1000, description="distinct clients tracked (others: 'other')")


class ObservabilityConfig(_Strict):
    metrics: MetricsConfig = MetricsConfig()
    tracing: TracingConfig = TracingConfig()
    logs: LogsConfig = LogsConfig()
    recording: RecordingConfig = RecordingConfig()
    stats: StatsConfig = StatsConfig()
    status_page: bool = Field(True, description="the public /status page (no secrets)")
    dashboard: bool = Field(True, description="the web UI at /ui")
