"""Supervision of the llama.cpp child: lazy shared start, crash restart, health restart, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from adaptive_gateway.embedded import (
    EmbeddedRuntime,
    LocalModel,
    ModelNotFound,
    RuntimeManager,
    RuntimeSpec,
    RuntimeStartError,
)

from .helpers import FAST, KEY, alive, chat, our_children, wait_until


async def test_concurrent_callers_share_one_start_and_close_leaves_nothing(smollm: LocalModel) -> None:
    specs = {smollm.name: RuntimeSpec(smollm.path, ctx_size=1024, parallel=2)}
    manager = RuntimeManager(specs, api_key=KEY, policy=FAST)
    assert manager.info()[0].state == "stopped" and our_children() == []
    urls = await asyncio.gather(*(manager.get_base_url(smollm.name) for _ in range(4)))
    assert len(set(urls)) == 1
    pids = our_children()
    assert pids == [manager.runtime(smollm.name).pid]
    await chat(urls[0])
    await manager.close()
    assert not alive(pids[0]) and our_children() == []
    assert manager.info()[0].state == "stopped" and manager.info()[0].pid is None


async def test_unknown_model_names_the_available_ones(smollm: LocalModel) -> None:
    manager = RuntimeManager({smollm.name: RuntimeSpec(smollm.path)})
    with pytest.raises(ModelNotFound, match="local/smollm2-135m"):
        await manager.get_base_url("local/nope")
    await manager.close()


async def test_killed_child_is_restarted(runtime: EmbeddedRuntime) -> None:
    base_url = await runtime.ensure_started()
    old_pid = runtime.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    assert await wait_until(lambda: runtime.state != "ready", 5)
    assert await runtime.ensure_started() == base_url  # same port after the restart
    await chat(base_url)
    info = runtime.info()
    assert info.restarts == 1 and info.pid not in (None, old_pid)
    assert info.last_error is not None and "exit code -9" in info.last_error
    assert not alive(old_pid)


async def test_hung_child_fails_health_checks_and_is_replaced(runtime: EmbeddedRuntime) -> None:
    await runtime.ensure_started()
    old_pid = runtime.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGSTOP)  # alive but silent: only health checks can notice
    assert await wait_until(lambda: runtime.info().restarts == 1, 15)
    await chat(await runtime.ensure_started())
    assert runtime.pid != old_pid and not alive(old_pid)
    assert "health" in (runtime.info().last_error or "")


async def test_bad_model_file_fails_the_waiting_caller(tmp_path: Path) -> None:
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"this is not a gguf file")
    runtime = EmbeddedRuntime(bogus, policy=FAST)
    with pytest.raises(RuntimeStartError, match="start failed"):
        await runtime.ensure_started()
    assert runtime.state in {"crashed", "backoff", "starting"}
    assert runtime.info().last_error
    await runtime.stop()
    assert runtime.state == "stopped" and our_children() == []


async def test_stop_during_start_fails_waiters_and_leaves_nothing(runtime: EmbeddedRuntime) -> None:
    waiter = asyncio.create_task(runtime.ensure_started())
    assert await wait_until(lambda: runtime.state == "starting", 5)
    await asyncio.sleep(0.2)
    await runtime.stop()
    with pytest.raises(RuntimeStartError, match="stopped"):
        await waiter
    assert our_children() == []
    await chat(await runtime.ensure_started())  # a stopped runtime starts again on demand


PARENT = """
import asyncio, sys
from pathlib import Path
from adaptive_gateway.embedded import EmbeddedRuntime

async def main():
    runtime = EmbeddedRuntime(Path(sys.argv[1]))
    await runtime.ensure_started()
    print(runtime.pid, flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


async def test_child_dies_with_a_killed_parent(smollm: LocalModel) -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PARENT, str(smollm.path), stdout=asyncio.subprocess.PIPE
    )
    assert parent.stdout is not None
    child_pid = int(await asyncio.wait_for(parent.stdout.readline(), 30))
    assert alive(child_pid)
    parent.kill()  # no chance to clean up: the child must notice on its own
    await parent.wait()
    assert await wait_until(lambda: not alive(child_pid), 5)


async def test_unusable_host_fails_the_caller_without_a_child(smollm: LocalModel) -> None:
    runtime = EmbeddedRuntime(smollm.path, host="192.0.2.1", policy=FAST)  # TEST-NET-1: never ours
    with pytest.raises(RuntimeStartError, match="cannot start the child"):
        await runtime.ensure_started()
    assert our_children() == []
    await runtime.stop()
