"""`memory` and `handoff` commands: the shared git-backed memory from the command line.

Every command takes ``--root`` (default ``$ADAPTIVE_GATEWAY_HOME/memory`` or
``~/.adaptive-llm-gateway/memory``) and ``--json``. Exit codes: 0 ok, 1 error, 2 push refused.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from adaptive_gateway.memory import Handoff, HandoffBook, MemoryStore

RootOpt = Annotated[
    Path | None,
    typer.Option(
        "--root",
        help="Memory repository (default: $ADAPTIVE_GATEWAY_HOME/memory or ~/.adaptive-llm-gateway/memory).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
NamespaceOpt = Annotated[str | None, typer.Option("--namespace", "-n", help="Project namespace.")]
RemoteArg = Annotated[str, typer.Option("--remote", help="Git remote name.")]
AgentOpt = Annotated[str, typer.Option("--agent", help="The agent acting.")]


def _store(root: Path | None, author: str = "cli") -> MemoryStore:
    from adaptive_gateway.memory import MemoryStore

    return MemoryStore(root, author=author)


def _usage(message: str) -> None:
    from adaptive_gateway.memory import InvalidItem

    raise InvalidItem(message)


def _emit(as_json: bool, data: Any, text: str) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else text)


@contextmanager
def _errors(as_json: bool) -> Iterator[None]:
    """Turn memory errors into a message on stderr (or a JSON error) and an exit code."""
    from adaptive_gateway.memory import MemoryStoreError, PushRefused
    from adaptive_gateway.memory.serialize import refusal_to_dict

    try:
        yield
    except PushRefused as refused:
        if as_json:
            typer.echo(json.dumps(refusal_to_dict(refused), indent=2))
        else:
            typer.echo(str(refused), err=True)
        raise typer.Exit(2) from None
    except MemoryStoreError as exc:
        if as_json:
            typer.echo(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
        else:
            typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


# -- memory ------------------------------------------------------------------------------------


def search(
    query: Annotated[str, typer.Argument(help="Words to look for.")],
    namespace: NamespaceOpt = None,
    type: Annotated[
        str | None, typer.Option("--type", "-t", help="decision|task|session|handoff|note")
    ] = None,
    max_trust: Annotated[str | None, typer.Option(help="Hide items above this trust level.")] = None,
    limit: Annotated[int, typer.Option(help="Maximum results.")] = 10,
    root: RootOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Full-text search, best match first."""
    from adaptive_gateway.memory import MemorySearch
    from adaptive_gateway.memory.serialize import hit_to_dict

    with _errors(as_json):
        hits = MemorySearch(_store(root)).search(
            query, namespace=namespace, type=type, max_trust=max_trust, limit=limit
        )
    lines = [f"{hit.score:6.2f}  {hit.id}  [{hit.namespace}/{hit.type.value}]  {hit.title}" for hit in hits]
    _emit(as_json, [hit_to_dict(hit) for hit in hits], "\n".join(lines) or "no matches")


