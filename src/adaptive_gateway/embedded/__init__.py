"""The embedded local runtime: llama.cpp children serving GGUF models, and a torch-free MiniLM embedder.

Typical wiring (keep both objects on the app, close on shutdown)::

    manager = RuntimeManager.from_models(find_models(extra_paths))
    base_url = await manager.get_base_url("local/smollm2-135m")   # http://127.0.0.1:PORT/v1
    ...
    await manager.close()

    embedder = MiniLMEmbedder()          # from adaptive_gateway.embedded.minilm (needs numpy)
    vectors = await asyncio.to_thread(embedder.embed, ["some text"])

``MiniLMEmbedder`` is imported lazily so this package imports without numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adaptive_gateway.embedded.availability import (
    Availability,
    availability,
    missing_embedder_packages,
    missing_runtime_packages,
)
from adaptive_gateway.embedded.errors import (
    INSTALL_HINT,
    EmbeddedError,
    EmbeddedUnavailable,
    ModelNotFound,
    RuntimeStartError,
)
from adaptive_gateway.embedded.manager import RuntimeManager, RuntimeSpec
from adaptive_gateway.embedded.models import (
    BUNDLED_NAME,
    EMBEDDING_NAME,
    LocalModel,
    bundled_model,
    find_model,
    find_models,
    gateway_home,
    model_name,
)
from adaptive_gateway.embedded.runtime import EmbeddedRuntime, RuntimeInfo, RuntimeState, SupervisorPolicy

if TYPE_CHECKING:
    from adaptive_gateway.embedded.minilm import MiniLMEmbedder

__all__ = [
    "BUNDLED_NAME",
    "EMBEDDING_NAME",
    "INSTALL_HINT",
    "Availability",
    "EmbeddedError",
    "EmbeddedRuntime",
    "EmbeddedUnavailable",
    "LocalModel",
    "MiniLMEmbedder",
    "ModelNotFound",
    "RuntimeInfo",
    "RuntimeManager",
    "RuntimeSpec",
    "RuntimeStartError",
    "RuntimeState",
    "SupervisorPolicy",
    "availability",
    "bundled_model",
    "find_model",
    "find_models",
    "gateway_home",
    "missing_embedder_packages",
    "missing_runtime_packages",
    "model_name",
]


def __getattr__(name: str) -> Any:
    if name == "MiniLMEmbedder":
        from adaptive_gateway.embedded.minilm import MiniLMEmbedder

        return MiniLMEmbedder
    raise AttributeError(name)
