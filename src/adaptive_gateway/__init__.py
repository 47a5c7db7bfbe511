"""Adaptive LLM Gateway."""

from adaptive_gateway.compiled import install_guard

__version__ = "0.1.0"

install_guard()  # a module compiled by `make install` never runs code older than its source
