"""The admin API: OpenAPI and docs, roles (admin, tenant-admin, viewer), 422 naming the field,
conflicts, users and tenants, the audit log, usage and spend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adaptive_gateway.fakes.server import FakeUpstream
from tests.accounts.helpers import ADMIN, HTTP, bearer, chat, config, create_key, eventually
from tests.support.gateway import GatewayThread


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    fake = FakeUpstream("openai").start_in_thread()
    home = tmp_path_factory.mktemp("admin")
    mp = pytest.MonkeyPatch()
    mp.setenv("ADAPTIVE_GATEWAY_HOME", str(home / "gw-home"))
    try:
        with GatewayThread(config(fake.url), home) as thread:
            yield thread
    finally:
        mp.undo()
        fake.stop_thread()


def api(gw: GatewayThread, method: str, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
    headers = bearer(key) if key else ADMIN
    return HTTP.request(method, gw.url + "/api" + path, headers=headers, **kw)


def tenant(gw: GatewayThread, name: str, **kw: Any) -> dict[str, Any]:
    resp = api(gw, "POST", "/tenants", json={"name": name, **kw})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_openapi_and_docs(gw: GatewayThread) -> None:
    spec = HTTP.get(gw.url + "/openapi.json").json()
    assert spec["info"]["title"].startswith("Adaptive LLM Gateway")
    for path in (
        "/api/keys",
        "/api/keys/{key_id}/rotate",
        "/api/tenants",
        "/api/users",
        "/api/usage",
        "/api/spend",
        "/api/budgets",
        "/api/audit",
        "/api/webhooks/deliveries",
    ):
        assert path in spec["paths"], path
    assert "KeyCreate" in spec["components"]["schemas"]
    docs = HTTP.get(gw.url + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_every_api_route_needs_a_key(gw: GatewayThread) -> None:
    assert HTTP.get(gw.url + "/api/keys").status_code == 401
    assert HTTP.get(gw.url + "/api/keys", headers=bearer("sk-agw-bogus")).status_code == 401
    plain = create_key(gw.url)["key"]
    resp = api(gw, "GET", "/keys", plain)
    assert resp.status_code == 403 and "no admin API role" in resp.json()["error"]["message"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": "x", "rpm": 0}, "rpm"),
        ({"name": "x", "budget_period": "fortnight"}, "budget_period"),
        ({"name": "x", "role": "owner"}, "role"),
        ({"name": "x", "surprise": 1}, "surprise"),
        ({"name": "x", "budget_usd": "lots"}, "budget_usd"),
        ({"name": "x", "expires_at": "tomorrow"}, "expires_at"),
    ],
)
def test_invalid_payloads_are_422_naming_the_field(
    gw: GatewayThread, payload: dict[str, Any], field: str
) -> None:
    resp = api(gw, "POST", "/keys", json=payload)
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["param"] == field and err["message"].startswith(field + ":")


def test_unknown_references_and_conflicts(gw: GatewayThread) -> None:
    resp = api(gw, "POST", "/keys", json={"name": "x", "tenant_id": "ten_missing"})
    assert resp.status_code == 422 and resp.json()["error"]["param"] == "tenant_id"
    tenant(gw, "dup-team")
    resp = api(gw, "POST", "/tenants", json={"name": "dup-team"})
    assert resp.status_code == 409 and "already exists" in resp.json()["error"]["message"]
    assert api(gw, "GET", "/keys/key_missing").status_code == 404


def test_sql_special_characters_round_trip(gw: GatewayThread) -> None:
    name = 'O\'Brien "team"; DELETE FROM tenants; -- %_ \\ 🙂'
    meta = {"k'ey": 'v"al', "like": "%_", "nul-ish": "\\x00"}
    t = tenant(gw, name, metadata=meta)
    got = api(gw, "GET", f"/tenants/{t['id']}").json()
    assert got["name"] == name and got["metadata"] == meta
    user = api(
        gw, "POST", "/users", json={"email": "o'brien@example.com", "name": name, "tenant_id": t["id"]}
    )
    assert user.status_code == 201 and user.json()["name"] == name
    assert any(x["name"] == name for x in api(gw, "GET", "/tenants").json())


def test_tenant_admin_is_confined_to_its_tenant(gw: GatewayThread) -> None:
    mine, other = tenant(gw, "mine"), tenant(gw, "other")
    boss = create_key(gw.url, name="boss", role="tenant-admin", tenant_id=mine["id"])["key"]
    theirs = create_key(gw.url, name="theirs", tenant_id=other["id"])
    made = api(gw, "POST", "/keys", boss, json={"name": "team key", "rpm": 10})
    assert made.status_code == 201 and made.json()["tenant_id"] == mine["id"], "defaults to its own tenant"
    assert api(gw, "POST", "/keys", boss, json={"name": "x", "tenant_id": other["id"]}).status_code == 403
    assert api(gw, "POST", "/keys", boss, json={"name": "x", "role": "admin"}).status_code == 403
    assert api(gw, "GET", f"/keys/{theirs['id']}", boss).status_code == 403
    assert api(gw, "POST", f"/keys/{theirs['id']}/revoke", boss).status_code == 403
    listed = api(gw, "GET", "/keys", boss).json()
    assert listed and {k["tenant_id"] for k in listed} == {mine["id"]}
    assert [t["id"] for t in api(gw, "GET", "/tenants", boss).json()] == [mine["id"]]
    assert api(gw, "POST", "/tenants", boss, json={"name": "mine-2"}).status_code == 403
    assert api(gw, "POST", f"/keys/{made.json()['id']}/revoke", boss).status_code == 200


def test_viewer_reads_but_never_writes(gw: GatewayThread) -> None:
    viewer = create_key(gw.url, name="auditor", role="viewer")["key"]
    assert api(gw, "GET", "/keys", viewer).status_code == 200
    assert api(gw, "GET", "/audit", viewer).status_code == 200
    assert api(gw, "GET", "/usage", viewer).status_code == 200
    resp = api(gw, "POST", "/keys", viewer, json={"name": "nope"})
    assert resp.status_code == 403 and "may not change" in resp.json()["error"]["message"]


def test_admin_key_role_and_user_role(gw: GatewayThread) -> None:
    admin_key = create_key(gw.url, name="second admin", role="admin")["key"]
    assert api(gw, "POST", "/tenants", admin_key, json={"name": "by-admin-key"}).status_code == 201
    user = api(gw, "POST", "/users", json={"email": "ops@example.com", "role": "viewer"}).json()
    inherits = create_key(gw.url, name="ops laptop", user_id=user["id"])["key"]
    assert api(gw, "GET", "/tenants", inherits).status_code == 200, "a key inherits its user's role"
    assert api(gw, "PATCH", f"/users/{user['id']}", json={"role": None}).status_code == 200
    assert api(gw, "GET", "/tenants", inherits).status_code == 403
    assert api(gw, "DELETE", f"/users/{user['id']}").status_code == 204


def test_update_key_limits_take_effect(gw: GatewayThread) -> None:
    created = create_key(gw.url, rpm=1)
    assert [chat(gw.url, created["key"]).status_code for _ in range(2)] == [200, 429]
    patched = api(gw, "PATCH", f"/keys/{created['id']}", json={"rpm": 100, "metadata": {"x": 1}})
    assert (
        patched.status_code == 200 and patched.json()["rpm"] == 100 and patched.json()["metadata"] == {"x": 1}
    )
    assert chat(gw.url, created["key"]).status_code == 200


def test_audit_log_records_admin_actions(gw: GatewayThread) -> None:
    created = create_key(gw.url, name="audited")
    api(gw, "POST", f"/keys/{created['id']}/rotate", json={"grace_seconds": 0})
    api(gw, "POST", f"/keys/{created['id']}/revoke")
    rows = api(gw, "GET", "/audit", params={"target_id": created["id"]}).json()
    assert [r["action"] for r in rows] == ["key.revoke", "key.rotate", "key.create"]
    assert rows[-1]["actor"] == "master" and rows[-1]["detail"]["name"] == "audited"


def test_usage_and_spend_by_group(gw: GatewayThread) -> None:
    t = tenant(gw, "reporting")
    key = create_key(gw.url, name="reporter", tenant_id=t["id"])
    for _ in range(3):
        assert chat(gw.url, key["key"]).status_code == 200

    def by_key() -> dict[str, Any]:
        return api(gw, "GET", "/usage", params={"group_by": "key", "key_id": key["id"]}).json()

    assert eventually(lambda: bool(by_key()["rows"]) and by_key()["rows"][0]["requests"] == 3)
    assert by_key()["rows"][0]["key"] == key["id"]
    for group in ("tenant", "model", "provider", "day"):
        report = api(gw, "GET", "/usage", params={"group_by": group, "tenant_id": t["id"]}).json()
        assert report["group_by"] == group and report["rows"][0]["requests"] == 3, group
    resp = api(gw, "GET", "/usage", params={"group_by": "color"})
    assert resp.status_code == 422 and resp.json()["error"]["param"] == "group_by"
    resp = api(gw, "GET", "/usage", params={"from": "2025-02-01", "to": "2025-01-01"})
    assert resp.status_code == 422 and resp.json()["error"]["param"] == "from"
    spend = api(gw, "GET", "/spend", params={"scope": "tenant"}).json()
    assert spend["spend_usd"][t["id"]] > 0
    prices = api(gw, "GET", "/prices").json()
    assert prices["deployments"][0]["input"] == 1.0 and "gpt-4o" in prices["catalog"]
