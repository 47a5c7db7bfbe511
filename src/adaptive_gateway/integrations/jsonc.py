"""JSON with comments and trailing commas (JSONC), edited by splicing text.

``parse`` keeps the position of every value, so an edit replaces or inserts only the few characters it
changes: comments, key order, indentation and odd spacing elsewhere in the file stay byte for byte.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

Segment = str | int

_SKIP = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)*", re.S)
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*"', re.S)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_LITERALS = {"true": True, "false": False, "null": None}
_REST_OF_LINE = re.compile(r"[ \t]*(?://[^\n]*|/\*[^\n]*?\*/)?[ \t]*(?=\r?\n|$)")
_INDENTED_LINE = re.compile(r"\n([ \t]+)\S")


class JsoncError(ValueError):
    """The text is not JSON/JSONC; the message names line and column."""


@dataclass
class Node:
    start: int
    end: int  # exclusive
    value: Any
    entries: list[Entry] = field(default_factory=list)  # members of an object, items of an array


@dataclass
class Entry:
    key: str | None  # None for array items
    start: int  # where the key (or the array item) begins
    node: Node
    comma: int | None = None  # position of the comma after this entry, if any


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str, pos: int | None = None) -> JsoncError:
        at = self.pos if pos is None else pos
        line = self.text.count("\n", 0, at) + 1
        column = at - (self.text.rfind("\n", 0, at) + 1) + 1
        return JsoncError(f"{what} at line {line}, column {column}")

    def skip(self) -> None:
        match = _SKIP.match(self.text, self.pos)
        self.pos = match.end() if match else self.pos

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def document(self) -> Node:
        if self.text.startswith("\ufeff"):
            self.pos = 1
        self.skip()
        root = self.value()
        self.skip()
        if self.pos != len(self.text):
            raise self.fail("unexpected text after the document")
        return root

    def value(self) -> Node:
        char = self.peek()
        if char == "{":
            return self.container("}", keyed=True)
        if char == "[":
            return self.container("]", keyed=False)
        if char == '"':
            start = self.pos
            text = self.string()
            return Node(start, self.pos, text)
        return self.scalar()

    def string(self) -> str:
        match = _STRING.match(self.text, self.pos)
        if not match:
            raise self.fail("unterminated or invalid string")
        try:
            text: str = json.loads(match.group())
        except ValueError:
            raise self.fail("invalid escape in string") from None
        self.pos = match.end()
        return text

    def scalar(self) -> Node:
        start = self.pos
        for word, value in _LITERALS.items():
            if self.text.startswith(word, start):
                self.pos += len(word)
                return Node(start, self.pos, value)
        match = _NUMBER.match(self.text, start)
        if not match:
            raise self.fail("expected a value")
        self.pos = match.end()
        return Node(start, self.pos, json.loads(match.group()))

    def container(self, close: str, *, keyed: bool) -> Node:
        node = Node(self.pos, self.pos, {} if keyed else [])
        self.pos += 1
        self.skip()
        while self.peek() != close:
            if node.entries and node.entries[-1].comma is None:
                raise self.fail(f"expected ',' or '{close}'")
            node.entries.append(self.entry(keyed))
            self.skip()
            if self.peek() == ",":
                node.entries[-1].comma = self.pos
                self.pos += 1
                self.skip()
        self.pos += 1
        node.end = self.pos
        for entry in node.entries:
            _store(node.value, entry)
        return node

    def entry(self, keyed: bool) -> Entry:
        start = self.pos
        key = None
        if keyed:
            if self.peek() != '"':
                raise self.fail("expected a quoted key")
            key = self.string()
            self.skip()
            if self.peek() != ":":
                raise self.fail("expected ':'")
            self.pos += 1
            self.skip()
        if not self.peek():
            raise self.fail("unexpected end of text")
        return Entry(key, start, self.value())


def _store(container: Any, entry: Entry) -> None:
    if entry.key is None:
        container.append(entry.node.value)
    else:
        container[entry.key] = entry.node.value  # a repeated key: the last one wins, as in json.loads


def parse(text: str) -> Node:
    """Parse JSON or JSONC; raises ``JsoncError``."""
    return _Parser(text).document()


def find(root: Node, path: tuple[Segment, ...]) -> Node | None:
    node = root
    for segment in path:
        if isinstance(segment, int):
            items = node.entries if isinstance(node.value, list) else []
            node_or_none = items[segment].node if 0 <= segment < len(items) else None
        else:
            members = node.entries if isinstance(node.value, dict) else []
            node_or_none = next((e.node for e in reversed(members) if e.key == segment), None)
        if node_or_none is None:
            return None
        node = node_or_none
    return node


# --- splicing -------------------------------------------------------------------------------------------


def indent_unit(text: str) -> str:
    """The file's own indentation step (first indented line), two spaces when it has none."""
    match = _INDENTED_LINE.search(text)
    return match.group(1) if match else "  "


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_indent(text: str, pos: int) -> str:
    start = _line_start(text, pos)
    line = text[start:pos]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _own_line(text: str, pos: int) -> bool:
    return not text[_line_start(text, pos) : pos].strip()


