"""`make run` on a fresh home: initialises, serves on the embedded default, answers /health/ready."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.gateway import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_make_run_smoke(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    env = {**os.environ, "ADAPTIVE_GATEWAY_HOME": str(home), "PORT": str(port)}
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        ["make", "-s", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        ready = None
        while time.monotonic() < deadline and proc.poll() is None:
            key_file = home / "admin_key"
            if key_file.exists():
                try:
                    ready = httpx.get(
                        url + "/health/ready",
                        timeout=2,
                        headers={"Authorization": f"Bearer {key_file.read_text().strip()}"},
                    )
                    break
                except httpx.TransportError:
                    pass
            time.sleep(0.2)
        output = (tmp_path / "run.log").read_text()
        assert ready is not None, output
        assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
        assert oct((home / "admin_key").stat().st_mode & 0o777) == "0o600"
        assert oct((home / "config.yaml").stat().st_mode & 0o777) == "0o600"
        # the banner says where to go, where the key is, and how to call it
        assert f"http://127.0.0.1:{port}" in output
        assert str(home / "admin_key") in output
        assert "curl -s" in output and "/v1/chat/completions" in output
        # the example's model is the built-in one on a machine with no other runtime, and it answers
        key = (home / "admin_key").read_text().strip()
        resp = httpx.post(
            url + "/v1/chat/completions",
            timeout=60,
            headers={"Authorization": f"Bearer {key}"},
            json={
                "model": "local/smollm2-135m",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": "Say hello"}],
            },
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["choices"][0]["message"]["content"]
        assert '"model":"local/smollm2-135m"' in output.replace(" ", "")
        # and the curl line printed by `make run` works as printed
        curl = next(line.strip() for line in output.splitlines() if line.strip().startswith("curl -s"))
        done = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=60)
        assert '"choices"' in done.stdout, done.stdout + done.stderr
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
