"""Background-task helpers shared by the extensions' start / stop hooks."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any


async def cancel(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel ``tasks`` (None entries are skipped) and wait until each has stopped."""
    live = [task for task in tasks if task is not None]
    for task in live:
        task.cancel()
    for task in live:
        with suppress(asyncio.CancelledError):
            await task
