"""The trust stage end to end: the official openai SDK against the gateway, a hosted and a local fake.

The core property: a hosted upstream never receives a confidential or secret prompt unless consent
is on record, fallbacks included; asserted on what the fakes received.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import openai
import pytest

from adaptive_gateway.config import gateway_home
from adaptive_gateway.ledger.consent import ConsentLedger
from adaptive_gateway.ledger.consent_view import LEDGER_FILE
from tests.support.gateway import MASTER_KEY
from tests.trust.pipeline_support import EMAIL, OPENAI_KEY, PHONE, trust_env


def test_public_goes_to_the_hosted_provider_out_of_the_box(tmp_path: Path) -> None:
    with trust_env(tmp_path) as env:
        raw = env.client.chat.completions.with_raw_response.create(
            model="smart", messages=[{"role": "user", "content": "what is a monad?"}]
        )
        assert raw.headers["x-adaptive-provider"] == "cloud"
        assert raw.headers["x-adaptive-receipt"].startswith("rc_")
        assert len(env.cloud.received) == 1 and not env.box.received


@pytest.mark.parametrize(
    "secret", [EMAIL, PHONE, OPENAI_KEY, "postgres://app:Tr0ub4dor3@db.internal:5432/main"]
)
def test_confidential_and_secret_prompts_go_local_never_hosted(tmp_path: Path, secret: str) -> None:
    with trust_env(tmp_path) as env:
        for model in ("smart", "mixed"):
            raw = env.client.chat.completions.with_raw_response.create(
                model=model, messages=[{"role": "user", "content": f"please look at {secret} now"}]
            )
            assert raw.headers["x-adaptive-provider"] == "box"
        stream = env.chat("mixed", f"stream this {secret}", stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert not env.cloud.received
        assert len(env.box.received) == 3
        assert secret in str(env.box.received[0].json)


def test_blocked_when_no_local_deployment_names_types_never_values(tmp_path: Path) -> None:
    with trust_env(tmp_path) as env:
        with pytest.raises(openai.PermissionDeniedError) as info:
            env.chat("cloud-only", f"my key is {OPENAI_KEY} and mail {EMAIL}")
        message = info.value.message
        assert "secret.openai_key x1" in message and "pii.email x1" in message
        assert OPENAI_KEY not in message and EMAIL not in message
        assert "cloud-only" in message
        body = info.value.response.json()["error"]
        assert body["code"] == "trust_policy" and body["type"] == "policy_error"
        assert info.value.response.headers["x-adaptive-receipt"].startswith("rc_")
        with pytest.raises(openai.PermissionDeniedError):
            list(env.chat("cloud-only", f"stream {EMAIL}", stream=True))
        assert not env.cloud.received and not env.box.received


def test_fallback_chains_respect_levels(tmp_path: Path) -> None:
    extra = """
  chain:
    deployments: [{provider: cloud, model: first}]
    fallbacks: [cloud-only, on-box]
    retry: {retries: 0}
