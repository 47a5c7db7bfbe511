"""Explain through HTTP and the CLI: POST /v1/route/preview, GET /health/providers, `route preview`,
`route status`; both routes need a key; preview calls no upstream; strategies follow config reloads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from adaptive_gateway.cli.main import build_app
from adaptive_gateway.fakes import FakeUpstream, Knobs
from tests.routing.support import PRIMARY, two_deployments
from tests.support.gateway import MASTER_KEY, GatewayThread, free_port

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
EXTRA = """
  big: {deployments: [{provider: b, model: big, context_window: 100000, quality: 90}]}
  ab: {split: {m: 70, big: 30}, sticky: "header:x-user"}
"""


@pytest.fixture
def fakes() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    a = FakeUpstream("openai").start_in_thread()
    b = FakeUpstream("openai").start_in_thread()
    try:
        yield a, b
    finally:
        a.stop_thread()
        b.stop_thread()


@pytest.fixture
def gw(fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path) -> Iterator[GatewayThread]:
    a, b = fakes
    extra = "    fallbacks: [big]\n" + EXTRA
    # a is tried first on every request (at 100:1 one request in 101 went to b first, and the five
    # requests below then left a's breaker closed)
    text = two_deployments(a.url, b.url, model_extra=extra, weights=PRIMARY)
    with GatewayThread(text, tmp_path) as gateway:
        yield gateway


def test_routes_need_a_key(gw: GatewayThread) -> None:
    assert httpx.get(gw.url + "/health/providers").status_code == 401
    assert httpx.post(gw.url + "/v1/route/preview", json={"model": "m"}).status_code == 401


def test_preview_explains_every_candidate_without_calling_upstream(
    gw: GatewayThread, fakes: tuple[FakeUpstream, FakeUpstream]
) -> None:
    a, b = fakes
    a.knobs = Knobs(status=500)
    for _ in range(5):  # open a's breaker through real traffic
        assert (
            httpx.post(
                gw.url + "/v1/chat/completions",
                headers=AUTH,
                json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            ).status_code
            == 200
        )
    seen_a, seen_b = len(a.received), len(b.received)
    data = httpx.post(gw.url + "/v1/route/preview", headers=AUTH, json={"model": "m"}).json()
    assert (len(a.received), len(b.received)) == (seen_a, seen_b)
    assert data["model"] == "m" and data["strategy"] == "weighted" and data["chain"] == ["m", "big"]
    ranked = [(c["deployment"], c["role"]) for c in data["candidates"]]
    assert ranked == [("m#1:b/model-b", "primary"), ("big#0:b/big", "fallback 1: 'big'")]
    first = data["candidates"][0]
    assert first["why"].startswith("chosen: weight 1")
    assert first["health"]["score"] == 100 and first["breaker"]["state"] == "closed"
    assert first["cost"] == {"input_per_mtok": 3.0, "output_per_mtok": 4.0}
    (skipped,) = data["skipped"]
    assert skipped["deployment"] == "m#0:a/model-a" and skipped["skipped"].startswith("circuit breaker open")
    assert skipped["breaker"]["state"] == "open" and skipped["health"]["errors"] == {"server": 5}
    assert data["retry"]["retries"] == 2 and data["breaker"]["failure_threshold"] == 5


def test_preview_of_split_and_router_models(gw: GatewayThread) -> None:
    split = httpx.post(
        gw.url + "/v1/route/preview", headers={**AUTH, "x-user": "alice"}, json={"model": "ab"}
    ).json()
    again = httpx.post(
        gw.url + "/v1/route/preview", headers={**AUTH, "x-user": "alice"}, json={"model": "ab"}
    ).json()
    assert split["kind"] == "split" and split["split_arm"] == again["split_arm"] in ("m", "big")
    assert split["candidates"][0]["role"] == f"split arm '{split['split_arm']}'"
    router = httpx.post(gw.url + "/v1/route/preview", headers=AUTH, json={"model": "router:quality"}).json()
    assert router["kind"] == "router" and router["strategy"] == "quality"
    assert router["candidates"][0]["deployment"] == "big#0:b/big"
    assert router["candidates"][0]["why"] == "chosen: quality 90"


def test_health_providers_groups_by_provider(gw: GatewayThread) -> None:
    data = httpx.get(gw.url + "/health/providers", headers=AUTH).json()
    assert data["breakers"] == "in-process"
    assert set(data["providers"]) == {"a", "b"}
    b = data["providers"]["b"]
    assert b["locality"] == "hosted" and b["active_probes"] is False and b["score"] == 100
    assert {d["deployment"] for d in b["deployments"]} == {"m#1:b/model-b", "big#0:b/big"}


def test_strategy_follows_a_config_reload(
    gw: GatewayThread, fakes: tuple[FakeUpstream, FakeUpstream]
) -> None:
    text = gw.config_path.read_text()
    gw.config_path.write_text(
        text.replace("    fallbacks: [big]\n", "    fallbacks: [big]\n    strategy: quality\n")
    )
    assert gw.app.reloader is not None and gw.app.reloader.reload("test")
    data = httpx.post(gw.url + "/v1/route/preview", headers=AUTH, json={"model": "m"}).json()
    assert data["strategy"] == "quality"


def test_cli_route_preview_and_status(gw: GatewayThread, tmp_path: Path) -> None:
    runner = CliRunner()
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"messages": [{"role": "user", "content": "hello " * 50}]}))
    args = ["--url", gw.url, "--key", MASTER_KEY]
    result = runner.invoke(
        build_app(), ["route", "preview", "--model", "m", "--file", str(req), *args, "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [c["rank"] for c in data["candidates"]] == [1, 2, 3]
    table = runner.invoke(build_app(), ["route", "preview", "-m", "m", *args], env={"COLUMNS": "250"})
    assert table.exit_code == 0 and "m#0:a/model-a" in table.output and "primary" in table.output
    status = runner.invoke(build_app(), ["route", "status", *args], env={"COLUMNS": "250"})
    assert status.exit_code == 0, status.output
    assert "m#1:b/model-b" in status.output and "closed" in status.output


def test_cli_preview_plans_from_the_config_without_a_gateway(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(two_deployments("http://127.0.0.1:9", "http://127.0.0.1:9", model_extra=EXTRA))
    runner = CliRunner()
    dead = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(
        build_app(),
        ["route", "preview", "-m", "router:cost", "--url", dead, "--config", str(config), "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{") :])
    assert data["strategy"] == "lowest-cost"
    assert data["candidates"][0]["deployment"] == "big#0:b/big"  # free, quality 90
    down = runner.invoke(build_app(), ["route", "status", "--url", dead])
    assert down.exit_code == 3
