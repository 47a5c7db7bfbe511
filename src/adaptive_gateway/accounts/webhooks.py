"""Outgoing webhooks: JSON events POSTed to configured URLs, signed with HMAC-SHA256, retried with
exponential backoff, and logged (one delivery row per event and endpoint, via the write-behind queue).

Signature: ``x-adaptive-signature: sha256=<hex>`` over ``<x-adaptive-timestamp>.<raw body>`` with the
endpoint's secret; receivers should also reject stale timestamps.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import orjson

from adaptive_gateway.accounts.keys import new_id
from adaptive_gateway.config.schema import WebhookConfig
from adaptive_gateway.store.models import utcnow

log = logging.getLogger("adaptive_gateway.webhooks")

EVENTS = (
    "budget.threshold",
    "budget.exhausted",
    "rate_limit.approaching",
    "deployment.degraded",
    "key.expiring",
    "webhook.test",
)
SIGNATURE_HEADER = "x-adaptive-signature"
TIMESTAMP_HEADER = "x-adaptive-timestamp"

if TYPE_CHECKING:
    import aiohttp


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for a body sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class Webhooks:
    """Fire-and-forget delivery; ``record`` receives one delivery-log row per attempt sequence."""

    def __init__(self, endpoints: list[WebhookConfig], record: Callable[[dict[str, Any]], None]) -> None:
        self.endpoints = endpoints
        self.record = record
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.failed = 0

    def wants(self, event: str) -> bool:
        return any(not ep.events or event in ep.events for ep in self.endpoints)

    def emit(self, event: str, data: dict[str, Any], subject: str | None = None) -> None:
        """Queue ``event`` for every endpoint subscribed to it (never blocks, never raises)."""
        if not self.endpoints:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for ep in self.endpoints:
            if ep.events and event not in ep.events:
                continue
            task = loop.create_task(self._deliver(ep, event, data, subject))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self, ep: WebhookConfig, event: str, data: dict[str, Any], subject: str | None
    ) -> None:
        delivery_id = new_id("whd")
        created = utcnow()
        body = orjson.dumps(
            {"id": delivery_id, "event": event, "created_at": created.isoformat() + "Z", "data": data}
        )
        status: int | None = None
        error: str | None = None
        attempts = 0
        secret = ep.secret.get_secret_value()
        for attempt in range(1, ep.max_attempts + 1):
            attempts = attempt
            status, error = await self._post(ep, event, delivery_id, body, secret)
            if error is None:
                break
            if attempt < ep.max_attempts:
                await asyncio.sleep(ep.backoff_seconds * 2 ** (attempt - 1))
        ok = error is None
        self.sent += ok
        self.failed += not ok
        if not ok:
            log.warning("webhook %s to %s failed after %d attempt(s): %s", event, ep.url, attempts, error)
        self.record(
            {
                "id": delivery_id,
                "event": event,
                "subject": subject,
                "url": ep.url,
                "payload": body.decode(),
                "status": "delivered" if ok else "failed",
                "attempts": attempts,
                "response_status": status,
                "error": error,
                "created_at": created,
                "finished_at": utcnow(),
            }
        )

    async def _post(
        self, ep: WebhookConfig, event: str, delivery_id: str, body: bytes, secret: str
    ) -> tuple[int | None, str | None]:
        import aiohttp  # only a gateway with webhooks configured needs it (~13 MB)

        if self._session is None:
            self._session = aiohttp.ClientSession()
        ts = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "user-agent": "adaptive-llm-gateway-webhooks",
            "x-adaptive-event": event,
            "x-adaptive-delivery": delivery_id,
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: sign(secret, ts, body),
        }
        try:
            timeout = aiohttp.ClientTimeout(total=ep.timeout_seconds)
            async with self._session.post(ep.url, data=body, headers=headers, timeout=timeout) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return resp.status, None
                return resp.status, f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]

    async def stop(self, wait: float = 2.0) -> None:
        """Give deliveries in progress ``wait`` seconds, then cancel them."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=wait)
            for task in pending:
                task.cancel()
            for task in pending:
                with suppress(asyncio.CancelledError):
                    await task
        if self._session is not None:
            await self._session.close()
            self._session = None
