"""After the response: give back what admission took (settling the reservation against the actual
cost, streams and client disconnects included) and queue the usage row. Cheap and synchronous: the
counter update is applied in place (memory) or batched into one Redis pipeline by a background task,
and the row goes to the write-behind queue."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from adaptive_gateway.accounts.admission import BudgetHold, Ticket
from adaptive_gateway.accounts.estimate import estimate_prompt_tokens
from adaptive_gateway.numbers import fround
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.state import Counters, MemoryCounters, Settlement, StateUnavailable
from adaptive_gateway.store.models import NANO
from adaptive_gateway.store.queue import UsageRow

if TYPE_CHECKING:
    from adaptive_gateway.accounts.runtime import Accounts

log = logging.getLogger("adaptive_gateway.accounts")


class Settler:
    """Applies settlements: in place for in-process counters and for requests admitted from a block of
    Redis capacity (the block settles in Redis when its last request has), else batched per loop
    iteration."""

    def __init__(self, counters: Counters, accounts: Accounts) -> None:
        self.counters = counters
        self.acc = accounts
        self._pending: list[tuple[Settlement, list[BudgetHold]]] = []
        self._task: asyncio.Task[None] | None = None
        self.settled = 0
        self._memory = counters if isinstance(counters, MemoryCounters) else None
        self._local: Callable[[Settlement], bool] | None = getattr(counters, "settle_local", None)
        self._holds: dict[str, BudgetHold] = {}  # budget key -> hold, for the events of settled blocks
        primary = getattr(counters, "primary", counters)
        if hasattr(primary, "on_block_settled"):
            primary.on_block_settled = self._block_settled

    def settle(self, ticket: Ticket, tokens: int, cost_nano: int) -> None:
        """Give back what ``ticket`` took: through its lane when it was admitted through one."""
        lane = ticket.lane
        if lane is not None:
            res = lane.settle(ticket.lease_id, ticket.bucket, tokens - ticket.reserved_tokens, cost_nano)
            if res is not None:
                self._settled_here(ticket.backend, ticket.budgets, res)
                return
        self.put(ticket.settlement(tokens, cost_nano), ticket.budgets)

    def put(self, item: Settlement, holds: list[BudgetHold]) -> None:
        if self._memory is not None:
            self._settled_here("memory", holds, self._memory.settle_now(item))
        elif self._local is not None and self._local(item):
            self._settled_here("redis", holds, [])
        else:
            self._pending.append((item, holds))
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._drain())

    def _settled_here(self, backend: str, holds: list[BudgetHold], results: list[tuple[int, int]]) -> None:
        """Settled in place: in-process counters (their results), or a block of Redis capacity (its
        budget events come when the block settles: remember the holds for them)."""
        self.settled += 1
        if backend != "redis":
            self.acc.events.after_settle(holds, results)
        elif holds and self.acc.events.webhooks.endpoints:
            if len(self._holds) > 10_000:
                self._holds.clear()
            for hold in holds:
                self._holds[hold.key] = hold

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = await self.counters.settle([s for s, _ in batch])
            except (StateUnavailable, OSError) as exc:
                # leases and reservations expire on their own; spend is re-seeded from the store
                log.warning("could not settle %d request(s): %s", len(batch), exc)
                continue
            self.settled += len(batch)
            for (_, holds), res in zip(batch, results, strict=True):
                self.acc.events.after_settle(holds, res)

    def _block_settled(self, keys: list[str], results: list[tuple[int, int]]) -> None:
        """Budget events of a settled block (its spend crossed a threshold, or the budget)."""
        holds = [self._holds.get(key) for key in keys]
        if all(hold is not None for hold in holds):
            self.acc.events.after_settle([h for h in holds if h is not None], results)

    async def drain(self) -> None:
        """Settle everything queued (shutdown)."""
        if self._task is not None:
            await asyncio.shield(self._task)
        await self._drain()


class Finisher:
    """The pipeline finisher (``app.gateway.finishers``)."""

    def __init__(self, accounts: Accounts) -> None:
        self.acc = accounts

    def __call__(self, ctx: RequestContext) -> None:
        ticket: Ticket | None = ctx.notes.get("admission")
        dep = ctx.deployment
        req = ctx.request
        if req is None and dep is None and ticket is None:
            return  # refused before the request was understood (auth, malformed body)
        usage = ctx.usage
        cost_nano = round(ctx.cost * NANO) if usage is not None else 0
        tokens_in = usage.input_tokens if usage else 0
        tokens_out = usage.output_tokens if usage else 0
        estimated = False
        if usage is None and ctx.status == 499 and dep is not None and req is not None:
            # the client went away mid-stream: the upstream still bills the prompt
            tokens_in, estimated = estimate_prompt_tokens(req), True
            cost_nano = round(dep.cost(tokens_in, 0) * NANO)
        if ticket is not None:
            self.acc.settler.settle(ticket, tokens_in + tokens_out, cost_nano)
        p = ctx.principal
        virtual = p is not None and p.kind == "virtual"
        queue = self.acc.queue
        if queue is not None:
            queue.add_usage(
                UsageRow(  # positional, in the fields' order: a third of what 16 keywords cost
                    ctx.request_id,  # request_id
                    time.time(),  # created_at
                    p.id if virtual and p else None,  # key_id
                    p.tenant if p else None,  # tenant_id
                    dep.model_name if dep else (req.model if req else ""),  # model
                    dep.provider.name if dep else None,  # provider
                    dep.id if dep else None,  # deployment
                    ctx.route,  # route
                    ctx.status,  # status
                    tokens_in,  # input_tokens
                    tokens_out,  # output_tokens
                    usage.cached_input_tokens if usage else 0,  # cached_input_tokens
                    cost_nano,  # cost_nano
                    fround(ctx.elapsed_ms(), 2),  # latency_ms
                    estimated,  # estimated
                    ctx.error[:300] if ctx.error else None,  # error
                )
            )
        for attempt in ctx.attempts:
            self.acc.events.deployment_failed(attempt.deployment, attempt.error, attempt.status)
