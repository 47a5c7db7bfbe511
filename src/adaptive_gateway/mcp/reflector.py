"""The route reflector: what worked, per model, deployment and task type, written into shared memory.

A finisher (``observe``, cheap: a few additions into a dict) aggregates every request's outcome in
memory; a background task writes the accumulated delta into the day's note
``<namespace>/notes/route-reflections-<YYYY-MM-DD>.md`` every ``interval`` seconds, and on shutdown
when the memory repository exists.
The totals live in the note's front matter (``routes:``), so flushes from several processes or
restarts add up (merged under the memory store's lock); the body is a readable summary that
``memory_search`` finds. User feedback (``gateway_feedback``) is attributed to the request's route.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from adaptive_gateway.mcp.memory_service import MemoryService
from adaptive_gateway.memory import ItemNotFound, ItemType, MemoryItem
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.gateway import REPLAY_NOTE

log = logging.getLogger("adaptive_gateway.mcp.reflector")

Key = tuple[str, str, str]  # (model, deployment, task type)
TAGS = ("route-reflector", "routing")
RECENT = 4096  # requests whose route feedback can still be attributed to (at least)


def task_type(ctx: RequestContext) -> str:
    """``x-adaptive-task`` header, ``metadata.task_type``, else the first that holds of tools | json |
    vision | code, else chat. Only the last message is looked at (one pass over its parts), so the cost
    does not grow with the conversation: this runs on every request."""
    req = ctx.request
    explicit = ctx.headers.get("x-adaptive-task") or (req.metadata.get("task_type") if req else None)
    if isinstance(explicit, str) and explicit:
        return explicit[:40]
    if req is None:
        return "unknown"
    if req.tools:
        return "tools"
    if req.response_format is not None and req.response_format.type != "text":
        return "json"
    code = False
    for part in req.messages[-1].content if req.messages else ():
        if part.type == "image":
            return "vision"
        if not code and part.type == "text" and "```" in part.text:
            code = True
    return "code" if code else "chat"


@dataclass(slots=True)
class RouteStats:
    requests: int = 0
    ok: int = 0
    errors: int = 0
    fallbacks: int = 0
    latency_ms_sum: float = 0.0
    latency_ms_max: float = 0.0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    good: int = 0
    bad: int = 0

    def merge(self, other: RouteStats) -> None:
        for f in fields(self):
            if f.name == "latency_ms_max":
                self.latency_ms_max = max(self.latency_ms_max, other.latency_ms_max)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @classmethod
    def load(cls, data: dict[str, Any]) -> RouteStats:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class RouteReflector:
    """Aggregates routing outcomes; ``flush()`` merges them into the day's reflections note."""

    def __init__(self, memory: MemoryService, *, namespace: str = "routing", interval: float = 600.0) -> None:
        self.memory = memory
        self.namespace = namespace
        self.interval = interval
        self._pending: dict[Key, RouteStats] = {}
        # request id -> route, for feedback: the last RECENT requests at least, at most twice that (two
        # generations of plain dicts: an insert is a dict store, where an OrderedDict links a node)
        self._recent: dict[str, Key] = {}
        self._older: dict[str, Key] = {}
        self._task: asyncio.Task[None] | None = None

    # -- hot path ---------------------------------------------------------------------------------

    def observe(self, ctx: RequestContext) -> None:
        """Finisher: count one request's outcome (skips requests refused before routing)."""
        if ctx.request is None or ctx.status in (401, 403):
            return
        dep = ctx.deployment
        derived = getattr(ctx.notes.get(REPLAY_NOTE), "derived", None) if dep is None else None
        if derived is not None:  # a recalled repeat: the same request and headers, so the same task type
            key = derived.get("reflector")
            if key is None:
                key = derived["reflector"] = (ctx.request.model, "-", task_type(ctx))
        else:
            key = (ctx.request.model, dep.id if dep else "-", task_type(ctx))
        stats = self._pending.get(key)
        if stats is None:
            stats = self._pending[key] = RouteStats()
        latency = ctx.elapsed_ms()
        stats.requests += 1
        if ctx.status < 400:
            stats.ok += 1
        else:
            stats.errors += 1
        stats.fallbacks += ctx.fallbacks
        stats.latency_ms_sum += latency
        stats.latency_ms_max = max(stats.latency_ms_max, latency)
        stats.cost_usd += ctx.cost
        if ctx.usage is not None:
            stats.input_tokens += ctx.usage.input_tokens
            stats.output_tokens += ctx.usage.output_tokens
        recent = self._recent
        recent[ctx.request_id] = key
        if len(recent) >= RECENT:
            self._older, self._recent = recent, {}

    def feedback(self, request_id: str, good: bool) -> Key | None:
        """Attribute a user's verdict to the route that served ``request_id``; None when unknown."""
        key = self._recent.get(request_id) or self._older.get(request_id)
        if key is not None:
            stats = self._pending.setdefault(key, RouteStats())
            if good:
                stats.good += 1
            else:
                stats.bad += 1
        return key

    def pending(self) -> dict[Key, RouteStats]:
        return dict(self._pending)

    # -- writing ----------------------------------------------------------------------------------

    async def flush(self) -> MemoryItem | None:
        """Merge what was observed since the last flush into today's note; None when nothing was."""
        delta, self._pending = self._pending, {}
        if not delta:
            return None
        try:
            return await self.memory.run(lambda: self._merge_into_note(delta))
        except Exception:
            for key, stats in delta.items():  # keep the numbers for the next flush
                self._pending.setdefault(key, RouteStats()).merge(stats)
            raise

    def _merge_into_note(self, delta: dict[Key, RouteStats]) -> MemoryItem:
        store = self.memory.store
        day = datetime.now(UTC).date().isoformat()
        note_id = f"route-reflections-{day}"

        def change(item: MemoryItem) -> MemoryItem:
            totals = _read_routes(item.extra.get("routes"))
            for key, stats in delta.items():
                totals.setdefault(key, RouteStats()).merge(stats)
            return item.with_changes(
                body=render(totals), extra={**item.extra, "routes": _dump_routes(totals)}
            )

        try:
            return store.update(
                note_id, change, namespace=self.namespace, author="route-reflector", verb="reflect"
            )
        except ItemNotFound:
            item = MemoryItem.new(
                ItemType.NOTE,
                f"Route reflections {day}",
                render(delta),
                namespace=self.namespace,
                tags=list(TAGS),
                author_agent="route-reflector",
                item_id=note_id,
                extra={"routes": _dump_routes(delta)},
            )
            return store.write(item, author="route-reflector")

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        # at shutdown, only into an existing repository: a short-lived gateway (a test, a one-off run) that
        # never used memory does not create one just for its reflections
        if self.memory.repository_exists():
            await self._flush_logged()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._flush_logged()

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except Exception:
            log.warning("route reflections not written; kept for the next flush", exc_info=True)


