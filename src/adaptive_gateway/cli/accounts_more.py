"""`tenants`, `usage` and `prices` commands (see :mod:`adaptive_gateway.cli.accounts_cmds`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from adaptive_gateway.cli.accounts_cmds import JsonOpt, emit, err, out, run, validated
from adaptive_gateway.cli.core_cmds import ConfigOpt

tenants_app = typer.Typer(
    help="Tenants (teams): budgets and limits shared by their keys.", no_args_is_help=True
)
prices_app = typer.Typer(help="The cost catalog (USD per million tokens).", no_args_is_help=True)
TENANT_COLS = ["id", "name", "budget_usd", "budget_period", "budget_hard", "rpm", "tpm", "max_concurrency"]


def _limits(
    budget: float | None,
    period: str | None,
    soft: bool | None,
    rpm: int | None,
    tpm: int | None,
    concurrency: int | None,
) -> dict[str, Any]:
    return {
        "budget_usd": budget,
        "budget_period": period,
        "budget_hard": None if soft is None else not soft,
        "rpm": rpm,
        "tpm": tpm,
        "max_concurrency": concurrency,
    }


BudgetOpt = Annotated[float | None, typer.Option(help="Budget in USD per period.")]
PeriodOpt = Annotated[str | None, typer.Option(help="Budget period: day, week, month, total.")]
SoftOpt = Annotated[bool | None, typer.Option("--soft/--hard", help="Alert only, or reject when exhausted.")]
RpmOpt = Annotated[int | None, typer.Option(help="Requests per minute.")]
TpmOpt = Annotated[int | None, typer.Option(help="Tokens per minute.")]
ConcOpt = Annotated[int | None, typer.Option(help="Requests in flight.")]


@tenants_app.command("create")
def tenants_create(
    name: str,
    budget: BudgetOpt = None,
    period: PeriodOpt = None,
    soft: SoftOpt = None,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    concurrency: ConcOpt = None,
    config: Path | None = ConfigOpt,
    as_json: JsonOpt = False,
) -> None:
    """Create a tenant."""
    from adaptive_gateway.accounts import service, service_org
    from adaptive_gateway.accounts.schemas import TenantCreate

    spec = validated(TenantCreate, name=name, **_limits(budget, period, soft, rpm, tpm, concurrency))
    tenant = run(config, lambda s: service_org.create_tenant(s, service.SYSTEM, spec))
    emit([tenant.model_dump(mode="json")], as_json, TENANT_COLS, "tenant created")


@tenants_app.command("list")
def tenants_list(config: Path | None = ConfigOpt, as_json: JsonOpt = False) -> None:
    """List tenants."""
    from adaptive_gateway.accounts import service, service_org

    tenants = run(config, lambda s: service_org.list_tenants(s, service.SYSTEM))
    emit([t.model_dump(mode="json") for t in tenants], as_json, TENANT_COLS, "tenants")


@tenants_app.command("update")
def tenants_update(
    tenant_id: str,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    budget: BudgetOpt = None,
    period: PeriodOpt = None,
    soft: SoftOpt = None,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    concurrency: ConcOpt = None,
    config: Path | None = ConfigOpt,
    as_json: JsonOpt = False,
) -> None:
    """Change a tenant's name, budget or limits (only the options given)."""
    from adaptive_gateway.accounts import service, service_org
    from adaptive_gateway.accounts.schemas import TenantUpdate

    patch = validated(TenantUpdate, name=name, **_limits(budget, period, soft, rpm, tpm, concurrency))
    tenant = run(config, lambda s: service_org.update_tenant(s, service.SYSTEM, tenant_id, patch))
    emit([tenant.model_dump(mode="json")], as_json, TENANT_COLS, "tenant updated")


@tenants_app.command("delete")
def tenants_delete(tenant_id: str, config: Path | None = ConfigOpt) -> None:
    """Delete a tenant (its keys and users stay, without a tenant)."""
    from adaptive_gateway.accounts import service, service_org

    run(config, lambda s: service_org.delete_tenant(s, service.SYSTEM, tenant_id))
    out.print(f"[green]✓[/green] deleted {tenant_id}", highlight=False)


def usage(
    by: Annotated[str, typer.Option("--by", help="key, tenant, model, provider or day.")] = "model",
    since: Annotated[str | None, typer.Option("--from", help="UTC date/time (default: 30 days ago).")] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="UTC date/time, exclusive (default: now).")
    ] = None,
    config: Path | None = ConfigOpt,
    as_json: JsonOpt = False,
) -> None:
    """Requests, tokens and cost grouped by key, tenant, model, provider or day."""
    from adaptive_gateway.store.models import utcnow
    from adaptive_gateway.store.usage import GROUPS, usage_report

    if by not in GROUPS:
        err.print(f"[red]--by must be one of {', '.join(GROUPS)}[/red]")
        raise typer.Exit(2)
    try:
        end = dt.datetime.fromisoformat(until) if until else utcnow()
        start = dt.datetime.fromisoformat(since) if since else end - dt.timedelta(days=30)
    except ValueError as exc:
        err.print(f"[red]--from / --to: {exc}[/red]")
        raise typer.Exit(2) from None

    async def job(session: Any) -> list[dict[str, Any]]:
        return await usage_report(await session.connection(), by, start, end)

    rows = run(config, job)
    cols = [by, "requests", "errors", "input_tokens", "output_tokens", "cost_usd"]
    emit(rows, as_json, cols, f"usage {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC")


@prices_app.command("update")
def prices_update(file: Annotated[Path, typer.Option("--file", help="JSON price file to install.")]) -> None:
    """Install a price file over the bundled catalog (takes effect at the next gateway start)."""
    from adaptive_gateway.accounts.prices import user_catalog_path, write_user_catalog

    try:
        count = write_user_catalog(file)
    except (OSError, ValueError) as exc:
        err.print(f"[red]{file}: {exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"[green]✓[/green] {count} price(s) installed at {user_catalog_path()}", highlight=False)


@prices_app.command("show")
def prices_show(
    model: Annotated[str | None, typer.Argument(help="Only names containing this.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the effective catalog."""
    from adaptive_gateway.accounts.prices import load_catalog

    rows = [
        {"model": k, "input": v[0], "output": v[1], "cached_input": v[2]}
        for k, v in sorted(load_catalog().items())
        if model is None or model in k
    ]
    emit(rows, as_json, ["model", "input", "output", "cached_input"], "USD per 1M tokens")


def register_more(app: typer.Typer) -> None:
    app.add_typer(tenants_app, name="tenants")
    app.add_typer(prices_app, name="prices")
    app.command("usage")(usage)
