"""What a contract case asks (format-neutral) and what a client saw (normalized from its SDK)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

# a real 1x1 PNG; its base64 has a '+' so URL-safe / standard conversions show
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
PNG = base64.b64decode(PNG_B64)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    schema: dict[str, Any]


WEATHER = ToolSpec(
    "get_weather",
    "Current weather for a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = ToolSpec(
    "get_time",
    "Current time in a time zone.",
    {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
)
# what the fake upstreams answer for these schemas (fakes/schema.py: required strings are "x")
WEATHER_ARGS = {"city": "x"}
CLOCK_ARGS = {"tz": "x"}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
PERSON_SAMPLE = {"name": "x", "age": 1}
# the earlier tool round every format re-sends in a tool_round case
PRIOR_QUESTION = "What is the weather in Paris?"
PRIOR_ARGS = {"city": "Paris"}
PRIOR_RESULT = {"temp": 21}


@dataclass(frozen=True)
class Case:
    model: str
    user: str = "hello"
    system: str | None = None
    history: tuple[tuple[str, str], ...] = ()  # (user | assistant, text) turns before the last user turn
    image_b64: bool = False
    image_url: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    tool_round: bool = False  # history holds a get_weather call and its result
    schema: dict[str, Any] | None = None
    max_tokens: int = 256


@dataclass
class Result:
    """What the client saw, normalized across SDKs."""

    text: str = ""
    reasoning: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    finish: str = ""
    usage: tuple[int, int] = (0, 0)
    order: list[str] = field(default_factory=list)  # reasoning / text / tool, in order of appearance

    def saw(self, kind: str) -> None:
        if not self.order or self.order[-1] != kind:
            self.order.append(kind)
