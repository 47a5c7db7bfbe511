"""Fixtures for the embedded runtime tests. They run the real model: missing packages fail, never skip."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from adaptive_gateway.embedded import EmbeddedRuntime, LocalModel, bundled_model

from .helpers import FAST, KEY, alive, require_installed


@pytest.fixture(scope="session")
def smollm() -> LocalModel:
    require_installed()
    model = bundled_model()
    assert model is not None
    return model


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_runtime(smollm: LocalModel) -> AsyncIterator[EmbeddedRuntime]:
    """One started runtime for the request-format tests of a module."""
    runtime = EmbeddedRuntime(smollm.path, alias=smollm.name, api_key=KEY, ctx_size=2048, parallel=4)
    await runtime.ensure_started()
    yield runtime
    pid = runtime.pid
    await runtime.stop()
    assert pid is not None and not alive(pid)


@pytest.fixture
async def runtime(smollm: LocalModel) -> AsyncIterator[EmbeddedRuntime]:
    """A runtime of its own (not started) for tests that kill or stop it."""
    runtime = EmbeddedRuntime(
        smollm.path, alias=smollm.name, api_key=KEY, ctx_size=1024, parallel=2, policy=FAST
    )
    yield runtime
    await runtime.stop()
