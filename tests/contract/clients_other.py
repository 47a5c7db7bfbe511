"""Contract drivers for the google-genai and anthropic SDKs."""

from __future__ import annotations

import json
from typing import Any

import anthropic
from google import genai
from google.genai import types

from tests.contract.cases import PNG, PNG_B64, PRIOR_ARGS, PRIOR_QUESTION, PRIOR_RESULT, WEATHER, Case, Result
from tests.support.gateway import MASTER_KEY

GEMINI_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"}
ANTHROPIC_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}
BLOCK_KINDS = {"thinking": "reasoning", "text": "text", "tool_use": "tool"}
DELTA_FOR = {
    "thinking": {"thinking_delta", "signature_delta"},
    "text": {"text_delta"},
    "tool_use": {"input_json_delta"},
}


class GeminiClient:
    wire = "gemini"

    def __init__(self, url: str) -> None:
        self.sdk = genai.Client(
            api_key=MASTER_KEY,
            http_options=types.HttpOptions(base_url=url, api_version="v1beta", timeout=20_000),
        )

    def _contents(self, case: Case) -> list[types.Content]:
        out = [
            types.Content(role="user" if role == "user" else "model", parts=[types.Part(text=text)])
            for role, text in case.history
        ]
        if case.tool_round:
            out += [
                types.Content(role="user", parts=[types.Part(text=PRIOR_QUESTION)]),
                types.Content(
                    role="model",
                    parts=[types.Part(function_call=types.FunctionCall(name=WEATHER.name, args=PRIOR_ARGS))],
                ),
                types.Content(
                    role="user",
                    parts=[
                        types.Part(
                            function_response=types.FunctionResponse(name=WEATHER.name, response=PRIOR_RESULT)
                        )
                    ],
                ),
            ]
        parts = [types.Part(text=case.user)]
        if case.image_b64:
            parts.append(types.Part.from_bytes(data=PNG, mime_type="image/png"))
        elif case.image_url:
            parts.append(types.Part.from_uri(file_uri=case.image_url, mime_type="image/png"))
        return [*out, types.Content(role="user", parts=parts)]

    def _config(self, case: Case) -> types.GenerateContentConfig:
        config = types.GenerateContentConfig(
            system_instruction=case.system,
            max_output_tokens=case.max_tokens,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        if case.tools:
            config.tools = [
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name=t.name, description=t.description, parameters_json_schema=t.schema
                        )
                        for t in case.tools
                    ]
                )
            ]
        if case.schema:
            config.response_mime_type = "application/json"
            config.response_json_schema = case.schema
        return config

    @staticmethod
    def _parts(parts: list[types.Part], res: Result) -> None:
        for p in parts:
            if p.function_call is not None:
                res.calls.append((p.function_call.name or "", dict(p.function_call.args or {})))
                res.saw("tool")
            elif p.thought and p.text:
                res.reasoning += p.text
                res.saw("reasoning")
            elif p.text:
                res.text += p.text
                res.saw("text")

    @staticmethod
    def _finish(res: Result, raw: Any, usage: Any) -> None:
        name = raw.name if raw is not None else ""
        res.finish = "tool_calls" if res.calls and name == "STOP" else GEMINI_FINISH.get(name, name)
        out = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
        res.usage = (usage.prompt_token_count or 0, out)

    def complete(self, case: Case) -> Result:
        r = self.sdk.models.generate_content(
            model=case.model, contents=self._contents(case), config=self._config(case)
        )
        res = Result()
        cand = (r.candidates or [])[0]
        self._parts(cand.content.parts or [] if cand.content else [], res)
        self._finish(res, cand.finish_reason, r.usage_metadata)
        return res

    def stream(self, case: Case) -> Result:
        chunks = list(
            self.sdk.models.generate_content_stream(
                model=case.model, contents=self._contents(case), config=self._config(case)
            )
        )
        res = Result()
        for ch in chunks:
            for cand in ch.candidates or []:
                for p in (cand.content.parts or []) if cand.content else []:
                    if p.function_call is not None and case.tools:
                        assert p.function_call.args, (
                            "Gemini streams whole function calls: args must be complete"
                        )
                self._parts((cand.content.parts or []) if cand.content else [], res)
        last = chunks[-1]
        assert last.candidates and last.candidates[0].finish_reason is not None, (
            "last chunk needs finishReason"
        )
        assert last.usage_metadata is not None, "last chunk needs usageMetadata"
        assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks[:-1])
        self._finish(res, last.candidates[0].finish_reason, last.usage_metadata)
        return res

    def raw(self, case: Case, stream: bool) -> tuple[str, dict[str, str], dict[str, Any]]:
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        parts: list[dict[str, Any]] = [{"text": case.user}]
        if case.image_b64:
            parts.append({"inlineData": {"mimeType": "image/png", "data": PNG_B64}})
        elif case.image_url:
            parts.append({"fileData": {"mimeType": "image/png", "fileUri": case.image_url}})
        body: dict[str, Any] = {"contents": [{"role": "user", "parts": parts}]}
        if case.tools:
            body["tools"] = [
                {
                    "functionDeclarations": [
                        {"name": t.name, "description": t.description, "parametersJsonSchema": t.schema}
                        for t in case.tools
                    ]
                }
            ]
        return f"/v1beta/models/{case.model}:{action}", {"x-goog-api-key": MASTER_KEY}, body

    def error_message(self, body: dict[str, Any]) -> str:
        err = body["error"]
        assert isinstance(err["code"], int) and isinstance(err["status"], str) and err["message"], body
        return str(err["message"])


