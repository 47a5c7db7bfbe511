"""A client that closes the connection as soon as it has read a stream's end marker (the SDKs do) got
the whole answer: the request counts as answered (200), not as a client disconnect (499), even when the
upstream ends its body a while after the marker."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_KEY, GatewayThread, openai_config

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayThread]:
    upstream = FakeUpstream("openai", Knobs(linger_ms=300)).start_in_thread()
    try:
        with GatewayThread(openai_config(upstream.url), tmp_path) as gw:
            yield gw
    finally:
        upstream.stop_thread()


def _stream_and_hang_up(port: int) -> None:
    body = orjson.dumps(
        {"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    )
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {MASTER_KEY}\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        seen = b""
        while b"data: [DONE]" not in seen:
            chunk = sock.recv(65536)
            assert chunk, seen
            seen += chunk
    # closed right here, as the SDKs do once they have read [DONE]


def _count(text: str, status: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("adaptive_gateway_requests_total{") and f'status="{status}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_closing_after_the_end_marker_is_not_a_disconnect(gateway: GatewayThread) -> None:
    for _ in range(5):
        _stream_and_hang_up(gateway.port)
    deadline = time.monotonic() + 5
    while True:
        text = httpx.get(gateway.url + "/metrics", headers=AUTH).text
        if _count(text, "200") + _count(text, "499") >= 5:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.05)
    assert _count(text, "499") == 0 and _count(text, "200") == 5


def test_passthrough_holds_the_end_marker_until_finish() -> None:
    from adaptive_gateway.wire.openai_chat import ChatPassthrough

    chunk = b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
    usage = b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}\n\n'
    filt = ChatPassthrough(keep_usage_chunk=False)
    out = filt.feed(chunk + usage + b"data: [DO")  # the marker split across two reads
    assert out == chunk  # content out at once; the usage chunk the gateway asked for is dropped
    assert filt.feed(b"NE]\n\n") == b""
    assert filt.usage is not None and filt.usage.input_tokens == 3
    assert filt.finish() == b"data: [DONE]\n\n"
    kept = ChatPassthrough(keep_usage_chunk=True)
    assert kept.feed(chunk + usage + b"data: [DONE]\n\n") == chunk + usage
    assert kept.finish() == b"data: [DONE]\n\n"
    # text that merely mentions the marker inside an event is content, not the end
    odd = b'data: {"choices":[{"delta":{"content":"data: [DONE]"}}]}\n\n'
    assert ChatPassthrough(False).feed(odd) == odd
