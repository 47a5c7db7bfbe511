"""`keys`, `tenants`, `usage` and `prices` commands. They work on the store named by the config
(``store.url``; default SQLite under the gateway home) directly, so they need no running gateway;
running gateways pick key changes up within a second. Migrations are applied first when needed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from adaptive_gateway.cli.core_cmds import ConfigOpt, resolve_config_path

T = TypeVar("T")
out = Console()
err = Console(stderr=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _store_url(config: Path | None) -> str | None:
    from adaptive_gateway.config import ConfigError, load_config

    path = resolve_config_path(config)
    if not path.exists():
        return None
    try:
        return load_config(path).store.url
    except ConfigError as exc:
        err.print(f"[red]{path} is invalid:[/red] {exc}")
        raise typer.Exit(1) from None


def run(config: Path | None, job: Callable[[Any], Awaitable[T]]) -> T:
    """Open the store (migrating it when needed), run ``job(session)``, close; errors exit non-zero."""
    from adaptive_gateway.errors import GatewayError
    from adaptive_gateway.store import migrate
    from adaptive_gateway.store.db import Store

    async def main() -> T:
        store = Store(_store_url(config))
        try:
            await migrate.upgrade(store)
            async with store.session() as session:
                return await job(session)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except GatewayError as exc:
        err.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(1) from None


def validated(model: type[BaseModel], **fields: Any) -> Any:
    try:
        return model(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        for e in exc.errors():
            err.print(f"[red]✗[/red] {'.'.join(map(str, e['loc']))}: {e['msg']}", highlight=False)
        raise typer.Exit(2) from None


def emit(rows: list[dict[str, Any]], as_json: bool, columns: list[str], title: str = "") -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=title or None)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*["" if row.get(c) is None else str(row.get(c)) for c in columns])
    out.print(table)


def _metadata(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        err.print(f"[red]--metadata is not JSON:[/red] {exc}")
        raise typer.Exit(2) from None
    if not isinstance(value, dict):
        err.print("[red]--metadata must be a JSON object[/red]")
        raise typer.Exit(2)
    return value


# ---- keys -------------------------------------------------------------------------------------------

keys_app = typer.Typer(help="Virtual keys: create (shown once), list, revoke, rotate.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="A label for the key.")],
    tenant: Annotated[str | None, typer.Option(help="Tenant id.")] = None,
    user: Annotated[str | None, typer.Option(help="User id.")] = None,
    role: Annotated[str | None, typer.Option(help="Admin API role: admin, tenant-admin, viewer.")] = None,
    models: Annotated[
        str | None, typer.Option(help="Allowed models, comma separated (default: all).")
    ] = None,
    rpm: Annotated[int | None, typer.Option(help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per minute.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Requests in flight.")] = None,
    budget: Annotated[float | None, typer.Option(help="Budget in USD per period.")] = None,
    period: Annotated[str | None, typer.Option(help="Budget period: day, week, month, total.")] = None,
    soft: Annotated[bool, typer.Option("--soft", help="Alert only; never reject.")] = False,
    max_tokens: Annotated[int | None, typer.Option(help="Max output tokens per request.")] = None,
    max_cost: Annotated[float | None, typer.Option(help="Max estimated USD per request.")] = None,
    ip: Annotated[list[str] | None, typer.Option(help="Allowed client CIDR (repeatable).")] = None,
    trust: Annotated[str | None, typer.Option(help="Default trust level.")] = None,
    expires_in_days: Annotated[float | None, typer.Option(help="Expire after this many days.")] = None,
    metadata: Annotated[str | None, typer.Option(help="JSON object stored with the key.")] = None,
    config: Path | None = ConfigOpt,
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from adaptive_gateway.accounts import service
    from adaptive_gateway.accounts.schemas import KeyCreate
    from adaptive_gateway.store.models import utcnow

    expires = utcnow() + dt.timedelta(days=expires_in_days) if expires_in_days is not None else None
    spec = validated(
        KeyCreate,
        name=name,
        tenant_id=tenant,
        user_id=user,
        role=role,
        allowed_models=[m.strip() for m in models.split(",") if m.strip()] if models else None,
        rpm=rpm,
        tpm=tpm,
        max_concurrency=concurrency,
        budget_usd=budget,
        budget_period=period,
        budget_hard=not soft,
        max_tokens=max_tokens,
        max_cost_usd=max_cost,
        ip_allow=ip or None,
        trust_level=trust,
        expires_at=expires,
        metadata=_metadata(metadata),
    )
    created = run(config, lambda s: service.create_key(s, service.SYSTEM, spec))
    if as_json:
        typer.echo(created.model_dump_json(indent=2))
        return
    out.print(f"[green]✓[/green] created key [bold]{created.id}[/bold] ({created.name})", highlight=False)
    out.print("  key (shown once, store it now):", highlight=False)
    typer.echo(created.key)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    config: Path | None = ConfigOpt,
    as_json: JsonOpt = False,
) -> None:
    """List keys (prefixes only; keys themselves are never stored)."""
    from adaptive_gateway.accounts import service

    keys = run(config, lambda s: service.list_keys(s, service.SYSTEM, tenant))
    rows = [k.model_dump(mode="json") for k in keys]
    for row in rows:
        row["status"] = "revoked" if row["revoked_at"] else "active"
    cols = [
        "id",
        "name",
        "prefix",
        "tenant_id",
        "status",
        "rpm",
        "tpm",
        "budget_usd",
        "budget_period",
        "expires_at",
    ]
    emit(rows, as_json, cols, "keys")


@keys_app.command("revoke")
def keys_revoke(key_id: str, config: Path | None = ConfigOpt) -> None:
    """Revoke a key; running gateways refuse it within a second."""
    from adaptive_gateway.accounts import service

    key = run(config, lambda s: service.revoke_key(s, service.SYSTEM, key_id))
    out.print(f"[green]✓[/green] revoked {key.id} ({key.prefix})", highlight=False)


@keys_app.command("rotate")
def keys_rotate(
    key_id: str,
    grace: Annotated[int, typer.Option(help="Seconds the old key keeps working.")] = 3600,
    config: Path | None = ConfigOpt,
    as_json: JsonOpt = False,
) -> None:
    """Issue a new key for the same entry; the old one works for --grace seconds."""
    from adaptive_gateway.accounts import service

    created = run(config, lambda s: service.rotate_key(s, service.SYSTEM, key_id, grace))
    if as_json:
        typer.echo(created.model_dump_json(indent=2))
        return
    out.print(f"[green]✓[/green] rotated {created.id}; the old key works for {grace}s. New key (shown once):")
    typer.echo(created.key)


def register(app: typer.Typer) -> None:
    from adaptive_gateway.cli.accounts_more import register_more

    app.add_typer(keys_app, name="keys")
    register_more(app)
