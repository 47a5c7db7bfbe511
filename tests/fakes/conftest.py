from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adaptive_gateway.fakes.server import FakeUpstream

WEATHER_TOOL_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer"},
    },
    "required": ["city", "unit", "days"],
    "additionalProperties": False,
}


@pytest.fixture
async def openai_fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream("openai") as up:
        yield up


@pytest.fixture
async def anthropic_fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream("anthropic") as up:
        yield up


@pytest.fixture
async def gemini_fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream("gemini") as up:
        yield up


@pytest.fixture
async def ollama_fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream("ollama") as up:
        yield up
