from __future__ import annotations

from pathlib import Path

from adaptive_gateway.discovery import ContainerFinding, DiscoveryTargets, discover
from adaptive_gateway.discovery.tools import image_kind

from .fakes import DOCKER, serve_unix


def _targets(tmp_path: Path, socket: Path | None) -> DiscoveryTargets:
    return DiscoveryTargets(runtimes={}, gitea=(), git_binary=None, docker_socket=socket, cwd=tmp_path)


async def test_known_runtime_containers_via_the_docker_socket(tmp_path: Path) -> None:
    async with serve_unix(DOCKER, tmp_path / "docker.sock") as socket:
        report = await discover(_targets(tmp_path, socket), home=tmp_path, env={})
    assert report.containers == (
        ContainerFinding("4f1c0e5a9b7d", "ollama", "ollama/ollama:0.12.6", "ollama", "running", (11434,)),
        ContainerFinding(
            "9a8b7c6d5e4f", "webui", "ghcr.io/open-webui/open-webui:main", "openwebui", "running", (3000,)
        ),
    )


async def test_no_socket_is_skipped_quietly(tmp_path: Path) -> None:
    report = await discover(_targets(tmp_path, tmp_path / "absent.sock"), home=tmp_path, env={})
    assert report.containers == ()


async def test_a_socket_that_is_not_docker_gives_nothing(tmp_path: Path) -> None:
    async with serve_unix({"GET /other": {}}, tmp_path / "odd.sock") as socket:
        report = await discover(_targets(tmp_path, socket), home=tmp_path, env={})
    assert report.containers == ()


def test_image_names_with_registries_tags_and_ports() -> None:
    assert image_kind("docker.io/ollama/ollama:latest") == "ollama"
    assert image_kind("ghcr.io/ggml-org/llama.cpp:server-cuda") == "llamacpp"
    assert image_kind("vllm/vllm-openai@sha256:abc") == "vllm"
    assert image_kind("localhost:5000/ollama/ollama") is None
    assert image_kind("quay.io/go-skynet/local-ai:v2") == "localai"
    assert image_kind("postgres:16") is None