def read(
    item_id: Annotated[str, typer.Argument(help="Item id.")],
    namespace: NamespaceOpt = None,
    root: RootOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one item (its Markdown file, or JSON)."""
    from adaptive_gateway.memory.serialize import item_to_dict

    with _errors(as_json):
        store = _store(root)
        item = store.read(item_id, namespace)
        text = store.locate(item_id, namespace).read_text(encoding="utf-8").rstrip("\n")
    _emit(as_json, item_to_dict(item), text)


def write(
    title: Annotated[str, typer.Option("--title", help="One-line title.")],
    body: Annotated[
        str | None, typer.Option("--body", help="Markdown body; '-' (or omitted, when piped) reads stdin.")
    ] = None,
    type: Annotated[str, typer.Option("--type", "-t", help="decision|task|session|handoff|note")] = "note",
    namespace: Annotated[str, typer.Option("--namespace", "-n")] = "default",
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Repeatable.")] = None,
    trust: Annotated[str, typer.Option("--trust", help="public|internal|confidential|secret")] = "internal",
    author: Annotated[str, typer.Option("--author", help="Agent recorded as author.")] = "cli",
    root: RootOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a new item (one commit)."""
    from adaptive_gateway.memory import MemoryItem
    from adaptive_gateway.memory.serialize import item_to_dict

    from_stdin = body == "-" or (body is None and not sys.stdin.isatty())
    text = sys.stdin.read() if from_stdin else body
    with _errors(as_json):
        item = MemoryItem.new(
            type,
            title,
            text or "",
            namespace=namespace,
            tags=tag or [],
            trust_level=trust,
            author_agent=author,
        )
        stored = _store(root, author).write(item)
    _emit(as_json, item_to_dict(stored, body=False), stored.id)


def append(
    session_id: Annotated[str, typer.Argument(help="Session id (the log is created on first use).")],
    text: Annotated[str, typer.Argument(help="Entry text; '-' reads stdin.")],
    namespace: Annotated[str, typer.Option("--namespace", "-n")] = "default",
    author: Annotated[str, typer.Option("--author")] = "cli",
    root: RootOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Append an entry to a session log (one commit)."""
    from adaptive_gateway.memory.serialize import entry_to_dict

    with _errors(as_json):
        entry = _store(root, author).append_session(
            session_id, sys.stdin.read() if text == "-" else text, namespace=namespace, author=author
        )
    _emit(as_json, entry_to_dict(entry), entry.entry_id)


def reindex(root: RootOpt = None, as_json: JsonOpt = False) -> None:
    """Rebuild the search index from the files."""
    from adaptive_gateway.memory import MemorySearch

    with _errors(as_json):
        count = MemorySearch(_store(root)).reindex()
    _emit(as_json, {"indexed": count}, f"indexed {count} item(s)")


def remote(
    name: Annotated[str | None, typer.Argument(help="Remote name; omit to list remotes.")] = None,
    url: Annotated[str | None, typer.Argument(help="Git URL or path.")] = None,
    max_trust: Annotated[str, typer.Option(help="Highest trust level this remote may receive.")] = "internal",
    root: RootOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add or update a remote (NAME URL), or list remotes."""
    from adaptive_gateway.memory import MemorySync

    with _errors(as_json):
        sync = MemorySync(_store(root))
        if name and url:
            sync.add_remote(name, url, max_trust=max_trust)
        elif name:
            _usage("give both NAME and URL, or neither to list")
        remotes = sync.remotes()
    rows = [{"name": r.name, "url": r.url, "max_trust": r.max_trust.value} for r in remotes]
    lines = [f"{r['name']}\t{r['url']}\t(max trust: {r['max_trust']})" for r in rows]
    _emit(as_json, rows, "\n".join(lines) or "no remotes")


def pull(remote: RemoteArg = "origin", root: RootOpt = None, as_json: JsonOpt = False) -> None:
    """Fetch and merge the remote; both sides' entries are kept."""
    from adaptive_gateway.memory import MemorySync
    from adaptive_gateway.memory.serialize import pull_to_dict

    with _errors(as_json):
        result = MemorySync(_store(root)).pull(remote)
    text = "already up to date" if not result.updated else f"merged {remote}"
    if result.resolved:
        text += f"; resolved: {', '.join(result.resolved)}"
    _emit(as_json, pull_to_dict(result), text)


def push(
    remote: RemoteArg = "origin",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only check what would be refused.")] = False,
    root: RootOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Push to the remote; refused (exit 2) when a file holds a secret or is above its trust level."""
    from adaptive_gateway.memory import MemorySync, PushRefused
    from adaptive_gateway.memory.serialize import push_to_dict

    with _errors(as_json):
        sync = MemorySync(_store(root))
        if dry_run:
            problems = sync.check_push(remote)
            if problems:
                raise PushRefused(remote, problems)
            _emit(as_json, {"remote": remote, "problems": []}, "nothing would be refused")
            return
        result = sync.push(remote)
    _emit(as_json, push_to_dict(result), f"pushed to {remote}" if result.pushed else "nothing to push")


# -- handoff -----------------------------------------------------------------------------------


def _book(root: Path | None) -> HandoffBook:
    from adaptive_gateway.memory import HandoffBook

    return HandoffBook(_store(root))


def _handoff_line(handoff: Handoff) -> str:
    to = handoff.to_agent or "*"
    return f"{handoff.id}  {handoff.status.value:<9}  {handoff.from_agent} -> {to}  {handoff.title}"


def _emit_handoff(as_json: bool, handoff: Handoff) -> None:
    from adaptive_gateway.memory.serialize import handoff_to_dict

    _emit(as_json, handoff_to_dict(handoff), _handoff_line(handoff))


def handoff_create(
    goal: Annotated[
        str | None, typer.Option("--goal", help="What the receiving agent should achieve.")
    ] = None,
    from_agent: Annotated[str | None, typer.Option("--from", help="Sending agent.")] = None,
    to_agent: Annotated[str | None, typer.Option("--to", help="Receiving agent (omit: anyone).")] = None,
    context: Annotated[str | None, typer.Option("--context", help="Context summary.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="Current state.")] = None,
    decision: Annotated[
        list[str] | None, typer.Option("--decision", help="Repeatable; pairs with --reason.")
    ] = None,
    reason: Annotated[
        list[str] | None, typer.Option("--reason", help="Reason for the matching --decision.")
    ] = None,
    task: Annotated[list[str] | None, typer.Option("--task", help="Open task; repeatable.")] = None,
    file: Annotated[list[str] | None, typer.Option("--file", help="File touched; repeatable.")] = None,
    resume: Annotated[
        list[str] | None, typer.Option("--resume", help="Command to resume; repeatable.")
    ] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    from_file: Annotated[Path | None, typer.Option("--from-file", help="YAML/JSON handoff document.")] = None,
    root: RootOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Hand a task to another agent; options override fields of --from-file."""
    from adaptive_gateway.memory.serialize import load_handoff_document

    with _errors(as_json):
        if len(decision or []) != len(reason or []):
            _usage("give one --reason for each --decision")
        options = {
            "goal": goal,
            "from_agent": from_agent,
            "to_agent": to_agent,
            "context_summary": context,
            "current_state": state,
            "decisions": list(zip(decision or [], reason or [], strict=True)) or None,
            "open_tasks": task,
            "files_touched": file,
            "resume_commands": resume,
            "namespace": namespace,
        }
        document = load_handoff_document(from_file) if from_file else {}
        args = {**document, **{k: v for k, v in options.items() if v is not None}}
        if not args.get("goal") or not args.get("from_agent"):
            _usage("--goal and --from are required (or give them in --from-file)")
        handoff = _book(root).create(**args)
    _emit_handoff(as_json, handoff)


def handoff_list(
    to_agent: Annotated[str | None, typer.Option("--to", help="Addressed to this agent (or anyone).")] = None,
    status: Annotated[str | None, typer.Option(help="open|accepted|completed|cancelled")] = None,
    from_agent: Annotated[str | None, typer.Option("--from")] = None,
    namespace: NamespaceOpt = None,
    root: RootOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List handoffs, oldest first."""
    from adaptive_gateway.memory.serialize import handoff_to_dict

    with _errors(as_json):
        handoffs = _book(root).list(
            to_agent=to_agent, status=status, from_agent=from_agent, namespace=namespace
        )
    text = "\n".join(_handoff_line(h) for h in handoffs) or "no handoffs"
    _emit(as_json, [handoff_to_dict(h) for h in handoffs], text)


def handoff_show(
    item_id: str, namespace: NamespaceOpt = None, root: RootOpt = None, as_json: JsonOpt = False
) -> None:
    """Print a handoff as Markdown (or JSON)."""
    with _errors(as_json):
        book = _book(root)
        handoff = book.get(item_id, namespace)
        text = book.store.locate(item_id, namespace).read_text(encoding="utf-8").rstrip("\n")
    if as_json:
        _emit_handoff(True, handoff)
    else:
        typer.echo(text)


def handoff_accept(
    item_id: str,
    agent: AgentOpt,
    namespace: NamespaceOpt = None,
    root: RootOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Accept an open handoff addressed to AGENT (or to anyone)."""
    _transition(as_json, lambda book: book.accept(item_id, agent, namespace=namespace), root)


def handoff_complete(
    item_id: str,
    agent: AgentOpt,
    summary: Annotated[str, typer.Option("--summary", help="What was done.")],
    namespace: NamespaceOpt = None,
    root: RootOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Complete a handoff you accepted."""
    _transition(as_json, lambda book: book.complete(item_id, agent, summary, namespace=namespace), root)


def handoff_cancel(
    item_id: str,
    agent: AgentOpt,
    reason: Annotated[str, typer.Option("--reason")] = "",
    namespace: NamespaceOpt = None,
    root: RootOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a handoff you sent or accepted."""
    _transition(as_json, lambda book: book.cancel(item_id, agent, reason, namespace=namespace), root)


def _transition(as_json: bool, action: Callable[[HandoffBook], Handoff], root: Path | None) -> None:
    with _errors(as_json):
        handoff = action(_book(root))
    _emit_handoff(as_json, handoff)


def register(app: typer.Typer) -> None:
    for name, help_text, commands in _GROUPS:
        group = typer.Typer(name=name, help=help_text, no_args_is_help=True)
        for command_name, command in commands.items():
            group.command(command_name)(command)
        app.add_typer(group)


Command = Callable[..., None]
_MEMORY: Mapping[str, Command] = MappingProxyType(dict(
    search=search, read=read, write=write, append=append, pull=pull, push=push, remote=remote, reindex=reindex
))  # fmt: skip
_HANDOFF: Mapping[str, Command] = MappingProxyType(dict(
    create=handoff_create, list=handoff_list, show=handoff_show, accept=handoff_accept,
    complete=handoff_complete, cancel=handoff_cancel
))  # fmt: skip
_GROUPS = (
    ("memory", "Shared git-backed memory: search, read, write, sync.", _MEMORY),
    ("handoff", "Hand tasks between agents, with goal, state and decisions.", _HANDOFF),
)
