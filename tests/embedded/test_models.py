"""Finding local GGUF models: the bundled SmolLM2, the home folder, configured extra paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptive_gateway.embedded import (
    BUNDLED_NAME,
    Availability,
    EmbeddedUnavailable,
    ModelNotFound,
    bundled_model,
    find_model,
    find_models,
    gateway_home,
    model_name,
)

from .helpers import require_installed


def gguf(path: Path, size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + b"\0" * (size - 4))
    return path


def test_bundled_smollm2_is_located_without_importing_it() -> None:
    require_installed()
    model = bundled_model()
    assert model is not None
    assert model.name == BUNDLED_NAME == "local/smollm2-135m"
    assert model.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and model.path.is_file()
    assert model.size == model.path.stat().st_size > 50_000_000
    assert model.source == "bundled"


def test_home_defaults_and_env_override(tmp_path: Path) -> None:
    assert gateway_home({}) == Path.home() / ".adaptive-llm-gateway"
    assert gateway_home({"ADAPTIVE_GATEWAY_HOME": str(tmp_path)}) == tmp_path


def test_home_models_folder_is_searched_recursively(tmp_path: Path) -> None:
    gguf(tmp_path / "models" / "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", 32)
    gguf(tmp_path / "models" / "nested" / "Tiny.GGUF")
    (tmp_path / "models" / "notes.txt").write_text("not a model")
    found = {m.name: m for m in find_models(home=tmp_path)}
    assert found["local/qwen2.5-0.5b-instruct-q4_k_m"].size == 32
    assert found["local/tiny"].source == "home"
    assert "local/notes" not in found
    assert next(iter(found)) == BUNDLED_NAME  # bundled first


def test_extra_paths_accept_files_and_folders_first_name_wins(tmp_path: Path) -> None:
    home_copy = gguf(tmp_path / "home" / "models" / "shared.gguf")
    gguf(tmp_path / "extra" / "shared.gguf")
    single = gguf(tmp_path / "elsewhere" / "Single.gguf")
    found = {
        m.name: m
        for m in find_models([tmp_path / "extra", single, tmp_path / "missing"], home=tmp_path / "home")
    }
    assert found["local/shared"].path == home_copy
    assert found["local/single"].source == "extra"


def test_find_model_names_the_alternatives(tmp_path: Path) -> None:
    models = find_models([gguf(tmp_path / "a.gguf")], home=tmp_path / "empty")
    assert find_model("local/a", models).path == tmp_path / "a.gguf"
    with pytest.raises(ModelNotFound, match="local/a"):
        find_model("local/b", models)
    assert model_name(Path("/x/My Model.Q8_0.gguf")) == "local/my model.q8_0"


def test_missing_packages_say_how_to_install() -> None:
    state = Availability(runtime_missing=["xllamacpp"], embedder_missing=[])
    assert not state.complete and state.hint is not None and "make install" in state.hint
    assert "make install" in str(EmbeddedUnavailable(["xllamacpp"]))
    assert Availability([], []).hint is None