"""
    with trust_env(tmp_path, extra_models=extra) as env:
        env.cloud.knobs.status = 500  # every hosted attempt fails
        env.chat("chain", "hello there")  # public: the hosted fallback is tried, then the local one
        assert len(env.cloud.received) == 2 and len(env.box.received) == 1
        env.cloud.received.clear()
        env.cloud.knobs.status = 200
        raw = env.client.chat.completions.with_raw_response.create(
            model="chain", messages=[{"role": "user", "content": f"mail {EMAIL}"}]
        )
        assert raw.headers["x-adaptive-provider"] == "box"
        assert not env.cloud.received  # neither the primary nor the hosted fallback


def test_consent_grant_lets_a_level_through_and_revocation_takes_it_back(tmp_path: Path) -> None:
    ledger = ConsentLedger(gateway_home() / LEDGER_FILE)
    ledger.append("test", "grant", "provider:cloud:confidential", "the DPA covers PII")
    with trust_env(tmp_path) as env:
        raw = env.client.chat.completions.with_raw_response.create(
            model="smart", messages=[{"role": "user", "content": f"mail {EMAIL}"}]
        )
        assert raw.headers["x-adaptive-provider"] == "cloud"
        with pytest.raises(openai.PermissionDeniedError):  # a grant for confidential is not one for secret
            env.chat("cloud-only", f"key {OPENAI_KEY}")
        ledger.append("test", "revoke", "provider:cloud", "offline week")
        deadline = time.monotonic() + 5
        while (
            env.client.chat.completions.with_raw_response.create(
                model="smart", messages=[{"role": "user", "content": "hi"}]
            ).headers["x-adaptive-provider"]
            != "box"
        ):
            assert time.monotonic() < deadline, "the revocation was not picked up"
            time.sleep(0.05)
        assert EMAIL in env.cloud_bodies()[0]  # the consented confidential request went to cloud
        sent = len(env.cloud.received)
        env.chat("smart", "hi again")
        assert len(env.cloud.received) == sent


def test_once_the_ledger_records_providers_hosted_needs_a_grant(tmp_path: Path) -> None:
    ledger = ConsentLedger(gateway_home() / LEDGER_FILE)
    ledger.append("init", "grant", "provider:box", "local runtime")
    with trust_env(tmp_path) as env:
        with pytest.raises(openai.PermissionDeniedError) as info:
            env.chat("cloud-only", "hello")
        assert "no consent on record for hosted provider cloud" in info.value.message
        assert "ledger grant provider:cloud" in info.value.message
        ledger.append("init", "grant", "provider:cloud", "hosted provider")
        deadline = time.monotonic() + 5
        while True:
            try:
                env.chat("cloud-only", "hello")
                break
            except openai.PermissionDeniedError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert len(env.cloud.received) == 1


def test_header_may_raise_but_lowers_only_when_the_key_may(tmp_path: Path) -> None:
    trust = "  keys: {master: {level: confidential, may_lower: false}}"
    with trust_env(tmp_path, trust) as env:

        def provider(level: str) -> str:
            raw = env.client.chat.completions.with_raw_response.create(
                model="smart",
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"x-trust-level": level},
            )
            return raw.headers["x-adaptive-provider"]

        assert provider("public") == "box"  # ignored: this key may not lower
        assert provider("secret") == "box"
        with pytest.raises(openai.BadRequestError) as info:
            provider("top-secret")
        assert "x-trust-level" in info.value.message and "confidential" in info.value.message
    trust = "  keys: {master: {level: confidential, may_lower: true}}"
    with trust_env(tmp_path / "b", trust) as env:
        raw = env.client.chat.completions.with_raw_response.create(
            model="smart",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-trust-level": "public"},
        )
        assert raw.headers["x-adaptive-provider"] == "cloud"
        # lowering never hides what the detectors find
        raw = env.client.chat.completions.with_raw_response.create(
            model="smart",
            messages=[{"role": "user", "content": EMAIL}],
            extra_headers={"x-trust-level": "public"},
        )
        assert raw.headers["x-adaptive-provider"] == "box"


def test_public_prompt_raised_by_header_and_context_sources(tmp_path: Path) -> None:
    with trust_env(tmp_path) as env:
        for headers in (
            {"x-trust-level": "confidential"},
            {"x-context-sources": "file:a.md=public, memory:q3=secret"},
        ):
            raw = env.client.chat.completions.with_raw_response.create(
                model="smart", messages=[{"role": "user", "content": "hi"}], extra_headers=headers
            )
            assert raw.headers["x-adaptive-provider"] == "box"
        with pytest.raises(openai.BadRequestError):
            env.chat("smart", "hi", extra_headers={"x-context-sources": "memory:q3"})
        assert not env.cloud.received


def test_block_action_custom_keywords_and_per_provider_maximum(tmp_path: Path) -> None:
    trust = """
  actions: {secret: block}
  keywords: [{name: codename, words: [Blue Falcon], level: confidential}]
"""
    with trust_env(tmp_path, trust) as env:
        with pytest.raises(openai.PermissionDeniedError) as info:
            env.chat("on-box", f"key {OPENAI_KEY}")  # blocked even for a local deployment
        assert "policy blocks secret requests" in info.value.message
        raw = env.client.chat.completions.with_raw_response.create(
            model="smart", messages=[{"role": "user", "content": "status of blue falcon?"}]
        )
        assert raw.headers["x-adaptive-provider"] == "box"
        assert not env.cloud.received and len(env.box.received) == 1


def test_forwarded_embeddings_are_guarded(tmp_path: Path) -> None:
    with trust_env(tmp_path) as env:
        headers = {"authorization": f"Bearer {MASTER_KEY}"}
        resp = httpx.post(
            env.gateway.url + "/v1/embeddings",
            json={"model": "cloud-only", "input": [f"x {EMAIL}"]},
            headers=headers,
        )
        assert resp.status_code == 403 and EMAIL not in resp.text and "pii.email" in resp.text
        resp = httpx.post(
            env.gateway.url + "/v1/embeddings",
            json={"model": "cloud-only", "input": "plain"},
            headers=headers,
        )
        assert resp.status_code == 200
        assert [r.json["input"] for r in env.cloud.received] == ["plain"]


def test_trust_disabled_passes_everything(tmp_path: Path) -> None:
    with trust_env(tmp_path, "  enabled: false") as env:
        env.chat("cloud-only", f"mail {EMAIL}")
        assert EMAIL in env.cloud_bodies()[0]
