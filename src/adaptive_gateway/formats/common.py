"""Small validation and data-URL helpers shared by the format codecs."""

from __future__ import annotations

from typing import Any, TypeVar

from adaptive_gateway.errors import InvalidRequest

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
N = TypeVar("N", int, float)


def require_str(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{field}: required non-empty string", param=field)
    return value


def require_list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        got = "missing" if value is None else type(value).__name__
        raise InvalidRequest(f"{field}: must be a list (got {got})", param=field)
    return value


def check_range(value: Any, field: str, low: N, high: N | None) -> Any:
    """``None`` passes; otherwise a number within [low, high] (ints stay ints)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{field}: must be a number (got {value!r})", param=field)
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise InvalidRequest(f"{field}: must be {bounds} (got {value!r})", param=field)
    return value


def parse_data_url(url: str) -> tuple[str | None, str | None]:
    """``data:<media>;base64,<data>`` -> (media, data); other URLs -> (None, None)."""
    if not url.startswith("data:"):
        return None, None
    head, _, data = url[5:].partition(",")
    media = head.split(";", 1)[0] or "application/octet-stream"
    return media, data


def data_url(media_type: str, data: str) -> str:
    return f"data:{media_type};base64,{data}"
