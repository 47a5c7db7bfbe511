"""OpenAI Responses tools -> canonical tools, and the name map that brings tool calls back.

Upstreams only know flat function tools, so two Responses tool kinds are reshaped:

* ``namespace`` tools (Codex groups each MCP server's tools this way) are flattened to one function per
  member named ``<namespace>__<name>`` (``mcp__gw`` + ``echo`` -> ``mcp__gw__echo``), shortened with a
  hash when longer than 64 characters. Calls come back as ``function_call`` items with the bare ``name``
  and the ``namespace`` field, as OpenAI returns them.
* ``custom`` (freeform) tools become a function taking ``{"input": "<text>"}`` (the grammar, if any, is
  appended to the description); calls come back as ``custom_tool_call`` items carrying the raw input.

Hosted tools (``web_search``, ``file_search``, ``code_interpreter``, ...) run inside OpenAI; no upstream
the gateway talks to can run them, so they are dropped and listed in :attr:`DecodedTools.dropped`.

:func:`tool_names` rebuilds the same map from the client's body, so renderers need no shared state.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from adaptive_gateway.errors import InvalidRequest
from adaptive_gateway.formats.common import require_list, require_str
from adaptive_gateway.types import Tool

SEPARATOR = "__"
MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_CUSTOM_PARAMS_NOTE = "The raw input for the tool, as free-form text."

# tool_choice strings that pass through unchanged
_CHOICE_MODES = frozenset({"auto", "none", "required"})
# tool_choice objects naming a hosted tool: the tool is dropped, so the model chooses freely
_HOSTED_CHOICES = frozenset(
    {
        "web_search",
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "web_search_2025_08_26",
        "file_search",
        "code_interpreter",
        "image_generation",
        "computer_use_preview",
        "computer_use",
        "mcp",
        "local_shell",
        "shell",
        "apply_patch",
        "programmatic_tool_calling",
        "tool_search",
    }
)


@dataclass(frozen=True, slots=True)
class ToolName:
    """How the client knows a tool the upstream sees under a flat name."""

    name: str
    namespace: str | None = None
    custom: bool = False


@dataclass(slots=True)
class ToolNames:
    """Flat upstream name <-> client identity, for tools whose name or kind had to change."""

    by_flat: dict[str, ToolName] = field(default_factory=dict)
    by_client: dict[tuple[str | None, str], str] = field(default_factory=dict)

    def add(self, flat: str, ident: ToolName) -> None:
        self.by_flat[flat] = ident
        self.by_client[(ident.namespace, ident.name)] = flat

    def client(self, flat: str) -> ToolName:
        """The client's view of an upstream call name (unchanged names map to themselves)."""
        return self.by_flat.get(flat) or ToolName(flat)

    def flat(self, name: str, namespace: str | None = None) -> str:
        """The upstream name for a call the client sends back in its history."""
        found = self.by_client.get((namespace, name))
        if found is not None:
            return found
        return flat_name(namespace, name) if namespace else name


@dataclass(slots=True)
class DecodedTools:
    tools: list[Tool]
    names: ToolNames
    dropped: list[str]


def flat_name(namespace: str | None, name: str) -> str:
    """``namespace__name`` made safe for every upstream (``[A-Za-z0-9_-]``, at most 64 characters)."""
    raw = f"{namespace}{SEPARATOR}{name}" if namespace else name
    safe = _UNSAFE.sub("_", raw)
    if len(safe) <= MAX_NAME and safe == raw:
        return safe
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{safe[: MAX_NAME - 9]}_{digest}" if len(safe) > MAX_NAME else f"{safe}_{digest}"[:MAX_NAME]


def _schema(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {"type": "object", "properties": {}}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where}: must be a JSON schema object", param=where)
    return value


def _custom_tool(t: dict[str, Any], name: str, where: str) -> Tool:
    description = t.get("description") or ""
    fmt = t.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar":
        syntax, definition = fmt.get("syntax", "lark"), fmt.get("definition", "")
        description += f"\n\nThe input must follow this {syntax} grammar:\n{definition}"
    params = {
        "type": "object",
        "properties": {"input": {"type": "string", "description": _CUSTOM_PARAMS_NOTE}},
        "required": ["input"],
        "additionalProperties": False,
    }
    return Tool(name, description.strip(), params, None)


def _member(t: Any, where: str, namespace: str | None, out: DecodedTools) -> None:
    """One function / custom tool, at top level or inside a namespace."""
    if not isinstance(t, dict):
        raise InvalidRequest(f"{where}: each tool must be an object", param=where)
    kind = t.get("type", "function")
    name = require_str(t.get("name"), f"{where}.name")
    flat = flat_name(namespace, name) if namespace else name
    if kind == "function":
        params = _schema(t.get("parameters"), f"{where}.parameters")
        out.tools.append(Tool(flat, t.get("description") or "", params, t.get("strict")))
        if flat != name:
            out.names.add(flat, ToolName(name, namespace))
    elif kind == "custom":
        out.tools.append(_custom_tool(t, flat, where))
        out.names.add(flat, ToolName(name, namespace, custom=True))
    else:
        out.dropped.append(f"{where} ({kind})")


def decode_tools(tools: Any) -> DecodedTools:
    """Validate ``tools``; flatten namespaces, reshape custom tools, drop hosted ones."""
    out = DecodedTools([], ToolNames(), [])
    if tools is None:
        return out
    for i, t in enumerate(require_list(tools, "tools")):
        where = f"tools[{i}]"
        kind = t.get("type") if isinstance(t, dict) else None
        if kind == "namespace":
            ns = require_str(t.get("name"), f"{where}.name")
            for j, member in enumerate(require_list(t.get("tools"), f"{where}.tools")):
                _member(member, f"{where}.tools[{j}]", ns, out)
        elif kind in ("function", "custom"):
            _member(t, where, None, out)
        elif isinstance(kind, str):
            out.dropped.append(f"{where} ({kind})")
        else:
            raise InvalidRequest(f"{where}.type: required string", param=f"{where}.type")
    return out


def tool_names(body: dict[str, Any] | None) -> ToolNames:
    """The name map of a (previously validated) client body; cheap when no tool was renamed."""
    tools = (body or {}).get("tools")
    if not isinstance(tools, list) or not any(
        isinstance(t, dict) and t.get("type") in ("namespace", "custom") for t in tools
    ):
        return ToolNames()
    try:
        return decode_tools(tools).names
    except InvalidRequest:
        return ToolNames()


def decode_tool_choice(choice: Any, names: ToolNames, has_tools: bool) -> str | dict[str, Any] | None:
    """Responses ``tool_choice`` -> the canonical (chat-completions shaped) choice."""
    if choice is None or not has_tools:
        return None
    if isinstance(choice, str):
        if choice not in _CHOICE_MODES:
            raise InvalidRequest(
                f"tool_choice: expected auto, none or required (got {choice!r})", param="tool_choice"
            )
        return choice
    if not isinstance(choice, dict):
        raise InvalidRequest("tool_choice: must be a string or an object", param="tool_choice")
    kind = choice.get("type")
    if kind in ("function", "custom"):
        name = require_str(choice.get("name"), "tool_choice.name")
        return {"type": "function", "function": {"name": names.flat(name, choice.get("namespace"))}}
    if kind == "allowed_tools":
        # the allow-list itself has no chat-completions equivalent: keep the mode, all tools stay visible
        mode = choice.get("mode", "auto")
        return "required" if mode == "required" else "auto"
    if kind in _HOSTED_CHOICES:
        return "auto"
    raise InvalidRequest(f"tool_choice.type: unsupported tool choice {kind!r}", param="tool_choice.type")
