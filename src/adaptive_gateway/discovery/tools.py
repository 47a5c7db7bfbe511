"""Developer tools around the models: the git binary, a reachable Gitea, and Docker containers of known
runtimes (read through the Docker socket when there is one; skipped quietly otherwise)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from .http import fetch, new_session
from .model import ContainerFinding, ToolFinding

# image name (without registry host and tag) -> runtime kind
KNOWN_IMAGES: Mapping[str, str] = {
    "ollama/ollama": "ollama",
    "open-webui/open-webui": "openwebui",
    "vllm/vllm-openai": "vllm",
    "localai/localai": "localai",
    "go-skynet/local-ai": "localai",
    "ggerganov/llama.cpp": "llamacpp",
    "ggml-org/llama.cpp": "llamacpp",
    "gitea/gitea": "gitea",
    "lmstudio/llmster": "lmstudio",
}
_REGISTRY_HOSTS = ("docker.io/", "ghcr.io/", "quay.io/", "index.docker.io/")


async def find_git(binary: str | None, env: Mapping[str, str], timeout_s: float) -> ToolFinding:
    """``git --version`` of the first ``binary`` on the PATH from ``env``."""
    location = shutil.which(binary, path=env.get("PATH", "")) if binary else None
    if location is None:
        return ToolFinding("git", False)
    try:
        proc = await asyncio.create_subprocess_exec(
            location, "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
    except OSError as exc:
        return ToolFinding("git", False, location=location, error=str(exc))
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return ToolFinding("git", False, location=location, error="timed out")
    version = out.decode(errors="replace").strip().removeprefix("git version ").strip() or None
    return ToolFinding("git", True, version, location)


async def find_gitea(session: aiohttp.ClientSession, root: str) -> ToolFinding:
    root = root.rstrip("/")
    answer = await fetch(session, f"{root}/api/v1/version")
    body = answer.body if answer is not None and answer.ok else None
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, str):
        return ToolFinding("gitea", False, location=root)
    return ToolFinding("gitea", True, version, root)


def image_kind(image: str) -> str | None:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:  # a tag, not a registry port
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for host in _REGISTRY_HOSTS:
        name = name.removeprefix(host)
    return KNOWN_IMAGES.get(name.removeprefix("library/"))


def _container(item: Any) -> ContainerFinding | None:
    if not isinstance(item, dict) or not isinstance(item.get("Image"), str):
        return None
    kind = image_kind(item["Image"])
    if kind is None:
        return None
    names = [n.lstrip("/") for n in item.get("Names") or [] if isinstance(n, str)]
    published = [p for p in item.get("Ports") or [] if isinstance(p, dict) and "PublicPort" in p]
    ports = sorted({p["PublicPort"] for p in published})
    return ContainerFinding(
        id=str(item.get("Id", ""))[:12],
        name=names[0] if names else "",
        image=item["Image"],
        kind=kind,
        state=str(item.get("State", "")),
        ports=tuple(ports),
    )


def usable_socket(socket: Path | None) -> Path | None:
    return socket if socket is not None and socket.exists() else None


async def find_containers(socket: Path | None, timeout_s: float) -> tuple[ContainerFinding, ...]:
    """Running containers whose image is a known runtime; empty without a socket (see ``usable_socket``)."""
    if socket is None:
        return ()
    async with new_session(timeout_s, aiohttp.UnixConnector(path=str(socket))) as session:
        answer = await fetch(session, "http://docker/containers/json")
    if answer is None or not answer.ok or not isinstance(answer.body, list):
        return ()
    return tuple(c for c in map(_container, answer.body) if c is not None)
