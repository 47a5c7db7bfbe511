"""Observability through the gateway's HTTP surface, with the official SDK and real fake upstreams:
/metrics (auth, counts, 429 reasons), traces (GenAI spans, traceparent in and out), the request log line,
/api/stats, /api/traces, /api/topology, the public /status page, and the dashboard's setup APIs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_KEY, GatewayThread, openai_config

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE = "0af7651916cd43dd8448eb211c80319c"


def chat(url: str, key: str = MASTER_KEY, **kw: object) -> httpx.Response:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "my secret prompt"}], **kw}
    return httpx.post(url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        named = line.startswith(name + "{") or line.startswith(name + " ")
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def traced(fake_openai: FakeUpstream, tmp_path: Path) -> Iterator[GatewayThread]:
    extra = """observability: {tracing: {enabled: true, exporter: memory},
  logs: {record_content: true, record_max_level: public}}"""
    text = openai_config(fake_openai.url, extra=extra).replace(
        "request_log: false", f'request_log: true, request_log_file: "{tmp_path / "requests.log"}"'
    )
    with GatewayThread(text, tmp_path) as gw:
        yield gw


def test_metrics_need_an_observer_key_and_count_requests(gateway: GatewayThread) -> None:
    assert httpx.get(gateway.url + "/metrics").status_code == 401
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER_KEY, max_retries=0)
    for _ in range(3):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    list(
        client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    assert chat(gateway.url, model="no-such-model").status_code == 404
    # a request is counted when it finishes, which for a stream can be just after the client read its end
    deadline = time.monotonic() + 5
    while True:
        text = httpx.get(gateway.url + "/metrics", headers=AUTH).text
        if metric(text, "adaptive_gateway_requests_total", model="gpt-test", status="200") == 4:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.02)
    assert metric(text, "adaptive_gateway_requests_total", model="unknown", status="404") == 1
    assert metric(text, "adaptive_gateway_tokens_total", model="gpt-test", direction="output") > 0
    assert metric(text, "adaptive_gateway_cost_usd_total", model="gpt-test") > 0
    assert metric(text, "adaptive_gateway_time_to_first_token_seconds_count", model="gpt-test") == 1
    assert metric(text, "adaptive_gateway_client_requests_total", client="openai-python") == 4
    assert metric(text, "adaptive_gateway_key_requests_total", key="master") == 5
    assert (
        metric(text, "adaptive_gateway_circuit_breaker_state", deployment="gpt-test#0:fake/upstream-model")
        == 0
    )
    assert "sk-upstream-secret" not in text and MASTER_KEY not in text


def test_rate_limit_rejections_and_upstream_errors(gateway: GatewayThread, fake_openai: FakeUpstream) -> None:
    created = httpx.post(gateway.url + "/api/keys", headers=AUTH, json={"name": "slow", "rpm": 1}).json()
    assert chat(gateway.url, created["key"]).status_code == 200
    assert chat(gateway.url, created["key"]).status_code == 429
    fake_openai.knobs = Knobs(status=500)
    assert chat(gateway.url).status_code == 500
    text = httpx.get(gateway.url + "/metrics", headers=AUTH).text
    assert metric(text, "adaptive_gateway_rejections_total", reason="rate_limit_exceeded") == 1
    assert metric(text, "adaptive_gateway_upstream_errors_total", status="500") >= 1
    assert metric(text, "adaptive_gateway_retries_total", model="gpt-test") >= 1
    viewer = httpx.post(gateway.url + "/api/keys", headers=AUTH, json={"name": "v", "role": "viewer"}).json()[
        "key"
    ]
    plain = httpx.post(gateway.url + "/api/keys", headers=AUTH, json={"name": "p"}).json()["key"]
    assert (
        httpx.get(gateway.url + "/metrics", headers={"Authorization": f"Bearer {viewer}"}).status_code == 200
    )
    assert (
        httpx.get(gateway.url + "/api/stats", headers={"Authorization": f"Bearer {plain}"}).status_code == 403
    )


def test_spans_follow_genai_conventions_and_traceparent(
    traced: GatewayThread, fake_openai: FakeUpstream
) -> None:
    resp = httpx.post(
        traced.url + "/v1/chat/completions",
        json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]},
        headers={**AUTH, "traceparent": PARENT},
    )
    assert resp.headers["x-adaptive-trace-id"] == TRACE
    upstream = fake_openai.received[-1].headers["traceparent"]
    assert upstream.split("-")[1] == TRACE and upstream != PARENT
    rt = traced.app.extras["observability"]
    spans = {s.kind.name: s for s in rt.tracing.exporter.get_finished_spans()}  # type: ignore[attr-defined]
    server, client = spans["SERVER"], spans["CLIENT"]
    assert server.name == "chat gpt-test" and client.name == "chat upstream-model"
    assert format(server.parent.span_id, "016x") == "b7ad6b7169203331"
    assert client.parent.span_id == server.context.span_id
    assert upstream.split("-")[2] == format(client.context.span_id, "016x")
    a = server.attributes
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "gpt-test"
    assert a["gen_ai.response.model"] == "upstream-model" and a["gen_ai.usage.output_tokens"] > 0
    assert list(a["gen_ai.response.finish_reasons"]) == ["stop"]
    assert a["adaptive_gateway.trust_level"] and a["adaptive_gateway.cost_usd"] > 0
    assert (
        client.attributes["gen_ai.system"] == "openai" and client.attributes["server.address"] == "127.0.0.1"
    )


def test_traceparent_is_forwarded_when_tracing_is_off(
    gateway: GatewayThread, fake_openai: FakeUpstream
) -> None:
    resp = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]},
        headers={**AUTH, "traceparent": PARENT, "tracestate": "vendor=1"},
    )
    assert resp.headers["x-adaptive-trace-id"] == TRACE
    assert fake_openai.received[-1].headers["traceparent"] == PARENT
    assert fake_openai.received[-1].headers["tracestate"] == "vendor=1"


def test_request_log_line(traced: GatewayThread, tmp_path: Path) -> None:
    assert chat(traced.url).status_code == 200
    log = tmp_path / "requests.log"
    deadline = time.monotonic() + 5
    while not log.exists() or not log.read_text().strip():
        assert time.monotonic() < deadline, "no log line"
        time.sleep(0.05)
    line = json.loads(log.read_text().splitlines()[-1])
    fields = ("request_id", "key", "tenant", "model", "deployment", "status", "latency_ms", "input_tokens",
              "output_tokens", "cost_usd", "trace_id", "client")  # fmt: skip
    for field in fields:
        assert field in line
    assert line["model"] == "gpt-test" and line["status"] == 200 and line["key_id"] == "master"
    assert MASTER_KEY not in log.read_text()
    # content recording is on, and this request's trust level (public) allows it
    assert line["content"]["messages"][0]["text"] == "my secret prompt"


def test_no_content_in_the_log_by_default(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    text = openai_config(fake_openai.url).replace(
        "request_log: false", f'request_log: true, request_log_file: "{tmp_path / "r.log"}"'
    )
    with GatewayThread(text, tmp_path) as gw:
        assert chat(gw.url).status_code == 200
    assert "my secret prompt" not in (tmp_path / "r.log").read_text()
    assert '"model":"gpt-test"' in (tmp_path / "r.log").read_text()


def test_stats_traces_and_topology(gateway: GatewayThread) -> None:
    for _ in range(2):
        assert chat(gateway.url).status_code == 200
    stats = httpx.get(gateway.url + "/api/stats?window=60&series=model&minutes=5", headers=AUTH).json()
    assert stats["summary"]["requests"] == 2 and stats["by_model"]["gpt-test"]["requests"] == 2
    assert stats["summary"]["latency_ms"]["p50"] is not None
    assert stats["series"]["minutes"][-1]["groups"]["gpt-test"]["requests"] == 2
    traces = httpx.get(gateway.url + "/api/traces?status=ok&model=gpt-test", headers=AUTH).json()["data"]
    assert len(traces) == 2 and traces[0]["deployment"] == "gpt-test#0:fake/upstream-model"
    assert httpx.get(gateway.url + "/api/traces?status=error", headers=AUTH).json()["data"] == []
    topo = httpx.get(gateway.url + "/api/topology", headers=AUTH).json()
    assert [p["name"] for p in topo["providers"]] == ["fake"] and topo["providers"][0]["health"] == "ok"
    assert topo["models"][0]["aliases"] == ["gpt-4o-mini"]
    assert topo["clients"][0]["client"] == "httpx" and topo["clients"][0]["requests_60s"] == 2
    edge = next(e for e in topo["edges"] if e.get("deployment"))
    assert edge["from"] == "provider:fake" and edge["to"] == "model:gpt-test" and edge["requests_60s"] == 2


def test_status_page_is_public_and_holds_no_secrets(
    gateway: GatewayThread, fake_openai: FakeUpstream
) -> None:
    data = httpx.get(gateway.url + "/status?format=json").json()
    assert data["status"] == "operational"
    assert data["providers"] == [
        {"name": "fake", "kind": "openai-compatible", "locality": "hosted", "status": "operational"}
    ]
    html = httpx.get(gateway.url + "/status").text
    for secret in ("sk-upstream-secret", fake_openai.url, str(fake_openai.port)):
        assert secret not in html and secret not in json.dumps(data)
    fake_openai.knobs = Knobs(status=503)
    for _ in range(6):
        chat(gateway.url)
    assert httpx.get(gateway.url + "/status?format=json").json()["models"][0]["status"] == "down"


def test_dashboard_assets_are_public_and_strict(gateway: GatewayThread) -> None:
    page = httpx.get(gateway.url + "/ui/")
    assert page.status_code == 200 and "Adaptive LLM Gateway" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(gateway.url + "/ui/js/app.js").headers["content-type"].startswith("text/javascript")
    assert httpx.get(gateway.url + "/ui/../pyproject.toml").status_code == 404
    me = httpx.get(gateway.url + "/api/dashboard", headers=AUTH).json()
    assert me["admin"] and me["capabilities"]["admin_api"] and me["capabilities"]["metrics"]


def test_integrations_preview_apply_undo(
    gateway: GatewayThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    viewer = httpx.post(gateway.url + "/api/keys", headers=AUTH, json={"name": "v", "role": "admin"}).json()[
        "key"
    ]
    body = {"target": "codex"}
    denied = httpx.post(
        gateway.url + "/api/integrations/preview", json=body, headers={"Authorization": f"Bearer {viewer}"}
    )
    assert denied.status_code == 403
    preview = httpx.post(gateway.url + "/api/integrations/preview", json=body, headers=AUTH).json()
    assert preview["diff"] and not preview["unchanged"] and not list(home.rglob("config.toml"))
    stale = httpx.post(
        gateway.url + "/api/integrations/apply", json={**body, "digest": "0" * 32}, headers=AUTH
    )
    assert stale.status_code == 409
    applied = httpx.post(
        gateway.url + "/api/integrations/apply", json={**body, "digest": preview["digest"]}, headers=AUTH
    )
    assert applied.json()["status"] == "written"
    written = list(home.rglob("config.toml"))
    assert written and "127.0.0.1" in written[0].read_text()
    listed = httpx.get(gateway.url + "/api/integrations", headers=AUTH, timeout=15).json()
    assert [m["target"] for m in listed["integrated"]] == ["codex"]
    consent = httpx.get(gateway.url + "/api/consent", headers=AUTH).json()
    assert consent["verified"] and "client:codex" in consent["granted"]
    undone = httpx.post(gateway.url + "/api/integrations/undo", json=body, headers=AUTH)
    assert undone.json()["status"] == "restored" and not list(home.rglob("config.toml"))


def test_memory_and_settings_views(gateway: GatewayThread) -> None:
    memory = httpx.get(gateway.url + "/api/memory", headers=AUTH).json()
    assert memory["available"] is False
    settings = httpx.get(gateway.url + "/api/settings", headers=AUTH).json()
    assert settings["providers"]["fake"] == {
        "kind": "openai-compatible",
        "locality": "hosted",
        "has_key": True,
    }
    assert "sk-upstream-secret" not in json.dumps(settings)
