"""Virtual keys through HTTP: shown once and stored hashed, refused in the client's own format without
a database round trip, rotation with a grace period, revocation on every replica within a second,
allowed models."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from sqlalchemy import event

from adaptive_gateway.fakes.server import FakeUpstream
from tests.accounts.helpers import ADMIN, HTTP, accounts_of, chat, config, create_key, eventually
from tests.support.gateway import GatewayThread


@pytest.fixture
def gw(fake_openai: FakeUpstream, tmp_path: Path) -> Iterator[GatewayThread]:
    with GatewayThread(config(fake_openai.url), tmp_path) as thread:
        yield thread


def test_key_is_shown_once_and_stored_as_a_hash(gw: GatewayThread, tmp_path: Path) -> None:
    created = create_key(gw.url, name="ci bot", metadata={"team": "platform"})
    key = created["key"]
    assert key.startswith("sk-agw-") and created["prefix"] == key[:12] + "…"
    assert chat(gw.url, key).status_code == 200
    listed = HTTP.get(gw.url + "/api/keys", headers=ADMIN).json()
    one = HTTP.get(gw.url + f"/api/keys/{created['id']}", headers=ADMIN).json()
    assert key not in str(listed) and key not in str(one) and "key" not in one
    db = tmp_path / "gw-home" / "gateway.db"
    raw = b"".join(p.read_bytes() for p in db.parent.glob("gateway.db*"))
    assert key.encode() not in raw, "the plain key must never reach the database"
    assert hashlib.sha256(key.encode()).hexdigest().encode() in raw


@pytest.mark.parametrize(
    "key",
    ["sk-agw-unknownunknownunknownunknownunknown0", "sk-agw-", "x" * 500, "sk-agw-\u00e9\u00e8"],
    ids=["unknown", "prefix-only", "long", "non-ascii"],
)
def test_bad_keys_get_401_in_each_client_format(
    gw: GatewayThread, fake_openai: FakeUpstream, key: str
) -> None:
    raw = key.encode()  # sent as bytes: some are not ASCII
    resp = HTTP.post(gw.url + "/v1/chat/completions", headers={"x-api-key": raw}, json={"model": "gpt-test"})
    assert resp.status_code == 401 and resp.json()["error"]["type"] == "authentication_error"
    anth = HTTP.post(gw.url + "/v1/messages", headers={"x-api-key": raw}, json={"model": "gpt-test"})
    assert anth.status_code == 401 and anth.json()["type"] == "error"
    assert anth.json()["error"]["type"] == "authentication_error"
    gem = HTTP.post(
        gw.url + "/v1beta/models/gpt-test:generateContent", headers={"x-goog-api-key": raw}, json={}
    )
    assert gem.status_code == 401 and gem.json()["error"]["status"] == "UNAUTHENTICATED"
    assert not fake_openai.received


def test_refusals_need_no_database_round_trip(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    with GatewayThread(config(fake_openai.url, refresh=60, flush=60), tmp_path) as gw:
        good = create_key(gw.url)["key"]
        revoked = create_key(gw.url)
        HTTP.post(gw.url + f"/api/keys/{revoked['id']}/revoke", headers=ADMIN).raise_for_status()
        expired = create_key(gw.url, expires_at="2001-01-01T00:00:00Z")["key"]
        store = accounts_of(gw).store
        assert store is not None
        statements: list[str] = []
        event.listen(store.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        for key, status in [(good, 200), (revoked["key"], 401), (expired, 401), ("sk-agw-nope", 401)] * 5:
            assert chat(gw.url, key).status_code == status
        assert statements == []


def test_revoked_and_expired_keys_say_why(gw: GatewayThread) -> None:
    revoked = create_key(gw.url)
    HTTP.post(gw.url + f"/api/keys/{revoked['id']}/revoke", headers=ADMIN).raise_for_status()
    resp = chat(gw.url, revoked["key"])
    assert resp.status_code == 401 and "revoked" in resp.json()["error"]["message"]
    expired = create_key(gw.url, expires_at="2001-01-01T00:00:00+02:00")
    resp = chat(gw.url, expired["key"])
    assert resp.status_code == 401 and "expired at 2000-12-31T22:00:00Z" in resp.json()["error"]["message"]


def test_rotation_keeps_the_old_key_for_the_grace_period(gw: GatewayThread) -> None:
    created = create_key(gw.url, rpm=100)
    old = created["key"]
    rotated = HTTP.post(
        gw.url + f"/api/keys/{created['id']}/rotate", headers=ADMIN, json={"grace_seconds": 1}
    )
    assert rotated.status_code == 200
    new = rotated.json()["key"]
    assert new != old and rotated.json()["id"] == created["id"]
    assert chat(gw.url, old).status_code == 200
    assert chat(gw.url, new).status_code == 200
    assert eventually(lambda: chat(gw.url, old).status_code == 401, timeout=3)
    assert chat(gw.url, new).status_code == 200
    assert "expired" in chat(gw.url, old).json()["error"]["message"]
    immediate = HTTP.post(
        gw.url + f"/api/keys/{created['id']}/rotate", headers=ADMIN, json={"grace_seconds": 0}
    )
    assert chat(gw.url, new).status_code == 401
    assert chat(gw.url, immediate.json()["key"]).status_code == 200


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_revocation_reaches_every_replica_within_a_second(
    fake_openai: FakeUpstream, tmp_path: Path, request: pytest.FixtureRequest, db: str
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}" if db == "sqlite" else request.getfixturevalue("pg_url")
    cfg = config(fake_openai.url, store_url=url)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with GatewayThread(cfg, tmp_path / "a") as a, GatewayThread(cfg, tmp_path / "b") as b:
        created = create_key(a.url)
        assert eventually(lambda: chat(b.url, created["key"]).status_code == 200)
        HTTP.post(a.url + f"/api/keys/{created['id']}/revoke", headers=ADMIN).raise_for_status()
        assert chat(a.url, created["key"]).status_code == 401, "the replica that revoked it: at once"
        time.sleep(1.0)
        assert chat(b.url, created["key"]).status_code == 401, "any other replica: within a second"


def test_disallowed_model_is_403_naming_the_allowed_ones(
    gw: GatewayThread, fake_openai: FakeUpstream
) -> None:
    key = create_key(gw.url, allowed_models=["gpt-4o-mini", "other"])["key"]
    assert chat(gw.url, key, model="gpt-4o-mini").status_code == 200
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
    assert "allowed: gpt-4o-mini, other" in str(info.value)
    assert len(fake_openai.received) == 1


def test_metadata_and_names_are_stored_verbatim(gw: GatewayThread) -> None:
    name = "robert'); DROP TABLE virtual_keys;-- \"%_\\ ü"
    meta = {"sql": "' OR 1=1 --", "nested": {"quote": '"', "pct": "100%_"}, "list": [1, None]}
    created = create_key(gw.url, name=name, metadata=meta)
    got = HTTP.get(gw.url + f"/api/keys/{created['id']}", headers=ADMIN).json()
    assert got["name"] == name and got["metadata"] == meta
    assert chat(gw.url, created["key"]).status_code == 200


def test_key_table_survives_a_restart(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    cfg = config(fake_openai.url)
    with GatewayThread(cfg, tmp_path) as gw:
        key = create_key(gw.url)["key"]
    with GatewayThread(cfg, tmp_path) as gw:
        assert chat(gw.url, key).status_code == 200
        ready = HTTP.get(gw.url + "/health/ready", headers=ADMIN).json()
        assert ready["checks"]["store"]["ok"] and "sqlite" in ready["checks"]["store"]["detail"]
        assert ready["checks"]["state"]["ok"] and "in-process" in ready["checks"]["state"]["detail"]
