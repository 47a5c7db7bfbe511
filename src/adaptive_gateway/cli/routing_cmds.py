"""``route preview`` and ``route status``: how a request would be routed, and each deployment's health.

Both ask the running gateway (``POST /v1/route/preview``, ``GET /health/providers``) so they show live
health and breaker state. When no gateway answers, ``route preview`` plans from the config file alone
(no live health) and says so. Neither ever calls an upstream.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from adaptive_gateway.cli.core_cmds import ConfigOpt, resolve_config_path
from adaptive_gateway.cli.core_cmds import gateway_key as _key
from adaptive_gateway.cli.core_cmds import gateway_url as _url
from adaptive_gateway.config import ConfigError, compile_config, load_config


def out() -> Console:
    return Console()


def err() -> Console:
    return Console(stderr=True)


UrlOpt = typer.Option(None, "--url", help="Gateway URL (default: from the config's server section).")
KeyOpt = typer.Option(
    None,
    "--key",
    help="Gateway key (default: $ADAPTIVE_GATEWAY_KEY, $ADAPTIVE_GATEWAY_MASTER_KEY, admin_key).",
)
JsonOpt = typer.Option(False, "--json", help="Print the raw JSON.")


class Unreachable(Exception):
    pass


def _call(method: str, url: str, key: str | None, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {key}"} if key else {})
    req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - http(s) URL
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            result: dict[str, Any] = json.loads(resp.read())
            return result
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        try:
            detail = json.loads(detail)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            pass
        err().print(f"[red]{method} {url}: HTTP {exc.code}: {detail}[/red]", highlight=False)
        raise typer.Exit(1) from None
    except (urllib.error.URLError, OSError) as exc:
        raise Unreachable(str(getattr(exc, "reason", exc))) from None


def _local_preview(body: dict[str, Any], config: Path | None) -> dict[str, Any]:
    """Plan from the config file alone: the same planner, no live health."""
    from adaptive_gateway.formats.openai_chat import decode_request
    from adaptive_gateway.routing.explain import explain
    from adaptive_gateway.routing.router import Router

    path = resolve_config_path(config)
    try:
        cfg = compile_config(load_config(path), text=path.read_text(encoding="utf-8"))
    except ConfigError as exc:
        err().print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    model = cfg.resolve(body["model"])
    if model is None:
        err().print(
            f"[red]model '{body['model']}' not found; available: {', '.join(cfg.public_names())}[/red]"
        )
        raise typer.Exit(1)
    router = Router()
    req = decode_request({"messages": [{"role": "user", "content": "(route preview)"}], **body})
    return explain(router.plan(cfg, model, request=req), router.board, cfg, router.clock())


def _print_preview(data: dict[str, Any]) -> None:
    arm = f", split arm '{data['split_arm']}'" if data.get("split_arm") else ""
    out().print(f"[bold]{data['model']}[/bold] ({data['kind']}, strategy {data['strategy']}{arm})")
    if data.get("estimated_tokens") is not None:
        out().print(f"estimated prompt tokens: {data['estimated_tokens']}")
    table = Table("#", "deployment", "role", "why", "health", "latency", "breaker", "$/Mtok in/out")
    for c in data["candidates"]:
        h, br = c["health"], c["breaker"]
        latency = f"{h['latency_ms']:.0f} ms" if h["latency_ms"] is not None else "-"
        cost = f"{c['cost']['input_per_mtok']:g} / {c['cost']['output_per_mtok']:g}"
        table.add_row(
            str(c["rank"]), c["deployment"], c["role"], c["why"], str(h["score"]), latency, br["state"], cost
        )
    out().print(table)
    for s in data["skipped"]:
        out().print(f"  skipped {s['deployment']}: {s['skipped']}", highlight=False)
    if not data["candidates"]:
        out().print("[red]no eligible deployment[/red]")


def preview(
    model: str = typer.Option(..., "--model", "-m", help="Model, alias or router:* name to plan for."),
    file: Path | None = typer.Option(None, "--file", "-f", help="An OpenAI chat request body (JSON)."),
    url: str | None = UrlOpt,
    key: str | None = KeyOpt,
    config: Path | None = ConfigOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show the ordered candidates for a request, each one's health, latency, cost and breaker state,
    and why it was chosen or skipped. Calls no upstream."""
    body: dict[str, Any] = json.loads(file.read_text(encoding="utf-8")) if file else {}
    body["model"] = model
    base = _url(url, config)
    try:
        data = _call("POST", base + "/v1/route/preview", _key(key), body)
    except Unreachable as exc:
        err().print(
            f"[yellow]no gateway at {base} ({exc}): planned from the config file, no live health[/yellow]"
        )
        data = _local_preview(body, config)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    _print_preview(data)


def status(
    url: str | None = UrlOpt,
    key: str | None = KeyOpt,
    config: Path | None = ConfigOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Health score (0-100), success rate, latency, breaker and probes of every deployment."""
    base = _url(url, config)
    try:
        data = _call("GET", base + "/health/providers", _key(key))
    except Unreachable as exc:
        err().print(f"[red]no gateway at {base}: {exc}[/red]")
        raise typer.Exit(3) from None
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    print_health(data)


def provider_health(base: str, key: str | None = None) -> dict[str, Any] | None:
    """``GET /health/providers`` of the gateway at ``base``, or None when it does not answer or refuses
    the key (the reason is printed to stderr)."""
    try:
        return _call("GET", base + "/health/providers", _key(key))
    except (Unreachable, typer.Exit):
        return None


def print_health(data: dict[str, Any]) -> None:
    """The per-deployment health table (``route status`` and the top-level ``status``)."""
    out().print(f"breakers: {data['breakers']}")
    table = Table(
        "provider", "deployment", "score", "success", "latency", "in flight", "breaker", "last error"
    )
    for name, p in data["providers"].items():
        for d in p["deployments"]:
            h, br = d["health"], d["breaker"]
            rate = f"{h['success_rate']:.0%}" if h["success_rate"] is not None else "-"
            latency = f"{h['latency_ms']:.0f} ms" if h["latency_ms"] is not None else "-"
            state = br["state"] + (f" ({br['open_for_s']:.0f} s)" if br["state"] == "open" else "")
            table.add_row(
                name,
                d["deployment"],
                str(h["score"]),
                rate,
                latency,
                str(h["inflight"]),
                state,
                h["last_error"] or "",
            )
    out().print(table)


def register(app: typer.Typer) -> None:
    route_app = typer.Typer(help="Explain routing: candidates, health, breakers.", no_args_is_help=True)
    route_app.command("preview")(preview)
    route_app.command("status")(status)
    app.add_typer(route_app, name="route")
