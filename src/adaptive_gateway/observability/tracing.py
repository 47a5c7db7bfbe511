"""OpenTelemetry spans for the gateway: one SERVER span per request and one CLIENT span per upstream
attempt, named and attributed by the GenAI semantic conventions (``gen_ai.operation.name``,
``gen_ai.system`` / ``gen_ai.provider.name``, ``gen_ai.request.model``, ``gen_ai.response.model``,
``gen_ai.usage.input_tokens`` / ``output_tokens``, ``gen_ai.response.finish_reasons``) plus the
gateway's own ``adaptive_gateway.*`` attributes (cost, trust level, deployment, request id).

A W3C ``traceparent`` sent by the client becomes the request span's parent; each attempt's context is
injected into the upstream request's headers. The tracer provider is this object's own (never the
process-global one), so several gateways in one process keep their spans apart. Export is batched in a
background thread (OTLP over HTTP/protobuf), so the request path only creates and ends spans.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
# provider kind (config presets) -> the semantic conventions' well-known gen_ai.system value
GENAI_SYSTEMS: Mapping[str, str] = {
    "openai": "openai",
    "openai-compatible": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "cohere": "cohere",
    "bedrock": "aws.bedrock",
    "azure": "azure.ai.openai",
}
# the route a request came in on -> gen_ai.operation.name
OPERATIONS: Mapping[str, str] = {
    "/embeddings": "embeddings",
    "/completions": "text_completion",
}


def genai_system(provider_kind: str) -> str:
    return GENAI_SYSTEMS.get(provider_kind, provider_kind)


def operation(route: str) -> str:
    return OPERATIONS.get(route, "chat")


def wall_ns(perf_start: float) -> int:
    """The wall-clock time (ns) of a ``time.perf_counter()`` reading taken earlier in this process."""
    return time.time_ns() - int((time.perf_counter() - perf_start) * 1e9)


def _exporter(kind: str, endpoint: str | None, headers: Mapping[str, str], timeout: float) -> SpanExporter:
    if kind == "console":
        return ConsoleSpanExporter()
    if kind == "memory":
        return InMemorySpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    base = (endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    url = base if base.endswith("/v1/traces") else base + "/v1/traces"
    return OTLPSpanExporter(endpoint=url, headers=dict(headers) or None, timeout=timeout)


class Tracing:
    """Creates the gateway's spans. ``exporter``: ``otlp`` | ``console`` | ``memory`` (tests)."""

    def __init__(
        self,
        exporter: str = "otlp",
        endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        service_name: str = "adaptive-llm-gateway",
        sample_ratio: float = 1.0,
        timeout: float = 10.0,
        version: str = "",
    ) -> None:
        self.exporter = _exporter(exporter, endpoint, headers or {}, timeout)
        resource = Resource.create({"service.name": service_name, "service.version": version})
        sampler = ParentBased(TraceIdRatioBased(sample_ratio))
        self.provider = TracerProvider(resource=resource, sampler=sampler)
        processor = SimpleSpanProcessor if exporter == "memory" else BatchSpanProcessor
        self.provider.add_span_processor(processor(self.exporter))
        self.tracer = self.provider.get_tracer("adaptive_gateway")
        self.propagator = TraceContextTextMapPropagator()

    def start_request(
        self, headers: Mapping[str, str], start_ns: int, route: str, model: str, attributes: Mapping[str, Any]
    ) -> Span:
        """The request's SERVER span, child of the client's ``traceparent`` when it sent one."""
        parent = self.propagator.extract(headers) if "traceparent" in headers else None
        op = operation(route)
        attrs = {"gen_ai.operation.name": op, "gen_ai.request.model": model, **attributes}
        span = self.tracer.start_span(
            f"{op} {model}", context=parent, kind=SpanKind.SERVER, attributes=attrs, start_time=start_ns
        )
        assert isinstance(span, Span)
        return span

    def start_attempt(
        self, parent: Span, route: str, system: str, model: str, attributes: Mapping[str, Any]
    ) -> Span:
        """A CLIENT span for one upstream attempt of ``parent``'s request."""
        op = operation(route)
        attrs = {
            "gen_ai.operation.name": op,
            "gen_ai.system": system,
            "gen_ai.provider.name": system,
            "gen_ai.request.model": model,
            **attributes,
        }
        ctx = trace.set_span_in_context(parent)
        span = self.tracer.start_span(f"{op} {model}", context=ctx, kind=SpanKind.CLIENT, attributes=attrs)
        assert isinstance(span, Span)
        return span

    def inject(self, span: Span, headers: MutableMapping[str, str]) -> None:
        """Write ``span``'s W3C ``traceparent`` (and ``tracestate``) into outgoing ``headers``."""
        self.propagator.inject(headers, context=trace.set_span_in_context(span))

    @staticmethod
    def finish(span: Span, status: int, error: str | None, attributes: Mapping[str, Any]) -> None:
        """Set the final attributes and status, and end the span."""
        span.set_attributes(attributes)
        span.set_attribute("http.response.status_code", status)
        if status >= 400:
            span.set_attribute("error.type", str(status))
            span.set_status(Status(StatusCode.ERROR, (error or "")[:200]))
        span.end()

    def shutdown(self) -> None:
        """Flush pending spans and stop the exporter thread."""
        self.provider.shutdown()


def trace_id_hex(span: Span) -> str:
    return format(span.get_span_context().trace_id, "032x")


def traceparent_of(span: Span) -> str:
    sc = span.get_span_context()
    return f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags):02x}"


def incoming_trace_id(traceparent: str | None) -> str | None:
    """The trace id of a well-formed W3C ``traceparent`` (used when tracing is off)."""
    if not traceparent or len(traceparent) < 55:
        return None
    parts = traceparent.split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or parts[1] == "0" * 32:
        return None
    try:
        int(parts[1], 16)
    except ValueError:
        return None
    return parts[1]


def finish_reasons(choices: Sequence[Any]) -> list[str]:
    return [str(c.finish_reason) for c in choices if getattr(c, "finish_reason", None)]
