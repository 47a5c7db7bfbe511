"""What the suite needs from the machine (PostgreSQL, Redis, Chromium, the local-model packages)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(what: str, detail: object = "") -> NoReturn:
    """Skip the test, or fail it under CI=true, where every required service and tool must be there."""
    message = f"{what} not available" + (f" ({detail})" if detail else "")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; it is required when CI=true", pytrace=False)
    pytest.skip(message)
