"""Active health probes against real fake upstreams: on for local providers by default, off for hosted
ones; a failing probe caps the score and moves the deployments last, without touching the breaker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from adaptive_gateway.config import Provider
from adaptive_gateway.fakes import FakeUpstream
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.providers.base import UpstreamRequest, base_headers
from adaptive_gateway.routing.breaker import CLOSED
from adaptive_gateway.routing.probes import Prober, probed
from tests.routing.support import FakeClock, compiled
from tests.support.gateway import MASTER_HASH, MASTER_KEY, GatewayThread, free_port


def config(live: str, dead: str, path: str = "") -> str:
    probe = f", probe: {{path: {path}}}" if path else ""
    return f"""
providers:
  live: {{kind: openai-compatible, base_url: "{live}/v1", locality: local{probe}}}
  dead: {{kind: openai-compatible, base_url: "{dead}/v1", locality: local}}
  paid: {{kind: openai-compatible, base_url: "{live}/v1"}}
  forced: {{kind: openai-compatible, base_url: "{live}/v1", probe: {{enabled: true}}}}
models:
  m:
    deployments:
      - {{provider: dead, model: d, weight: 10}}
      - {{provider: live, model: l}}
      - {{provider: paid, model: p}}
  n: {{deployments: [{{provider: forced, model: f}}]}}
"""


async def test_probes_record_health_and_demote_failing_deployments(clock: FakeClock) -> None:
    async with FakeUpstream("openai") as fake:
        cfg = compiled(config(fake.url, f"http://127.0.0.1:{free_port()}"))
        assert set(probed(cfg)) == {"live", "dead", "forced"}  # hosted "paid" is not probed by default
        gw = Gateway(cfg)
        router = gw.executor.router
        router.clock = clock

        async def fetch(provider: Provider, url: str) -> int:
            req = UpstreamRequest("GET", url, base_headers(provider, None), None)
            return (await gw.upstream.send(provider, req)).status

        prober = Prober(router.board, fetch, clock)
        try:
            assert await prober.run_once(cfg) == 3
            assert await prober.run_once(cfg) == 0  # not due before the interval
            clock.advance(30)
            assert await prober.run_once(cfg) == 3
            dead, live, _ = cfg.models["m"].deployments
            h_dead, h_live = router.state(dead).health, router.state(live).health
            assert h_live.probe_ok is True and h_live.probe_detail == "HTTP 200"
            assert h_dead.probe_ok is False and h_dead.score(clock.now, router.state(dead).breaker) == 20
            assert router.state(dead).breaker.state == CLOSED
            plan = router.plan(cfg, cfg.models["m"])
            assert [d.provider.name for d in plan.candidates][-1] == "dead"  # weight 10, but tried last
        finally:
            await gw.close()


def test_offline_mode_never_probes_hosted_providers() -> None:
    online = compiled(config("http://127.0.0.1:1", "http://127.0.0.1:2"))
    offline = compiled("mode: offline\n" + config("http://127.0.0.1:1", "http://127.0.0.1:2"))
    assert "forced" in probed(online)  # a hosted provider with probes explicitly on
    assert set(probed(offline)) == {"live", "dead"}  # only local ones while offline


async def test_probe_path_override(clock: FakeClock) -> None:
    async with FakeUpstream("openai") as fake:
        cfg = compiled(config(fake.url, fake.url, path="/nope"))
        gw = Gateway(cfg)

        async def fetch(provider: Provider, url: str) -> int:
            req = UpstreamRequest("GET", url, base_headers(provider, None), None)
            return (await gw.upstream.send(provider, req)).status

        try:
            prober = Prober(gw.executor.router.board, fetch, clock)
            live, _ = probed(cfg)["live"]
            assert await prober.probe(live, probed(cfg)["live"][1]) is False
            dep = cfg.models["m"].deployments[1]
            assert gw.executor.router.state(dep).health.probe_detail == "HTTP 404"
        finally:
            await gw.close()


async def test_probes_run_in_the_gateway_and_show_in_health(tmp_path: Path) -> None:
    async with FakeUpstream("openai") as fake:
        text = f"""
auth: {{master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false, reload_poll_seconds: 0}}
providers:
  local: {{kind: openai-compatible, base_url: "{fake.url}/v1", locality: local, probe: {{interval: 0.1}}}}
models:
  m: {{deployments: [{{provider: local, model: x}}]}}
"""
        with GatewayThread(text, tmp_path) as gw:
            async with httpx.AsyncClient() as client:
                for _ in range(200):
                    data = (
                        await client.get(
                            gw.url + "/health/providers", headers={"Authorization": f"Bearer {MASTER_KEY}"}
                        )
                    ).json()
                    probe = data["providers"]["local"]["deployments"][0]["health"]["probe"]
                    if probe is not None:
                        break
                    await asyncio.sleep(0.02)
        assert probe is not None and probe["ok"] is True
        assert data["providers"]["local"]["active_probes"] is True