def _read_routes(raw: Any) -> dict[Key, RouteStats]:
    out: dict[Key, RouteStats] = {}
    for row in raw if isinstance(raw, list) else []:
        if isinstance(row, dict):
            key = (str(row.get("model")), str(row.get("deployment")), str(row.get("task")))
            out[key] = RouteStats.load(row)
    return out


def _dump_routes(routes: dict[Key, RouteStats]) -> list[dict[str, Any]]:
    rows = []
    for (model, dep, task), stats in sorted(routes.items()):
        row = asdict(stats)
        row["latency_ms_sum"] = round(stats.latency_ms_sum, 2)
        row["latency_ms_max"] = round(stats.latency_ms_max, 2)
        row["cost_usd"] = round(stats.cost_usd, 8)
        rows.append({"model": model, "deployment": dep, "task": task, **row})
    return rows


_COLUMNS = (
    "model",
    "deployment",
    "task",
    "requests",
    "success",
    "errors",
    "avg ms",
    "max ms",
    "cost USD",
    "good",
    "bad",
)


def _rate(stats: RouteStats) -> float:
    return stats.ok / stats.requests if stats.requests else 0.0


def render(routes: dict[Key, RouteStats]) -> str:
    """The note body: what worked best per model and task, then every route's numbers."""
    lines = [
        "Routing outcomes seen by the gateway today (cumulative). Success = answered without error.",
        "",
        "## What worked",
        "",
    ]
    best: dict[tuple[str, str], tuple[str, RouteStats]] = {}
    for (model, dep, task), stats in routes.items():
        current = best.get((model, task))
        if stats.requests and (current is None or _rank(stats) > _rank(current[1])):
            best[(model, task)] = (dep, stats)
    for (model, task), (dep, stats) in sorted(best.items()):
        lines.append(
            f"- model `{model}`, task `{task}`: `{dep}` ({_rate(stats):.0%} success over {stats.requests} "
            f"requests, {_avg(stats):.0f} ms average, ${stats.cost_usd:.6f})"
        )
    lines += [
        "",
        "## All routes",
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    for (model, dep, task), st in sorted(routes.items()):
        lines.append(
            f"| {model} | {dep} | {task} | {st.requests} | {_rate(st):.0%} | {st.errors} | {_avg(st):.0f} | "
            f"{st.latency_ms_max:.0f} | {st.cost_usd:.6f} | {st.good} | {st.bad} |"
        )
    return "\n".join(lines)


def _rank(stats: RouteStats) -> tuple[float, int, float]:
    """Better routes rank higher: success rate, then net user feedback, then lower latency."""
    return (_rate(stats), stats.good - stats.bad, -_avg(stats))


def _avg(stats: RouteStats) -> float:
    return stats.latency_ms_sum / stats.requests if stats.requests else 0.0
