"""Offline token estimates: no tokenizer files, no downloads, no per-call regex compilation.

Used for ``/v1/messages/count_tokens``, pre-request cost estimates and context-window checks. The
estimator splits text the way BPE pre-tokenisers of the cl100k family do (letter runs, digit groups of
three, punctuation runs, whitespace) and prices each kind of piece from counts measured against the
cl100k_base reference (see docs/formats.md, "Token estimates"): a handful of C-level regex passes, no
Python loop per piece.
"""

from __future__ import annotations

import re
from typing import Final

import orjson

from adaptive_gateway.types import ChatRequest, Message

# -- per-piece prices, fitted on tests/formats/token_samples.json against cl100k_base --
WORD_FREE_CHARS: Final = 7  # an ASCII letter run up to this long is one token
WORD_CHARS_PER_TOKEN: Final = 3.5  # ...and each further 3.5 letters one more
CAMEL_HUMP: Final = 0.5  # an inner capital (camelCase) often starts a new token
PUNCT_FREE_CHARS: Final = 4  # an ASCII punctuation run up to this long is one token
PUNCT_EXTRA: Final = 0.5  # each further punctuation character
GLUED_PUNCT: Final = 0.5  # a lone punctuation mark before a word ('.lines', '(self') often merges with it
SPACE_RUN: Final = 1.25  # a run of 2+ whitespace characters (indentation, blank lines)
CJK_PER_CHAR: Final = 1.3  # Han, kana, hangul
OTHER_LETTER_PER_CHAR: Final = 0.6  # Cyrillic, Greek, Arabic, Hebrew, ... per letter
ACCENTED_RUN: Final = 2.5  # accented Latin letters split the word they sit in
SYMBOL_PER_CHAR: Final = 1.5  # emoji and other non-ASCII symbols
# -- request framing (chat templates cost a few tokens per message) --
PER_MESSAGE: Final = 4
PER_REQUEST: Final = 3
PER_TOOL: Final = 8
IMAGE_TOKENS: Final = 1568  # Anthropic's ceiling for one image (~1.15 MP / 750); a safe upper bound

_CJK_RANGES = "\u1100-\u11ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK = re.compile(f"[{_CJK_RANGES}]")
_ACCENTED = re.compile("[\u00c0-\u024f]+")
_OTHER_LETTER = re.compile(f"[^\\W\\d_\u0000-\u024f{_CJK_RANGES}]")
_SYMBOL = re.compile("[^\\w\\s\u0000-\u007f\u3000-\u303f\uff00-\uffef]")
_WIDE_PUNCT = re.compile("[\u3000-\u303f\uff00-\uffef]")


def _table(classes: dict[bytes, bytes]) -> bytes:
    """A ``bytes.translate`` table: each listed byte -> its class letter, every other byte -> space."""
    table = bytearray(b" " * 256)
    for members, letter in classes.items():
        for byte in members:
            table[byte] = letter[0]
    return bytes(table)


_LOWER = bytes(range(ord("a"), ord("z") + 1))
_UPPER = bytes(range(ord("A"), ord("Z") + 1))
_PUNCT_BYTES = bytes(b for b in range(33, 127) if not chr(b).isalnum() and b != ord("_"))
# ASCII character classes; non-ASCII bytes become separators (they are priced by the regexes below)
_WORDS = _table({_LOWER: b"a", _UPPER: b"a"})
_CASE = _table({_LOWER: b"l", _UPPER: b"U"})
_DIGIT_RUNS = _table({b"0123456789": b"d"})
_SPACE_RUNS = _table({b" \t\r\n\x0b\x0c": b"s"})
_PUNCT_RUNS = _table({_PUNCT_BYTES: b"p"})
_NON_ASCII = bytes(range(128, 256)).rjust(256, b" ")  # ASCII bytes -> space, the rest kept
_PUNCT_WORDS = _table({_PUNCT_BYTES: b"p", _LOWER: b"a", _UPPER: b"a"})


def _runs(classes: bytes, letter: bytes) -> int:
    """Runs of ``letter`` in a class string (each run starts after a space or at the start)."""
    return classes.count(b" " + letter) + (classes[:1] == letter)


