"""Cost and usage after the response: the cost header equals the usage row and the spend, streams
and client disconnects settle, local models cost 0 but count tokens, nothing is lost on SIGTERM."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.accounts.helpers import ADMIN, HTTP, bearer, chat, config, create_key, eventually, flushed, query
from tests.support.gateway import MASTER_HASH, MASTER_KEY, GatewayThread
from tests.support.process import GatewayProcess


@pytest.fixture
def home_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gw-home' / 'gateway.db'}"


@pytest.fixture
def gw(fake_openai: FakeUpstream, tmp_path: Path) -> Iterator[GatewayThread]:
    with GatewayThread(config(fake_openai.url), tmp_path) as thread:
        yield thread


def test_cost_header_equals_usage_row_rollup_and_spend(gw: GatewayThread, home_db: str) -> None:
    created = create_key(gw.url, budget_usd=10)
    costs = []
    for _ in range(5):
        resp = last = chat(gw.url, created["key"])
        usage = resp.json()["usage"]
        cost = float(resp.headers["x-adaptive-cost-usd"])
        assert cost == pytest.approx((usage["prompt_tokens"] * 1.0 + usage["completion_tokens"] * 2.0) / 1e6)
        costs.append(cost)
    flushed(gw, 5)
    rows = query(home_db, "SELECT cost_nano, input_tokens, output_tokens, status, model, provider FROM usage")
    assert len(rows) == 5 and all(r[3] == 200 and r[4] == "gpt-test" and r[5] == "fake" for r in rows)
    assert sum(r[0] for r in rows) == round(sum(costs) * 1e9)
    # every column of a row (the finisher builds rows positionally: a field out of place shows here)
    usage = last.json()["usage"]
    rid = last.headers["x-request-id"]
    assert rid.replace("_", "").isalnum()  # the gateway's own id: safe in the SQL text
    row = query(home_db, f"SELECT * FROM usage WHERE request_id = '{rid}'")
    cols = [c[1] for c in query(home_db, "PRAGMA table_info(usage)")]
    got = dict(zip(cols, row[0], strict=True))
    assert got.pop("id") > 0 and got.pop("created_at") and 0 < got.pop("latency_ms") < 60_000
    assert got == {
        "request_id": last.headers["x-request-id"],
        "key_id": created["id"],
        "tenant_id": created.get("tenant"),
        "model": "gpt-test",
        "provider": "fake",
        "deployment": last.headers["x-adaptive-deployment"],
        "route": "openai_chat",
        "status": 200,
        "input_tokens": usage["prompt_tokens"],
        "output_tokens": usage["completion_tokens"],
        "cached_input_tokens": 0,
        "cost_nano": round(costs[-1] * 1e9),
        "estimated": 0,
        "error": None,
    }
    assert query(home_db, "SELECT SUM(cost_nano), SUM(requests) FROM spend WHERE scope='key'") == [
        (round(sum(costs) * 1e9), 5)
    ]
    assert query(home_db, "SELECT requests, cost_nano FROM usage_daily") == [(5, round(sum(costs) * 1e9))]
    by_day = HTTP.get(gw.url + "/api/usage", params={"group_by": "day"}, headers=ADMIN).json()["rows"]
    assert by_day[0]["requests"] == 5 and by_day[0]["cost_usd"] == pytest.approx(sum(costs))
    budget = HTTP.get(gw.url + "/api/budgets", headers=ADMIN).json()[0]
    assert budget["spent_usd"] == pytest.approx(sum(costs)) and budget["reserved_usd"] == 0


def test_streams_settle_their_usage(gw: GatewayThread, home_db: str) -> None:
    key = create_key(gw.url, budget_usd=10, tpm=100_000)["key"]
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    stream = client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = next(c.usage for c in stream if c.usage is not None)
    flushed(gw, 1)
    rows = query(home_db, "SELECT input_tokens, output_tokens, cost_nano, status FROM usage")
    expected = round((usage.prompt_tokens * 1.0 + usage.completion_tokens * 2.0) * 1000)
    assert rows == [(usage.prompt_tokens, usage.completion_tokens, expected, 200)]
    budget = HTTP.get(gw.url + "/api/budgets", headers=ADMIN).json()[0]
    assert budget["spent_usd"] == pytest.approx(expected / 1e9) and budget["reserved_usd"] == 0


def test_client_disconnect_settles_what_is_known(
    gw: GatewayThread, fake_openai: FakeUpstream, home_db: str
) -> None:
    key = create_key(gw.url, budget_usd=10, max_concurrency=1)["key"]
    fake_openai.knobs = Knobs(tokens=40, token_rate=10)
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "tell me more"}], "stream": True}
    url = gw.url + "/v1/chat/completions"
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", url, headers=bearer(key), json=body) as resp,
    ):
        assert resp.status_code == 200
        next(resp.iter_raw())
    fake_openai.knobs = Knobs()
    flushed(gw, 1)

    def settled() -> bool:
        rows = query(home_db, "SELECT status, estimated, input_tokens, cost_nano FROM usage")
        return bool(rows) and rows[0][0] == 499

    assert eventually(settled)
    _, estimated, input_tokens, cost = query(
        home_db, "SELECT status, estimated, input_tokens, cost_nano FROM usage"
    )[0]
    assert estimated and input_tokens > 0 and cost == input_tokens * 1000, "the prompt is charged"
    assert chat(gw.url, key).status_code == 200, "the concurrency slot was released"
    budget = HTTP.get(gw.url + "/api/budgets", headers=ADMIN).json()[0]
    assert budget["reserved_usd"] == 0


def test_local_models_cost_nothing_but_count_tokens(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    text = f"""
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false}}
store: {{flush_interval_seconds: 0.1}}
providers:
  local: {{kind: vllm, base_url: "{fake_openai.url}/v1"}}
models:
  gpt-4o: {{deployments: [{{provider: local, model: gpt-4o}}]}}
"""
    with GatewayThread(text, tmp_path) as gw:
        resp = chat(gw.url, MASTER_KEY, model="gpt-4o")
        assert resp.status_code == 200 and float(resp.headers["x-adaptive-cost-usd"]) == 0
        flushed(gw, 1)
        rows = query(
            f"sqlite:///{tmp_path / 'gw-home' / 'gateway.db'}",
            "SELECT input_tokens, output_tokens, cost_nano, key_id FROM usage",
        )
        assert rows[0][0] > 0 and rows[0][1] > 0 and rows[0][2] == 0 and rows[0][3] is None


def test_usage_rows_are_written_on_sigterm(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config(fake_openai.url, flush=30))  # only the shutdown flush can write them
    home = tmp_path / "gw-home"
    with GatewayProcess(cfg, env={"ADAPTIVE_GATEWAY_HOME": str(home)}) as gw:
        key = create_key(gw.url)["key"]
        costs = [float(chat(gw.url, key).headers["x-adaptive-cost-usd"]) for _ in range(20)]
        costs += [float(chat(gw.url, MASTER_KEY).headers["x-adaptive-cost-usd"]) for _ in range(5)]
        gw.signal(signal.SIGTERM)
        # uvicorn re-raises SIGTERM after its graceful shutdown: dying of the signal is the clean exit
        assert gw.proc is not None and gw.proc.wait(20) in (0, -signal.SIGTERM)
    db = f"sqlite:///{home / 'gateway.db'}"
    assert query(db, "SELECT COUNT(*), SUM(cost_nano) FROM usage") == [(25, round(sum(costs) * 1e9))]
    assert query(db, "SELECT SUM(cost_nano) FROM spend") == [(round(sum(costs[:20]) * 1e9),)]
