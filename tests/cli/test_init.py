"""`init` end to end through the real CLI: fake runtimes on local ports, a fake HOME with real-world client
files, answers files, --yes, interactive answers on stdin, and re-runs that keep the user's edits."""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import tomlkit
import yaml
from typer.testing import CliRunner

from adaptive_gateway.cli.init_cmd import embedded_available
from adaptive_gateway.cli.main import build_app
from adaptive_gateway.config import hash_key, load_config
from adaptive_gateway.discovery import PROVIDER_KEYS
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.ledger.consent import ConsentLedger
from tests.integrations.homes import CODEX_TOML, make_home, snapshot
from tests.support.gateway import GatewayThread

OPENAI_KEY = "sk-proj-Zt7QvL2mN8xR4cW1yB6hJ0pK3sD9fG5aE2uI7oT1x9Qz"


@pytest.fixture
def fake_ollama() -> Iterator[FakeUpstream]:
    fake = FakeUpstream("ollama").start_in_thread()
    try:
        yield fake
    finally:
        fake.stop_thread()


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The gateway home (tests/conftest.py points ADAPTIVE_GATEWAY_HOME at it); no provider key and no
    client binary leak in from the machine running the tests."""
    for name in PROVIDER_KEYS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    monkeypatch.chdir(tmp_path)
    return Path(os.environ["ADAPTIVE_GATEWAY_HOME"])


def _init(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(), ["init", *args], input=input)
    return result.exit_code, result.stdout, result.stderr


def _ledger(state: Path) -> list[tuple[str, str]]:
    ledger = ConsentLedger(state / "consent.jsonl")
    assert ledger.verify().ok
    return [(e.action, e.scope) for e in ledger.entries()]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_answers_end_to_end(
    tmp_path: Path, state: Path, fake_ollama: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = make_home(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    answers = tmp_path / "answers.yaml"
    answers.write_text("runtimes: [ollama]\nbuiltin: false\nkeys: [OPENAI_API_KEY]\nclients: [codex]\n")
    probe = f"ollama={fake_ollama.url}"
    code, out, err = _init("--answers", str(answers), "--home", str(home), "--probe", probe)
    assert code == 0, err

    config = state / "config.yaml"
    text = config.read_text()
    assert OPENAI_KEY not in text and "api_key: ${OPENAI_API_KEY}" in text
    assert _mode(config) == 0o600 and _mode(state / "admin_key") == 0o600
    cfg = load_config(config)
    assert cfg.providers["ollama"].base_url == f"{fake_ollama.url}/v1"
    assert cfg.providers["ollama"].locality == "local"
    assert cfg.providers["openai"].api_key and cfg.providers["openai"].kind == "openai"
    assert cfg.models["qwen3:8b"].deployments[0].context_window == 131072
    assert {"gpt-4o-mini", "llama3.2:latest"} <= set(cfg.models) and "local/smollm2-135m" not in cfg.models
    key = (state / "admin_key").read_text().strip()
    assert cfg.auth.master_key_hash == hash_key(key) and out.count(key) == 1

    codex = tomlkit.parse((home / ".codex/config.toml").read_text()).unwrap()
    assert codex["model_provider"] == "adaptive"
    assert codex["model_providers"]["adaptive"]["base_url"] == "http://127.0.0.1:4141/v1"
    assert '+model_provider = "adaptive"' in out  # the diff was shown before writing
    assert _ledger(state) == [
        ("grant", "provider:ollama"),
        ("grant", "env:OPENAI_API_KEY"),
        ("grant", "provider:openai"),
        ("grant", "client:codex"),
    ]
    assert "adaptive-llm-gateway start --background" in err

    # the written config serves: a discovered model answers through the gateway
    with GatewayThread(text, tmp_path) as gw:
        resp = httpx.post(
            f"{gw.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "qwen3:8b", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
    assert resp.status_code == 200, resp.text
    assert fake_ollama.received[-1].json["model"] == "qwen3:8b"


def test_yes_takes_only_safe_defaults(
    tmp_path: Path, state: Path, fake_ollama: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = make_home(tmp_path)
    before = snapshot(home)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    code, _, err = _init("--yes", "--home", str(home), "--probe", f"ollama={fake_ollama.url}")
    assert code == 0, err
    data = yaml.safe_load((state / "config.yaml").read_text())
    chat, embeddings = embedded_available()
    expected = {"ollama"} | ({"builtin"} if chat else set())
    assert set(data["providers"]) == expected  # no hosted provider without explicit consent
    assert ("local/smollm2-135m" in data["models"]) == chat
    assert ("local/minilm-l6" in data["models"]) == (chat and embeddings)
    assert snapshot(home) == before  # no client touched
    assert all(scope.startswith("provider:") for _, scope in _ledger(state))


def test_rerun_merges_and_keeps_user_edits_byte_for_byte(
    tmp_path: Path, state: Path, fake_ollama: FakeUpstream, fake_openai: FakeUpstream
) -> None:
    home = make_home(tmp_path, {})
    probe = ("--probe", f"ollama={fake_ollama.url}")
    answers = tmp_path / "answers.yaml"
    answers.write_text("runtimes: all\nbuiltin: false\n")
    assert _init("--answers", str(answers), "--home", str(home), *probe)[0] == 0
    config = state / "config.yaml"
    key = (state / "admin_key").read_text()
    # the user edits: comments, another port, a hand-written model, an odd flow mapping and quoting
    edited = config.read_text().replace("port: 4141", "port: 4242  # moved, 4141 is taken")
    edited = edited.replace(
        "models:\n", "# my models\nmodels:\n  mine: {deployments: [{provider: ollama, model: 'qwen3:8b'}]}\n"
    )
    edited = edited.replace("  qwen3:8b:\n", '  qwen3:8b:   # the fast one\n    description: "fast"\n')
    config.write_text(edited)

    code, out, err = _init(
        "--answers", str(answers), "--home", str(home), *probe, "--url", f"{fake_openai.url}/v1"
    )
    assert code == 0, err
    merged = config.read_text()
    ops = difflib.SequenceMatcher(None, edited.splitlines(True), merged.splitlines(True)).get_opcodes()
    assert [tag for tag, *_ in ops if tag != "equal"] == ["insert", "insert"]  # a provider, its models
    assert "openai-compatible" in merged and "gpt-4o:" in merged
    assert "    locality: local\n# my models\nmodels:\n" in merged  # the comment still introduces models
    assert load_config(config).models["qwen3:8b"].description == "fast"
    assert (state / "admin_key").read_text() == key and key.strip() not in out  # same master key
    assert list((state / "backups/config").iterdir())  # the previous file was kept

    # nothing new: nothing written
    mtime = config.stat().st_mtime_ns
    code, _, err = _init(
        "--answers", str(answers), "--home", str(home), *probe, "--url", f"{fake_openai.url}/v1"
    )
    assert code == 0 and "nothing new" in err and config.stat().st_mtime_ns == mtime


def test_interactive_asks_each_item(
    tmp_path: Path, state: Path, fake_ollama: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = make_home(tmp_path, {".codex/config.toml": CODEX_TOML})
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    chat, _ = embedded_available()
    # ollama: yes; [built-in: no]; OPENAI_API_KEY: no; codex: yes; MCP: no; write config: yes; apply diff: yes
    keys = ["y", *(["n"] if chat else []), "n", "y", "n", "y", "y"]
    code, out, err = _init(
        "--home", str(home), "--probe", f"ollama={fake_ollama.url}", input="\n".join(keys) + "\n"
    )
    assert code == 0, err
    assert "Use OPENAI_API_KEY (sk-p…x9Qz" in out and OPENAI_KEY not in out + err
    data = yaml.safe_load((state / "config.yaml").read_text())
    assert set(data["providers"]) == {"ollama"}
    assert "adaptive" in (home / ".codex/config.toml").read_text()
    assert _ledger(state) == [
        ("grant", "provider:ollama"),
        ("revoke", "env:OPENAI_API_KEY"),
        ("grant", "client:codex"),
    ]


def test_declining_the_config_writes_nothing(tmp_path: Path, state: Path, fake_ollama: FakeUpstream) -> None:
    home = make_home(tmp_path, {})
    chat, _ = embedded_available()
    keys = ["y", *(["y"] if chat else []), "n"]  # runtime, [built-in], then "write the config?" no
    code, _, err = _init(
        "--home", str(home), "--probe", f"ollama={fake_ollama.url}", input="\n".join(keys) + "\n"
    )
    assert code == 1 and "nothing was written" in err
    assert not (state / "config.yaml").exists() and not (state / "consent.jsonl").exists()


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ("clients: [emacs]\n", "clients: Value error, unknown client(s) ['emacs']"),
        ("keys: [AWS_SECRET]\n", "keys: Value error, unknown key name(s)"),
        ("runtimez: all\n", "runtimez: Extra inputs are not permitted"),
    ],
)
def test_bad_answers_touch_nothing(tmp_path: Path, state: Path, answers: str, message: str) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text(answers)
    code, _, err = _init("--answers", str(path), "--home", str(make_home(tmp_path, {})))
    assert code == 1 and message in err
    assert not (state / "config.yaml").exists()


def test_answers_for_missing_things_warn(tmp_path: Path, state: Path, fake_ollama: FakeUpstream) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text("runtimes: [lmstudio, ollama]\nbuiltin: false\nkeys: [GROQ_API_KEY]\n")
    code, _, err = _init(
        "--answers", str(path), "--home", str(tmp_path), "--probe", f"ollama={fake_ollama.url}"
    )
    assert code == 0, err
    assert "runtime 'lmstudio': not found" in err and "key GROQ_API_KEY: not set" in err
    assert set(yaml.safe_load((state / "config.yaml").read_text())["providers"]) == {"ollama"}


def test_unparseable_config_is_left_alone(tmp_path: Path, state: Path) -> None:
    state.mkdir(parents=True)
    (state / "config.yaml").write_text("providers: [unclosed\n")
    code, _, err = _init("--yes", "--home", str(tmp_path), "--probe", "ollama=http://127.0.0.1:9")
    assert code == 1 and "fix it first" in err
    assert (state / "config.yaml").read_text() == "providers: [unclosed\n"


def test_gguf_files_in_the_models_folder_are_configured(
    tmp_path: Path, state: Path, fake_ollama: FakeUpstream
) -> None:
    from adaptive_gateway.embedded import bundled_model

    bundled = bundled_model()
    assert bundled is not None, "run `make install`: the built-in model is part of the local extra"
    (state / "models").mkdir(parents=True)
    (state / "models" / "Tiny-Chat.gguf").symlink_to(bundled.path)
    code, _, err = _init("--yes", "--home", str(make_home(tmp_path)), "--probe", f"ollama={fake_ollama.url}")
    assert code == 0, err
    data = yaml.safe_load((state / "config.yaml").read_text())
    provider = data["models"]["local/tiny-chat"]["deployments"][0]["provider"]
    assert data["providers"][provider] == {
        "kind": "embedded",
        "locality": "local",
        "model_path": str(state / "models" / "Tiny-Chat.gguf"),
    }
    assert ("grant", f"provider:{provider}") in _ledger(state)