def _long(pattern: re.Pattern[bytes], classes: bytes, free: int) -> tuple[int, int]:
    """(number of runs longer than ``free``, their characters past the first ``free``)."""
    runs = pattern.findall(classes)
    return len(runs), sum(map(len, runs)) - free * len(runs)


# literal prefixes ("aaaaaaaa+") let the regex engine skip ahead fast; a{8,} would be 5x slower
_LONG_WORD_RUN = re.compile(b"a" * (WORD_FREE_CHARS + 1) + b"+")
_LONG_PUNCT_RUN = re.compile(b"p" * (PUNCT_FREE_CHARS + 1) + b"+")
_LONG_DIGIT_RUN = re.compile(b"dddd+")


def estimate_tokens(text: str) -> int:
    """Estimated tokens of ``text`` (cl100k-like; see docs/formats.md for the measured accuracy).

    C-level passes only (``bytes.translate`` into character classes, then ``count`` and a few
    literal-prefix regexes): 30-40 MB/s, about the speed of an exact Rust BPE encoder.
    """
    if not text:
        return 0
    raw = text.encode("utf-8", "surrogatepass")
    words = raw.translate(_WORDS)
    digits = raw.translate(_DIGIT_RUNS)
    punct = raw.translate(_PUNCT_RUNS)
    glue = raw.translate(_PUNCT_WORDS)
    _, long_letters = _long(_LONG_WORD_RUN, words, WORD_FREE_CHARS)
    _, long_punct = _long(_LONG_PUNCT_RUN, punct, PUNCT_FREE_CHARS)
    long_digit_runs = _LONG_DIGIT_RUN.findall(digits)
    total = (
        _runs(words, b"a")
        + long_letters / WORD_CHARS_PER_TOKEN
        + CAMEL_HUMP * raw.translate(_CASE).count(b"lU")
        + _runs(digits, b"d")  # one token per group of up to three digits
        + sum((len(run) - 1) // 3 for run in long_digit_runs)
        + SPACE_RUN * _runs(raw.translate(_SPACE_RUNS), b"ss")
        + _runs(punct, b"p")
        + PUNCT_EXTRA * long_punct
        - (1 - GLUED_PUNCT) * (glue.count(b"pa") - glue.count(b"ppa"))
    )
    if not text.isascii():
        # only the non-ASCII runs, space separated, go through the (slower) unicode regexes
        wide = b" ".join(raw.translate(_NON_ASCII).split()).decode("utf-8", "ignore")
        total += (
            CJK_PER_CHAR * len(_CJK.findall(wide))
            + ACCENTED_RUN * len(_ACCENTED.findall(wide))
            + OTHER_LETTER_PER_CHAR * len(_OTHER_LETTER.findall(wide))
            + SYMBOL_PER_CHAR * len(_SYMBOL.findall(wide))
            + len(_WIDE_PUNCT.findall(wide))
        )
    return max(1, round(total))


def _message_tokens(m: Message) -> int:
    total = PER_MESSAGE
    for p in m.content:
        if p.type == "text":
            total += estimate_tokens(p.text)
        elif p.type == "image":
            total += IMAGE_TOKENS
        else:  # audio / files: priced by their inline size, a rough but monotonic stand-in
            total += len(p.data or "") // 4 if p.data else estimate_tokens(p.text)
    for call in m.tool_calls:
        total += PER_MESSAGE + estimate_tokens(call.name) + estimate_tokens(call.arguments)
    if m.reasoning:
        total += estimate_tokens(m.reasoning)
    return total


def estimate_request_tokens(req: ChatRequest) -> int:
    """Estimated prompt tokens of a request: messages, tool definitions (name, description and JSON
    schema) and a fixed cost per image. Output is not included."""
    total = PER_REQUEST + sum(_message_tokens(m) for m in req.messages)
    for tool in req.tools:
        total += PER_TOOL + estimate_tokens(tool.name) + estimate_tokens(tool.description)
        total += estimate_tokens(orjson.dumps(tool.parameters).decode())
    if req.response_format is not None and req.response_format.schema is not None:
        total += estimate_tokens(orjson.dumps(req.response_format.schema).decode())
    return total
