"""CPU cost of the format translation path, without HTTP: microseconds per request and per stream event.

    .venv/bin/python bench/translation_bench.py [--seconds 1.5]

Non-streaming, per request (client body bytes in -> upstream body bytes out -> upstream answer bytes in ->
client answer bytes out), through the same functions the gateway calls:

* ``openai->anthropic``: an OpenAI chat body translated to a Messages body, the Messages answer back
  to a chat completion;
* ``openai passthrough``: the same body to an OpenAI-compatible upstream (model swapped, bytes back);
* ``anthropic->openai`` and ``anthropic passthrough``: the reverse pairing and its same-format path.

Streaming, per upstream event: a Messages SSE stream parsed and re-rendered as chat-completion chunks,
and an OpenAI SSE stream parsed and re-rendered as Messages events (the Claude Code -> local model path).
Prints process CPU time (``time.process_time``), median of several runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from adaptive_gateway.config import compile_config
from adaptive_gateway.config.loader import parse_config
from adaptive_gateway.fakes.answer import Answer, split_words
from adaptive_gateway.fakes.anthropic import message_frames
from adaptive_gateway.providers.anthropic import AnthropicAdapter
from adaptive_gateway.providers.openai import OpenAIAdapter
from adaptive_gateway.wire.anthropic import AnthropicMessagesWire
from adaptive_gateway.wire.openai_chat import OpenAIChatWire

CONFIG = """
providers:
  a: {kind: anthropic, api_key: sk-ant}
  o: {kind: openai, api_key: sk-oai}
models:
  claude: {deployments: [{provider: a, model: claude-sonnet-4-5}]}
  gpt: {deployments: [{provider: o, model: gpt-4o-mini}]}
