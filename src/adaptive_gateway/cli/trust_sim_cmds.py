"""``simulate request.json`` and ``run list | show | replay | prune``.

``simulate`` runs the decision path in this process against the config file (no gateway needed, no
upstream called, nothing written); ``--url`` asks a running gateway's ``POST /v1/simulate`` instead,
which also sees its live health. The request file is an OpenAI chat body, or ``{"body": {...},
"headers": {...}}`` (the shape of a run's ``request.json``).

``run replay`` re-sends a recorded run's request to a running gateway, with the same or another
model, and shows the recorded answer next to the new one. ``run prune`` deletes run folders past
``trust.runs.retention_days`` (or ``--days``), as the gateway does hourly.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from adaptive_gateway.cli.core_cmds import ConfigOpt, gateway_key, gateway_url, resolve_config_path
from adaptive_gateway.config import CompiledConfig, ConfigError, compile_config, gateway_home, load_config
from adaptive_gateway.config.trust_schema import RunOptions
from adaptive_gateway.ledger.runs import RUNS_DIR, RunNotFound, RunStore

UrlOpt = Annotated[str | None, typer.Option("--url", help="A running gateway (default: from the config).")]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--key", help="Gateway key (default: $ADAPTIVE_GATEWAY_KEY, $ADAPTIVE_GATEWAY_MASTER_KEY, admin_key)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]✗ {message}[/red]")
    return typer.Exit(code)


def _post(url: str, key: str | None, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    auth = {"authorization": f"Bearer {key}"} if key else {}
    try:
        return httpx.post(url, json=body, headers={**headers, **auth}, timeout=300)
    except httpx.HTTPError as exc:
        raise _fail(f"no gateway answered at {url}: {exc}") from None


# ---- simulate -------------------------------------------------------------------------------------------


def read_request(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """(body, headers) of a request file: a chat body, or ``{"body": ..., "headers": ...}``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _fail(f"{path}: {exc}", 2) from None
    if not isinstance(data, dict):
        raise _fail(f"{path}: expected a JSON object", 2)
    if isinstance(data.get("body"), dict) and "messages" not in data:
        headers = data.get("headers") or {}
        return data["body"], {str(k).lower(): str(v) for k, v in headers.items()}
    return data, {}


