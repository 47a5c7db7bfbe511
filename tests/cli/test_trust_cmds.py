"""``ledger``, ``receipts``, ``simulate`` and ``run`` commands through the real Typer app."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import openai
import pytest
from typer.testing import CliRunner

from adaptive_gateway.cli.main import build_app
from adaptive_gateway.config import gateway_home
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.ledger.consent_view import LEDGER_FILE
from adaptive_gateway.ledger.receipts import ReceiptStore, new_receipt_id
from tests.support.gateway import MASTER_KEY
from tests.trust.pipeline_support import EMAIL, OPENAI_KEY, trust_config, trust_env

runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(build_app(), list(args))
    return result.exit_code, result.output


def _ledger_lines() -> list[str]:
    return (gateway_home() / LEDGER_FILE).read_text().splitlines()


def _write_lines(lines: list[str]) -> None:
    (gateway_home() / LEDGER_FILE).write_text("\n".join(lines) + "\n")


def test_grant_revoke_list_verify() -> None:
    assert cli("ledger", "grant", "provider:openai", "--reason", "hosted ok", "--actor", "alice")[0] == 0
    assert cli("ledger", "grant", "provider:openai:confidential", "-r", "DPA signed")[0] == 0
    assert cli("ledger", "revoke", "provider:openai", "-r", "offline week")[0] == 0
    code, out = cli("ledger", "list", "--json")
    entries = json.loads(out)
    assert code == 0 and [(e["seq"], e["action"], e["scope"]) for e in entries] == [
        (1, "grant", "provider:openai"),
        (2, "grant", "provider:openai:confidential"),
        (3, "revoke", "provider:openai"),
    ]
    assert entries[0]["actor"] == "alice" and entries[1]["prev_hash"] == entries[0]["hash"]
    code, out = cli("ledger", "list")
    assert "granted now: provider:openai:confidential" in out
    code, out = cli("ledger", "verify")
    assert code == 0 and "intact: 3 entries" in out
    code, out = cli("ledger", "grant", "openai")
    assert code == 2 and "invalid scope" in out


@pytest.mark.parametrize(
    ("tamper", "kind"),
    [
        (lambda lines: [lines[0], lines[1].replace("DPA", "NDA"), lines[2]], "edited"),
        (lambda lines: [lines[0], lines[2]], "removed"),
        (lambda lines: [lines[1], lines[0], lines[2]], "reordered"),
        (lambda lines: [*lines[:2], "not json"], "malformed"),
    ],
)
def test_verify_detects_tampering(tamper: object, kind: str) -> None:
    for scope in ("provider:a", "provider:b:confidential", "env:KEY"):
        cli("ledger", "grant", scope, "-r", "DPA")
    _write_lines(tamper(_ledger_lines()))  # type: ignore[operator]
    code, out = cli("ledger", "verify")
    assert code == 1 and "ledger damaged" in out and kind in out
    code, out = cli("ledger", "verify", "--json")
    assert code == 1 and kind in {p["kind"] for p in json.loads(out)["problems"]}


def test_verify_detects_truncation_against_a_known_head() -> None:
    cli("ledger", "grant", "provider:a")
    cli("ledger", "grant", "provider:b")
    head = json.loads(cli("ledger", "list", "--json")[1])[-1]["hash"]
    _write_lines(_ledger_lines()[:1])
    assert cli("ledger", "verify")[0] == 0  # a shorter chain is still a chain ...
    code, out = cli("ledger", "verify", "--head", head)
    assert code == 1 and "truncated" in out  # ... unless you remember the head


def test_a_damaged_ledger_refuses_hosted_providers(tmp_path: Path) -> None:
    cli("ledger", "grant", "provider:cloud")
    _write_lines([line.replace("provider:cloud", "provider:cloud:secret") for line in _ledger_lines()])
    with trust_env(tmp_path) as env:
        raw = env.client.chat.completions.with_raw_response.create(
            model="smart", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-adaptive-provider"] == "box" and not env.cloud.received
        ready = httpx.get(
            env.gateway.url + "/health/ready", headers={"authorization": f"Bearer {MASTER_KEY}"}
        )
        assert "FAILED verification" in ready.json()["checks"]["consent_ledger"]["detail"]
        with pytest.raises(openai.PermissionDeniedError) as info:
            env.chat("cloud-only", "hi")
        assert "consent ledger failed verification" in info.value.message


def test_receipts_list_and_show() -> None:
    store = ReceiptStore(gateway_home() / "receipts")
    ids = [new_receipt_id(), new_receipt_id()]
    store.append(
        [
            {"id": ids[0], "outcome": "success", "model": "m", "trust": {"level": "public"}, "cost_usd": 0.1},
            {"id": ids[1], "outcome": "blocked", "model": "m", "trust": {"level": "secret"}, "cost_usd": 0},
        ]
    )
    code, out = cli("receipts", "list", "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == [ids[1], ids[0]]
    code, out = cli("receipts", "list", "--outcome", "success", "--json")
    assert [r["id"] for r in json.loads(out)] == [ids[0]]
    code, out = cli("receipts", "list")
    assert code == 0 and "blocked" in out and "secret" in out
    code, out = cli("receipts", "show", ids[1])
    assert code == 0 and json.loads(out)["outcome"] == "blocked"
    assert cli("receipts", "show", "rc_20250101T000000_00000000")[0] == 1


def test_receipts_prune(tmp_path: Path) -> None:
    store = ReceiptStore(gateway_home() / "receipts")
    now = time.time()
    store.append([{"id": new_receipt_id(now=now - days * 86_400)} for days in (0, 1, 10, 100, 1000)])
    config = tmp_path / "config.yaml"
    config.write_text("trust:\n  receipts: {retention_days: 30}\n")
    code, out = cli("receipts", "prune", "--config", str(config))  # the configured retention
    assert code == 0 and "deleted 2 day file(s) older than 30 days" in out
    code, out = cli("receipts", "prune", "--older-than", "5", "--config", str(config))
    assert code == 0 and "deleted 1 day file(s) older than 5 days" in out
    assert cli("receipts", "prune", "--older-than", "5")[1].startswith("no receipts older than 5 days")
    code, out = cli("receipts", "prune", "--older-than", "0")
    assert code == 0 and "deleted 1 day file(s)" in out
    assert [p.name for p in store.root.iterdir()] == [time.strftime("%Y-%m-%d.jsonl", time.gmtime(now))]
    config.write_text("trust:\n  receipts: {retention_days: 0}\n")
    assert "keep receipts forever" in cli("receipts", "prune", "--config", str(config))[1]
    config.write_text("trust:\n  receipts: {retention: 3}\n")
    code, out = cli("receipts", "prune", "--config", str(config))
    assert code == 2 and "trust.receipts.retention" in out
    assert cli("receipts", "prune", "--older-than", "-1")[0] == 2
    store.append([{"id": new_receipt_id(now=now - 91 * 86_400)}])
    code, out = cli("receipts", "prune", "--config", str(tmp_path / "none.yaml"))  # no config: 90 days
    assert code == 0 and "deleted 1 day file(s) older than 90 days" in out


def test_simulate_in_process_calls_no_upstream(tmp_path: Path) -> None:
    cloud = FakeUpstream("openai").start_in_thread()
    box = FakeUpstream("openai").start_in_thread()
    try:
        config = tmp_path / "config.yaml"
        config.write_text(trust_config(cloud.url, box.url, "  actions: {secret: redact}"))
        request = tmp_path / "request.json"
        request.write_text(
            json.dumps({"model": "smart", "messages": [{"role": "user", "content": f"mail {EMAIL}"}]})
        )
        code, out = cli("simulate", str(request), "--config", str(config), "--json")
        assert code == 0, out
        sim = json.loads(out)
        assert sim["trust"]["level"] == "confidential" and sim["trust"]["findings"] == {"pii.email": 1}
        assert sim["trust"]["verdict"]["kind"] == "route_local"
        assert sim["chosen"].startswith("on-box#0") and sim["blocked"] is None
        assert sim["route"]["skipped"][0]["skipped"].startswith("trust:")
        assert sim["cost_estimate"]["output_tokens"] == 1024
        assert sim["receipt"]["outcome"] == "simulated" and sim["receipt"]["id"] is None
        assert EMAIL not in json.dumps(sim["receipt"])
        # a secret is redacted (placeholder) and the level drops back to what is left
        request.write_text(
            json.dumps(
                {
                    "body": {
                        "model": "smart",
                        "messages": [{"role": "user", "content": f"key {OPENAI_KEY}"}],
                    },
                    "headers": {},
                }
            )
        )
        code, out = cli("simulate", str(request), "--config", str(config), "-H", "x-trust-level: internal")
        assert code == 0 and "verdict: redact" in out and "[[OPENAI_KEY_1]]" in out and OPENAI_KEY not in out
        assert "receipt that would be written" in out
        assert not cloud.received and not box.received
    finally:
        cloud.stop_thread()
        box.stop_thread()


def test_simulate_through_a_running_gateway(tmp_path: Path) -> None:
    with trust_env(tmp_path) as env:
        request = tmp_path / "r.json"
        request.write_text(
            json.dumps(
                {
                    "model": "cloud-only",
                    "messages": [{"role": "user", "content": f"{OPENAI_KEY}"}],
                    "max_tokens": 10,
                }
            )
        )
        code, out = cli("simulate", str(request), "--url", env.gateway.url, "--key", MASTER_KEY, "--json")
        assert code == 0, out
        sim = json.loads(out)
        assert sim["blocked"]["status"] == 403 and sim["blocked"]["code"] == "trust_policy"
        assert OPENAI_KEY not in out and sim["receipt"]["outcome"] == "simulated"
        assert sim["cost_estimate"]["output_tokens"] == 10
        assert not env.cloud.received
