"""What a failed attempt means for the next one: the failure class, whether it may be retried, how long
to wait (exponential backoff with jitter, ``Retry-After`` / ``retry-after-ms``), and whether it counts
against the deployment's breaker.

Pure functions and tables; the executor applies them.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from adaptive_gateway.config.schema import RetryConfig
from adaptive_gateway.errors import GatewayError, UnsupportedContent, UpstreamTimeout, UpstreamUnreachable

TRANSPORT = "transport"  # connect error, reset, broken body
TIMEOUT = "timeout"  # no answer within the read / attempt deadline: the next candidate, no retry here
SERVER = "server"  # 5xx, 408 and retry_on
RATE_LIMIT = "rate_limit"  # 429
CLIENT = "client"  # other 4xx: the request itself is wrong; stop
CONTENT_POLICY = "content_policy"
CONTEXT_LENGTH = "context_length"
UNSUPPORTED = "unsupported"  # this deployment cannot take the request (tools, images): next candidate


@dataclass(frozen=True, slots=True)
class FailureClass:
    kind: str
    retry: bool  # the same deployment may be tried again (after a wait)
    failover: bool  # the next candidate may be tried
    breaker: bool  # counts against the deployment's breaker and success rate
    other_model: bool = False  # fall over to a candidate of another model only


CLASSES: Mapping[str, FailureClass] = {
    TRANSPORT: FailureClass(TRANSPORT, retry=True, failover=True, breaker=True),
    TIMEOUT: FailureClass(TIMEOUT, retry=False, failover=True, breaker=True),
    SERVER: FailureClass(SERVER, retry=True, failover=True, breaker=True),
    RATE_LIMIT: FailureClass(RATE_LIMIT, retry=True, failover=True, breaker=False),
    CLIENT: FailureClass(CLIENT, retry=False, failover=False, breaker=False),
    CONTENT_POLICY: FailureClass(CONTENT_POLICY, False, failover=True, breaker=False, other_model=True),
    CONTEXT_LENGTH: FailureClass(CONTEXT_LENGTH, False, failover=True, breaker=False, other_model=True),
    UNSUPPORTED: FailureClass(UNSUPPORTED, retry=False, failover=True, breaker=False),
}

# lower-case fragments of upstream error codes / messages (OpenAI, Anthropic, Gemini, Azure, vLLM...)
CONTENT_POLICY_MARKERS = (
    "content_filter",
    "content_policy",
    "content policy",
    "content management policy",
    "responsible ai",
    "safety",
)
CONTEXT_MARKERS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "maximum context",
    "prompt is too long",
    "too many tokens",
    "input is too long",
    "reduce the length",
)
MAX_COOLDOWN = 3600.0
DEFAULT_COOLDOWN = 1.0  # after a 429 without Retry-After


def classify(err: GatewayError, retry_on: Collection[int] = ()) -> FailureClass:
    """The class of a failed attempt (``retry_on``: extra statuses treated like 5xx)."""
    if isinstance(err, UpstreamTimeout):
        return CLASSES[TIMEOUT]
    if isinstance(err, UpstreamUnreachable):
        return CLASSES[TRANSPORT]
    status = err.status
    if status == 429:
        return CLASSES[RATE_LIMIT]
    if status >= 500 or status == 408 or status in retry_on:
        return CLASSES[SERVER]
    if isinstance(err, UnsupportedContent):
        return CLASSES[UNSUPPORTED]
    if status in (400, 403, 413, 422):
        text = f"{err.code or ''} {err.message}".lower()
        if any(m in text for m in CONTEXT_MARKERS):
            return CLASSES[CONTEXT_LENGTH]
        if any(m in text for m in CONTENT_POLICY_MARKERS):
            return CLASSES[CONTENT_POLICY]
    return CLASSES[CLIENT]


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def backoff(pass_no: int, policy: RetryConfig, u: float) -> float:
    """Exponential backoff before retry pass ``pass_no`` (1, 2, ...), equal jitter (``u`` in [0, 1))."""
    full = min(policy.backoff_base * float(2 ** (pass_no - 1)), policy.backoff_max)
    return full / 2 + full / 2 * u


def cooldown(err: GatewayError) -> float:
    """How long a rate-limited deployment should be avoided."""
    wait = retry_after(err.headers)
    return min(wait if wait is not None else DEFAULT_COOLDOWN, MAX_COOLDOWN)
