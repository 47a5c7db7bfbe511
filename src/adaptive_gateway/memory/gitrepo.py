"""A thin wrapper over the `git` CLI plus the cross-process write lock of a memory repository."""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from adaptive_gateway.memory.errors import GitError

BRANCH = "main"
LOCK_NAME = "adaptive.lock"
COMMITTER_NAME = "adaptive-gateway"
COMMITTER_EMAIL = "memory@adaptive-gateway.local"

# Inherited GIT_* variables (e.g. when running inside a git hook) would point git at another repo.
_SCRUBBED_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR")
_BASE_ARGS = ("-c", "core.quotepath=off", "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false")

INITIAL_FILES: Mapping[str, str] = {
    ".gitignore": "# search index, rebuilt from the files\n.index.sqlite*\n",
    ".gitattributes": "*.md text eol=lf\n",
}


def agent_email(agent: str) -> str:
    return f"{agent}@agents.adaptive-gateway.local"


class Git:
    """Runs git commands in one repository; every call is a fresh `git` process."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _env(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED_ENV}
        env["GIT_TERMINAL_PROMPT"] = "0"
        env.update(extra or {})
        return env

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``git <args>`` in the repository; raise GitError with git's stderr when ``check``."""
        proc = subprocess.run(
            ["git", *_BASE_ARGS, *args],
            cwd=self.root,
            input=input,
            capture_output=True,
            env=self._env(env),
            check=False,
        )
        if check and proc.returncode != 0:
            message = proc.stderr.decode(errors="replace").strip() or proc.stdout.decode(errors="replace")
            raise GitError(f"git {' '.join(args[:2])} failed: {message.strip()}")
        return proc

    def out(self, *args: str, input: bytes | None = None) -> str:
        return self.run(*args, input=input).stdout.decode(errors="replace").strip()

    def ok(self, *args: str) -> bool:
        return self.run(*args, check=False).returncode == 0

    def head(self) -> str | None:
        proc = self.run("rev-parse", "--verify", "-q", "HEAD", check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def rev(self, ref: str) -> str | None:
        proc = self.run("rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def commit(self, paths: Sequence[str], message: str, author: str) -> None:
        """Stage and commit exactly ``paths`` (other staged changes stay out of the commit)."""
        self.run("add", "--", *paths)
        env = {"GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": agent_email(author)}
        self.run("commit", "-q", "--no-verify", "-m", message, "--", *paths, env=env)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock shared by threads and processes; not re-entrant.

        Each acquisition opens its own file description, so two threads of one process exclude
        each other just as two processes do.
        """
        path = self.root / ".git" / LOCK_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def blobs(self, shas: Sequence[str]) -> dict[str, bytes]:
        """Contents of many blobs with one `git cat-file --batch` process."""
        if not shas:
            return {}
        data = self.run("cat-file", "--batch", input="".join(f"{sha}\n" for sha in shas).encode()).stdout
        result: dict[str, bytes] = {}
        pos = 0
        while pos < len(data):
            eol = data.index(b"\n", pos)
            header = data[pos:eol].decode().split()
            pos = eol + 1
            if len(header) < 3:  # "<sha> missing"
                continue
            size = int(header[2])
            if header[1] == "blob":
                result[header[0]] = data[pos : pos + size]
            pos += size + 1
        return result


def ensure_repository(root: Path) -> Git:
    """Create (or adopt) the repository at ``root``; safe when several processes race to create it."""
    git = Git(root)
    (root / ".git").mkdir(parents=True, exist_ok=True)
    with git.lock():
        if not (root / ".git" / "HEAD").exists():
            git.run("init", "-q", "-b", BRANCH)
        if git.run("config", "--local", "user.name", check=False).returncode != 0:
            git.run("config", "user.name", COMMITTER_NAME)
            git.run("config", "user.email", COMMITTER_EMAIL)
        if git.head() is None:
            for name, text in INITIAL_FILES.items():
                (root / name).write_text(text, encoding="utf-8")
            git.commit(list(INITIAL_FILES), "memory: initialise repository", COMMITTER_NAME)
    return git
