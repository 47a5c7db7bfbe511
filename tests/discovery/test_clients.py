from __future__ import annotations

from pathlib import Path

from adaptive_gateway.discovery import DiscoveryTargets, discover

from .fakes import OPENWEBUI, serve


def _targets(tmp_path: Path, runtimes: dict[str, tuple[str, ...]]) -> DiscoveryTargets:
    return DiscoveryTargets(runtimes=runtimes, gitea=(), docker_socket=None, git_binary=None, cwd=tmp_path)


async def test_clients_by_config_files_binaries_and_running_ui(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text("{}")
    (home / ".codex").mkdir()
    (home / ".codex" / "config.toml").write_text('model = "gpt-5"\n')
    (home / ".config" / "Code" / "User").mkdir(parents=True)
    (home / ".config" / "Code" / "User" / "mcp.json").write_text('{"servers": {}}')
    (home / ".n8n").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cursor").write_text("#!/bin/sh\n")
    (bin_dir / "cursor").chmod(0o755)
    async with serve(OPENWEBUI) as webui:
        targets = _targets(tmp_path, {"openwebui": (webui,)})
        report = await discover(targets, home=home, env={"PATH": str(bin_dir)})

    clients = {c.name: c for c in report.clients}
    assert {name for name, c in clients.items() if c.found} == {
        "claude-code",
        "codex",
        "cursor",
        "vscode",
        "n8n",
        "open-webui",
    }
    claude = {f.path: f.exists for f in clients["claude-code"].config_files}
    assert claude == {str(home / ".claude" / "settings.json"): True, str(home / ".claude.json"): False}
    assert clients["cursor"].binary == str(bin_dir / "cursor")
    assert not clients["continue"].found
