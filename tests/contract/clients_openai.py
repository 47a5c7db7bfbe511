"""Contract drivers for the openai SDK: Chat Completions and Responses."""

from __future__ import annotations

import json
from typing import Any

import openai

from tests.contract.cases import PNG_B64, PRIOR_ARGS, PRIOR_QUESTION, PRIOR_RESULT, WEATHER, Case, Result
from tests.support.gateway import MASTER_KEY

DATA_URL = "data:image/png;base64," + PNG_B64


def _image_url(case: Case) -> str | None:
    return DATA_URL if case.image_b64 else case.image_url


class ChatClient:
    wire = "openai_chat"

    def __init__(self, url: str) -> None:
        self.sdk = openai.OpenAI(base_url=url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=20)

    def _messages(self, case: Case) -> list[dict[str, Any]]:
        msgs: list[dict[str, Any]] = [{"role": "system", "content": case.system}] if case.system else []
        msgs += [{"role": role, "content": text} for role, text in case.history]
        if case.tool_round:
            call = {
                "id": "call_prior",
                "type": "function",
                "function": {"name": WEATHER.name, "arguments": json.dumps(PRIOR_ARGS)},
            }
            msgs += [
                {"role": "user", "content": PRIOR_QUESTION},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_prior", "content": json.dumps(PRIOR_RESULT)},
            ]
        url = _image_url(case)
        content: Any = case.user
        if url:
            content = [{"type": "text", "text": case.user}, {"type": "image_url", "image_url": {"url": url}}]
        return [*msgs, {"role": "user", "content": content}]

    def body(self, case: Case) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "model": case.model,
            "messages": self._messages(case),
            "max_tokens": case.max_tokens,
        }
        if case.tools:
            kw["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.schema},
                }
                for t in case.tools
            ]
        if case.schema:
            kw["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "out", "schema": case.schema},
            }
        return kw

    def complete(self, case: Case) -> Result:
        r = self.sdk.chat.completions.create(**self.body(case))
        msg = r.choices[0].message
        assert r.usage is not None
        res = Result(
            text=msg.content or "",
            finish=r.choices[0].finish_reason,
            reasoning=(msg.model_extra or {}).get("reasoning_content") or "",
            usage=(r.usage.prompt_tokens, r.usage.completion_tokens),
        )
        res.calls = [
            (tc.function.name, json.loads(tc.function.arguments))  # type: ignore[union-attr]
            for tc in msg.tool_calls or []
        ]
        for kind, present in (("reasoning", res.reasoning), ("text", res.text), ("tool", res.calls)):
            if present:
                res.saw(kind)
        return res

    def stream(self, case: Case) -> Result:
        chunks = list(
            self.sdk.chat.completions.create(
                **self.body(case), stream=True, stream_options={"include_usage": True}
            )
        )
        assert chunks[0].choices[0].delta.role == "assistant", "first chunk must carry delta.role"
        assert chunks[-1].choices == [] and chunks[-1].usage is not None, "last chunk must be the usage chunk"
        res = Result(usage=(chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens))
        names: dict[int, str] = {}
        args: dict[int, str] = {}
        for ch in chunks:
            for c in ch.choices:
                d = c.delta
                reasoning = (d.model_extra or {}).get("reasoning_content")
                if reasoning:
                    res.reasoning += reasoning
                    res.saw("reasoning")
                if d.content:
                    res.text += d.content
                    res.saw("text")
                for tc in d.tool_calls or []:
                    if tc.id:
                        assert tc.function is not None and tc.function.name, "first tool delta names the call"
                        names[tc.index] = tc.function.name
                        res.saw("tool")
                    assert tc.index in names, "argument delta before its call started"
                    args[tc.index] = args.get(tc.index, "") + ((tc.function and tc.function.arguments) or "")
                if c.finish_reason:
                    res.finish = c.finish_reason
        res.calls = [(names[i], json.loads(args[i])) for i in sorted(names)]
        return res

    def raw(self, case: Case, stream: bool) -> tuple[str, dict[str, str], dict[str, Any]]:
        return (
            "/v1/chat/completions",
            {"authorization": f"Bearer {MASTER_KEY}"},
            {**self.body(case), "stream": stream},
        )

    def error_message(self, body: dict[str, Any]) -> str:
        err = body["error"]
        assert isinstance(err["message"], str) and err["type"], body
        return str(err["message"])


