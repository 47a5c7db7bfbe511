from __future__ import annotations

import json
from pathlib import Path

import pytest

from adaptive_gateway.discovery import DiscoveryTargets, discover, mask
from adaptive_gateway.discovery.keys import parse_dotenv

OPENAI = "sk-proj-Zt7QvL2mN8xR4cW1yB6hJ0pK3sD9fG5aE2uI7oT1x9Qz"
ANTHROPIC = "sk-ant-api03-9fK2LmQ7xR3vN8cW1yB6hJ0pK3sD9fG5aE2uI7oT-abcdefAA"
GROQ = "gsk_4mQ7xR3vN8cW1yB6hJ0pK3sD9fG5aE2uI7oTzzzz"


def test_mask_shows_at_most_four_characters_each_side() -> None:
    assert mask("sk-proj-abcdefghijklmnopqrstuvwx9Qz") == "sk-p…x9Qz"
    assert mask("short1234") == "s…4"
    assert mask("abc") == "…"


def test_parse_dotenv_forms() -> None:
    text = "# keys\nexport OPENAI_API_KEY=\"a b\"\nGROQ_API_KEY=plain # note\n\nBROKEN\nMISTRAL_API_KEY='q'\n"
    assert parse_dotenv(text) == {"OPENAI_API_KEY": "a b", "GROQ_API_KEY": "plain", "MISTRAL_API_KEY": "q"}


@pytest.fixture
def dotenv_home(tmp_path: Path) -> tuple[Path, Path]:
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    (home / ".env").write_text(f"ANTHROPIC_API_KEY={ANTHROPIC}\n")
    (project / ".env").write_text(f"export GROQ_API_KEY='{GROQ}'\nOTHER=1\n")
    return home, project


async def test_keys_from_env_and_dotenv_files_are_masked(dotenv_home: tuple[Path, Path]) -> None:
    home, project = dotenv_home
    targets = DiscoveryTargets(runtimes={}, gitea=(), docker_socket=None, git_binary=None, cwd=project)
    report = await discover(targets, home=home, env={"OPENAI_API_KEY": OPENAI, "GEMINI_API_KEY": ""})
    found = {(k.name, k.source): k for k in report.keys}
    assert set(found) == {
        ("OPENAI_API_KEY", "env"),
        ("GROQ_API_KEY", f"dotenv:{project / '.env'}"),
        ("ANTHROPIC_API_KEY", f"dotenv:{home / '.env'}"),
    }
    openai = found[("OPENAI_API_KEY", "env")]
    assert (openai.provider, openai.masked, openai.reference) == ("openai", "sk-p…x9Qz", "${OPENAI_API_KEY}")
    dumped = json.dumps(report.to_dict())
    for secret in (OPENAI, ANTHROPIC, GROQ):
        assert secret not in dumped
        assert secret not in repr(report)
