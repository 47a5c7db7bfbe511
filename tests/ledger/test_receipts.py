"""Context receipts: the store and the writer, then receipts for success, route-local, block, failure,
redaction and streams, read back through ``GET /api/receipts``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from adaptive_gateway.ledger.receipts import ReceiptStore, day_of, new_receipt_id
from adaptive_gateway.ledger.writer import BackgroundWriter
from tests.support.gateway import MASTER_KEY
from tests.trust.pipeline_support import EMAIL, OPENAI_KEY, Env, trust_env

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def test_ids_carry_their_day() -> None:
    rid = new_receipt_id(now=1741946102.5)  # 2025-03-14T09:55:02Z
    assert rid.startswith("rc_20250314T095502_") and day_of(rid) == "2025-03-14"
    assert day_of("rc_../../etc") is None and new_receipt_id() != new_receipt_id()


def test_store_appends_by_day_and_reads_newest_first(tmp_path: Path) -> None:
    store = ReceiptStore(tmp_path / "receipts")
    old = [{"id": new_receipt_id(now=1741946102 + i), "n": i, "pad": "x" * 500} for i in range(300)]
    new = [{"id": new_receipt_id(now=1742046102 + i), "n": 300 + i} for i in range(5)]
    store.append(old)
    store.append(new)
    assert sorted(p.name for p in store.root.iterdir()) == ["2025-03-14.jsonl", "2025-03-15.jsonl"]
    newest = store.list(8)
    assert [r["n"] for r in newest] == [304, 303, 302, 301, 300, 299, 298, 297]  # across files and blocks
    assert [r["n"] for r in store.list(1000)] == list(range(304, -1, -1))
    assert store.list(3, lambda r: r["n"] < 300 and r["n"] % 100 == 0) == [old[200], old[100], old[0]]
    assert store.get(old[123]["id"]) == old[123] and store.get(new_receipt_id()) is None
    assert (store.root.stat().st_mode & 0o777) == 0o700
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in store.root.iterdir())


def test_writer_batches_off_the_loop_and_drops_when_full() -> None:
    batches: list[list[int]] = []

    async def main() -> None:
        writer: BackgroundWriter[int] = BackgroundWriter(batches.append, max_pending=3, interval=0.01)
        for i in range(5):
            writer.submit(i)  # starts itself on the running loop
        assert writer.dropped == 2
        await writer.flush()
        await asyncio.sleep(0.05)
        writer.submit(9)
        await writer.stop()
        assert writer.written == 4

    asyncio.run(main())
    assert [i for b in batches for i in b] == [0, 1, 2, 9]


# ---- through the gateway --------------------------------------------------------------------------------


def receipt(env: Env, rid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        resp = httpx.get(f"{env.gateway.url}/api/receipts/{rid}", headers=AUTH)
        if resp.status_code == 200:
            data: dict[str, Any] = resp.json()
            return data
        assert resp.status_code == 404 and time.monotonic() < deadline, resp.text
        time.sleep(0.02)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_success_receipt(tmp_path: Path) -> None:
    with trust_env(tmp_path) as env:
        raw = env.client.chat.completions.with_raw_response.create(
            model="smart",
            messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        )
        r = receipt(env, raw.headers["x-adaptive-receipt"])
        usage = raw.parse().usage
        assert usage is not None
        assert r["outcome"] == "success" and r["status"] == 200 and r["route"] == "openai_chat"
        assert r["trust"]["level"] == "public" and r["trust"]["verdict"]["kind"] == "allow"
        assert r["trust"]["reasons"] == ["default: public (trust.default_level)"]
        assert r["used"]["provider"] == "cloud" and r["used"]["locality"] == "hosted"
        assert r["routing"]["chosen"] == {"deployment": r["used"]["deployment"], "reason": "primary"}
        assert [c["role"] for c in r["routing"]["candidates"]] == ["primary", "fallback 1: 'on-box'"]
        assert r["usage"]["input_tokens"] == usage.prompt_tokens
        assert r["cost_usd"] == pytest.approx((usage.prompt_tokens * 1 + usage.completion_tokens * 2) / 1e6)
        assert r["latency_ms"] > 0 and r["request_id"] == raw.headers["x-request-id"]
        assert r["content"]["hashes"] == [
            {"role": "system", "sha256": _sha("be brief"), "chars": 8},
            {"role": "user", "sha256": _sha("hi"), "chars": 2},
        ]
        assert "messages" not in r["content"]  # content only when recording is enabled
        assert r["principal"]["id"] == "master" and len(r["config_digest"]) == 16 and r["policy_version"]


def test_route_local_block_and_failure_receipts_never_hold_values(tmp_path: Path) -> None:
    with trust_env(tmp_path) as env:
        raw = env.client.chat.completions.with_raw_response.create(
            model="smart", messages=[{"role": "user", "content": f"mail {EMAIL}"}]
        )
        local = receipt(env, raw.headers["x-adaptive-receipt"])
        assert local["trust"]["verdict"]["kind"] == "route_local"
        assert local["trust"]["findings"] == {"pii.email": 1} and local["used"]["provider"] == "box"
        assert local["blocked"][0]["reason"].startswith("trust: confidential exceeds hosted provider cloud")
        assert local["routing"]["chosen"]["reason"] == "fallback 1: 'on-box'"
        assert local["routing"]["skipped"][0]["reason"].startswith("trust:")

        with pytest.raises(openai.PermissionDeniedError) as info:
            env.chat("cloud-only", f"key {OPENAI_KEY}")
        blocked = receipt(env, info.value.response.headers["x-adaptive-receipt"])
        assert blocked["outcome"] == "blocked" and blocked["status"] == 403 and blocked["used"] is None
        assert blocked["trust"]["level"] == "secret" and blocked["trust"]["verdict"]["kind"] == "block"

        env.cloud.knobs.status = 500
        with pytest.raises(openai.InternalServerError) as failed_info:
            env.chat("cloud-only", "hi")
        failed = receipt(env, failed_info.value.response.headers["x-adaptive-receipt"])
        assert failed["outcome"] == "failed" and failed["status"] == 500
        assert (
            failed["attempts"][0]["deployment"].startswith("cloud-only#0")
            and failed["attempts"][0]["status"] == 500
        )
        for r in (local, blocked, failed):
            text = json.dumps(r)
            assert EMAIL not in text and OPENAI_KEY not in text

        listed = httpx.get(env.gateway.url + "/api/receipts?limit=10", headers=AUTH).json()["data"]
        assert [r["outcome"] for r in listed] == ["failed", "blocked", "success"]
        only = httpx.get(env.gateway.url + "/api/receipts?outcome=blocked", headers=AUTH).json()["data"]
        assert [r["id"] for r in only] == [blocked["id"]]
        assert httpx.get(env.gateway.url + "/api/receipts").status_code == 401
        assert httpx.get(env.gateway.url + "/api/receipts?limit=0", headers=AUTH).status_code == 400
        assert httpx.get(env.gateway.url + "/api/receipts/rc_nope", headers=AUTH).status_code == 404


def test_redacted_streamed_receipt_and_recorded_content(tmp_path: Path) -> None:
    trust = (
        "  actions: {confidential: redact}\n  receipts: {record_content: true, max_content_level: internal}"
    )
    with trust_env(tmp_path, trust) as env:
        stream = env.client.chat.completions.with_raw_response.create(
            model="cloud-only",
            messages=[{"role": "user", "content": f"mail {EMAIL}"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        rid = stream.headers["x-adaptive-receipt"]
        chunks = list(stream.parse())
        assert chunks
        r = receipt(env, rid)
        assert r["stream"] is True and r["redacted"] == {"pii.email": 1}
        assert r["trust"]["redacted"] == {"mode": "placeholder", "counts": {"pii.email": 1}}
        assert r["content"]["of"].startswith("text sent upstream")
        assert r["content"]["hashes"][0]["sha256"] == _sha("mail [[EMAIL_1]]")
        assert "messages" not in r["content"]  # confidential: above max_content_level
        assert r["usage"]["output_tokens"] > 0
        raw = env.client.chat.completions.with_raw_response.create(
            model="cloud-only", messages=[{"role": "user", "content": "hello"}]
        )
        public = receipt(env, raw.headers["x-adaptive-receipt"])
        assert public["content"]["messages"] == [{"role": "user", "text": "hello"}]


def test_receipts_can_be_turned_off(tmp_path: Path) -> None:
    with trust_env(tmp_path, "  receipts: {enabled: false}") as env:
        env.chat("smart", "hi")
        time.sleep(0.3)
        assert httpx.get(env.gateway.url + "/api/receipts", headers=AUTH).json()["data"] == []