class ResponsesClient:
    wire = "openai_responses"

    def __init__(self, url: str) -> None:
        self.sdk = openai.OpenAI(base_url=url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=20)

    def _input(self, case: Case) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = [{"role": role, "content": text} for role, text in case.history]
        if case.tool_round:
            items += [
                {"role": "user", "content": PRIOR_QUESTION},
                {
                    "type": "function_call",
                    "call_id": "call_prior",
                    "name": WEATHER.name,
                    "arguments": json.dumps(PRIOR_ARGS),
                },
                {"type": "function_call_output", "call_id": "call_prior", "output": json.dumps(PRIOR_RESULT)},
            ]
        url = _image_url(case)
        content: Any = case.user
        if url:
            content = [{"type": "input_text", "text": case.user}, {"type": "input_image", "image_url": url}]
        return [*items, {"role": "user", "content": content}]

    def body(self, case: Case) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "model": case.model,
            "input": self._input(case),
            "max_output_tokens": case.max_tokens,
        }
        if case.system:
            kw["instructions"] = case.system
        if case.tools:
            kw["tools"] = [
                {"type": "function", "name": t.name, "description": t.description, "parameters": t.schema}
                for t in case.tools
            ]
        if case.schema:
            kw["text"] = {"format": {"type": "json_schema", "name": "out", "schema": case.schema}}
        return kw

    @staticmethod
    def _result(r: Any) -> Result:
        res = Result(usage=(r.usage.input_tokens, r.usage.output_tokens))
        for item in r.output:
            if item.type == "reasoning":
                res.reasoning += "".join(s.text for s in item.summary)
                res.saw("reasoning")
            elif item.type == "message":
                res.text += "".join(c.text for c in item.content if c.type == "output_text")
                res.saw("text")
            elif item.type == "function_call":
                res.calls.append((item.name, json.loads(item.arguments)))
                res.saw("tool")
        incomplete = r.status == "incomplete"
        res.finish = "tool_calls" if res.calls else "length" if incomplete else "stop"
        return res

    def complete(self, case: Case) -> Result:
        return self._result(self.sdk.responses.create(**self.body(case)))

    def stream(self, case: Case) -> Result:
        events = list(self.sdk.responses.create(**self.body(case), stream=True))
        assert events[0].type == "response.created" and events[-1].type == "response.completed"
        added: set[int] = set()
        text = ""
        args: dict[str, str] = {}
        for ev in events:
            if ev.type == "response.output_item.added":
                added.add(ev.output_index)
            elif ev.type in ("response.output_text.delta", "response.function_call_arguments.delta"):
                assert ev.output_index in added, f"{ev.type} before response.output_item.added"
                if ev.type == "response.output_text.delta":
                    text += ev.delta
                else:
                    args[ev.item_id] = args.get(ev.item_id, "") + ev.delta
        res = self._result(events[-1].response)  # type: ignore[union-attr]
        assert text == res.text, "streamed text deltas differ from the completed response"
        for item in events[-1].response.output:  # type: ignore[union-attr]
            if item.type == "function_call":
                assert json.loads(args[item.id or ""]) == json.loads(item.arguments)
        return res

    def raw(self, case: Case, stream: bool) -> tuple[str, dict[str, str], dict[str, Any]]:
        return (
            "/v1/responses",
            {"authorization": f"Bearer {MASTER_KEY}"},
            {**self.body(case), "stream": stream},
        )

    def error_message(self, body: dict[str, Any]) -> str:
        err = body["error"]
        assert isinstance(err["message"], str), body
        return str(err["message"])
