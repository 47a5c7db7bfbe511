"""Projections of a text that turn character classes into literals, offset for offset.

``re`` scans fast only for literal prefixes: ``\\d{3}-\\d{2}-\\d{4}`` tests every position of a
prompt, while ``000-00-0000`` on the *shape* of the prompt (every digit mapped to ``0``) is one
C-speed substring search. Each view has exactly one character per character of the text, so a span
found in a view is the same span in the text.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

View = Literal["text", "lower", "shape", "runs"]

# shape: digit -> "0", upper-case ASCII letter -> "A", lower-case -> "a", other ASCII kept.
_SHAPE_TABLE = bytes.maketrans(
    (string.digits + string.ascii_uppercase + string.ascii_lowercase).encode(),
    b"0" * 10 + b"A" * 26 + b"a" * 26,
)
# runs: characters of base64 / url-safe tokens -> "x", "=" kept (padding), everything else -> " ".
_TOKEN_CHARS = (string.ascii_letters + string.digits + "+/_-").encode()
_RUNS_TABLE = bytes(
    ord("x") if byte in _TOKEN_CHARS else ord("=") if byte == ord("=") else ord(" ") for byte in range(256)
)


def _ascii_bytes(text: str) -> bytes:
    """One byte per character: non-ASCII characters become ``?`` so offsets are preserved."""
    return text.encode("ascii", "replace")


def lowered(text: str) -> str:
    """``text.lower()`` with the same length, so offsets stay valid."""
    lower = text.lower()
    if len(lower) == len(text):
        return lower
    # A few characters (such as "İ") lower-case to two; keep those as they are to keep offsets.
    return "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)


@dataclass(frozen=True, slots=True)
class Views:
    """The text and its projections, computed once per scan (a few microseconds per 4 KB)."""

    text: str
    lower: str
    shape: str
    runs: str

    @classmethod
    def of(cls, text: str) -> Views:
        """Build every view of ``text``."""
        raw = _ascii_bytes(text)
        return cls(
            text=text,
            lower=lowered(text),
            shape=raw.translate(_SHAPE_TABLE).decode("ascii"),
            runs=raw.translate(_RUNS_TABLE).decode("ascii"),
        )

    def get(self, view: View) -> str:
        """The named view."""
        return str(getattr(self, view))