"""
_models = compile_config(parse_config(CONFIG), env={}).models
ANTHROPIC_DEP = _models["claude"].deployments[0]
OPENAI_DEP = _models["gpt"].deployments[0]
ANTHROPIC, OPENAI = AnthropicAdapter(), OpenAIAdapter()
CHAT_WIRE, MESSAGES_WIRE = OpenAIChatWire(), AnthropicMessagesWire()

PROSE = (
    "I'm refactoring the request pipeline and the retry logic keeps replaying a stream that has already "
    "started. Can you look at the function and suggest a version that respects Retry-After headers? "
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} tool for the assistant.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["path"],
            },
        },
    }
    for name in ("read_file", "search", "run_tests")
]
OPENAI_BODY = orjson.dumps(
    {
        "model": "claude",
        "max_tokens": 512,
        "temperature": 0.2,
        "tools": TOOLS,
        "messages": [
            {"role": "system", "content": "You are a careful senior engineer. " * 8},
            {"role": "user", "content": PROSE * 3},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": '{"path": "src/retry.py"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "def retry():\n    pass\n" * 20},
            {"role": "assistant", "content": "The backoff is computed twice because of the wrapper."},
            {"role": "user", "content": PROSE},
        ],
    }
)
MESSAGES_BODY = orjson.dumps(
    {
        "model": "gpt",
        "max_tokens": 512,
        "system": [
            {
                "type": "text",
                "text": "You are a careful senior engineer. " * 8,
                "cache_control": {"type": "ephemeral"},
            }
        ],
        "tools": [
            {
                "name": t["function"]["name"],
                "description": t["function"]["description"],
                "input_schema": t["function"]["parameters"],
            }
            for t in TOOLS
        ],
        "messages": [
            {"role": "user", "content": PROSE * 3},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "read_file",
                        "input": {"path": "src/retry.py"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": "def retry():\n    pass\n" * 20,
                    }
                ],
            },
            {"role": "assistant", "content": "The backoff is computed twice because of the wrapper."},
            {"role": "user", "content": PROSE},
        ],
    }
)
ANSWER_TEXT = "Here is a version that reads Retry-After first and falls back to exponential backoff. " * 4
ANTHROPIC_ANSWER = orjson.dumps(
    {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": ANSWER_TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 812,
            "output_tokens": 96,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        },
    }
)
OPENAI_ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-01",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER_TEXT},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 812, "completion_tokens": 96, "total_tokens": 908},
    }
)


def openai_to_anthropic() -> bytes:
    req = CHAT_WIRE.decode(orjson.loads(OPENAI_BODY), {})
    ANTHROPIC.build(req, ANTHROPIC_DEP, None)
    return CHAT_WIRE.render(ANTHROPIC.parse(ANTHROPIC_ANSWER, req), req)


def openai_passthrough() -> bytes:
    req = CHAT_WIRE.decode(orjson.loads(OPENAI_BODY), {})
    OPENAI.build(req, OPENAI_DEP, None)
    return CHAT_WIRE.render(OPENAI.parse(OPENAI_ANSWER, req), req)


def anthropic_to_openai() -> bytes:
    req = MESSAGES_WIRE.decode(orjson.loads(MESSAGES_BODY), {})
    OPENAI.build(req, OPENAI_DEP, None)
    return MESSAGES_WIRE.render(OPENAI.parse(OPENAI_ANSWER, req), req)


def anthropic_passthrough() -> bytes:
    req = MESSAGES_WIRE.decode(orjson.loads(MESSAGES_BODY), {})
    ANTHROPIC.build(req, ANTHROPIC_DEP, None)
    return MESSAGES_WIRE.render(ANTHROPIC.parse(ANTHROPIC_ANSWER, req), req)


STREAM_WORDS = 1000
_answer = Answer(split_words(" ".join(["token"] * STREAM_WORDS)), (), None, "stop", 812)
ANTHROPIC_SSE = [f.data for f in message_frames(_answer, "claude-sonnet-4-5")]
OPENAI_SSE = [
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
]
OPENAI_SSE += [
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"content":" token"},"finish_reason":null}]}\n\n'
] * STREAM_WORDS
OPENAI_SSE += [
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{},"finish_reason":"stop"}]}\n\n',
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],'
    b'"usage":{"prompt_tokens":5,"completion_tokens":1000,"total_tokens":1005}}\n\n',
    b"data: [DONE]\n\n",
]


def stream_anthropic_to_openai() -> int:
    req = CHAT_WIRE.decode(orjson.loads(OPENAI_BODY), {})
    parser, renderer = ANTHROPIC.stream_parser(req), CHAT_WIRE.stream_renderer(req, "chatcmpl-x")
    out = 0
    for chunk in ANTHROPIC_SSE:
        out += len(b"".join([renderer.render(e) for e in parser.feed(chunk)]))
    return out + len(renderer.finish())


def stream_openai_to_anthropic() -> int:
    req = MESSAGES_WIRE.decode(orjson.loads(MESSAGES_BODY), {})
    parser, renderer = OPENAI.stream_parser(req), MESSAGES_WIRE.stream_renderer(req, "chatcmpl-x")
    out = 0
    for chunk in OPENAI_SSE:
        out += len(b"".join([renderer.render(e) for e in parser.feed(chunk)]))
    return out + len(renderer.finish())


def stream_passthrough() -> int:
    req = MESSAGES_WIRE.decode(orjson.loads(MESSAGES_BODY), {})
    filt = MESSAGES_WIRE.passthrough_filter(req)
    return sum(len(filt.feed(chunk)) for chunk in ANTHROPIC_SSE) + len(filt.finish())


def cpu_us(fn: Callable[[], object], seconds: float) -> float:
    """Median CPU microseconds per call over 5 runs of about ``seconds / 5`` each."""
    fn()
    calls = 1
    start = time.process_time()
    while time.process_time() - start < 0.05:
        fn()
        calls += 1
    per_run = max(1, int(calls * (seconds / 5) / 0.05))
    samples = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(per_run):
            fn()
        samples.append((time.process_time() - start) / per_run * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=1.5, help="CPU time per measurement")
    args = parser.parse_args()
    print(f"request: OpenAI body {len(OPENAI_BODY)} B, Messages body {len(MESSAGES_BODY)} B")
    results = {
        name: cpu_us(fn, args.seconds)
        for name, fn in (
            ("openai->anthropic", openai_to_anthropic),
            ("openai passthrough", openai_passthrough),
            ("anthropic->openai", anthropic_to_openai),
            ("anthropic passthrough", anthropic_passthrough),
        )
    }
    for name, us in results.items():
        print(f"  {name:24} {us:8.1f} us CPU / request")
    openai_in = results["openai->anthropic"] - results["openai passthrough"]
    anthropic_in = results["anthropic->openai"] - results["anthropic passthrough"]
    print(f"  translation overhead: openai in {openai_in:+.1f} us, anthropic in {anthropic_in:+.1f} us")
    print("  (target: at most 100 us more than passthrough)")
    print(f"stream of {STREAM_WORDS} tokens:")
    for name, fn in (
        ("anthropic sse -> openai", stream_anthropic_to_openai),
        ("openai sse -> anthropic", stream_openai_to_anthropic),
        ("anthropic passthrough", stream_passthrough),
    ):
        us = cpu_us(fn, args.seconds) / STREAM_WORDS
        print(
            f"  {name:24} {us:6.2f} us CPU / token -> {1e6 / us / 1000:7.0f}k tokens/s per core"
            f" ({1e6 / us / 64:6.0f} tokens/s per stream at 64 streams; target 1000)"
        )


if __name__ == "__main__":
    main()
