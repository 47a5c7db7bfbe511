"""``python -m adaptive_gateway.cli``: the same command as ``adaptive-llm-gateway`` (used to run the
gateway in the background and from service units when the console script is not on PATH)."""

from adaptive_gateway.cli.main import run

run()
