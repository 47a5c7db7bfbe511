"""The dashboard in headless Chromium (Debian's, driven by Playwright): log in, see the live topology of
a gateway with two fake providers carrying real traffic, create a key and use it, find the request in
receipts, requests and usage, visit every page; no console errors. Screenshots and the measured first
paint go to ``test-artifacts/``."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_HASH, MASTER_KEY, GatewayThread
from tests.support.required import unavailable

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# first paint as the browser measured it (ms since navigation start); recorded, not asserted
PAINT_JS = "() => Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]))"
PAGES = ("models", "requests", "keys", "usage", "receipts", "policies", "integrations", "doctor", "consent",
         "memory", "settings")  # fmt: skip


def config(openai_url: str, anthropic_url: str) -> str:
    return f"""
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false, reload_poll_seconds: 0}}
providers:
  fake-openai: {{kind: openai-compatible, base_url: "{openai_url}/v1", api_key: sk-upstream-a}}
  fake-anthropic: {{kind: anthropic, base_url: "{anthropic_url}", api_key: sk-upstream-b}}
models:
  gpt-test: {{deployments: [{{provider: fake-openai, model: gpt-up, input_price: 1, output_price: 2}}],
             fallbacks: [claude-test]}}
  claude-test:
    deployments: [{{provider: fake-anthropic, model: claude-up, input_price: 3, output_price: 15}}]
"""


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayThread]:
    if not os.path.exists(CHROMIUM):
        unavailable("chromium", "make install installs it")
    fakes = [FakeUpstream("openai").start_in_thread(), FakeUpstream("anthropic").start_in_thread()]
    try:
        with GatewayThread(config(fakes[0].url, fakes[1].url), tmp_path) as gw:
            yield gw
    finally:
        for fake in fakes:
            fake.stop_thread()


def traffic(gw: GatewayThread, key: str = MASTER_KEY) -> None:
    oai = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    for _ in range(3):
        oai.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
    list(
        oai.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    claude = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)
    claude.messages.create(
        model="claude-test", max_tokens=20, messages=[{"role": "user", "content": "hello"}]
    )


def test_dashboard_end_to_end(gateway: GatewayThread) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    traffic(gateway)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            _walk(page, gateway, errors)
        finally:
            browser.close()
    assert errors == []


def _walk(page: object, gw: GatewayThread, errors: list[str]) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(gw.url + "/ui")
    paint = page.evaluate(PAINT_JS)
    (ARTIFACTS / "ui-first-paint.json").write_text(json.dumps(paint, indent=2))
    page.fill("#login-key", "not-a-key")
    page.click("#login-form button")
    expect(page.locator("#login-error")).to_contain_text("not valid")
    errors.clear()  # the browser logs the refused key's 401 by design; from here on nothing may fail
    page.fill("#login-key", MASTER_KEY)
    page.click("#login-form button")

    # the first screen: clients -> gateway -> providers -> models, with health colours and rates
    svg = page.locator("#topology-svg")
    expect(svg).to_be_visible()
    for name in (
        "fake-openai",
        "fake-anthropic",
        "gpt-test",
        "claude-test",
        "openai-python",
        "anthropic-python",
    ):
        expect(svg).to_contain_text(name)
    expect(page.locator(".node.ok")).not_to_have_count(0)
    expect(page.locator("path.edge.live")).not_to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "topology.png"), full_page=True)

    # keys: create one (shown once), then use it
    page.goto(gw.url + "/ui#/keys")
    page.fill("#k-name", "browser-test")
    page.click("#key-form button[type=submit]")
    secret = page.locator("#k-secret")
    expect(secret).to_be_visible()
    key = secret.inner_text().strip()
    expect(page.locator("#k-list")).to_contain_text("browser-test")
    page.screenshot(path=str(ARTIFACTS / "keys.png"), full_page=True)
    openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "from the new key"}]
    )

    # the request shows up in receipts (why it routed where) and in requests and usage
    page.goto(gw.url + "/ui#/receipts")
    rows = page.locator("#rc-body tr.clickable")
    expect(rows.first).to_be_visible()
    rows.first.click()
    detail = page.locator("#receipt-detail")
    expect(detail).to_contain_text("Why it went where it went")
    expect(detail).to_contain_text("gpt-test")
    page.screenshot(path=str(ARTIFACTS / "receipts.png"), full_page=True)

    page.goto(gw.url + "/ui#/requests")
    expect(page.locator("#rq-body")).to_contain_text("gpt-test")
    page.goto(gw.url + "/ui#/usage")
    expect(page.locator("#us-live svg.chart").first).to_be_visible()
    expect(page.locator("#us-stored")).to_contain_text("per day")
    page.screenshot(path=str(ARTIFACTS / "usage.png"), full_page=True)

    for name in PAGES:
        page.goto(f"{gw.url}/ui#/{name}")
        expect(page.locator("#page h1")).to_be_visible()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(ARTIFACTS / f"page-{name}.png"), full_page=True)
