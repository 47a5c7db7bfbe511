"""The doctor's check groups one by one, against real servers (fake upstreams, PostgreSQL and Redis on
127.0.0.1 when there) and real files."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from adaptive_gateway.doctor import Finding, run_checks
from adaptive_gateway.doctor.embedded import check_embedded
from adaptive_gateway.doctor.files import check_files
from adaptive_gateway.doctor.model import DoctorContext
from adaptive_gateway.doctor.providers import check_providers
from adaptive_gateway.doctor.store_checks import check_redis, check_store
from adaptive_gateway.ledger.consent import ConsentLedger
from tests.doctor.support import context, upstream
from tests.support.gateway import free_port
from tests.support.required import unavailable


def _by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def _hosted(url: str, key: str = '"sk-x"') -> str:
    return f"""
providers:
  cloud: {{kind: openai-compatible, base_url: "{url}/v1", api_key: {key}}}
models:
  gpt: {{deployments: [{{provider: cloud, model: gpt-x}}]}}
"""


@pytest.mark.parametrize(("skew", "status"), [(0, "ok"), (90, "warn"), (-900, "fail")])
def test_clock_is_compared_with_hosted_providers(tmp_path: Path, skew: float, status: str) -> None:
    with upstream(skew=skew, body=b'{"data": [{"id": "gpt-x"}]}') as url:
        found = _by_check(asyncio.run(check_providers(context(tmp_path, _hosted(url)))))
    assert found["provider:cloud"].status == "ok"
    assert found["clock"].status == status
    if status != "ok":
        assert ("behind" if skew > 0 else "ahead of") in found["clock"].summary
        assert found["clock"].fix and "ntp" in found["clock"].fix


def test_rejected_key_names_its_variable(tmp_path: Path) -> None:
    with upstream(status=401) as url:
        ctx = context(tmp_path, _hosted(url, '"${CLOUD_KEY}"'), env={"CLOUD_KEY": "sk-revoked"})
        found = _by_check(asyncio.run(check_providers(ctx)))
    cloud = found["provider:cloud"]
    assert cloud.status == "fail" and "rejects its key (HTTP 401, key ${CLOUD_KEY})" in cloud.summary
    assert cloud.fix is not None and cloud.fix.startswith("set a valid key in CLOUD_KEY")
    assert "sk-revoked" not in cloud.summary + cloud.fix


def test_wrong_base_url_and_missing_models(tmp_path: Path) -> None:
    with upstream(status=404) as url:
        found = _by_check(asyncio.run(check_providers(context(tmp_path, _hosted(url)))))
    assert found["provider:cloud"].status == "warn" and "HTTP 404" in found["provider:cloud"].summary
    with upstream(body=b'{"data": [{"id": "other"}]}') as url:
        found = _by_check(asyncio.run(check_providers(context(tmp_path, _hosted(url)))))
    assert found["provider:cloud"].status == "warn" and "gpt-x" in found["provider:cloud"].summary


def test_store_schema_and_migration_repair(tmp_path: Path) -> None:
    ctx = context(tmp_path, "version: 1\n")
    assert _by_check(asyncio.run(check_store(ctx)))["store"].summary.startswith("not created yet")
    (ctx.state / "gateway.db").write_bytes(b"")  # an empty database: no schema yet
    store = _by_check(asyncio.run(check_store(ctx)))["store"]
    assert store.status == "warn" and "schema empty" in store.summary and store.repair is not None
    assert store.repair.apply().startswith("migrated the store to")
    assert _by_check(asyncio.run(check_store(ctx)))["store"].status == "ok"


def test_unreachable_store_and_redis(tmp_path: Path) -> None:
    port = free_port()
    config = f"store: {{url: 'postgresql://u@127.0.0.1:{port}/x'}}\nstate: {{redis_url: 'redis://127.0.0.1:{port}/0'}}\n"
    ctx = context(tmp_path, config)
    found = _by_check(asyncio.run(run_checks(ctx, [("store", check_store), ("redis", check_redis)])))
    assert found["store"].status == "fail" and "cannot be reached" in found["store"].summary
    assert (
        found["redis"].status == "fail" and f"127.0.0.1:{port}/0 cannot be reached" in found["redis"].summary
    )
    assert found["redis"].fix and "state.redis_url" in found["redis"].fix


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_real_redis_answers(tmp_path: Path) -> None:
    if not _listening(6379):
        unavailable("Redis on 127.0.0.1:6379")
    ctx = context(tmp_path, "state: {redis_url: 'redis://127.0.0.1:6379/0'}\n")
    redis = _by_check(asyncio.run(check_redis(ctx)))["redis"]
    assert redis.status == "ok" and "PONG" in redis.summary


def test_files_home_permissions_and_ledger(tmp_path: Path) -> None:
    ctx = context(tmp_path, "auth: {master_key_hash: 'sha256:" + "0" * 64 + "'}\n")
    ctx.state.chmod(0o755)
    ledger = ConsentLedger(ctx.state / "consent.jsonl")
    ledger.append("user", "grant", "provider:ollama", "init")
    ledger.append("user", "grant", "client:codex", "integrate")
    found = _by_check(asyncio.run(check_files(ctx)))
    assert found["home"].status == "warn" and found["home"].fix == f"chmod 700 {ctx.state}"
    assert found["ledger"].status == "ok" and "2 entries" in found["ledger"].summary
    assert found["disk"].status in ("ok", "warn")
    assert found["home"].repair is not None
    found["home"].repair.apply()
    assert ctx.state.stat().st_mode & 0o777 == 0o700

    path = ctx.state / "consent.jsonl"
    path.write_text(path.read_text().replace("provider:ollama", "provider:openai"))  # tampered
    ledger_finding = _by_check(asyncio.run(check_files(ctx)))["ledger"]
    assert ledger_finding.status == "fail" and "edited at line 1" in ledger_finding.summary


def test_embedded_model_file_missing(tmp_path: Path) -> None:
    config = f"""
