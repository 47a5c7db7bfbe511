"""Provider API keys in the environment and in dotenv files, reported by name and masked value only.

The full value is read only long enough to mask it; it is never stored in a finding.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .model import KeyFinding

# env var -> provider
PROVIDER_KEYS: Mapping[str, str] = {
    "OPENAI_API_KEY": "openai",
    "ANTHROPIC_API_KEY": "anthropic",
    "GEMINI_API_KEY": "gemini",
    "GOOGLE_API_KEY": "gemini",
    "GROQ_API_KEY": "groq",
    "MISTRAL_API_KEY": "mistral",
    "OPENROUTER_API_KEY": "openrouter",
}

_MAX_DOTENV_BYTES = 256_000


def mask(value: str) -> str:
    """Show at most 4 characters at each end and never more than 40 % of the value: ``sk-p…x9Qz``."""
    shown = min(4, len(value) // 5)
    return f"{value[:shown]}…{value[-shown:]}" if shown else "…"


def reference(name: str) -> str:
    return "${" + name + "}"


def parse_dotenv(text: str) -> dict[str, str]:
    """``KEY=value`` lines (optionally ``export``-ed, quoted, with ``#`` comments); no interpolation."""
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip().removeprefix("export ").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        found[name.strip()] = _unquote(value.strip())
    return found


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value.split(" #", 1)[0].strip()


def resolve_dotenv_paths(patterns: Iterable[str], home: Path, cwd: Path) -> list[Path]:
    """``~/x`` is under ``home`` (which may be a fake one), anything relative is under ``cwd``."""
    paths = [home / p[2:] if p.startswith("~/") else cwd / p for p in patterns]
    unique: dict[Path, None] = {}
    for path in paths:
        unique.setdefault(path.absolute(), None)
    return list(unique)


def _read_dotenv(path: Path) -> dict[str, str]:
    try:
        if not path.is_file() or path.stat().st_size > _MAX_DOTENV_BYTES:
            return {}
        return parse_dotenv(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return {}


def _findings(values: Mapping[str, str], source: str) -> Iterator[KeyFinding]:
    for name, provider in PROVIDER_KEYS.items():
        value = values.get(name, "").strip()
        if value:
            yield KeyFinding(name, provider, source, mask(value), reference(name))


def find_keys(env: Mapping[str, str], dotenv_paths: Iterable[Path]) -> tuple[KeyFinding, ...]:
    """Every provider key set in ``env`` or in one of ``dotenv_paths`` (one finding per place)."""
    found = list(_findings(env, "env"))
    for path in dotenv_paths:
        found.extend(_findings(_read_dotenv(path), f"dotenv:{path}"))
    return tuple(found)
