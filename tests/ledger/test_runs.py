"""The run ledger: a reproducible folder per recorded request, and ``run replay`` against the gateway."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adaptive_gateway.cli.main import build_app
from adaptive_gateway.config import gateway_home
from adaptive_gateway.ledger.runs import RunNotFound, RunStore
from tests.support.gateway import MASTER_KEY
from tests.trust.pipeline_support import EMAIL, trust_env


def test_store_round_trip_and_safe_ids(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    store.write("rc_1", {"request": {"a": 1}, "run": {"model": "m"}})
    assert store.load("rc_1") == {"request": {"a": 1}, "run": {"model": "m"}}
    assert store.list() == [{"id": "rc_1", "model": "m"}]
    assert (store.path("rc_1") / "request.json").stat().st_mode & 0o777 == 0o600
    for bad in ("../etc", "", ".hidden", "a/b"):
        with pytest.raises(RunNotFound):
            store.load(bad)
    with pytest.raises(ValueError):
        store.write("rc_2", {"secrets": {}})


def _run(rid: str) -> dict[str, Any]:
    store = RunStore(gateway_home() / "runs")
    deadline = time.monotonic() + 5
    while True:
        try:
            run = store.load(rid)
            if {"request", "response", "receipt", "run"} <= set(run):
                return run
        except RunNotFound:
            pass
        assert time.monotonic() < deadline, f"run {rid} was not written"
        time.sleep(0.02)


def test_recorded_runs_and_replay_on_another_model(tmp_path: Path) -> None:
    with trust_env(tmp_path, "  record_runs: true\n  actions: {confidential: redact}") as env:
        env.cloud.knobs.echo = True
        env.box.knobs.text = "the local model answers"
        raw = env.client.chat.completions.with_raw_response.create(
            model="smart",
            messages=[{"role": "user", "content": f"mail {EMAIL} today"}],
            extra_headers={"x-context-sources": "file:notes.md=internal"},
        )
        rid = raw.headers["x-adaptive-receipt"]
        run = _run(rid)
        # the request as the client sent it (before redaction), the answer as the client saw it
        assert run["request"]["body"]["messages"] == [{"role": "user", "content": f"mail {EMAIL} today"}]
        assert run["request"]["headers"] == {"x-context-sources": "file:notes.md=internal"}
        assert run["response"]["choices"][0]["message"]["content"] == f"mail {EMAIL} today"
        assert "[[EMAIL_1]]" in json.dumps(env.cloud.received[-1].json)
        meta = run["run"]
        assert (
            meta["config_digest"] == run["receipt"]["config_digest"] == env.gateway.app.gateway.config.digest
        )
        assert meta["policy_version"] == run["receipt"]["policy_version"]
        assert meta["route_decision"]["chosen"]["reason"] == "primary"
        assert meta["trust_level"] == "confidential" and meta["deployment"].startswith("smart#0")

        env.chat("smart", "and once more")
        deadline = time.monotonic() + 5
        while len(RunStore(gateway_home() / "runs").list()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)

        result = CliRunner().invoke(
            build_app(),
            [
                "run",
                "replay",
                rid,
                "--model",
                "on-box",
                "--url",
                env.gateway.url,
                "--key",
                MASTER_KEY,
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        out = json.loads(result.output)
        assert out["recorded"] == {"model": "smart", "answer": f"mail {EMAIL} today"}
        assert out["replay"]["model"] == "on-box" and out["replay"]["status"] == 200
        assert out["replay"]["answer"] == "the local model answers"
        assert out["replay"]["receipt"].startswith("rc_")
        listed = CliRunner().invoke(build_app(), ["run", "list"])
        assert rid in listed.output


def test_streamed_run_captures_the_answer(tmp_path: Path) -> None:
    with trust_env(tmp_path, "  keys: {master: {record_runs: true}}") as env:
        env.cloud.knobs.text = "streamed words come back"
        raw = env.client.chat.completions.with_raw_response.create(
            model="cloud-only", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        rid = raw.headers["x-adaptive-receipt"]
        assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        run = _run(rid)
        assert run["response"]["choices"][0]["message"]["content"] == "streamed words come back"
        assert run["response"]["choices"][0]["finish_reason"] == "stop"
        assert run["receipt"]["stream"] is True


def test_nothing_recorded_by_default(tmp_path: Path) -> None:
    with trust_env(tmp_path) as env:
        env.chat("smart", "hi")
        time.sleep(0.3)
        assert RunStore(gateway_home() / "runs").list() == []