providers:
  mine: {{kind: embedded, model_path: "{tmp_path / "absent.gguf"}"}}
models:
  tiny: {{deployments: [{{provider: mine, model: tiny}}]}}
"""
    found = _by_check(asyncio.run(check_embedded(context(tmp_path, config))))
    mine = found["embedded:mine"]
    from adaptive_gateway.embedded import availability

    if availability().runtime_missing:
        assert mine.status == "fail" and "packages" in mine.summary
    else:
        assert mine.status == "fail" and "does not exist" in mine.summary
        assert mine.fix == "fix providers.mine.model_path (a .gguf file)"


def test_a_crashing_check_does_not_hide_the_others(tmp_path: Path) -> None:
    async def broken(ctx: DoctorContext) -> list[Finding]:
        raise RuntimeError("boom")

    async def fine(ctx: DoctorContext) -> list[Finding]:
        return [Finding("fine", "ok", "all good")]

    found = asyncio.run(run_checks(context(tmp_path, None), [("broken", broken), ("fine", fine)]))
    assert [(f.check, f.status) for f in found] == [("broken", "fail"), ("fine", "ok")]
    assert "crashed: RuntimeError: boom" in found[0].summary


def test_a_client_integrated_with_the_inline_key_still_points_at_the_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from adaptive_gateway.cli.main import build_app
    from adaptive_gateway.doctor.clients import check_clients

    monkeypatch.setenv("ADAPTIVE_GATEWAY_HOME", str(tmp_path / "gw-home"))
    monkeypatch.setenv("ADAPTIVE_GATEWAY_KEY", "agw-live-0123456789abcdef0123456789")
    args = ["integrate", "continue", "--inline-key", "--yes", "--home", str(tmp_path)]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.stderr
    ctx = context(
        tmp_path, "version: 1\n", env={"ADAPTIVE_GATEWAY_KEY": "agw-live-0123456789abcdef0123456789"}
    )
    found = _by_check(asyncio.run(check_clients(ctx)))
    assert found["client:continue"].status == "ok"
    ctx.env = {}  # without the key this shell cannot tell: the file holds another value than a reference
    assert _by_check(asyncio.run(check_clients(ctx)))["client:continue"].status == "fail"
