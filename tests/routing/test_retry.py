"""What a failure means: its class, Retry-After parsing, backoff bounds."""

from __future__ import annotations

import email.utils

import pytest

from adaptive_gateway.config.schema import RetryConfig
from adaptive_gateway.errors import (
    InvalidRequest,
    UnsupportedContent,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from adaptive_gateway.routing.retry import backoff, classify, cooldown, retry_after


@pytest.mark.parametrize(
    ("err", "kind", "retry", "failover", "breaker"),
    [
        (UpstreamUnreachable("refused"), "transport", True, True, True),
        (UpstreamTimeout("slow"), "timeout", False, True, True),
        (UpstreamError("x", status=500), "server", True, True, True),
        (UpstreamError("x", status=503), "server", True, True, True),
        (UpstreamError("x", status=408), "server", True, True, True),
        (UpstreamError("x", status=429), "rate_limit", True, True, False),
        (UpstreamError("x", status=400), "client", False, False, False),
        (UpstreamError("x", status=401), "client", False, False, False),
        (UpstreamError("x", status=409), "client", False, False, False),
        (
            UpstreamError("upstream returned HTTP 400: rejected by our safety system", status=400),
            "content_policy", False, True, False,
        ),
        (
            UpstreamError("HTTP 400: This model's maximum context length is 8192 tokens", status=400),
            "context_length", False, True, False,
        ),
        (UnsupportedContent("no tools here"), "unsupported", False, True, False),
        (InvalidRequest("bad"), "client", False, False, False),
    ],
)  # fmt: skip
def test_classes(err: Exception, kind: str, retry: bool, failover: bool, breaker: bool) -> None:
    fc = classify(err)  # type: ignore[arg-type]
    assert (fc.kind, fc.retry, fc.failover, fc.breaker) == (kind, retry, failover, breaker)


def test_configured_codes_are_retried() -> None:
    assert classify(UpstreamError("x", status=409), [409]).kind == "server"


def test_retry_after_forms() -> None:
    assert retry_after({"retry-after": "7"}) == 7.0
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25  # the precise one wins
    date = email.utils.formatdate(1_700_000_030, usegmt=True)
    assert retry_after({"retry-after": date}, now=1_700_000_000) == pytest.approx(30)
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None
    assert cooldown(UpstreamError("x", status=429, headers={"retry-after": "12"})) == 12.0


def test_backoff_doubles_with_equal_jitter_and_caps() -> None:
    p = RetryConfig(backoff_base=0.5, backoff_max=3)
    assert [backoff(n, p, 0.0) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 1.5]
    assert [backoff(n, p, 0.999) for n in (1, 2, 3, 4)] == pytest.approx([0.5, 1.0, 2.0, 3.0], abs=0.01)
