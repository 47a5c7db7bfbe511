"""A receipt per MCP tool call: which tool, on which server, for which key, how long, what outcome.

Receipts never hold argument values: only their SHA-256, so a receipt can prove what was sent
without storing it. Each receipt is written as one line of the gateway's structured request log
(behind the request) and kept in a small in-memory ring for ``gateway_health`` and tests.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from adaptive_gateway.mcp.context import Caller

log = logging.getLogger("adaptive_gateway.mcp.receipts")

Sink = Callable[[dict[str, Any]], None]


def argument_hash(args: Any) -> str:
    """``sha256:<hex>`` of the arguments' canonical JSON (sorted keys)."""
    return "sha256:" + hashlib.sha256(orjson.dumps(args or {}, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class ToolReceipt:
    id: str
    tool: str
    server: str  # "gateway" for built-in tools, else the upstream server's name
    upstream_tool: str | None
    key: str  # key prefix, never the key
    principal: str
    agent: str
    transport: str
    status: str  # ok | tool_error | error | denied | blocked | unavailable
    reason: str | None
    duration_ms: float
    args_sha256: str
    ts: float

    def record(self) -> dict[str, Any]:
        return {"kind": "mcp_tool_call", **asdict(self)}


class ReceiptLog:
    """Keeps the last ``keep`` receipts and forwards each to ``sink`` (the request log)."""

    def __init__(self, sink: Sink | None = None, keep: int = 256) -> None:
        self.sink = sink
        self.recent: deque[ToolReceipt] = deque(maxlen=keep)

    def new_id(self) -> str:
        return "mcpr_" + os.urandom(10).hex()

    def add(self, receipt: ToolReceipt) -> None:
        self.recent.append(receipt)
        if self.sink is not None:
            try:
                self.sink(receipt.record())
            except Exception:  # a receipt sink must never fail the call it describes
                log.warning("receipt sink failed", exc_info=True)
        log.debug("mcp tool call %s %s %s", receipt.tool, receipt.status, receipt.duration_ms)

    def record(
        self,
        caller: Caller,
        tool: str,
        server: str,
        upstream_tool: str | None,
        status: str,
        reason: str | None,
        started: float,
        args: Any,
    ) -> ToolReceipt:
        """Build and add the receipt of one call that began at ``started`` (``time.perf_counter()``)."""
        receipt = ToolReceipt(
            id=self.new_id(),
            tool=tool,
            server=server,
            upstream_tool=upstream_tool,
            key=caller.principal.key_prefix,
            principal=caller.principal.id,
            agent=caller.agent(args if isinstance(args, dict) else None),
            transport=caller.transport,
            status=status,
            reason=reason,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            args_sha256=argument_hash(args),
            ts=now(),
        )
        self.add(receipt)
        return receipt

    def find(self, **match: Any) -> list[ToolReceipt]:
        """Receipts whose fields equal every keyword given (newest last)."""
        return [r for r in self.recent if all(getattr(r, k) == v for k, v in match.items())]


def now() -> float:
    return round(time.time(), 3)
