"""The trust extension's state, hung off the app: compiled settings per config, the consent ledger
view, the decision client, and the write-behind of receipts and run folders.

Settings are compiled once per config section (a reload swaps them) and looked up by the section's
identity; the ledger snapshot is refreshed by a background task; receipts and runs are written by a
worker thread in batches; receipt day files past ``trust.receipts.retention_days`` and run folders
past ``trust.runs.retention_days`` are pruned at start and then every ``prune_interval`` seconds
(every worker may prune: a day file is deleted under the lock appends take, a run folder is renamed
away before it is removed). Nothing here reads a file or a database per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from adaptive_gateway.config import CompiledConfig
from adaptive_gateway.config.trust_schema import TrustConfig
from adaptive_gateway.ledger.consent import ConsentLedger
from adaptive_gateway.ledger.consent_view import LEDGER_FILE, ConsentSnapshot, ConsentView
from adaptive_gateway.ledger.receipts import RECEIPTS_DIR, ReceiptStore
from adaptive_gateway.ledger.runs import RUNS_DIR, RunStore
from adaptive_gateway.ledger.writer import BackgroundWriter
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.server.trust_receipts import RECEIPT_NOTE, build_receipt, receipt_json, run_parts
from adaptive_gateway.tasks import cancel
from adaptive_gateway.trust.decision import TRUST_NOTE, TrustDecision
from adaptive_gateway.trust.memory_sources import SHARE_FILE as MEMORY_READS_FILE
from adaptive_gateway.trust.memory_sources import MemoryReads
from adaptive_gateway.trust.opa import DecisionClient
from adaptive_gateway.trust.settings import TrustSettings, compile_trust

log = logging.getLogger("adaptive_gateway.trust")
# (receipt id, receipt lines of its day (JSON + newline each) or None, run folder files or None)
Record = tuple[str, bytearray | None, dict[str, Any] | None]
MAX_OPEN_BYTES = 64 << 20  # receipt lines held for one day file while the writer is behind; past it, dropped
_CACHE_SIZE = 4  # configs in flight at once during reloads
PRUNE_INTERVAL = 3600.0  # seconds between two retention passes (receipts, runs)


class TrustRuntime:
    def __init__(self, home: Path, current: Callable[[], CompiledConfig]) -> None:
        self.home = home
        self.current = current
        self.consent_view = ConsentView(ConsentLedger(home / LEDGER_FILE))
        self.decider = DecisionClient()
        self.receipts = ReceiptStore(home / RECEIPTS_DIR)
        self.runs = RunStore(home / RUNS_DIR)
        # receipt lines waiting for the writer, one buffer per day file (keyed by the id's date part): one
        # bytearray appended to, where a list of thousands of ~1 KB lines kept alive until the write cost
        # several µs a request in fresh memory (the request log's buffer too, docs/benchmarks.md)
        self._open: dict[str, bytearray] = {}
        self.writer: BackgroundWriter[Record] = BackgroundWriter(self._write, on_take=self._open.clear)
        # memory items each key was handed over MCP, shared by the workers (trust/memory_sources.py)
        self.memory_reads = MemoryReads(share=home / MEMORY_READS_FILE)
        self._settings: dict[int, tuple[TrustConfig, TrustSettings]] = {}
        self._poller: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None
        self.prune_interval = PRUNE_INTERVAL

    # ---- lookups on the request path ----------------------------------------------------------------

    def settings_for(self, config: CompiledConfig) -> TrustSettings:
        """The compiled trust settings of ``config`` (built on first use, then cached)."""
        section = config.source.trust
        hit = self._settings.get(id(section))
        if hit is not None and hit[0] is section:
            return hit[1]
        compiled = compile_trust(section, config.source.providers)
        if len(self._settings) >= _CACHE_SIZE:
            self._settings.pop(next(iter(self._settings)))
        self._settings[id(section)] = (section, compiled)
        return compiled

    def consents(self) -> ConsentSnapshot:
        return self.consent_view.snapshot()

    def finish(self, ctx: RequestContext) -> None:
        """The finisher (after the response went out): build the receipt (and the run's files when
        recording) and queue them for the writer; the request context itself is not kept."""
        rid = ctx.notes.get(RECEIPT_NOTE)
        if rid is None:
            return
        decision = ctx.notes.get(TRUST_NOTE)
        decision = decision if isinstance(decision, TrustDecision) else None
        settings = self.settings_for(ctx.config)
        record = (
            decision is not None
            and decision.record_runs
            and decision.run_request is not None
            and not ctx.route.endswith("count_tokens")  # no answer to record or replay
        )
        if not record and not settings.receipts.enabled:
            return
        latency_ms, ended_at = ctx.elapsed_ms(), time.time()
        if not record:  # the receipt alone (a recalled repeat's from its template)
            self._queue_line(rid, receipt_json(ctx, settings, latency_ms=latency_ms, ended_at=ended_at))
            return
        receipt = build_receipt(ctx, settings, latency_ms=latency_ms, ended_at=ended_at)
        if settings.receipts.enabled:
            self._queue_line(rid, orjson.dumps(receipt))
        if decision is not None:
            self.writer.submit((rid, None, run_parts(ctx, receipt, decision)))

    def _queue_line(self, rid: str, line: bytes) -> None:
        """Append a receipt to its day's open buffer (submitted to the writer when opened)."""
        day = rid[:11]  # "rc_YYYYMMDD": our ids carry their day (ledger/receipts.py day_of)
        buf = self._open.get(day)
        if buf is None:
            buf = bytearray()
            if not self.writer.submit((rid, buf, None)):
                return
            self._open[day] = buf
        elif len(buf) > MAX_OPEN_BYTES:
            self.writer.dropped += 1
            return
        buf += line
        buf += b"\n"

    # ---- background ---------------------------------------------------------------------------------

    def _write(self, records: list[Record]) -> None:
        """Append the receipts and write the run folders (in the writer's thread)."""
        for rid, _, run in records:
            if run is not None:
                try:
                    self.runs.write(rid, run)
                except OSError:
                    log.exception("writing run %s failed", rid)
        for rid, lines, _ in records:
            if lines:
                self.receipts.append_chunk(rid, lines)

    async def start(self) -> None:
        self.writer.start()
        await asyncio.to_thread(self.consent_view.refresh)
        self._poller = asyncio.create_task(self._poll(), name="consent-ledger-poll")
        self._pruner = asyncio.create_task(self._prune_periodically(), name="trust-retention")

    def prune_receipts(self) -> list[str]:
        """Delete receipt day files past ``trust.receipts.retention_days`` (0: keep all); the days."""
        days = self.settings_for(self.current()).receipts.retention_days
        return self.receipts.prune(days) if days > 0 else []

    def prune_runs(self) -> list[str]:
        """Delete run folders past ``trust.runs.retention_days`` (0: keep all); the run ids."""
        days = self.current().source.trust.runs.retention_days
        return self.runs.prune(days) if days > 0 else []

    async def _prune_periodically(self) -> None:
        while True:
            try:
                pruned = await asyncio.to_thread(self.prune_receipts)
                if pruned:
                    log.info(
                        "receipts: deleted %d day file(s) past retention: %s", len(pruned), ", ".join(pruned)
                    )
            except Exception:
                log.exception("pruning receipts failed")
            try:
                runs = await asyncio.to_thread(self.prune_runs)
                if runs:
                    log.info("runs: deleted %d run folder(s) past retention", len(runs))
            except Exception:
                log.exception("pruning run folders failed")
            await asyncio.sleep(self.prune_interval)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings_for(self.current()).ledger_poll_seconds)
            try:
                await asyncio.to_thread(self.consent_view.refresh)
            except Exception:
                log.exception("re-reading the consent ledger failed")

    async def stop(self) -> None:
        await cancel(self._poller, self._pruner)
        await self.writer.stop()
        await self.decider.close()
