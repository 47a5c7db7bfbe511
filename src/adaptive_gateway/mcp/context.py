"""Who is calling a tool, what a tool returns, and the tool table entry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from adaptive_gateway.mcp.names import agent_name
from adaptive_gateway.pipeline.context import Principal

if TYPE_CHECKING:  # the MCP SDK and jsonschema load with the MCP services, not with this module
    import jsonschema
    import mcp.types as types

SCOPE_KEY = "adaptive_gateway.mcp.caller"  # where the HTTP endpoint puts the Caller in the ASGI scope


class ToolError(Exception):
    """A failure reported to the client as an ``isError`` result (the model can read and correct it)."""

    def __init__(self, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data or {}


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of one MCP request.

    ``default_agent`` comes from the ``X-Adaptive-Agent`` header (HTTP) or ``--agent`` (stdio);
    ``client_name`` is the MCP client's self-reported name.
    """

    principal: Principal
    provider_key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    client_ip: str = ""
    client_name: str | None = None
    default_agent: str | None = None
    transport: str = "http"

    def agent(self, args: Mapping[str, Any] | None = None) -> str:
        """The agent name memory writes are recorded under: the tool's ``agent`` argument, else the
        header / flag, else the client's name, else the key's id."""
        explicit = args.get("agent") if args else None
        for candidate in (explicit, self.default_agent, self.client_name):
            name = agent_name(candidate if isinstance(candidate, str) else None)
            if name:
                return name
        return agent_name(self.principal.id) or "agent"


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """A successful result: ``text`` for the model, ``data`` as structured content."""

    text: str
    data: dict[str, Any] | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> ToolOutput:
        return cls(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode(), data)

    def result(self) -> types.CallToolResult:
        import mcp.types as types

        return types.CallToolResult(
            content=[types.TextContent(text=self.text)], structured_content=self.data, is_error=False
        )


def error_result(message: str, data: dict[str, Any] | None = None) -> types.CallToolResult:
    """An ``isError`` tool result carrying the message and ``{"error": data}``."""
    import mcp.types as types

    return types.CallToolResult(
        content=[types.TextContent(text=message)],
        structured_content={"error": {"message": message, **(data or {})}},
        is_error=True,
    )


Handler = Callable[[Caller, dict[str, Any]], Awaitable[ToolOutput]]


@dataclass(frozen=True, slots=True)
class ToolDef:
    """A tool as data: its name, texts, schema and the name of the handler method that serves it."""

    name: str
    title: str
    description: str
    schema: dict[str, Any]
    handler: str
    read_only: bool = False
    open_world: bool = False

    def bind(self, owner: object) -> ToolSpec:
        """The runnable tool, served by ``owner.<handler>``."""
        handler: Handler = getattr(owner, self.handler)
        return ToolSpec(
            self.name, self.title, self.description, self.schema, handler, self.read_only, self.open_world
        )


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One built-in tool: its published name, schema, handler and hints."""

    name: str
    title: str
    description: str
    schema: dict[str, Any]
    handler: Handler
    read_only: bool = False
    open_world: bool = False
    validator: jsonschema.protocols.Validator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        import jsonschema

        validator_cls = jsonschema.validators.validator_for(self.schema)
        object.__setattr__(self, "validator", validator_cls(self.schema))

    def check(self, args: dict[str, Any]) -> None:
        """Raise ToolError naming every schema violation in ``args``."""
        problems = sorted(self.validator.iter_errors(args), key=lambda e: list(e.path))
        if problems:
            lines = [f"{'.'.join(map(str, p.path)) or '(arguments)'}: {p.message}" for p in problems[:5]]
            raise ToolError(f"invalid arguments for {self.name}: " + "; ".join(lines))

    def to_mcp(self) -> types.Tool:
        import mcp.types as types

        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=self.schema,
            annotations=types.ToolAnnotations(read_only_hint=self.read_only, open_world_hint=self.open_world),
        )
