"""An external policy decision, asked of a service compatible with OPA's data API.

``POST <url>`` (``http://127.0.0.1:8181/v1/data/gateway/allow``) with ``{"input": {...}}``; the answer
``{"result": true}`` allows, ``{"result": false}`` denies, ``{"result": {"allow": false, "reason":
"..."}}`` denies with a reason. No ``result`` (the rule is undefined), a non-2xx status, a timeout or
an unreachable service are handled by the endpoint's ``on_error`` (``deny`` by default). The input
holds levels, finding types and counts, the model and the caller, never message text.

One client session per gateway, made on first use and closed at shutdown.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from adaptive_gateway.config.trust_schema import DecisionEndpoint

if TYPE_CHECKING:
    import aiohttp


@dataclass(frozen=True, slots=True)
class ExternalDecision:
    allow: bool
    reason: str
    source: str  # "endpoint" | "on_error" | "offline"

    def as_dict(self) -> dict[str, Any]:
        return {"allow": self.allow, "reason": self.reason, "source": self.source}


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (``localhost``, 127.0.0.0/8 or ``::1``)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fallback(endpoint: DecisionEndpoint, why: str, source: str = "on_error") -> ExternalDecision:
    allow = endpoint.on_error == "allow"
    return ExternalDecision(allow, f"decision endpoint {why}; on_error: {endpoint.on_error}", source)


def parse_result(endpoint: DecisionEndpoint, body: Any) -> ExternalDecision:
    """The decision in an OPA data API answer body."""
    result = body.get("result") if isinstance(body, dict) else None
    if isinstance(result, bool):
        return ExternalDecision(
            result, "allowed by the decision endpoint" if result else "denied", "endpoint"
        )
    if isinstance(result, dict) and isinstance(result.get("allow"), bool):
        allow = bool(result["allow"])
        reason = result.get("reason")
        default = "allowed by the decision endpoint" if allow else "denied by the decision endpoint"
        return ExternalDecision(allow, str(reason) if reason else default, "endpoint")
    return _fallback(endpoint, "returned no decision (undefined)")


class DecisionClient:
    """Asks the configured endpoint; never raises for the endpoint's own failures."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def decide(
        self, endpoint: DecisionEndpoint, doc: dict[str, Any], *, offline: bool = False
    ) -> ExternalDecision:
        """The endpoint's decision on ``doc`` (sent as ``{"input": doc}``). Offline, an endpoint that
        is not on this machine is never called: the request is handled by ``on_error``."""
        if offline and not is_loopback_url(endpoint.url):
            return _fallback(endpoint, "not called in offline mode (not on this machine)", "offline")
        import aiohttp  # only gateways with a decision endpoint configured need it

        headers = {"content-type": "application/json"}
        if endpoint.token is not None:
            headers["authorization"] = f"Bearer {endpoint.token.get_secret_value()}"
        try:
            session = self._session_now()
            timeout = aiohttp.ClientTimeout(total=endpoint.timeout)
            async with session.post(
                endpoint.url, data=orjson.dumps({"input": doc}), headers=headers, timeout=timeout
            ) as resp:
                raw = await resp.read()
                if resp.status >= 300:
                    return _fallback(endpoint, f"answered HTTP {resp.status}")
            return parse_result(endpoint, orjson.loads(raw))
        except TimeoutError:
            return _fallback(endpoint, f"timed out after {endpoint.timeout:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return _fallback(endpoint, f"unreachable ({type(exc).__name__})")
        except orjson.JSONDecodeError:
            return _fallback(endpoint, "answered with invalid JSON")

    def _session_now(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