async def _simulate_here(
    compiled: CompiledConfig, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    from adaptive_gateway.pipeline.context import Principal, RequestContext
    from adaptive_gateway.server.app import build_app
    from adaptive_gateway.server.trust_simulate import simulate
    from adaptive_gateway.wire.openai_chat import OpenAIChatWire

    app = build_app(compiled)
    runtime, stage = app.extras["trust"], app.extras["trust.stage"]
    ctx = RequestContext("sim_" + os.urandom(8).hex(), "/v1/simulate", compiled, headers)
    ctx.principal = Principal("master", "master", "cli")
    ctx.request = OpenAIChatWire().decode({**body, "stream": False}, {})
    try:
        return await simulate(app.gateway, runtime, stage, ctx)  # type: ignore[arg-type]
    finally:
        await runtime.decider.close()  # type: ignore[attr-defined]


def simulate_cmd(
    request: Annotated[Path, typer.Argument(help="A JSON file: an OpenAI chat body.")],
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="name: value (e.g. x-trust-level: secret)")
    ] = None,
    config: Path | None = ConfigOpt,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What the gateway would do with a request: trust level, findings, redactions, route, cost,
    and the receipt it would write. Calls no upstream."""
    from adaptive_gateway.errors import GatewayError

    body, headers = read_request(request)
    for item in header or []:
        name, _, value = item.partition(":")
        headers[name.strip().lower()] = value.strip()
    if url:
        resp = _post(gateway_url(url, config) + "/v1/simulate", gateway_key(key), body, headers)
        if resp.status_code != 200:
            raise _fail(f"HTTP {resp.status_code}: {resp.text[:500]}")
        result = resp.json()
    else:
        try:
            path = resolve_config_path(config)
            compiled = compile_config(load_config(path), text=path.read_text(encoding="utf-8"))
            result = asyncio.run(_simulate_here(compiled, body, headers))
        except ConfigError as exc:
            raise _fail(str(exc), 2) from None
        except GatewayError as exc:
            raise _fail(f"{exc.status} {exc.message}") from None
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        print_simulation(result)


def print_simulation(result: dict[str, Any]) -> None:
    out = _out()
    trust = result.get("trust") or {}
    out.print(f"[bold]trust level:[/bold] {trust.get('level', 'not classified')}")
    for reason in trust.get("reasons", []):
        out.print(f"  - {reason}")
    out.print(f"[bold]findings:[/bold] {trust.get('findings_text', 'none')}")
    verdict = trust.get("verdict") or {}
    out.print(f"[bold]verdict:[/bold] {verdict.get('kind', '-')}: {verdict.get('reason', '')}")
    if result.get("redacted_messages"):
        out.print("[bold]sent after redaction:[/bold]")
        for m in result["redacted_messages"]:
            out.print(f"  {m['role']}: {m['text'][:300]}")
    blocked = result.get("blocked")
    if blocked:
        out.print(f"[red][bold]blocked ({blocked['status']}):[/bold] {blocked['message']}[/red]")
    route = result.get("route") or {}
    for c in route.get("candidates", []):
        out.print(f"  route {c['rank']}. {c['deployment']} ({c['locality']}): {c['role']}; {c['why']}")
    for s in route.get("skipped", []):
        out.print(f"  skipped {s.get('deployment')}: {s.get('skipped')}")
    cost = result.get("cost_estimate") or {}
    out.print(
        f"[bold]cost estimate:[/bold] ${cost.get('usd', 0):.6f} "
        f"({cost.get('input_tokens', 0)} input + {cost.get('output_tokens', 0)} output tokens)"
    )
    out.print("[bold]receipt that would be written:[/bold]")
    typer.echo(json.dumps(result.get("receipt"), indent=2))


# ---- runs -----------------------------------------------------------------------------------------------


def runs_store() -> RunStore:
    return RunStore(gateway_home() / RUNS_DIR)


def answer_text(body: Any) -> str:
    """The answer text of a chat body in any of the supported formats."""
    if not isinstance(body, dict):
        return ""
    if body.get("choices"):
        msg = body["choices"][0].get("message") or {}
        return str(msg.get("content") or "")
    if isinstance(body.get("content"), list):  # Anthropic messages
        return "".join(b.get("text", "") for b in body["content"] if isinstance(b, dict))
    if body.get("candidates"):  # Gemini
        parts = ((body["candidates"][0].get("content") or {}).get("parts")) or []
        return "".join(p.get("text", "") for p in parts if isinstance(p, dict))
    if isinstance(body.get("output"), list):  # OpenAI responses
        items = [c for o in body["output"] if isinstance(o, dict) for c in o.get("content") or []]
        return "".join(c.get("text", "") for c in items if isinstance(c, dict))
    return ""


def run_list(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20, as_json: JsonOpt = False
) -> None:
    """Recorded runs, newest first."""
    rows = runs_store().list(limit)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        fields = (r.get("outcome"), r.get("model"), r.get("trust_level"), r.get("deployment") or "-")
        _out().print("  ".join([r["id"], *(str(f or "") for f in fields)]))
    if not rows:
        _out().print("no runs recorded (set trust.record_runs: true)")


def run_show(run_id: str) -> None:
    """Every file of a run, as JSON."""
    try:
        typer.echo(json.dumps(runs_store().load(run_id), indent=2))
    except RunNotFound:
        raise _fail(f"no run {run_id}") from None


def run_replay(
    run_id: str,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Another model (default: the recorded one).")
    ] = None,
    config: Path | None = ConfigOpt,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-send a recorded request to the gateway and show both answers."""
    try:
        run = runs_store().load(run_id)
    except RunNotFound:
        raise _fail(f"no run {run_id}") from None
    request = run.get("request") or {}
    body = {k: v for k, v in (request.get("body") or {}).items() if k != "stream_options"}
    if not body:
        raise _fail(f"run {run_id} has no recorded request")
    body.update(model=model or body.get("model"), stream=False)
    resp = _post(
        gateway_url(url, config) + "/v1/chat/completions",
        gateway_key(key),
        body,
        request.get("headers") or {},
    )
    new = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
    result: dict[str, Any] = {
        "run": run_id,
        "recorded": {
            "model": (run.get("run") or {}).get("model"),
            "answer": answer_text(run.get("response")),
        },
        "replay": {
            "model": body["model"],
            "status": resp.status_code,
            "answer": answer_text(new)
            if resp.status_code == 200
            else (new.get("error") or {}).get("message", resp.text),
            "receipt": resp.headers.get("x-adaptive-receipt"),
        },
    }
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        out = _out()
        out.print(f"[bold]recorded ({result['recorded']['model']}):[/bold]\n{result['recorded']['answer']}\n")
        replay = result["replay"]
        out.print(
            f"[bold]replay ({replay['model']}, HTTP {replay['status']}, receipt {replay['receipt']}):[/bold]"
        )
        out.print(replay["answer"])
    if resp.status_code != 200:
        raise typer.Exit(1)


def run_prune(
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            "--older-than",
            min=0,
            help="Days to keep before today (default: trust.runs.retention_days).",
        ),
    ] = None,
    config: Path | None = ConfigOpt,
) -> None:
    """Delete run folders older than the retention (by the day in their receipt id) and print their
    ids; today's runs are never deleted. Safe while gateways are running."""
    if days is None:
        path = resolve_config_path(config)
        try:
            days = (load_config(path).trust.runs if path.exists() else RunOptions()).retention_days
        except ConfigError as exc:
            raise _fail(str(exc), 2) from None
        if days == 0:
            _out().print("trust.runs.retention_days is 0 (keep runs forever): nothing pruned")
            return
    pruned = runs_store().prune(days)
    if not pruned:
        _out().print(f"no runs older than {days} days")
        return
    _out().print(f"deleted {len(pruned)} run(s) older than {days} days:")
    for run_id in pruned:
        typer.echo(f"  {run_id}")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_cmd)
    run_app = typer.Typer(help="The run ledger: recorded requests, replayable.", no_args_is_help=True)
    run_app.command("list")(run_list)
    run_app.command("show")(run_show)
    run_app.command("replay")(run_replay)
    run_app.command("prune")(run_prune)
    app.add_typer(run_app, name="run")
