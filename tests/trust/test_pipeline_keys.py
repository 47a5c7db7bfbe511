"""Per-key trust levels (from the accounts extension's virtual keys) and hot reload of ``trust:``."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.gateway import MASTER_KEY
from tests.trust.pipeline_support import EMAIL, trust_config, trust_env

ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}


def _provider(url: str, key: str, level: str | None = None) -> str:
    headers = {"authorization": f"Bearer {key}", **({"x-trust-level": level} if level else {})}
    resp = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "smart", "messages": [{"role": "user", "content": "hi"}]},
        headers=headers,
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.headers["x-adaptive-provider"]


def _wait_for_provider(url: str, key: str, expected: str) -> None:
    """Until the key's requests go to ``expected`` (5 s at most): its key table entry is current."""
    deadline = time.monotonic() + 5
    while True:
        try:
            assert _provider(url, key) == expected
            return
        except AssertionError:
            assert time.monotonic() < deadline, f"requests never went to {expected}"
            time.sleep(0.05)


def _key(url: str, **spec: object) -> tuple[str, str]:
    resp = httpx.post(url + "/api/keys", headers=ADMIN, json={"name": "k", **spec}, timeout=10)
    assert resp.status_code == 201, resp.text
    data = resp.json()
    return data["id"], data["key"]


def test_a_virtual_keys_trust_level_is_its_default(tmp_path: Path) -> None:
    with trust_env(tmp_path, "  keys: {}") as env:
        url = env.gateway.url
        _, plain = _key(url)
        _, confidential = _key(url, trust_level="confidential")
        _, admin = _key(url, trust_level="confidential", role="admin")
        _wait_for_provider(url, plain, "cloud")  # the key table refreshes in the background
        assert _provider(url, confidential) == "box"
        assert _provider(url, confidential, "public") == "box"  # may not lower
        assert _provider(url, admin, "public") == "cloud"  # admin keys may
        receipts = httpx.get(url + "/api/receipts?limit=50", headers=ADMIN).json()["data"]
        reasons = {r["trust"]["reasons"][0] for r in receipts if r["trust"]["level"] == "confidential"}
        assert reasons == {"default: confidential (the key's trust level)"}


def test_a_changed_key_level_applies_to_the_next_requests(tmp_path: Path) -> None:
    """The key table is replaced on every refresh: the level is read from the current one."""
    with trust_env(tmp_path, "  keys: {}") as env:
        url = env.gateway.url
        key_id, key = _key(url)
        _wait_for_provider(url, key, "cloud")  # the key table refreshes in the background
        patched = httpx.patch(url + f"/api/keys/{key_id}", headers=ADMIN, json={"trust_level": "secret"})
        assert patched.status_code == 200, patched.text
        _wait_for_provider(url, key, "box")


def test_trust_section_is_hot_reloaded(tmp_path: Path) -> None:
    with trust_env(tmp_path) as env:
        assert (
            env.client.chat.completions.with_raw_response.create(
                model="smart", messages=[{"role": "user", "content": f"mail {EMAIL}"}]
            ).headers["x-adaptive-provider"]
            == "box"
        )
        text = trust_config(env.cloud.url, env.box.url, "  actions: {confidential: redact}")
        env.gateway.config_path.write_text(text)
        deadline = time.monotonic() + 10
        while (
            env.client.chat.completions.with_raw_response.create(
                model="smart", messages=[{"role": "user", "content": f"mail {EMAIL}"}]
            ).headers["x-adaptive-provider"]
            != "cloud"
        ):
            assert time.monotonic() < deadline, "the new trust rules were not applied"
            time.sleep(0.1)
        assert EMAIL not in env.cloud_bodies()[-1] and "[[EMAIL_1]]" in env.cloud_bodies()[-1]
