"""Bad input in every client format: a 400 in that format naming the field, never a 500, never a silent
drop, and nothing sent upstream."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.contract.cases import PNG_B64, WEATHER, Case, ToolSpec
from tests.contract.conftest import BIG_IMAGE, Stack
from tests.support.gateway import MASTER_KEY, free_port

BAD_SCHEMA = ToolSpec(
    "broken", "A tool with a malformed schema.", {"type": "object", "properties": {"city": {"type": "strng"}}}
)
GEMINI_HEADERS = {"x-goog-api-key": MASTER_KEY}


def post(stack: Stack, client: Any, case: Case, stream: bool = False) -> httpx.Response:
    path, headers, body = client.raw(case, stream)
    return httpx.post(stack.gateway.url + path, headers=headers, json=body, timeout=30)


def assert_400(client: Any, resp: httpx.Response, *fragments: str) -> str:
    assert resp.status_code == 400, resp.text
    message = client.error_message(resp.json())
    for fragment in fragments:
        assert fragment in message, message
    return message


def untouched(stack: Stack) -> None:
    assert all(not fake.received for fake in stack.fakes.values()), "bad input reached an upstream"


@pytest.mark.parametrize("model", ["m-gemini", "m-openai", "m-ollama"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_malformed_tool_schema(stack: Stack, client: Any, model: str, stream: bool) -> None:
    resp = post(stack, client, Case(model, tools=(BAD_SCHEMA,)), stream)
    assert_400(client, resp, "tools[0]", "unknown type 'strng'")
    untouched(stack)


@pytest.mark.parametrize("model", ["m-gemini", "m-ollama"])
def test_image_too_large(stack: Stack, client: Any, model: str) -> None:
    if client.wire == "gemini" and model == "m-gemini":
        pytest.skip("Gemini to Gemini forwards fileData as sent: Gemini reads the URL itself")
    url = stack.images + "/big.png"
    resp = post(stack, client, Case(model, image_url=url))
    assert_400(client, resp, url, f"larger than the {BIG_IMAGE - 1}-byte limit")
    untouched(stack)


@pytest.mark.parametrize("path", ["/missing.png", "closed-port"])
def test_image_unreachable(stack: Stack, client: Any, path: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/x.png" if path == "closed-port" else stack.images + path
    message = assert_400(client, post(stack, client, Case("m-ollama", image_url=url)), url)
    assert "unreachable" in message or "HTTP 404" in message
    untouched(stack)


def test_model_without_tool_support(stack: Stack, client: Any) -> None:
    resp = post(stack, client, Case("m-notools", tools=(WEATHER,)))
    assert_400(client, resp, "tools", "does not support tools")
    untouched(stack)


def test_tool_capability_hands_over_to_a_fallback_that_has_it(stack: Stack, client: Any) -> None:
    resp = post(stack, client, Case("m-notools-fallback", tools=(WEATHER,)))
    assert resp.status_code == 200, resp.text
    assert not stack.fakes["openai"].received and stack.fakes["gemini"].received
    assert resp.headers["x-adaptive-provider"] == "up-gemini"


AUDIO_BODIES = {
    "openai_chat": (
        "/v1/chat/completions",
        {"authorization": f"Bearer {MASTER_KEY}"},
        {
            "model": "m-ollama",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "transcribe"},
                        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                    ],
                }
            ],
        },
    ),
    "gemini": (
        "/v1beta/models/m-ollama:generateContent",
        GEMINI_HEADERS,
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "transcribe"},
                        {"inline_data": {"mime_type": "audio/wav", "data": "UklGRg=="}},
                    ],
                }
            ]
        },
    ),
}


@pytest.mark.parametrize("wire", sorted(AUDIO_BODIES))
def test_audio_to_a_target_that_cannot_hear(stack: Stack, wire: str) -> None:
    path, headers, body = AUDIO_BODIES[wire]
    resp = httpx.post(stack.gateway.url + path, headers=headers, json=body, timeout=30)
    assert_400(stack.clients[wire], resp, "messages[0].content[1]", "audio content cannot be sent")
    untouched(stack)


def gemini_post(stack: Stack, body: dict[str, Any], model: str = "m-openai") -> httpx.Response:
    return httpx.post(
        f"{stack.gateway.url}/v1beta/models/{model}:generateContent",
        headers=GEMINI_HEADERS,
        json=body,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "%%"}}]}
                ]
            },
            "contents[0].parts[0].inlineData.data: not valid base64",
        ),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "contents[0].role: unknown role"),
        (
            {
                "contents": [{"role": "user", "parts": [{"text": "x"}]}],
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parameters": {"type": "OBJECT", "properties": {"a": {"type": "TEXT"}}},
                            }
                        ]
                    }
                ],
            },
            "tools[0].functionDeclarations[0].parameters.properties.a.type: unknown type 'TEXT'",
        ),
        ({"contents": "hello"}, "contents: must be a list"),
    ],
)
def test_gemini_bad_input_in_gemini_shape(stack: Stack, body: dict[str, Any], fragment: str) -> None:
    resp = gemini_post(stack, body)
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["code"] == 400 and err["status"] == "INVALID_ARGUMENT" and fragment in err["message"]
    untouched(stack)


def test_gemini_builtin_tools_only_reach_gemini(stack: Stack) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "news?"}]}], "tools": [{"googleSearch": {}}]}
    resp = gemini_post(stack, body, "m-openai")
    assert resp.status_code == 400 and "tools[0].googleSearch" in resp.json()["error"]["message"]
    untouched(stack)
    assert gemini_post(stack, body, "m-gemini").status_code == 200
    assert stack.fakes["gemini"].received[-1].json["tools"] == [{"googleSearch": {}}]


def test_gemini_inline_image_urlsafe_base64_reaches_every_target(stack: Stack) -> None:
    urlsafe = PNG_B64.replace("+", "-").replace("/", "_").rstrip("=")
    body = {
        "contents": [
            {"role": "user", "parts": [{"inline_data": {"mime_type": "image/png", "data": urlsafe}}]}
        ]
    }
    assert gemini_post(stack, body, "m-ollama").status_code == 200
    assert stack.fakes["ollama"].received[-1].json["messages"][0]["images"] == [PNG_B64]
    assert gemini_post(stack, body, "m-openai").status_code == 200
    content = stack.fakes["openai"].received[-1].json["messages"][0]["content"]
    assert content[0]["image_url"]["url"] == "data:image/png;base64," + PNG_B64
