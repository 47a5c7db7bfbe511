"""Accounts rows for `make bench`: the same non-streaming request with a virtual key that has a
budget, an RPM and a TPM limit (high enough never to refuse), on the in-process counters (``vkey``)
and on Redis (``vkey-redis``, a second gateway process with ``state.redis_url``). Compare with the
master-key ``gateway`` row: the issue asks for >= 90 % of its throughput. ``vkey-plain`` (a virtual
key without limits) separates what admission costs from what any virtual key costs elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from procs import pin_gateway

REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
LIMITS = {"rpm": 2_000_000_000, "tpm": 2_000_000_000, "budget_usd": 1e9, "budget_period": "month"}


def store_config(out: Path) -> str:
    """Config lines for the bench gateway: its store lives in the bench output folder."""
    return f'store: {{url: "sqlite:///{out}/bench-store.db"}}\n'


def _post_json(url: str, body: dict[str, object], key: str) -> dict[str, object]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        data: dict[str, object] = json.loads(resp.read())
        return data


def _wait_live(url: str, log: Path) -> None:
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "/health/live", timeout=1) as resp:
                if resp.status == 200:
                    time.sleep(0.5)
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"gateway did not start; see {log}")


class AccountsRows:
    """Starts what the ``vkey`` / ``vkey-redis`` rows need; ``targets()`` lists (name, url, pid, key)."""

    def __init__(
        self,
        rows: list[str],
        out: Path,
        gateway_url: str,
        gateway_pid: int,
        master: str,
        config: Path,
        port: int,
        workers: int,
    ) -> None:
        self.targets_: list[tuple[str, str, int, str]] = []
        self.redis_pid: int | None = None
        if "vkey-plain" in rows:  # a virtual key without limits: what authentication alone costs
            key = str(_post_json(gateway_url + "/api/keys", {"name": "bench-plain"}, master)["key"])
            time.sleep(1.0)
            self.targets_.append(("vkey-plain", gateway_url, gateway_pid, key))
        if "vkey" in rows:
            key = str(_post_json(gateway_url + "/api/keys", {"name": "bench", **LIMITS}, master)["key"])
            time.sleep(1.0)  # every worker's key table has it
            self.targets_.append(("vkey", gateway_url, gateway_pid, key))
        if "vkey-redis" in rows:
            cfg = out / "gateway-redis.yaml"
            prefix = f"agw-bench-{os.getpid()}:"
            cfg.write_text(
                config.read_text() + f'state: {{redis_url: "{REDIS_URL}", redis_prefix: "{prefix}"}}\n'
            )
            url = f"http://127.0.0.1:{port}"
            log = out / "gateway-redis.log"
            exe = Path(sys.executable).parent / "adaptive-llm-gateway"
            proc = subprocess.Popen(
                [str(exe), "start", "--config", str(cfg), "--port", str(port), "--workers", str(workers)],
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "ADAPTIVE_GATEWAY_HOME": str(out / "home-redis")},
            )
            self.redis_pid = proc.pid
            _wait_live(url, log)
            pin_gateway(proc.pid)
            key = str(_post_json(url + "/api/keys", {"name": "bench-redis", **LIMITS}, master)["key"])
            time.sleep(1.0)  # every worker's key table has it
            self.targets_.append(("vkey-redis", url, proc.pid, key))

    def targets(self, mode: str) -> list[tuple[str, str, int, str]]:
        return self.targets_ if mode == "json" else []

    def stop(self) -> None:
        if self.redis_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(self.redis_pid), signal.SIGTERM)
