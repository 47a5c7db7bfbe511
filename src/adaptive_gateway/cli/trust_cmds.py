"""``ledger list | grant | revoke | verify`` and ``receipts list | show | prune`` (plus ``simulate``
and ``run``, from ``trust_sim_cmds``).

The consent ledger is ``<home>/consent.jsonl``; a running gateway picks up grants and revocations
within ``trust.ledger_poll_seconds``. Receipts are read from ``<home>/receipts/`` directly, so they
can be inspected with the gateway stopped.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from adaptive_gateway.cli.core_cmds import ConfigOpt, resolve_config_path
from adaptive_gateway.config import ConfigError, gateway_home, load_config
from adaptive_gateway.config.trust_schema import ReceiptOptions
from adaptive_gateway.ledger.consent import Action, ConsentLedger, LedgerError
from adaptive_gateway.ledger.consent_view import LEDGER_FILE
from adaptive_gateway.ledger.receipts import RECEIPTS_DIR, ReceiptStore

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def ledger_path() -> ConsentLedger:
    return ConsentLedger(gateway_home() / LEDGER_FILE)


# ---- ledger ---------------------------------------------------------------------------------------------


def ledger_list(as_json: JsonOpt = False) -> None:
    """Every entry, oldest first, and the scopes granted now."""
    ledger = ledger_path()
    try:
        entries = ledger.entries()
    except LedgerError as exc:
        _err().print(f"[red]✗ {exc}[/red] (run: adaptive-llm-gateway ledger verify)")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps([_entry(e) for e in entries], indent=2))
        return
    if not entries:
        _out().print(f"no entries in {ledger.path}")
        return
    table = Table("seq", "when (UTC)", "actor", "action", "scope", "reason")
    for e in entries:
        colour = "green" if e.action == "grant" else "red"
        table.add_row(str(e.seq), e.ts[:19], e.actor, f"[{colour}]{e.action}[/{colour}]", e.scope, e.reason)
    _out().print(table)
    granted = sorted(ledger.grants())
    _out().print(f"granted now: {', '.join(granted) or 'nothing'}")


def _entry(entry: Any) -> dict[str, Any]:
    fields = ("seq", "ts", "actor", "action", "scope", "reason", "prev_hash", "hash")
    return {name: getattr(entry, name) for name in fields}


def _append(action: Action, scope: str, reason: str, actor: str | None) -> None:
    try:
        entry = ledger_path().append(actor or getpass.getuser(), action, scope, reason)
    except (ValueError, LedgerError) as exc:
        _err().print(f"[red]✗ {exc}[/red]")
        raise typer.Exit(2) from None
    verb = "granted" if action == "grant" else "revoked"
    _err().print(f"[green]✓[/green] {verb} {scope} (entry {entry.seq}, {entry.hash[:12]}…)")


ScopeArg = Annotated[
    str,
    typer.Argument(help="provider:<name>, provider:<name>:<level>, client:<name>, env:<NAME>, source:<name>"),
]
ReasonOpt = Annotated[str, typer.Option("--reason", "-r", help="Why (recorded in the entry).")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who (default: your user name).")]


def ledger_grant(
    scope: ScopeArg, reason: ReasonOpt = "granted on the command line", actor: ActorOpt = None
) -> None:
    """Record consent for a scope (a new entry; nothing is edited)."""
    _append("grant", scope, reason, actor)


def ledger_revoke(
    scope: ScopeArg, reason: ReasonOpt = "revoked on the command line", actor: ActorOpt = None
) -> None:
    """Revoke a scope (a new entry that wins over earlier grants)."""
    _append("revoke", scope, reason, actor)


def ledger_verify(
    head: Annotated[
        str | None, typer.Option("--head", help="A head hash seen earlier (detects truncation).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the hash chain; exit 1 and list each problem when an entry was edited, removed or reordered."""
    ledger = ledger_path()
    result = ledger.verify(expected_head=head)
    if as_json:
        problems = [
            {"kind": p.kind, "line": p.line, "seq": p.seq, "detail": p.detail} for p in result.problems
        ]
        typer.echo(json.dumps({"ok": result.ok, "entries": result.entries, "problems": problems}, indent=2))
    elif result.ok:
        head_now = ledger.head() if result.entries else "none"
        _out().print(f"[green]✓[/green] ledger intact: {result.entries} entries, head {head_now}")
    else:
        _out().print(f"[red]✗ ledger damaged: {len(result.problems)} problem(s) in {ledger.path}[/red]")
        for p in result.problems:
            where = f"line {p.line}" if p.line else "missing"
            _out().print(f"  {p.kind}: {where}, seq {p.seq}: {p.detail}")
    if not result.ok:
        raise typer.Exit(1)


