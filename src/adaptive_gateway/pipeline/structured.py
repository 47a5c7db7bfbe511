"""Structured output for upstreams without native JSON-schema support.

Instruct (a system addendum carrying the schema), extract (the whole reply, a fenced block, or the
first balanced JSON object / array in the text), validate with ``jsonschema``, ask once more quoting the
validation error, then fail with an error that names what went wrong. The helpers are pure; the driver
takes any ``call(ChatRequest) -> ChatResponse``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from adaptive_gateway.errors import InvalidRequest, UpstreamError
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.execute import Executor
from adaptive_gateway.routing.plan import Plan
from adaptive_gateway.types import ChatRequest, ChatResponse, ContentPart, Message, Usage

Call = Callable[[ChatRequest], Awaitable[ChatResponse]]

_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_OPENERS = {"{": "}", "[": "]"}
MAX_ERROR_CHARS = 400


class StructuredOutputError(UpstreamError):
    """The model's reply was not JSON matching the schema, even after the repair turn."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=502, code="structured_output_invalid")
        self.type = "upstream_error"


def wants_json(req: ChatRequest) -> bool:
    rf = req.response_format
    return rf is not None and rf.type in ("json_schema", "json_object")


def instruction(req: ChatRequest) -> str:
    rf = req.response_format
    if rf is not None and rf.schema is not None:
        schema = orjson.dumps(rf.schema).decode()
        return (
            "Reply with a single JSON value that validates against this JSON Schema, and nothing else "
            f"(no prose, no code fences):\n{schema}"
        )
    return "Reply with a single valid JSON object and nothing else (no prose, no code fences)."


def instruct(req: ChatRequest) -> ChatRequest:
    """The request re-encoded for a non-native target: schema in a system addendum, no response_format,
    and no raw body (so the adapter encodes the canonical messages, addendum included)."""
    addendum = Message("system", [ContentPart("text", text=instruction(req))])
    messages = list(req.messages)
    last_system = max((i for i, m in enumerate(messages) if m.role in ("system", "developer")), default=-1)
    leading = (
        last_system if all(m.role in ("system", "developer") for m in messages[: last_system + 1]) else -1
    )
    messages.insert(leading + 1, addendum)
    return dataclasses.replace(req, messages=messages, response_format=None, raw=None)


def _balanced(text: str, start: int) -> str | None:
    """The JSON object / array opening at ``start``, by bracket depth outside strings."""
    stack: list[str] = []
    in_string = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in _OPENERS:
            stack.append(_OPENERS[ch])
        elif ch in "}]":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return text[start : i + 1]
    return None


def extract_json(text: str) -> Any:
    """The JSON value in a model reply: the whole text, a fenced block, or the first balanced object /
    array that parses. Raises ``ValueError`` naming what was found instead."""
    candidates = [text.strip(), *(m.strip() for m in _FENCE.findall(text))]
    for candidate in candidates:
        try:
            return orjson.loads(candidate)
        except orjson.JSONDecodeError:
            pass
    for i, ch in enumerate(text):
        if ch in _OPENERS:
            found = _balanced(text, i)
            if found is not None:
                try:
                    return orjson.loads(found)
                except orjson.JSONDecodeError:
                    continue
    preview = text.strip()[:80] or "an empty reply"
    raise ValueError(f"no JSON value found in the reply (got {preview!r})")


def check_schema(schema: dict[str, Any]) -> None:
    """400 when the client's schema itself is not a valid JSON Schema."""
    import jsonschema  # imported on the first structured-output request: most workers never need it

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidRequest(
            f"response_format schema is not a valid JSON Schema: {exc.message}",
            param="response_format.json_schema.schema",
        ) from None


def validation_error(value: Any, schema: dict[str, Any] | None) -> str | None:
    """None when ``value`` matches ``schema``; otherwise the most relevant error, with its JSON path."""
    if schema is None:
        return None if isinstance(value, dict) else f"expected a JSON object, got {type(value).__name__}"
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = error.json_path if error.path else "$"
    return f"at {where}: {error.message}"[:MAX_ERROR_CHARS]


