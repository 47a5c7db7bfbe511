"""Offline mode, proven on the gateway *process*: it opens no connection to a non-local address.

``adaptive-llm-gateway start`` runs as a real subprocess with a hosted provider at 10.255.255.1 (never
reachable from a test, and it must not even be tried) and a local fake. While requests for both run,
a sampler reads the process's sockets (``/proc/<pid>/fd`` joined with ``/proc/<pid>/net/tcp{,6}``)
every millisecond, and, where ``strace`` may attach, every ``connect()`` the process makes is
recorded as well. Positive controls show that both would see such a connection.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_HASH, MASTER_KEY
from tests.support.process import GatewayProcess

HOSTED = "10.255.255.1"
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
_CONNECT = re.compile(
    r"connect\(\d+, \{sa_family=AF_INET6?, sin6?_port=htons\((\d+)\), "
    r'(?:sin_addr=inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")'
)


def _config(box_url: str) -> str:
    # the local provider's probes are off so its first connection is opened while the tracer watches
    return f"""
mode: offline
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false}}
providers:
  cloud: {{kind: openai-compatible, base_url: "http://{HOSTED}:8080/v1", api_key: "sk-x",
          timeouts: {{connect: 3, read: 3, total: 5}}}}
  box: {{kind: openai-compatible, base_url: "{box_url}/v1", locality: local, probe: {{enabled: false}}}}
models:
  remote: {{deployments: [{{provider: cloud, model: big}}]}}
  mixed:
    strategy: quality
    deployments: [{{provider: cloud, model: big, quality: 99}}, {{provider: box, model: small, quality: 1}}]
  local: {{deployments: [{{provider: box, model: small}}]}}
"""


def _remote(hex_addr: str) -> tuple[str, int]:
    host, port = hex_addr.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip = ipaddress.ip_address(raw[::-1])
    else:  # IPv6: four little-endian 32-bit words
        ip = ipaddress.ip_address(b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
    return str(getattr(ip, "ipv4_mapped", None) or ip), int(port, 16)


def sockets_of(pid: int) -> set[tuple[str, int]]:
    """Remote (address, port) of every TCP socket ``pid`` holds that is connected or connecting."""
    try:
        inodes = {
            link[8:-1]
            for fd in os.listdir(f"/proc/{pid}/fd")
            if (link := _readlink(f"/proc/{pid}/fd/{fd}")).startswith("socket:[")
        }
    except OSError:
        return set()
    out: set[tuple[str, int]] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[9] in inodes and fields[3] != "0A":  # 0A: LISTEN
                out.add(_remote(fields[2]))
    return out


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


class Sampler:
    """Collects the remote addresses of the sockets of ``pid`` until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.seen: set[tuple[str, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen |= sockets_of(self.pid)
            time.sleep(0.001)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@contextmanager
def traced_connects(pid: int, log: Path) -> Iterator[list[tuple[str, int]] | None]:
    """Every connect() of ``pid`` (all threads) while inside, when strace may attach; else None."""
    strace = shutil.which("strace")
    proc = None
    if strace:
        proc = subprocess.Popen(
            [strace, "-f", "-qq", "-e", "trace=connect", "-p", str(pid), "-o", str(log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # attached (or failed)
        if proc.poll() is not None:
            proc = None
    found: list[tuple[str, int]] = []
    yield found if proc is not None else None
    if proc is not None:
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        for m in _CONNECT.finditer(log.read_text(errors="replace")):
            found.append((m.group(2) or m.group(3), int(m.group(1))))


def _local(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback


def test_sampler_and_tracer_see_a_connection_to_the_hosted_address(tmp_path: Path) -> None:
    """Positive control: a process that does try 10.255.255.1 is caught."""
    script = (
        "import socket, time\n"
        "s = socket.socket(); s.setblocking(False); time.sleep(0.8)\n"
        f"s.connect_ex(('{HOSTED}', 8080)); time.sleep(0.8)"
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        with Sampler(child.pid) as sampler, traced_connects(child.pid, tmp_path / "c.strace") as traced:
            child.wait(10)
    finally:
        child.kill()
    assert (HOSTED, 8080) in sampler.seen
    if traced is not None:
        assert (HOSTED, 8080) in traced


def test_offline_gateway_process_never_connects_to_a_non_local_address(tmp_path: Path) -> None:
    box = FakeUpstream("openai").start_in_thread()
    box.knobs.text = "answered locally"
    config = tmp_path / "config.yaml"
    config.write_text(_config(box.url))
    try:
        with GatewayProcess(config) as gw:
            assert gw.proc is not None
            pid = gw.proc.pid
            with Sampler(pid) as sampler, traced_connects(pid, tmp_path / "gw.strace") as traced:
                body = {"messages": [{"role": "user", "content": "hello"}]}
                for model in ("local", "mixed"):
                    resp = httpx.post(
                        gw.url + "/v1/chat/completions", json={**body, "model": model}, headers=AUTH
                    )
                    assert resp.status_code == 200, resp.text
                    assert resp.json()["choices"][0]["message"]["content"] == "answered locally"
                    assert resp.headers["x-adaptive-provider"] == "box"
                    stream = httpx.post(
                        gw.url + "/v1/chat/completions",
                        json={**body, "model": model, "stream": True},
                        headers=AUTH,
                    )
                    assert stream.status_code == 200 and "answered" in stream.text
                refused = httpx.post(
                    gw.url + "/v1/chat/completions", json={**body, "model": "remote"}, headers=AUTH
                )
                assert refused.status_code == 403
                assert "offline mode" in refused.json()["error"]["message"]
                assert "local models: local, mixed" in refused.json()["error"]["message"]
                emb = httpx.post(
                    gw.url + "/v1/embeddings", json={"model": "remote", "input": "x"}, headers=AUTH
                )
                assert emb.status_code == 403
                time.sleep(0.2)
            box_port = int(box.url.rsplit(":", 1)[1])
            assert ("127.0.0.1", box_port) in sampler.seen  # the sampler does see the process's connections
            assert all(_local(addr) for addr, _ in sampler.seen), sampler.seen
            if traced is not None:
                assert ("127.0.0.1", box_port) in traced
                assert all(_local(addr) for addr, _ in traced), traced
            else:
                pytest.skip("strace cannot attach here; the /proc sampler alone checked the process")
    finally:
        box.stop_thread()
