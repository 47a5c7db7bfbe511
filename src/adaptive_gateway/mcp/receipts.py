"""A receipt per MCP tool call: which tool, on which server, for which key, how long, what outcome.

Receipts never hold argument values: only their SHA-256, so a receipt can prove what was sent
without storing it. Each receipt goes to the gateway's structured request log (behind the request),
to the ledger's receipts store when that module is present (``<home>/mcp-receipts/<day>.jsonl``,
written behind the request by its background writer), and to a small in-memory ring.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from adaptive_gateway.mcp.context import Caller

log = logging.getLogger("adaptive_gateway.mcp.receipts")

Sink = Callable[[dict[str, Any]], None]
RECEIPTS_DIR = "mcp-receipts"  # under the gateway home; the ledger's context receipts are in receipts/


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


class LedgerSink:
    """Appends receipts to a ``ledger.receipts.ReceiptStore`` through the ledger's background writer."""

    def __init__(self, root: Path) -> None:
        receipts = importlib.import_module("adaptive_gateway.ledger.receipts")
        writer = importlib.import_module("adaptive_gateway.ledger.writer")
        self.new_id: Callable[[], str] = receipts.new_receipt_id
        self.writer: Any = writer.BackgroundWriter(receipts.ReceiptStore(root).append)

    def __call__(self, record: dict[str, Any]) -> None:
        self.writer.submit(record)

    async def stop(self) -> None:
        await self.writer.stop()

    @classmethod
    def open(cls, root: Path) -> LedgerSink | None:
        """A sink on ``root``, or None when the ledger's receipts store is not available."""
        try:
            return cls(root)
        except (ImportError, AttributeError, TypeError):
            return None


class ReceiptLog:
    """Keeps the last ``keep`` receipts and forwards each to every sink (request log, ledger)."""

    def __init__(self, *sinks: Sink | None, keep: int = 256, ledger: LedgerSink | None = None) -> None:
        self.sinks = [sink for sink in (*sinks, ledger) if sink is not None]
        self.ledger = ledger
        self.recent: deque[ToolReceipt] = deque(maxlen=keep)

    def new_id(self) -> str:
        if self.ledger is not None:
            return self.ledger.new_id()
        return "mcpr_" + os.urandom(10).hex()

    def add(self, receipt: ToolReceipt) -> None:
        self.recent.append(receipt)
        for sink in self.sinks:
            try:
                sink(receipt.record())
            except Exception:  # a receipt sink must never fail the call it describes
                log.warning("receipt sink failed", exc_info=True)

    async def stop(self) -> None:
        """Write what the ledger sink still holds."""
        if self.ledger is not None:
            await self.ledger.stop()

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
