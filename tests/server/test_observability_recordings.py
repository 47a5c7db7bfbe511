"""Prompt and answer recording through the gateway's HTTP surface, on SQLite and PostgreSQL: what is
recorded (after redaction, placeholders kept in the answer, streams too) and what never is (blocked
requests, secrets, levels above ``max_level``), ``GET /api/recordings`` with filters and per-caller
scopes, per-key opt-in, retention by count, and 404 while recording is off."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.server.observability_recorder import Recorder
from tests.accounts.helpers import bearer, config, create_key, eventually
from tests.store.backends import pg_url
from tests.support.gateway import MASTER_KEY, GatewayThread

__all__ = ["pg_url"]
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
EMAIL = "jane.doe@example.com"
OPENAI_KEY = "sk-proj-Q2x8Lm4Np7Rt1Vz9Bc3Df6Gh0Jk5Ws8Ya2Ec4Hu7"
TRUST = "trust: {actions: {confidential: redact}}"


def recording(**fields: object) -> str:
    inner = ", ".join(f"{k}: {v}" for k, v in {"enabled": "true", **fields}.items())
    return f"observability: {{recording: {{{inner}}}}}"


def chat(url: str, text: str, key: str = MASTER_KEY, **body: Any) -> httpx.Response:
    payload = {"model": "gpt-test", "messages": [{"role": "user", "content": text}], **body}
    return httpx.post(url + "/v1/chat/completions", json=payload, headers=bearer(key), timeout=10)


def recordings(url: str, as_key: str = MASTER_KEY, **query: str) -> list[dict[str, Any]]:
    resp = httpx.get(url + "/api/recordings", params=query, headers=bearer(as_key), timeout=10)
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


def recorder_of(gw: GatewayThread) -> Recorder:
    rec = gw.app.extras["observability"].recorder
    assert isinstance(rec, Recorder)
    return rec


@pytest.fixture(params=["sqlite", "postgresql"])
def recorded(
    request: pytest.FixtureRequest, fake_openai: FakeUpstream, tmp_path: Path
) -> Iterator[GatewayThread]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    fake_openai.knobs.echo = True
    text = config(fake_openai.url, store_url=url, extra=f"{TRUST}\n{recording(max_level='confidential')}")
    with GatewayThread(text, tmp_path) as gw:
        yield gw


def test_recorded_as_sent_upstream(recorded: GatewayThread) -> None:
    url = recorded.url
    resp = chat(url, f"please mail {EMAIL} today")
    assert resp.status_code == 200
    assert EMAIL in resp.json()["choices"][0]["message"]["content"]  # the client gets it restored
    streamed = chat(url, "stream this back", stream=True)
    assert streamed.status_code == 200 and "[DONE]" in streamed.text
    # never recorded: a request the policy blocks (a secret may not go to this hosted provider) ...
    assert chat(url, f"my key is {OPENAI_KEY}").status_code == 403
    # ... and one refused before routing
    assert chat(url, "hi", model="no-such-model").status_code == 404

    rows = recordings(url)
    assert [r["stream"] for r in rows] == [True, False]  # newest first
    stream_row, row = rows
    assert row["request_id"] == resp.headers["x-request-id"]
    assert row["receipt_id"] == resp.headers["x-adaptive-receipt"]
    assert row["key_id"] == "master" and row["model"] == "gpt-test" and row["status"] == 200
    assert row["trust_level"] == "confidential" and row["deployment"].startswith("gpt-test#0")
    assert row["input_tokens"] > 0 and row["cost_usd"] > 0 and "messages" not in row
    full = httpx.get(f"{url}/api/recordings/{row['request_id']}", headers=AUTH).json()
    assert full["messages"] == [{"role": "user", "text": "please mail [[EMAIL_1]] today"}]
    assert full["response"] == "please mail [[EMAIL_1]] today"  # the echo, placeholders kept
    assert full["redacted"] == {"mode": "placeholder", "counts": {"pii.email": 1}}
    stream_full = httpx.get(f"{url}/api/recordings/{stream_row['request_id']}", headers=AUTH).json()
    assert stream_full["response"] == "stream this back"
    everything = httpx.get(f"{url}/api/recordings?limit=1000", headers=AUTH).text
    assert EMAIL not in everything and OPENAI_KEY not in everything and "sk-upstream-secret" not in everything


def test_filters_and_errors(recorded: GatewayThread) -> None:
    url = recorded.url
    for text in ("one", "two"):
        assert chat(url, text).status_code == 200
    assert len(recordings(url, model="gpt-test")) == 2
    assert recordings(url, model="other") == []
    assert len(recordings(url, key="master", limit="1")) == 1
    hour = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert len(recordings(url, to=hour.isoformat())) == 2
    assert recordings(url, **{"from": hour.isoformat()}) == []
    assert httpx.get(url + "/api/recordings?limit=0", headers=AUTH).status_code == 400
    assert httpx.get(url + "/api/recordings?from=yesterday", headers=AUTH).status_code == 400
    assert httpx.get(url + "/api/recordings").status_code == 401
    assert httpx.get(url + "/api/recordings/req_nope", headers=AUTH).status_code == 404
    assert httpx.get(url + "/api/settings", headers=AUTH).json()["observability"]["recording"] is True


def test_levels_above_the_maximum_are_not_recorded(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    text = config(fake_openai.url, extra=f"{TRUST}\n{recording()}")  # max_level: public
    with GatewayThread(text, tmp_path) as gw:
        assert chat(gw.url, f"please mail {EMAIL} today").status_code == 200  # confidential
        assert chat(gw.url, "nothing sensitive").status_code == 200
        assert [r["preview"] for r in recordings(gw.url)] == ["nothing sensitive"]


def test_keys_opt_in_and_callers_see_their_own(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    text = config(fake_openai.url, extra=recording(keys="opted_in"))
    with GatewayThread(text, tmp_path) as gw:
        tenant = httpx.post(gw.url + "/api/tenants", headers=AUTH, json={"name": "team-a"}).json()
        opted = create_key(gw.url, metadata={"record": True}, tenant_id=tenant["id"])
        opted_elsewhere = create_key(gw.url, metadata={"record": True})
        other = create_key(gw.url, tenant_id=tenant["id"])
        team_admin = create_key(gw.url, role="tenant-admin", tenant_id=tenant["id"])
        assert eventually(lambda: (recorder_of(gw).flags or {}).get(opted_elsewhere["id"]) is True, 10)
        mine = chat(gw.url, "from the opted-in key", key=opted["key"])
        assert mine.status_code == 200
        assert chat(gw.url, "opted in, no tenant", key=opted_elsewhere["key"]).status_code == 200
        assert chat(gw.url, "from another key", key=other["key"]).status_code == 200
        assert chat(gw.url, "from the master key").status_code == 200
        rows = recordings(gw.url)
        assert [r["preview"] for r in rows] == ["opted in, no tenant", "from the opted-in key"]
        assert rows[1]["key_id"] == opted["id"] and rows[1]["key_prefix"] == opted["prefix"]
        assert rows[1]["tenant_id"] == tenant["id"]
        assert [r["preview"] for r in recordings(gw.url, opted["key"])] == ["from the opted-in key"]
        assert recordings(gw.url, other["key"]) == []  # a key sees its own only
        assert [r["preview"] for r in recordings(gw.url, team_admin["key"])] == ["from the opted-in key"]
        rid = mine.headers["x-request-id"]
        assert httpx.get(f"{gw.url}/api/recordings/{rid}", headers=bearer(other["key"])).status_code == 404
        assert httpx.get(f"{gw.url}/api/recordings/{rid}", headers=bearer(opted["key"])).status_code == 200


def test_retention_keeps_the_newest_rows(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    text = config(fake_openai.url, extra=recording(max_rows=2, prune_interval_seconds=1))
    with GatewayThread(text, tmp_path) as gw:
        for i in range(4):
            assert chat(gw.url, f"request {i}").status_code == 200
        assert eventually(lambda: len(recordings(gw.url)) == 2, 10), recordings(gw.url)
        assert [r["preview"] for r in recordings(gw.url)] == ["request 3", "request 2"]


def test_off_by_default(gateway: GatewayThread) -> None:
    assert chat(gateway.url, "hello").status_code == 200
    resp = httpx.get(gateway.url + "/api/recordings", headers=AUTH)
    assert resp.status_code == 404 and "observability.recording.enabled" in resp.text
    settings = httpx.get(gateway.url + "/api/settings", headers=AUTH).json()
    assert settings["observability"]["recording"] is False