# ---- receipts -------------------------------------------------------------------------------------------


def receipts_store() -> ReceiptStore:
    return ReceiptStore(gateway_home() / RECEIPTS_DIR)


def receipts_list(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10000)] = 20,
    outcome: Annotated[str | None, typer.Option(help="success | blocked | failed | cancelled")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The newest receipts first."""

    def keep(r: dict[str, Any]) -> bool:
        return outcome is None or r.get("outcome") == outcome

    rows = receipts_store().list(limit, keep)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("id", "when", "outcome", "level", "model", "provider", "tokens", "cost $", "ms")
    for r in rows:
        trust, used, usage = r.get("trust") or {}, r.get("used") or {}, r.get("usage") or {}
        tokens = f"{usage.get('input_tokens', 0)}/{usage.get('output_tokens', 0)}" if usage else "-"
        table.add_row(
            r.get("id", ""),
            str(r.get("ts", ""))[11:19],
            r.get("outcome", ""),
            str(trust.get("level") or "-"),
            str(r.get("model") or "-"),
            str(used.get("provider") or "-"),
            tokens,
            f"{r.get('cost_usd', 0):.6f}",
            f"{r.get('latency_ms', 0):.0f}",
        )
    _out().print(table if rows else "no receipts yet")


def receipts_show(
    receipt_id: Annotated[str, typer.Argument(help="rc_… (the x-adaptive-receipt header)")],
) -> None:
    """One receipt, as JSON."""
    receipt = receipts_store().get(receipt_id)
    if receipt is None:
        _err().print(f"[red]✗ no receipt {receipt_id}[/red]")
        raise typer.Exit(1)
    typer.echo(json.dumps(receipt, indent=2))


def receipts_prune(
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than", min=0, help="Days to keep before today (default: trust.receipts.retention_days)."
        ),
    ] = None,
    config: Path | None = ConfigOpt,
) -> None:
    """Delete receipt day files older than the retention; today's file is never deleted. Safe while
    gateways are running (deletion takes the lock their appends take)."""
    if older_than is None:
        path = resolve_config_path(config)
        try:
            opts = load_config(path).trust.receipts if path.exists() else ReceiptOptions()
            older_than = opts.retention_days
        except ConfigError as exc:
            _err().print(f"[red]✗ {exc}[/red]")
            raise typer.Exit(2) from None
        if older_than == 0:
            _out().print("trust.receipts.retention_days is 0 (keep receipts forever): nothing pruned")
            return
    pruned = receipts_store().prune(older_than)
    if pruned:
        _out().print(f"deleted {len(pruned)} day file(s) older than {older_than} days: {', '.join(pruned)}")
    else:
        _out().print(f"no receipts older than {older_than} days")


def register(app: typer.Typer) -> None:
    ledger_app = typer.Typer(help="The consent ledger: grants and revocations.", no_args_is_help=True)
    ledger_app.command("list")(ledger_list)
    ledger_app.command("grant")(ledger_grant)
    ledger_app.command("revoke")(ledger_revoke)
    ledger_app.command("verify")(ledger_verify)
    app.add_typer(ledger_app, name="ledger")
    receipts_app = typer.Typer(help="Context receipts of past requests.", no_args_is_help=True)
    receipts_app.command("list")(receipts_list)
    receipts_app.command("show")(receipts_show)
    receipts_app.command("prune")(receipts_prune)
    app.add_typer(receipts_app, name="receipts")
    from adaptive_gateway.cli import trust_sim_cmds

    trust_sim_cmds.register(app)
