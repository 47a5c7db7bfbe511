from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from adaptive_gateway.cli.memory_cmds import register

FAKE_AWS_KEY = "AKIA" + "ABCDEFGHIJKLMNOP"


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture
def run(app: typer.Typer, tmp_path: Path) -> Any:
    runner = CliRunner()

    def invoke(*args: str, code: int = 0, root: Path | None = None, stdin: str | None = None) -> Any:
        full = [*args, "--root", str(root or tmp_path / "memory")]
        result = runner.invoke(app, full, input=stdin)
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        return result

    return invoke


def _json(result: Any) -> Any:
    return json.loads(result.stdout)


def test_write_read_search_append_reindex(run: Any) -> None:
    written = _json(
        run("memory", "write", "--title", "Use Redis", "--body", "for breakers", "--tag", "routing", "--json")
    )
    assert written["type"] == "note" and written["tags"] == ["routing"] and "body" not in written
    secret_id = run(
        "memory", "write", "--title", "Redis password", "--trust", "confidential", stdin="rotate it\n"
    ).stdout.strip()

    item = _json(run("memory", "read", written["id"], "--json"))
    assert item["body"] == "for breakers" and item["author_agent"] == "cli"
    assert run("memory", "read", written["id"]).stdout.startswith(f"---\nid: {written['id']}\n")
    assert _json(run("memory", "read", secret_id, "--json"))["body"] == "rotate it"

    hits = _json(run("memory", "search", "redis", "--json"))
    assert {hit["id"] for hit in hits} == {written["id"], secret_id}
    hits = _json(run("memory", "search", "redis", "--max-trust", "internal", "--json"))
    assert [hit["id"] for hit in hits] == [written["id"]]
    assert "Use Redis" in run("memory", "search", "redis", "-t", "note").stdout

    entry = _json(run("memory", "append", "s1", "first step", "--author", "codex", "--json"))
    assert entry["author_agent"] == "codex" and entry["text"] == "first step"
    assert _json(run("memory", "reindex", "--json")) == {"indexed": 3}


def test_errors_exit_1_with_a_message(run: Any) -> None:
    result = run("memory", "read", "missing", code=1)
    assert "no memory item 'missing'" in result.stderr
    result = run("memory", "write", "--title", "x", "--body", "y", "--trust", "ultra", "--json", code=1)
    assert _json(result)["error"] == "InvalidItem"


def test_root_defaults_to_gateway_home(app: typer.Typer, tmp_path: Path) -> None:
    env = {"ADAPTIVE_GATEWAY_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(app, ["memory", "write", "--title", "t", "--body", "b"], env=env)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "home" / "memory" / "default" / "notes" / f"{result.stdout.strip()}.md").exists()


def test_remote_pull_push_and_refusal(run: Any, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        run("memory", "remote", "origin", str(bare), root=root)
    assert _json(run("memory", "remote", "--json", root=a)) == [
        {"name": "origin", "url": str(bare), "max_trust": "internal"}
    ]
    run("memory", "write", "--title", "from a", "--body", "hello", root=a)
    assert _json(run("memory", "push", "--json", root=a))["pushed"] is True
    assert _json(run("memory", "pull", "--json", root=b))["updated"] is True
    assert "from a" in run("memory", "search", "hello", root=b).stdout

    refs = subprocess.run(["git", "for-each-ref"], cwd=bare, capture_output=True, text=True).stdout
    leaked = run("memory", "write", "--title", "creds", "--body", FAKE_AWS_KEY, root=b).stdout.strip()
    dry = _json(run("memory", "push", "--dry-run", "--json", root=b, code=2))
    assert dry["error"] == "push_refused"
    assert [problem["path"] for problem in dry["problems"]] == [f"default/notes/{leaked}.md"]
    refused = run("memory", "push", root=b, code=2)
    assert f"default/notes/{leaked}.md: contains a secret" in refused.stderr
    assert subprocess.run(["git", "for-each-ref"], cwd=bare, capture_output=True, text=True).stdout == refs


def test_handoff_flow(run: Any, tmp_path: Path) -> None:
    created = _json(
        run(
            "handoff", "create", "--goal", "Ship the breaker backend", "--from", "codex", "--to", "claude",
            "--state", "half done", "--decision", "Use Lua", "--reason", "atomic",
            "--task", "bench it", "--file", "src/x.py", "--resume", "make test", "--json",
        )
    )  # fmt: skip
    assert created["status"] == "open"
    assert created["decisions"] == [{"decision": "Use Lua", "reason": "atomic"}]
    listed = _json(run("handoff", "list", "--to", "claude", "--status", "open", "--json"))
    assert [h["id"] for h in listed] == [created["id"]]
    assert created["id"] in run("handoff", "list").stdout

    failed = run("handoff", "accept", created["id"], "--agent", "gemini", code=1)
    assert "addressed to 'claude'" in failed.stderr
    assert (
        _json(run("handoff", "accept", created["id"], "--agent", "claude", "--json"))["status"] == "accepted"
    )
    done = _json(
        run("handoff", "complete", created["id"], "--agent", "claude", "--summary", "shipped", "--json")
    )
    assert (done["status"], done["outcome"]) == ("completed", "shipped")
    shown = run("handoff", "show", created["id"]).stdout
    assert "## Goal\n\nShip the breaker backend" in shown and "## Outcome\n\nshipped" in shown


def test_handoff_from_file_and_validation(run: Any, tmp_path: Path) -> None:
    doc = tmp_path / "handoff.yaml"
    doc.write_text(
        "goal: Port the CLI\nfrom_agent: codex\ndecisions:\n  - {decision: Typer, reason: already used}\n"
    )
    created = _json(run("handoff", "create", "--from-file", str(doc), "--to", "claude", "--json"))
    assert (created["goal"], created["to_agent"]) == ("Port the CLI", "claude")
    cancelled = _json(run("handoff", "cancel", created["id"], "--agent", "codex", "--json"))
    assert cancelled["status"] == "cancelled"

    doc.write_text("goal: x\nfrom_agent: codex\npriority: high\n")
    assert (
        "unknown handoff field(s): priority"
        in run("handoff", "create", "--from-file", str(doc), code=1).stderr
    )
    assert "--goal and --from" in run("handoff", "create", "--goal", "x", code=1).stderr
    mismatch = run("handoff", "create", "--goal", "x", "--from", "a", "--decision", "d", code=1)
    assert "one --reason for each --decision" in mismatch.stderr
