"""`keys`, `tenants`, `usage` and `prices` through the real CLI (typer's CliRunner), on the same store
a running gateway uses."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adaptive_gateway.cli.main import build_app
from adaptive_gateway.fakes.server import FakeUpstream
from tests.accounts.helpers import chat, config, eventually, flushed
from tests.support.gateway import GatewayThread


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(), list(args))
    return result.exit_code, result.stdout, result.stderr


def test_keys_lifecycle_against_a_running_gateway(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    with GatewayThread(config(fake_openai.url), tmp_path) as gw:
        cfg = str(gw.config_path)
        code, out, _ = cli(
            "keys",
            "create",
            "--name",
            "cli key",
            "--rpm",
            "50",
            "--budget",
            "5",
            "--period",
            "week",
            "--models",
            "gpt-test, gpt-4o-mini",
            "--metadata",
            '{"owner": "me"}',
            "--json",
            "-c",
            cfg,
        )
        assert code == 0, out
        created = json.loads(out)
        key = created["key"]
        assert created["allowed_models"] == ["gpt-test", "gpt-4o-mini"] and created["budget_period"] == "week"
        assert eventually(lambda: chat(gw.url, key).status_code == 200, timeout=2)
        code, out, _ = cli("keys", "list", "--json", "-c", cfg)
        listed = json.loads(out)
        assert code == 0 and listed[0]["prefix"] == created["prefix"] and key not in out
        code, out, _ = cli("keys", "rotate", created["id"], "--grace", "0", "-c", cfg)
        new_key = out.strip().splitlines()[-1]
        assert code == 0 and new_key.startswith("sk-agw-") and new_key != key
        assert eventually(lambda: chat(gw.url, new_key).status_code == 200, timeout=2)
        assert chat(gw.url, key).status_code == 401
        code, out, _ = cli("keys", "revoke", created["id"], "-c", cfg)
        assert code == 0 and "revoked" in out
        time.sleep(1.0)
        assert chat(gw.url, new_key).status_code == 401
        flushed(gw, 2)
        code, out, _ = cli("usage", "--by", "key", "--json", "-c", cfg)
        rows = json.loads(out)
        assert code == 0 and rows[0]["key"] == created["id"] and rows[0]["requests"] >= 2


def test_tenants_commands() -> None:
    code, out, _ = cli("tenants", "create", "platform", "--budget", "100", "--rpm", "600", "--json")
    assert code == 0
    tenant = json.loads(out)[0]
    assert tenant["name"] == "platform" and tenant["budget_usd"] == 100 and tenant["budget_hard"]
    code, out, _ = cli("tenants", "update", tenant["id"], "--soft", "--tpm", "1000", "--json")
    assert code == 0 and json.loads(out)[0]["budget_hard"] is False and json.loads(out)[0]["tpm"] == 1000
    code, out, _ = cli("tenants", "list")
    assert code == 0 and "platform" in out
    code, out, err = cli("tenants", "create", "platform")
    assert code == 1 and "already exists" in err
    code, _, _ = cli("tenants", "delete", tenant["id"])
    assert code == 0 and "platform" not in cli("tenants", "list", "--json")[1]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--name", "x", "--rpm", "0"], "rpm"),
        (["--name", "x", "--period", "fortnight"], "budget_period"),
        (["--name", "x", "--ip", "not-an-ip"], "ip_allow"),
        (["--name", ""], "name"),
    ],
)
def test_invalid_options_name_the_field(args: list[str], field: str) -> None:
    code, _, err = cli("keys", "create", *args)
    assert code == 2 and field in err


def test_prices_update_and_show(tmp_path: Path) -> None:
    good = tmp_path / "prices.json"
    good.write_text(
        json.dumps(
            {"models": {"my-model": {"input": 0.5, "output": 1.5}, "gpt-4o": {"input": 9, "output": 9}}}
        )
    )
    code, out, _ = cli("prices", "update", "--file", str(good))
    assert code == 0 and "2 price(s)" in out
    code, out, _ = cli("prices", "show", "--json")
    catalog = {r["model"]: r for r in json.loads(out)}
    assert catalog["my-model"]["cached_input"] == 0.5 and catalog["gpt-4o"]["input"] == 9
    assert catalog["gpt-4o-mini"]["input"] == 0.15, "bundled entries stay"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"models": {"x": {"input": -1, "output": 1}}}))
    code, _, err = cli("prices", "update", "--file", str(bad))
    assert code == 1 and "models.x" in err
