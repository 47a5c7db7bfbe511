"""``POST /v1/simulate``: the whole decision path over HTTP, no upstream called, nothing written."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.gateway import MASTER_KEY
from tests.trust.pipeline_support import EMAIL, PHONE, trust_env

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def test_simulate_shows_level_findings_redactions_route_cost_and_receipt(tmp_path: Path) -> None:
    with trust_env(tmp_path, "  actions: {confidential: redact}") as env:
        body = {
            "model": "smart",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": f"mail {EMAIL} or call {PHONE}"}],
            "stream": True,  # ignored: a simulation never streams
        }
        resp = httpx.post(env.gateway.url + "/v1/simulate", json=body, headers=AUTH)
        assert resp.status_code == 200, resp.text
        sim = resp.json()
        assert "x-adaptive-receipt" not in resp.headers
        trust = sim["trust"]
        assert trust["level"] == "confidential" and trust["effective_level"] == "public"
        assert trust["findings"] == {"pii.email": 1, "pii.phone": 1}
        assert trust["verdict"]["kind"] == "redact"
        assert sim["redacted_messages"] == [{"role": "user", "text": "mail [[EMAIL_1]] or call [[PHONE_1]]"}]
        assert (
            sim["chosen"].startswith("smart#0:cloud") and sim["route"]["candidates"][0]["role"] == "primary"
        )
        cost = sim["cost_estimate"]
        assert cost["output_tokens"] == 100 and cost["output_tokens_from"] == "max_tokens"
        expected = (cost["input_tokens"] * 1.0 + 100 * 2.0) / 1e6
        assert cost["usd"] == round(expected, 8) and cost["per_candidate"][0]["priced"] is True
        receipt = sim["receipt"]
        assert receipt["outcome"] == "simulated" and receipt["id"] is None
        assert receipt["routing"]["chosen"]["reason"] == "primary"
        assert EMAIL not in resp.text and PHONE not in resp.text
        assert not env.cloud.received and not env.box.received
        time.sleep(0.3)
        assert httpx.get(env.gateway.url + "/api/receipts", headers=AUTH).json()["data"] == []


def test_simulate_errors(tmp_path: Path) -> None:
    with trust_env(tmp_path) as env:
        url = env.gateway.url + "/v1/simulate"
        body = {"model": "smart", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(url, json=body).status_code == 401
        assert httpx.post(url, json={**body, "model": "nope"}, headers=AUTH).status_code == 404
        assert httpx.post(url, content=b"{", headers=AUTH).status_code == 400
        bad = httpx.post(url, json=body, headers={**AUTH, "x-trust-level": "ultra"})
        assert bad.status_code == 400 and "x-trust-level" in bad.text
