"""Offline token estimates, held to exact cl100k_base counts stored beside the samples
(``bench/token_accuracy.py --measure`` recomputes them with a bundled-vocabulary tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adaptive_gateway.formats import anthropic
from adaptive_gateway.formats.tokens import IMAGE_TOKENS, estimate_request_tokens, estimate_tokens
from adaptive_gateway.types import ChatRequest, ContentPart, Message, Tool, ToolCall

DATA = json.loads((Path(__file__).parent / "token_samples.json").read_text(encoding="utf-8"))
SAMPLES: dict[str, str] = DATA["samples"]
CL100K: dict[str, int] = DATA["reference"]["cl100k_base"]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_sample_within_bounds(name: str) -> None:
    est, ref = estimate_tokens(SAMPLES[name]), CL100K[name]
    assert abs(est - ref) / ref <= 0.20, f"{name}: estimate {est} vs cl100k {ref}"


def test_mean_error_against_cl100k() -> None:
    errors = [abs(estimate_tokens(t) - CL100K[k]) / CL100K[k] for k, t in SAMPLES.items()]
    assert sum(errors) / len(errors) <= 0.09


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("", 0, 0),
        ("hi", 1, 1),
        ("hello world", 2, 2),
        ("12345678", 3, 3),
        ("internationalization", 3, 6),
        ("    ", 1, 2),
        ("日本語のテキスト", 8, 14),
        ("🙂", 1, 3),
        ("\ud800 lone surrogate", 2, 6),
    ],
)
def test_small_texts(text: str, low: int, high: int) -> None:
    assert low <= estimate_tokens(text) <= high


def test_grows_linearly() -> None:
    one = estimate_tokens(SAMPLES["english_prose"])
    assert abs(estimate_tokens((SAMPLES["english_prose"] + "\n") * 10) - 10 * one) <= 0.05 * 10 * one


def test_request_estimate_counts_messages_tools_and_images() -> None:
    text = "Summarize the attached chart in two sentences, please."
    base = ChatRequest(
        "m",
        [
            Message("system", [ContentPart("text", text="Be brief.")]),
            Message("user", [ContentPart("text", text=text)]),
        ],
    )
    plain = estimate_request_tokens(base)
    assert plain >= estimate_tokens(text) + estimate_tokens("Be brief.")
    base.messages[1].content.append(ContentPart("image", data="AAAA", media_type="image/png"))
    with_image = estimate_request_tokens(base)
    assert with_image - plain == IMAGE_TOKENS
    base.tools = [
        Tool(
            "get_weather",
            "Weather for a city.",
            {"type": "object", "properties": {"city": {"type": "string"}}},
        )
    ]
    base.messages.append(Message("assistant", tool_calls=[ToolCall("c", "get_weather", '{"city": "Paris"}')]))
    assert estimate_request_tokens(base) > with_image + 20


def test_request_estimate_of_a_messages_body() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": SAMPLES["english_prose"]}],
    }
    n = estimate_request_tokens(anthropic.decode_request(body))
    assert CL100K["english_prose"] * 0.9 < n < CL100K["english_prose"] * 1.3
