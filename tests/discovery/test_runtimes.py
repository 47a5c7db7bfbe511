"""Discovery against real fake runtimes on local ports, including one that never answers."""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from adaptive_gateway.discovery import DiscoveryTargets, ModelInfo, discover
from adaptive_gateway.fakes import ollama as fake_ollama
from adaptive_gateway.fakes.server import FakeUpstream

from .fakes import GITEA, LLAMACPP, LMSTUDIO, LOCALAI, OPENWEBUI, VLLM, blackhole, closed_port, serve


def _targets(tmp_path: Path, runtimes: dict[str, tuple[str, ...]], **extra: Any) -> DiscoveryTargets:
    quiet = DiscoveryTargets(runtimes=runtimes, gitea=(), docker_socket=None, git_binary=None, cwd=tmp_path)
    return replace(quiet, **extra)


async def test_finds_every_runtime_with_models_and_context_lengths(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        ollama = await stack.enter_async_context(FakeUpstream("ollama"))
        openai = await stack.enter_async_context(FakeUpstream("openai"))
        lmstudio = await stack.enter_async_context(serve(LMSTUDIO))
        llamacpp = await stack.enter_async_context(serve(LLAMACPP))
        vllm = await stack.enter_async_context(serve(VLLM))
        localai = await stack.enter_async_context(serve(LOCALAI))
        webui = await stack.enter_async_context(serve(OPENWEBUI, fallback_html=True))
        runtimes = {
            "ollama": (ollama.url,),
            "lmstudio": (lmstudio,),
            "llamacpp": (llamacpp,),
            "vllm": (vllm,),
            "localai": (localai,),
            "openwebui": (webui,),
        }
        targets = _targets(tmp_path, runtimes, openai_compatible=(openai.url + "/v1",))
        report = await discover(targets, home=tmp_path, env={})

    found = {r.kind: r for r in report.runtimes}
    assert all(r.reachable for r in report.runtimes), [r for r in report.runtimes if not r.reachable]
    assert found["ollama"].base_url == f"{ollama.url}/v1"
    assert found["ollama"].version == fake_ollama.VERSION
    assert found["ollama"].models[0] == ModelInfo(fake_ollama.MODELS[0], fake_ollama.CONTEXT_LENGTH)
    assert found["ollama"].latency_ms is not None
    assert found["lmstudio"].models == (ModelInfo("qwen2.5-7b-instruct", 32768),)
    assert found["llamacpp"].models == (ModelInfo("phi-4", 8192),)  # what the server runs, not n_ctx_train
    assert found["llamacpp"].version == "b4567-abcdef0"
    assert found["vllm"].models == (ModelInfo("meta-llama/Llama-3.1-8B-Instruct", 65536),)
    assert found["vllm"].version == "0.11.0"
    assert (found["localai"].version, found["localai"].base_url) == ("v3.7.0", f"{localai}/v1")
    assert (found["openwebui"].version, found["openwebui"].base_url) == ("0.6.34", f"{webui}/api")
    assert found["openai-compatible"].base_url == f"{openai.url}/v1"
    assert found["openai-compatible"].models


async def test_shared_ports_report_only_the_runtime_that_is_there(tmp_path: Path) -> None:
    """llama.cpp, LocalAI and Open WebUI all default to 8080: each probe must recognise its own API."""
    async with serve(OPENWEBUI, fallback_html=True) as webui, serve(LLAMACPP) as llamacpp:
        everything = ("ollama", "lmstudio", "llamacpp", "vllm", "localai", "openwebui")
        runtimes = {kind: (webui, llamacpp) for kind in everything}
        report = await discover(_targets(tmp_path, runtimes), home=tmp_path, env={})
    reachable = {(r.kind, r.probe_url) for r in report.runtimes if r.reachable}
    # llama.cpp's /v1/models also satisfies the generic OpenAI-style probes of LM Studio and vLLM.
    assert reachable == {
        ("openwebui", webui),
        ("llamacpp", llamacpp),
        ("lmstudio", llamacpp),
        ("vllm", llamacpp),
    }
    assert all(r.error == f"not a {r.kind} API" for r in report.runtimes if not r.reachable)


async def test_unreachable_targets_do_not_break_the_time_budget(tmp_path: Path) -> None:
    with blackhole() as silent:
        async with serve(VLLM) as vllm:
            runtimes = {"ollama": (silent, closed_port()), "vllm": (vllm, silent), "openwebui": (silent,)}
            started = time.perf_counter()
            report = await discover(_targets(tmp_path, runtimes, gitea=(silent,)), home=tmp_path, env={})
            elapsed = time.perf_counter() - started
    assert elapsed < 3.0  # the acceptance budget for a whole discovery run
    by_url = {(r.kind, r.probe_url): r for r in report.runtimes}
    assert by_url[("vllm", vllm)].reachable
    assert not by_url[("ollama", silent)].reachable
    assert not by_url[("vllm", silent)].reachable
    assert [t.found for t in report.tools] == [False, False]  # git disabled, silent Gitea


async def test_gitea_and_git(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_git = bin_dir / "git"
    fake_git.write_text("#!/bin/sh\necho 'git version 2.51.0'\n")
    fake_git.chmod(0o755)
    async with serve(GITEA) as gitea:
        targets = _targets(tmp_path, {}, gitea=(gitea, closed_port()), git_binary="git")
        report = await discover(targets, home=tmp_path, env={"PATH": str(bin_dir)})
    git, found_gitea, missing_gitea = report.tools
    assert (git.name, git.found, git.version, git.location) == ("git", True, "2.51.0", str(fake_git))
    assert (found_gitea.found, found_gitea.version, found_gitea.location) == (True, "1.24.6", gitea)
    assert not missing_gitea.found


async def test_missing_git_is_a_finding_not_an_error(tmp_path: Path) -> None:
    report = await discover(
        _targets(tmp_path, {}, git_binary="git"), home=tmp_path, env={"PATH": str(tmp_path)}
    )
    assert report.tools[0].found is False