def check_reply(resp: ChatResponse, schema: dict[str, Any] | None) -> tuple[Any, str | None]:
    """(parsed value, None) when the first choice is valid JSON for the schema, else (None, problem)."""
    if not resp.choices:
        return None, "the upstream returned no choices"
    choice = resp.choices[0]
    try:
        value = extract_json(choice.message.text())
    except ValueError as exc:
        problem = str(exc)
        if choice.finish_reason == "length":
            problem += " (the reply was cut off by max_tokens)"
        return None, problem
    return value, validation_error(value, schema)


def repair(req: ChatRequest, reply: ChatResponse, problem: str) -> ChatRequest:
    """The instructed request plus the bad reply and a user turn quoting the validation error."""
    bad = reply.choices[0].message.text() if reply.choices else ""
    follow_up = (
        f"Your previous reply was not valid: {problem}. Reply again with only the corrected JSON "
        "value, matching the schema exactly."
    )
    messages = [
        *req.messages,
        Message("assistant", [ContentPart("text", text=bad)]),
        Message("user", [ContentPart("text", text=follow_up)]),
    ]
    return dataclasses.replace(req, messages=messages)


def _with_json(resp: ChatResponse, value: Any, usage: Usage | None) -> ChatResponse:
    """The response with its text replaced by the clean JSON (fences and prose gone)."""
    choice = resp.choices[0]
    message = dataclasses.replace(
        choice.message, content=[ContentPart("text", text=orjson.dumps(value).decode())]
    )
    choices = [dataclasses.replace(choice, message=message, finish_reason="stop"), *resp.choices[1:]]
    return dataclasses.replace(resp, choices=choices, usage=usage, raw=None, raw_bytes=None)


def _add(total: Usage | None, more: Usage | None) -> Usage | None:
    if more is None:
        return total
    out = Usage()
    if total is not None:
        out.add(total)
    out.add(more)
    return out


async def complete_structured(call: Call, req: ChatRequest) -> ChatResponse:
    """Instruct, extract, validate, repair once, or raise :class:`StructuredOutputError`."""
    rf = req.response_format
    schema = rf.schema if rf is not None else None
    if schema is not None:
        check_schema(schema)
    instructed = instruct(req)
    first = await call(instructed)
    if first.choices and first.choices[0].message.tool_calls:
        return first  # the model chose a tool; there is no JSON answer to check yet
    value, problem = check_reply(first, schema)
    if problem is None:
        return _with_json(first, value, first.usage)
    second = await call(repair(instructed, first, problem))
    usage = _add(first.usage, second.usage)
    value, problem2 = check_reply(second, schema)
    if problem2 is None:
        return _with_json(second, value, usage)
    raise StructuredOutputError(
        f"structured output: the model's reply did not match the requested JSON schema after one repair "
        f"attempt: {problem2} (first attempt: {problem})"
    )


def needs_fallback(req: ChatRequest, executor: Executor, plan: Plan) -> bool:
    """JSON output asked of a plan whose first candidate has no native JSON-schema support."""
    if not wants_json(req) or not plan.candidates:
        return False
    adapter = executor.adapters.get(plan.candidates[0].provider.adapter)
    return adapter is not None and getattr(adapter, "supports_json_schema", True) is False


async def complete(executor: Executor, ctx: RequestContext, plan: Plan) -> ChatResponse:
    """``executor.complete``, through :func:`complete_structured` when the target needs the fallback."""
    req = ctx.request
    assert req is not None
    if not needs_fallback(req, executor, plan):
        return await executor.complete(ctx, plan)

    async def call(r: ChatRequest) -> ChatResponse:
        ctx.request = r
        try:
            return await executor.complete(ctx, plan)
        finally:
            ctx.request = req

    return await complete_structured(call, req)
