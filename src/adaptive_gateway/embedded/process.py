"""One llama.cpp child process: how it is launched, what it last said, and how it is ended."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from adaptive_gateway.embedded.child import KEY_ENV

_TAIL_LINES = 40
# llama.cpp's info/debug lines ("0.00.745.499 I srv ...") say nothing about why a child died.
_CHATTER = re.compile(r"^\d+\.\d+\.\d+\.\d+ [ID] ")


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """Everything the child needs to serve one GGUF model."""

    model_path: Path
    alias: str
    host: str
    port: int
    threads: int
    ctx_size: int
    parallel: int
    api_key: str | None = None
    max_tokens: int = 512

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
        if self.api_key:
            env[KEY_ENV] = self.api_key
        return env

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "adaptive_gateway.embedded.child",
            "--model", str(self.model_path), "--alias", self.alias,
            "--host", self.host, "--port", str(self.port),
            "--threads", str(self.threads), "--ctx-size", str(self.ctx_size),
            "--parallel", str(self.parallel), "--max-tokens", str(self.max_tokens),
            "--parent-pid", str(os.getpid()),
        ]  # fmt: skip


def free_port(host: str) -> int:
    """A port nobody listens on right now. Another process could take it before the child binds;
    the child then fails to start and the supervisor retries on a fresh port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ChildProcess:
    """A running child. Its stderr (llama.cpp's log) is drained into a short tail for error reports."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self._tail: deque[str] = deque(maxlen=_TAIL_LINES)
        self._drain = asyncio.ensure_future(self._read_stderr())
        self.exited: asyncio.Future[int] = asyncio.ensure_future(proc.wait())

    @classmethod
    async def spawn(cls, spec: ChildSpec) -> ChildProcess:
        proc = await asyncio.create_subprocess_exec(
            *spec.argv(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=spec.env(),
            # Own session: a terminal's Ctrl-C reaches the gateway, which then stops the child in order.
            start_new_session=True,
        )
        return cls(proc)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    def tail(self, lines: int = 3) -> str:
        """The last warning/error lines of stderr, joined with ' | '."""
        return " | ".join(list(self._tail)[-lines:])

    async def _read_stderr(self) -> None:
        stream = self._proc.stderr
        if stream is None:
            return
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line over the stream limit; asyncio dropped it, keep reading
                continue
            if not line:
                return
            text = line.decode(errors="replace").strip()
            if text and not _CHATTER.match(text):
                self._tail.append(text)

    async def terminate(self, grace: float) -> int:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit code once reaped."""
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.terminate()
            try:
                await asyncio.wait_for(asyncio.shield(self.exited), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
        code = await self.exited
        await self._drain
        return code