class AnthropicClient:
    wire = "anthropic_messages"

    def __init__(self, url: str) -> None:
        self.sdk = anthropic.Anthropic(base_url=url, api_key=MASTER_KEY, max_retries=0, timeout=20)

    def _messages(self, case: Case) -> list[dict[str, Any]]:
        msgs: list[dict[str, Any]] = [{"role": role, "content": text} for role, text in case.history]
        last: list[dict[str, Any]] = []
        if case.tool_round:
            msgs += [
                {"role": "user", "content": PRIOR_QUESTION},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "toolu_prior", "name": WEATHER.name, "input": PRIOR_ARGS}
                    ],
                },
            ]
            last.append(
                {"type": "tool_result", "tool_use_id": "toolu_prior", "content": json.dumps(PRIOR_RESULT)}
            )
        if case.image_b64:
            last.append(
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}
            )
        elif case.image_url:
            last.append({"type": "image", "source": {"type": "url", "url": case.image_url}})
        last.append({"type": "text", "text": case.user})
        return [*msgs, {"role": "user", "content": last}]

    def body(self, case: Case) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "model": case.model,
            "max_tokens": case.max_tokens,
            "messages": self._messages(case),
        }
        if case.system:
            kw["system"] = case.system
        if case.tools:
            kw["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.schema} for t in case.tools
            ]
        if case.schema:
            kw["output_config"] = {"format": {"type": "json_schema", "schema": case.schema}}
        return kw

    def complete(self, case: Case) -> Result:
        r = self.sdk.messages.create(**self.body(case))
        res = Result(
            finish=ANTHROPIC_FINISH.get(r.stop_reason or "", str(r.stop_reason)),
            usage=(r.usage.input_tokens, r.usage.output_tokens),
        )
        for block in r.content:
            res.saw(BLOCK_KINDS.get(block.type, block.type))
            if block.type == "thinking":
                res.reasoning += block.thinking
            elif block.type == "text":
                res.text += block.text
            elif block.type == "tool_use":
                res.calls.append((block.name, dict(block.input)))  # type: ignore[call-overload]
        return res

    def stream(self, case: Case) -> Result:
        """Strict framing: message_start, blocks opened at the next index, deltas of the open block's
        kind only, each block stopped before the next, message_delta, message_stop."""
        events = list(self.sdk.messages.create(**self.body(case), stream=True))
        assert events[0].type == "message_start" and events[-1].type == "message_stop"
        assert events[-2].type == "message_delta"
        start, end = events[0].message.usage, events[-2].usage  # type: ignore[union-attr]
        # input counts known only at the end (translated streams) come in message_delta's cumulative usage
        res = Result(usage=(end.input_tokens or start.input_tokens, end.output_tokens))
        open_block: Any = None
        next_index = 0
        partial = ""
        for ev in events[1:-2]:
            if ev.type == "content_block_start":
                assert open_block is None and ev.index == next_index, "blocks must not overlap and count up"
                open_block, next_index, partial = ev.content_block, next_index + 1, ""
                res.saw(BLOCK_KINDS.get(open_block.type, open_block.type))
            elif ev.type == "content_block_delta":
                assert open_block is not None and ev.index == next_index - 1, "delta outside its block"
                assert ev.delta.type in DELTA_FOR[open_block.type], (
                    f"{ev.delta.type} in a {open_block.type} block"
                )
                if ev.delta.type == "text_delta":
                    res.text += ev.delta.text
                elif ev.delta.type == "thinking_delta":
                    res.reasoning += ev.delta.thinking
                elif ev.delta.type == "input_json_delta":
                    partial += ev.delta.partial_json
            elif ev.type == "content_block_stop":
                assert open_block is not None and ev.index == next_index - 1
                if open_block.type == "tool_use":
                    assert partial.strip(), "tool_use block streamed with an empty input"
                    res.calls.append((open_block.name, json.loads(partial)))
                open_block = None
        assert open_block is None, "a content block was never stopped"
        reason = events[-2].delta.stop_reason  # type: ignore[union-attr]
        res.finish = ANTHROPIC_FINISH.get(reason or "", str(reason))
        return res

    def raw(self, case: Case, stream: bool) -> tuple[str, dict[str, str], dict[str, Any]]:
        headers = {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"}
        return "/v1/messages", headers, {**self.body(case), "stream": stream}

    def error_message(self, body: dict[str, Any]) -> str:
        assert body["type"] == "error" and body["error"]["type"] and body["error"]["message"], body
        return str(body["error"]["message"])
