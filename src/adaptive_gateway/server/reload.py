"""Hot reload: on SIGHUP and when the config file changes. Atomic: a bad file is rejected with one
log line and the running config keeps serving."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path

from adaptive_gateway.config import CompiledConfig, ConfigError, compile_config, load_config

log = logging.getLogger("adaptive_gateway.reload")


class ConfigReloader:
    def __init__(
        self,
        path: Path,
        apply: Callable[[CompiledConfig], None],
        poll_seconds: float = 1.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.apply = apply
        self.poll_seconds = poll_seconds
        self.env = env
        self._mtime = self._stat()
        self._task: asyncio.Task[None] | None = None
        self.reloads = 0
        self.rejected = 0
        self.last_error: str | None = None

    def _stat(self) -> tuple[float, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime, st.st_size)

    def reload(self, reason: str) -> bool:
        """Load, validate and swap in the file's config; False (old config kept) when it is invalid."""
        self._mtime = self._stat()
        try:
            text = self.path.read_text(encoding="utf-8")
            cfg = load_config(self.path, self.env)
            compiled = compile_config(cfg, self.env, text)
        except (ConfigError, OSError) as exc:
            self.rejected += 1
            self.last_error = str(exc)
            log.error("config reload (%s) rejected, keeping the running config: %s", reason, exc)
            return False
        self.apply(compiled)
        self.reloads += 1
        self.last_error = None
        log.info("config reloaded (%s) from %s, digest %s", reason, self.path, compiled.digest)
        return True

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            if self._stat() != self._mtime:
                self.reload("file changed")

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        with suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, self.reload, "SIGHUP")
        if self.poll_seconds > 0:
            self._task = loop.create_task(self._poll())

    async def stop(self) -> None:
        with suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
