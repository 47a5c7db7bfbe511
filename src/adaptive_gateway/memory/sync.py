"""Pull and push the memory repository against any git remote.

Pull merges and resolves conflicts so both sides' entries survive (see :mod:`merge`). Push checks
every file version it would send (all blobs reachable from HEAD and not from the remote) and refuses,
sending nothing, when one contains a secret or has a trust level above the remote's maximum
(git config ``remote.<name>.adaptiveMaxTrust``, default ``internal``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adaptive_gateway.memory.errors import InvalidItem, PushProblem, PushRefused, SyncError
from adaptive_gateway.memory.frontmatter import read_trust_level
from adaptive_gateway.memory.gitrepo import BRANCH, Git
from adaptive_gateway.memory.merge import resolve_conflicts, unmerged_paths
from adaptive_gateway.memory.models import TrustLevel, check_name, item_type_of_path
from adaptive_gateway.memory.secrets import SecretScanner, default_scanner
from adaptive_gateway.memory.store import MemoryStore

DEFAULT_REMOTE = "origin"
DEFAULT_MAX_TRUST = TrustLevel.INTERNAL
_MAX_TRUST_KEY = "adaptiveMaxTrust"


@dataclass(frozen=True)
class RemoteInfo:
    name: str
    url: str
    max_trust: TrustLevel


@dataclass(frozen=True)
class PullResult:
    remote: str
    updated: bool
    fast_forward: bool
    resolved: tuple[str, ...]
    head: str | None


@dataclass(frozen=True)
class PushResult:
    remote: str
    pushed: bool
    head: str | None
    checked_files: int


class MemorySync:
    """Remote operations on one store; every operation holds the store's write lock."""

    def __init__(
        self, store: MemoryStore, scanner: SecretScanner | None = None, *, branch: str = BRANCH
    ) -> None:
        self.store = store
        self.branch = branch
        self._scanner = scanner

    @property
    def git(self) -> Git:
        return self.store.git

    @property
    def scanner(self) -> SecretScanner:
        if self._scanner is None:
            self._scanner = default_scanner()
        return self._scanner

    # -- remotes -------------------------------------------------------------------------------

    def add_remote(
        self, name: str, url: str, *, max_trust: TrustLevel | str = DEFAULT_MAX_TRUST
    ) -> RemoteInfo:
        """Add the remote, or point an existing one at ``url``; records its maximum trust level."""
        check_name(name, "remote name")
        level = TrustLevel.parse(max_trust)
        verb = "set-url" if self.git.ok("remote", "get-url", name) else "add"
        self.git.run("remote", verb, name, url)
        self.git.run("config", f"remote.{name}.{_MAX_TRUST_KEY}", level.value)
        return RemoteInfo(name, url, level)

    def remotes(self) -> list[RemoteInfo]:
        names = self.git.out("remote").split()
        return [self.remote(name) for name in names]

    def remote(self, name: str) -> RemoteInfo:
        proc = self.git.run("remote", "get-url", name, check=False)
        if proc.returncode != 0:
            raise SyncError(f"unknown remote {name!r}; add it with `memory remote {name} <url>`")
        return RemoteInfo(name, proc.stdout.decode().strip(), self.max_trust(name))

    def max_trust(self, name: str) -> TrustLevel:
        proc = self.git.run("config", f"remote.{name}.{_MAX_TRUST_KEY}", check=False)
        value = proc.stdout.decode().strip()
        return TrustLevel.parse(value) if value else DEFAULT_MAX_TRUST

    # -- pull ----------------------------------------------------------------------------------

    def pull(self, remote: str = DEFAULT_REMOTE) -> PullResult:
        """Fetch and merge the remote branch; conflicts are resolved without losing entries."""
        with self.git.lock():
            tracking = self._fetch(remote)
            head = self.git.head()
            if tracking is None or (head and self.git.ok("merge-base", "--is-ancestor", tracking, head)):
                return PullResult(remote, False, False, (), head)
            fast_forward = head is None or self.git.ok("merge-base", "--is-ancestor", head, tracking)
            resolved = self._merge(remote, tracking)
            return PullResult(remote, True, fast_forward, tuple(resolved), self.git.head())

    def _merge(self, remote: str, tracking: str) -> list[str]:
        message = f"memory: merge {remote}/{self.branch} (by {self.store.author})"
        args = ("merge", "-q", "--no-edit", "--allow-unrelated-histories", "-m", message, tracking)
        proc = self.git.run(*args, check=False)
        if proc.returncode == 0:
            return []
        if not unmerged_paths(self.git):
            self.git.run("merge", "--abort", check=False)
            raise SyncError(f"merge from {remote!r} failed: {proc.stderr.decode(errors='replace').strip()}")
        resolved = resolve_conflicts(self.git)
        summary = f"{message}\n\nResolved without losing entries: {', '.join(resolved)}"
        self.git.run("commit", "-q", "--no-verify", "-m", summary)
        return resolved

    def _fetch(self, remote: str) -> str | None:
        """Fetch ``remote``; returns its branch tip, or None when the remote has no such branch."""
        self.remote(remote)
        proc = self.git.run("fetch", "-q", "--prune", "--no-tags", remote, check=False)
        if proc.returncode != 0:
            raise SyncError(f"fetch from {remote!r} failed: {proc.stderr.decode(errors='replace').strip()}")
        return self.git.rev(f"refs/remotes/{remote}/{self.branch}")

    # -- push ----------------------------------------------------------------------------------

    def check_push(self, remote: str = DEFAULT_REMOTE) -> list[PushProblem]:
        """What would stop a push right now (fetches, sends nothing)."""
        with self.git.lock():
            self._fetch(remote)
            head = self.git.head()
            return self._problems(remote, head)[0] if head else []

    def push(self, remote: str = DEFAULT_REMOTE) -> PushResult:
        """Push HEAD to the remote branch, or raise PushRefused naming each file and why.

        Raises SyncError when the remote has commits this repository lacks (pull first).
        """
        with self.git.lock():
            tracking = self._fetch(remote)
            head = self.git.head()
            if head is None or tracking == head:
                return PushResult(remote, False, head, 0)
            if tracking and not self.git.ok("merge-base", "--is-ancestor", tracking, head):
                raise SyncError(f"{remote!r} has changes this memory does not have; pull first")
            problems, checked = self._problems(remote, head)
            if problems:
                raise PushRefused(remote, problems)
            self._send(remote, head)
            return PushResult(remote, True, head, checked)

    def _send(self, remote: str, head: str) -> None:
        proc = self.git.run("push", "-q", remote, f"{head}:refs/heads/{self.branch}", check=False)
        if proc.returncode != 0:
            raise SyncError(f"push to {remote!r} failed: {proc.stderr.decode(errors='replace').strip()}")
        self.git.run("update-ref", f"refs/remotes/{remote}/{self.branch}", head)

    def _outgoing_files(self, remote: str, head: str) -> list[tuple[str, str]]:
        """(blob sha, path) for every object HEAD would send that the remote does not have."""
        listing = self.git.out("rev-list", "--objects", head, "--not", f"--remotes={remote}")
        pairs = [line.split(" ", 1) for line in listing.splitlines() if " " in line]
        return [(sha, path) for sha, path in pairs if path]

    def _problems(self, remote: str, head: str) -> tuple[list[PushProblem], int]:
        limit = self.max_trust(remote)
        outgoing = self._outgoing_files(remote, head)
        contents = self.git.blobs([sha for sha, _ in outgoing])
        current = self._tree_blobs(head)
        problems: list[PushProblem] = []
        for sha, path in outgoing:
            if sha not in contents:
                continue  # a tree, not a file
            reasons = self._reasons(path, contents[sha].decode(errors="replace"), limit)
            where = "" if current.get(path) == sha else " (in an earlier version, still in history)"
            problems.extend(PushProblem(path, reason + where) for reason in reasons)
        return sorted(problems, key=lambda problem: problem.path), len(contents)

    def _reasons(self, path: str, text: str, limit: TrustLevel) -> list[str]:
        reasons: list[str] = []
        if item_type_of_path(path) is not None:
            try:
                level = read_trust_level(text)
            except InvalidItem as exc:
                reasons.append(f"unreadable trust level ({exc})")
            else:
                if level is not None and level.rank > limit.rank:
                    reasons.append(
                        f"trust level '{level.value}' is above this remote's maximum '{limit.value}'"
                    )
        kinds = sorted({str(finding.type) for finding in self.scanner.scan(text)})
        if kinds:
            reasons.append(f"contains a secret ({', '.join(kinds)})")
        return reasons

    def _tree_blobs(self, head: str) -> dict[str, str]:
        listing = self.git.run("ls-tree", "-r", "-z", head).stdout.decode()
        result: dict[str, str] = {}
        for record in filter(None, listing.split("\0")):
            info, path = record.split("\t", 1)
            result[path] = info.split()[2]
        return result


def clone_memory(
    url: str,
    root: Path,
    *,
    author: str = "gateway",
    remote: str = DEFAULT_REMOTE,
    max_trust: TrustLevel | str = DEFAULT_MAX_TRUST,
) -> MemoryStore:
    """Clone a shared memory (an empty remote is fine) and return a store on it."""
    check_name(remote, "remote name")
    root.parent.mkdir(parents=True, exist_ok=True)
    proc = Git(root.parent).run("clone", "-q", "--origin", remote, url, str(root), check=False)
    if proc.returncode != 0:
        raise SyncError(f"clone of {url!r} failed: {proc.stderr.decode(errors='replace').strip()}")
    git = Git(root)
    if git.head() is None:  # empty remote: start on our branch name
        git.run("symbolic-ref", "HEAD", f"refs/heads/{BRANCH}")
    store = MemoryStore(root, author=author)
    MemorySync(store).add_remote(remote, url, max_trust=max_trust)
    return store
