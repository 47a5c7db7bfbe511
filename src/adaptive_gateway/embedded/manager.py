"""One supervised runtime per local model name, created up front and started on first use."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from adaptive_gateway.embedded.errors import ModelNotFound
from adaptive_gateway.embedded.models import LocalModel
from adaptive_gateway.embedded.runtime import EmbeddedRuntime, RuntimeInfo, SupervisorPolicy


@dataclass(frozen=True, slots=True)
class RuntimeSpec:
    """How to serve one model: its GGUF file and llama.cpp sizing."""

    path: Path
    threads: int = 1
    ctx_size: int = 2048
    parallel: int = 4
    max_tokens: int = 512  # per answer, when a request sets none
    alias: str | None = None  # the model id the child reports (default: the runtime's name)


class RuntimeManager:
    """Holds the ``EmbeddedRuntime`` of every configured local model; keep one on the app object.

    Nothing starts until ``get_base_url`` (lazy) or ``start_all`` (eager, e.g. at gateway startup).
    Every child requires ``Authorization: Bearer <manager.api_key>`` (random unless given), so other
    local programs and web pages cannot use the model around the gateway's policies.
    """

    def __init__(
        self,
        specs: Mapping[str, RuntimeSpec],
        *,
        host: str = "127.0.0.1",
        api_key: str | None = None,
        policy: SupervisorPolicy | None = None,
    ) -> None:
        self.api_key = api_key or secrets.token_urlsafe(24)
        self._runtimes = {
            name: EmbeddedRuntime(
                spec.path,
                threads=spec.threads,
                ctx_size=spec.ctx_size,
                parallel=spec.parallel,
                max_tokens=spec.max_tokens,
                host=host,
                alias=spec.alias or name,
                api_key=self.api_key,
                policy=policy,
            )
            for name, spec in specs.items()
        }

    @classmethod
    def from_models(
        cls,
        models: Iterable[LocalModel],
        *,
        threads: int = 1,
        ctx_size: int = 2048,
        parallel: int = 4,
        max_tokens: int = 512,
        host: str = "127.0.0.1",
        api_key: str | None = None,
        policy: SupervisorPolicy | None = None,
    ) -> RuntimeManager:
        """A manager for models found by ``find_models``, all sized alike."""
        specs = {m.name: RuntimeSpec(m.path, threads, ctx_size, parallel, max_tokens) for m in models}
        return cls(specs, host=host, api_key=api_key, policy=policy)

    @property
    def names(self) -> list[str]:
        return list(self._runtimes)

    def runtime(self, model_name: str) -> EmbeddedRuntime:
        """The runtime for ``model_name``; raises ModelNotFound."""
        try:
            return self._runtimes[model_name]
        except KeyError:
            raise ModelNotFound(model_name, self.names) from None

    async def get_base_url(self, model_name: str, timeout: float | None = None) -> str:
        """Base URL (``http://127.0.0.1:PORT/v1``) of the model's server, starting it if needed.

        Raises ModelNotFound or RuntimeStartError.
        """
        return await self.runtime(model_name).ensure_started(timeout)

    async def start_all(self, timeout: float | None = None) -> None:
        """Start every runtime now and wait until all are ready (raises the first failure)."""
        await asyncio.gather(*(rt.ensure_started(timeout) for rt in self._runtimes.values()))

    def headers(self) -> dict[str, str]:
        """Headers every request to a child needs."""
        return {"Authorization": f"Bearer {self.api_key}"}

    def info(self) -> list[RuntimeInfo]:
        return [rt.info() for rt in self._runtimes.values()]

    async def close(self) -> None:
        """Stop every child; after this no process of ours is left."""
        await asyncio.gather(*(rt.stop() for rt in self._runtimes.values()))
