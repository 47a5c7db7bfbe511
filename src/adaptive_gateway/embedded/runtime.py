"""Supervise one llama.cpp server (a child process) serving one GGUF model.

Lifecycle: ``stopped`` → ``starting`` → ``ready``; when the child exits or fails its health checks
the runtime is ``crashed``, waits in ``backoff`` (0.5 s, 1 s, 2 s ... capped; reset once a child has
stayed up for ``stable_after`` seconds) and starts it again. One supervisor task owns the child;
callers only await ``ensure_started()``, which also starts it the first time. A runtime belongs to the
event loop that first started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adaptive_gateway.embedded.errors import RuntimeStartError
from adaptive_gateway.embedded.models import model_name
from adaptive_gateway.embedded.process import ChildProcess, ChildSpec, free_port

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import aiohttp


class RuntimeState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    CRASHED = "crashed"
    BACKOFF = "backoff"


@dataclass(frozen=True, slots=True)
class SupervisorPolicy:
    """Timing of start, health checks, restarts and shutdown (seconds)."""

    start_timeout: float = 60.0
    health_interval: float = 5.0
    health_timeout: float = 2.0
    health_failures: int = 3
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    stable_after: float = 60.0
    stop_grace: float = 5.0

    def backoff(self, failures: int) -> float:
        """Delay before the next start after ``failures`` consecutive short-lived children (>= 1)."""
        return float(min(self.backoff_initial * 2 ** max(failures - 1, 0), self.backoff_max))


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    """A snapshot for ``doctor`` and health endpoints."""

    model: str
    path: str
    state: str
    pid: int | None
    port: int | None
    base_url: str | None
    restarts: int
    last_error: str | None
    uptime_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _StartFailed(Exception):
    pass


class EmbeddedRuntime:
    """A llama.cpp server for one GGUF model on 127.0.0.1, started lazily and kept alive.

    ``await ensure_started()`` returns the OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``).
    The port stays the same across restarts unless it was taken in the meantime. With ``api_key`` set,
    requests need ``Authorization: Bearer <api_key>`` (``/health`` stays open); ``alias`` is the model id
    ``/v1/models`` reports (default ``local/<file stem>``).
    """

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int = 1,
        ctx_size: int = 2048,
        parallel: int = 4,
        max_tokens: int = 512,
        host: str = "127.0.0.1",
        alias: str | None = None,
        api_key: str | None = None,
        policy: SupervisorPolicy | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.alias = alias or model_name(self.model_path)
        self.api_key = api_key
        self._host, self._threads, self._ctx_size, self._parallel = host, threads, ctx_size, parallel
        self._max_tokens = max_tokens
        self.policy = policy or SupervisorPolicy()
        self._state = RuntimeState.STOPPED
        self._supervisor: asyncio.Task[None] | None = None
        self._outcome: asyncio.Future[str] | None = None
        self._child: ChildProcess | None = None
        self._port: int | None = None
        self._restarts = 0
        self._last_error: str | None = None
        self._ready_since: float | None = None

    @property
    def state(self) -> RuntimeState:
        return self._state

    @property
    def base_url(self) -> str | None:
        """The API base URL while ready, else None."""
        return self._url() if self._state is RuntimeState.READY else None

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.pid if child is not None and child.returncode is None else None

    def _url(self) -> str:
        return f"http://{self._host}:{self._port}/v1"

    def info(self) -> RuntimeInfo:
        since = self._ready_since if self._state is RuntimeState.READY else None
        return RuntimeInfo(
            model=self.alias,
            path=str(self.model_path),
            state=self._state.value,
            pid=self.pid,
            port=self._port,
            base_url=self.base_url,
            restarts=self._restarts,
            last_error=self._last_error,
            uptime_s=None if since is None else round(time.monotonic() - since, 3),
        )

    async def ensure_started(self, timeout: float | None = None) -> str:
        """Start the child if needed and wait until it answers /health; returns the base URL.

        Concurrent callers share one start. During a restart this waits for the next attempt.
        Raises RuntimeStartError if that attempt fails, the runtime is stopped meanwhile, or ``timeout``
        (default ``policy.start_timeout``) passes.
        """
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.create_task(self._supervise(), name=f"embedded:{self.alias}")
            self._supervisor.add_done_callback(self._supervisor_done)
        outcome = self._pending_outcome()
        limit = self.policy.start_timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(asyncio.shield(outcome), limit)
        except TimeoutError:
            raise RuntimeStartError(f"{self.alias}: not ready after {limit:g}s ({self._state})") from None

    async def stop(self) -> None:
        """Stop supervising and end the child (SIGTERM, SIGKILL after ``policy.stop_grace``)."""
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        child, self._child = self._child, None
        if child is not None:
            await child.terminate(self.policy.stop_grace)
        self._fail_outcome("stopped")
        self._state = RuntimeState.STOPPED
        self._ready_since = None

    def _supervisor_done(self, task: asyncio.Task[None]) -> None:
        # Only a bug ends the supervisor other than stop(); waiting callers must not hang on it.
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("embedded %s: supervisor failed", self.alias, exc_info=exc)
            self._last_error = f"supervisor failed: {exc!r}"
            self._state = RuntimeState.CRASHED
            self._fail_outcome(self._last_error)

    def _pending_outcome(self) -> asyncio.Future[str]:
        if self._outcome is None:
            self._outcome = asyncio.get_running_loop().create_future()
        return self._outcome

    def _fail_outcome(self, reason: str) -> None:
        outcome, self._outcome = self._outcome, None
        if outcome is not None and not outcome.done():
            outcome.set_exception(RuntimeStartError(f"{self.alias}: {reason}"))
            outcome.exception()  # mark retrieved: nobody may be waiting

    async def _supervise(self) -> None:
        import aiohttp  # only workers that supervise an embedded model need it

        failures = 0
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.policy.health_timeout)
        ) as http:
            while True:
                lived = await self._run_once(http)
                failures = 0 if lived >= self.policy.stable_after else failures + 1
                self._state = RuntimeState.BACKOFF
                delay = self.policy.backoff(failures)
                log.warning("embedded %s: restarting in %.1fs (%s)", self.alias, delay, self._last_error)
                await asyncio.sleep(delay)
                self._restarts += 1

    async def _run_once(self, http: aiohttp.ClientSession) -> float:
        """Start one child and watch it until it dies or turns unhealthy; returns seconds it was ready."""
        self._state = RuntimeState.STARTING
        try:
            self._port = self._port or free_port(self._host)
            child = await self._spawn()
        except OSError as exc:  # a host that is not ours, no free port, the interpreter vanished
            self._state = RuntimeState.CRASHED
            self._last_error = f"start failed: cannot start the child: {exc}"
            self._fail_outcome(self._last_error)
            return 0.0
        try:
            await self._wait_ready(http, child)
        except _StartFailed as exc:
            self._port = None  # maybe someone took it: pick a fresh one next time
            await self._crashed(child, f"start failed: {exc}")
            return 0.0
        self._state = RuntimeState.READY
        self._ready_since = started = time.monotonic()
        self._pending_outcome().set_result(self._url())
        log.info("embedded %s: ready at %s (pid %d)", self.alias, self._url(), child.pid)
        reason = await self._watch(http, child)
        await self._crashed(child, reason)
        return time.monotonic() - started

    async def _spawn(self) -> ChildProcess:
        assert self._port is not None
        spec = ChildSpec(
            self.model_path,
            self.alias,
            self._host,
            self._port,
            self._threads,
            self._ctx_size,
            self._parallel,
            self.api_key,
            self._max_tokens,
        )
        self._child = await ChildProcess.spawn(spec)
        return self._child

    async def _crashed(self, child: ChildProcess, reason: str) -> None:
        self._state = RuntimeState.CRASHED
        self._ready_since = None
        code = await child.terminate(self.policy.stop_grace)
        tail = child.tail()
        self._last_error = f"{reason} (exit code {code})" + (f": {tail}" if tail else "")
        self._fail_outcome(self._last_error)

    async def _healthy(self, http: aiohttp.ClientSession) -> bool:
        import aiohttp

        try:
            async with http.get(f"http://{self._host}:{self._port}/health") as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def _wait_ready(self, http: aiohttp.ClientSession, child: ChildProcess) -> None:
        deadline = time.monotonic() + self.policy.start_timeout
        while not await self._healthy(http):
            if child.exited.done():
                raise _StartFailed("child exited")
            if time.monotonic() > deadline:
                raise _StartFailed(f"no healthy answer in {self.policy.start_timeout:g}s")
            await asyncio.wait({child.exited}, timeout=0.05)

    async def _watch(self, http: aiohttp.ClientSession, child: ChildProcess) -> str:
        """Wait until the child exits or fails ``health_failures`` checks in a row; returns why."""
        failed = 0
        while failed < self.policy.health_failures:
            await asyncio.wait({child.exited}, timeout=self.policy.health_interval)
            if child.exited.done():
                return "child exited"
            failed = 0 if await self._healthy(http) else failed + 1
        return f"{failed} failed health checks"