def _end_of_line(text: str, pos: int) -> int:
    """Past a trailing comment on the same line, so an insertion does not end up inside it."""
    match = _REST_OF_LINE.match(text, pos)
    return match.end() if match else pos


def render(value: Any, unit: str, base: str, *, inline: bool = False) -> str:
    if inline:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return json.dumps(value, ensure_ascii=False, indent=unit).replace("\n", "\n" + base)


def _entry_text(key: str | None, rendered: str) -> str:
    return rendered if key is None else f"{json.dumps(key, ensure_ascii=False)}: {rendered}"


def _single_line(text: str) -> bool:
    """A minified document stays minified."""
    return "\n" not in text.strip()


def replace(text: str, node: Node, value: Any) -> str:
    rendered = render(value, indent_unit(text), _line_indent(text, node.start), inline=_single_line(text))
    return text[: node.start] + rendered + text[node.end :]


def insert(text: str, container: Node, key: str | None, value: Any) -> str:
    """Add a member (``key`` given) to an object, or an item to an array, after its last entry."""
    unit = indent_unit(text)
    if not container.entries:
        return _insert_into_empty(text, container, key, value, unit)
    last = container.entries[-1]
    if "\n" not in text[container.start : container.end] or _single_line(text):
        entry = _entry_text(key, render(value, unit, "", inline=True))
        if last.comma is not None:
            return text[: last.comma + 1] + f" {entry}," + text[last.comma + 1 :]
        return text[: last.node.end] + f", {entry}" + text[last.node.end :]
    own = _own_line(text, last.start)
    indent = _line_indent(text, last.start) if own else _line_indent(text, container.start) + unit
    entry = _entry_text(key, render(value, unit, indent))
    if last.comma is not None:  # keep the file's trailing-comma style
        anchor = _end_of_line(text, last.comma + 1)
        return text[:anchor] + f"\n{indent}{entry}," + text[anchor:]
    end = last.node.end
    anchor = _end_of_line(text, end)
    return text[:end] + "," + text[end:anchor] + f"\n{indent}{entry}" + text[anchor:]


def _insert_into_empty(text: str, container: Node, key: str | None, value: Any, unit: str) -> str:
    close = container.end - 1
    if _single_line(text):
        entry = _entry_text(key, render(value, unit, "", inline=True))
        return text[:close] + entry + text[close:]
    outer = _line_indent(text, container.start)
    indent = outer + unit
    entry = _entry_text(key, render(value, unit, indent))
    if not text[container.start + 1 : close].strip():
        return text[: container.start + 1] + f"\n{indent}{entry}\n{outer}" + text[close:]
    if _own_line(text, close):  # only comments inside: add a line above the closing bracket
        start = _line_start(text, close)
        return text[:start] + f"{indent}{entry}\n" + text[start:]
    return text[:close] + f"\n{indent}{entry}\n{outer}" + text[close:]
