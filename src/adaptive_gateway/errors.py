"""One error tree. Each class carries its HTTP status and an OpenAI-style ``type`` / ``code``;
wire formats render it in the client's own error shape (``wire/<format>.render_error``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class GatewayError(Exception):
    status: int = 500
    type: str = "api_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers: dict[str, str] = headers or {}

    def body(self) -> dict[str, Any]:
        """OpenAI's error body; other formats map from it."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class UnsupportedContent(InvalidRequest):
    code = "unsupported_content"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFound(GatewayError):
    status = 404
    type = "not_found_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class BudgetExceeded(GatewayError):
    status = 429
    type = "budget_exceeded"
    code = "budget_exceeded"


class PolicyBlocked(GatewayError):
    status = 403
    type = "policy_error"
    code = "blocked_by_policy"


class UpstreamError(GatewayError):
    """An upstream answered with an error status; the status is kept."""

    type = "upstream_error"

    def __init__(self, message: str, *, status: int, provider: str = "", **kw: Any) -> None:
        super().__init__(message, status=status, **kw)
        self.provider = provider
        self.type = _UPSTREAM_TYPES.get(status, "upstream_error")


_UPSTREAM_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class UpstreamTimeout(GatewayError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"


class UpstreamUnreachable(GatewayError):
    status = 502
    type = "upstream_error"
    code = "upstream_unreachable"


class ServiceUnavailable(GatewayError):
    status = 503
    type = "service_unavailable"
    code = "no_healthy_deployment"


@dataclass(slots=True)
class Attempt:
    deployment: str
    error: str
    status: int | None = None


class AllAttemptsFailed(GatewayError):
    """Every candidate deployment failed: one error listing each attempt and its cause."""

    def __init__(self, attempts: list[Attempt]) -> None:
        self.attempts = attempts
        summary = "; ".join(
            f"{a.deployment}: {a.error}" + (f" (HTTP {a.status})" if a.status else "") for a in attempts
        )
        # the last attempt's status is kept: an upstream's own status (429, 503, ...) as the upstream gave
        # it; transport failures already carry 502 (unreachable) or 504 (timeout)
        last = attempts[-1] if attempts else None
        status = last.status if last and last.status else 502
        super().__init__(f"all {len(attempts)} attempt(s) failed: {summary}", status=status)
        self.type = _UPSTREAM_TYPES.get(status, "upstream_error")
        self.code = "all_attempts_failed"
