"""Shared test helpers: run the real gateway on a local port, write configs."""
