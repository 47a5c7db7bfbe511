"""The gateway as a real process: SIGHUP / file-change reload (good and bad files), SIGTERM drain,
several workers."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_KEY, openai_config
from tests.support.process import GatewayProcess

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


def models(url: str) -> set[str]:
    return {m["id"] for m in httpx.get(url + "/v1/models", headers=AUTH, timeout=5).json()["data"]}


def wait_for(predicate: object, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def write_config(path: Path, upstream: str, *, poll: float, alias: str = "gpt-4o-mini") -> None:
    text = openai_config(upstream).replace("reload_poll_seconds: 0.2", f"reload_poll_seconds: {poll}")
    path.write_text(text.replace("gpt-4o-mini: gpt-test", f"{alias}: gpt-test"))


def test_sighup_reload_good_then_bad(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, fake_openai.url, poll=0)  # polling off: only SIGHUP reloads
    with GatewayProcess(cfg) as gw:
        assert models(gw.url) == {"gpt-test", "gpt-4o-mini"}
        write_config(cfg, fake_openai.url, poll=0, alias="claude-sonnet")
        time.sleep(0.3)
        assert models(gw.url) == {"gpt-test", "gpt-4o-mini"}, "reloaded without a signal"
        gw.signal(signal.SIGHUP)
        assert wait_for(lambda: models(gw.url) == {"gpt-test", "claude-sonnet"})
        cfg.write_text(cfg.read_text() + "\nbogus_section: {x: 1}\nmodels_typo: 3\n")
        gw.signal(signal.SIGHUP)
        assert wait_for(lambda: "rejected" in gw.log())
        assert models(gw.url) == {"gpt-test", "claude-sonnet"}, (
            "a bad file must not replace the running config"
        )
        rejected = [line for line in gw.log().splitlines() if "rejected" in line]
        assert len(rejected) == 1 and "bogus_section: unknown key" in rejected[0]
        resp = httpx.post(
            gw.url + "/v1/chat/completions",
            headers=AUTH,
            timeout=10,
            json={"model": "claude-sonnet", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert resp.status_code == 200


def test_file_change_reload(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, fake_openai.url, poll=0.2)
    with GatewayProcess(cfg) as gw:
        write_config(cfg, fake_openai.url, poll=0.2, alias="renamed")
        assert wait_for(lambda: models(gw.url) == {"gpt-test", "renamed"})


def test_sigterm_drains_inflight_stream(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, fake_openai.url, poll=0)
    fake_openai.knobs = Knobs(tokens=20, token_rate=20)  # ~1 s stream
    gw = GatewayProcess(cfg).start()
    result: dict[str, object] = {}

    def stream() -> None:
        with httpx.stream(
            "POST",
            gw.url + "/v1/chat/completions",
            headers=AUTH,
            timeout=20,
            json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        ) as resp:
            result["status"] = resp.status_code
            result["body"] = resp.read().decode()

    t = threading.Thread(target=stream)
    t.start()
    assert wait_for(lambda: fake_openai.active_streams == 1)
    gw.signal(signal.SIGTERM)
    t.join(15)
    assert result["status"] == 200
    assert str(result["body"]).rstrip().endswith("data: [DONE]")
    # uvicorn re-raises SIGTERM after its graceful shutdown: dying of the signal is the clean exit
    assert gw.proc is not None and gw.proc.wait(15) in (0, -signal.SIGTERM)


def test_two_workers_serve_and_reload(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, fake_openai.url, poll=0)
    with GatewayProcess(cfg, workers=2) as gw:
        body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(20):
            # fresh connections, so both workers get some
            assert (
                httpx.post(gw.url + "/v1/chat/completions", headers=AUTH, json=body, timeout=10).status_code
                == 200
            )
        write_config(cfg, fake_openai.url, poll=0, alias="after-hup")
        gw.signal(signal.SIGHUP)
        assert wait_for(lambda: all(models(gw.url) == {"gpt-test", "after-hup"} for _ in range(10)))
    assert gw.proc is not None and gw.proc.returncode in (0, -signal.SIGTERM)
