"""The request log line: every documented key in order, the optional ones only when set, one JSON object
per line in the file, and other writers' dict records in the same file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from adaptive_gateway.observability.requestlog import RequestLog, record_of
from adaptive_gateway.observability.sample import Sample

KEYS = [
    "request_id", "route", "status", "latency_ms", "key", "key_id", "tenant", "client", "model",
    "deployment", "provider", "stream", "attempts", "retries", "fallbacks", "upstream_ms", "ttft_ms",
    "input_tokens", "output_tokens", "cost_usd", "trust_level", "trace_id", "receipt", "cache", "error", "ts",
]  # fmt: skip


def sample(**kw: object) -> Sample:
    base: dict[str, object] = {
        "route": "openai_chat", "model": "gpt", "deployment": "gpt#0", "provider": "fake", "status": 200,
        "latency_s": 0.012346, "key": "key_1", "key_prefix": "sk-abc…", "input_tokens": 10,
        "output_tokens": 5, "cost": 0.000123456789, "upstream_s": 0.0101, "request_id": "req_1",
        "receipt_id": "rc_1", "cache": "miss", "trust_level": "internal",
    }  # fmt: skip
    base.update(kw)
    return Sample(**base)  # type: ignore[arg-type]


def lines(tmp_path: Path, *records: object) -> list[dict[str, object]]:
    log = RequestLog(str(tmp_path / "requests.log"))
    for rec in records:
        if isinstance(rec, dict):
            log.write(rec)
        else:
            log.write_line(rec)  # type: ignore[arg-type]
    log.flush()
    asyncio.run(log.stop())
    return [orjson.loads(line) for line in (tmp_path / "requests.log").read_bytes().splitlines()]


def test_a_line_has_every_key_in_order_and_rounded_values(tmp_path: Path) -> None:
    (line,) = lines(tmp_path, record_of(sample(), 2))
    assert list(line) == KEYS
    assert line["latency_ms"] == 12.35 and line["upstream_ms"] == 10.1 and line["ttft_ms"] is None
    assert line["cost_usd"] == 0.00012346
    assert line["key"] == "sk-abc…" and line["key_id"] == "key_1" and line["tenant"] is None
    assert line["attempts"] == 2 and line["receipt"] == "rc_1" and line["cache"] == "miss"
    assert isinstance(line["ts"], float)


def test_rejections_blocks_and_content_appear_only_when_set(tmp_path: Path) -> None:
    rejected, blocked, plain = lines(
        tmp_path,
        record_of(sample(status=429, rejection="budget_exceeded"), 0),
        record_of(sample(status=403, policy_block="secret_to_hosted"), 0, {"withheld": "trust level"}),
        record_of(sample(rejection="", policy_block=""), 1, {}),
    )
    assert (
        rejected["rejected"] == "budget_exceeded" and "blocked" not in rejected and "content" not in rejected
    )
    assert blocked["blocked"] == "secret_to_hosted" and blocked["content"] == {"withheld": "trust level"}
    assert list(plain) == KEYS


def test_dict_records_share_the_file(tmp_path: Path) -> None:
    out = lines(tmp_path, {"kind": "mcp_tool_call", "tool": "x"}, record_of(sample(), 1), {"kind": "other"})
    assert [line.get("kind") for line in out] == ["mcp_tool_call", None, "other"]
    assert all("ts" in line for line in out)


def test_a_disabled_log_writes_nothing(tmp_path: Path) -> None:
    log = RequestLog(str(tmp_path / "requests.log"), enabled=False)
    log.write_line(record_of(sample(), 1))
    log.flush()
    assert not (tmp_path / "requests.log").exists()
