"""Which client sent a request, from its User-Agent: a small, bounded set of names for metrics labels and
the topology's client nodes.

Known clients are matched by a table of substrings (first match wins); anything else is named by its
first product token, up to ``max_clients`` distinct names, then ``other``. Lookups are cached per raw
User-Agent string (bounded), so the request path pays one dict lookup.
"""

from __future__ import annotations

import re

# (lower-case substring of the User-Agent, client name); order matters: specific before generic
KNOWN: tuple[tuple[str, str], ...] = (
    ("claude-cli", "claude-code"),
    ("claude-code", "claude-code"),
    ("codex", "codex"),
    ("cursor", "cursor"),
    ("continue", "continue"),
    ("open-webui", "open-webui"),
    ("n8n", "n8n"),
    ("aider", "aider"),
    ("cline", "cline"),
    ("langchain", "langchain"),
    ("llamaindex", "llamaindex"),
    ("adaptive-llm-gateway", "adaptive-gateway"),
    ("anthropic/python", "anthropic-python"),
    ("anthropic/js", "anthropic-js"),
    ("openai/python", "openai-python"),
    ("openai/js", "openai-js"),
    ("google-genai-sdk", "google-genai"),
    ("google-genai", "google-genai"),
    ("google-api-python-client", "google-genai"),
    ("python-httpx", "httpx"),
    ("python-requests", "requests"),
    ("aiohttp", "aiohttp"),
    ("curl/", "curl"),
    ("wget", "wget"),
    ("node-fetch", "node"),
    ("undici", "node"),
    ("headlesschrome", "browser"),
    ("mozilla/", "browser"),
)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,31}")
CACHE_LIMIT = 2048


class ClientNames:
    """User-Agent -> client name, bounded to ``max_clients`` distinct names (plus the known ones)."""

    def __init__(self, max_clients: int = 50) -> None:
        self.max_clients = max_clients
        self._cache: dict[str, str] = {}
        self._others: set[str] = set()

    def name(self, user_agent: str | None) -> str:
        if not user_agent:
            return "unknown"
        found = self._cache.get(user_agent)
        if found is None:
            found = self._classify(user_agent)
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[user_agent] = found
        return found

    def _classify(self, user_agent: str) -> str:
        low = user_agent.lower()
        for needle, name in KNOWN:
            if needle in low:
                return name
        m = _TOKEN.match(user_agent.strip())
        token = m.group(0).lower() if m else "other"
        if token in self._others:
            return token
        if len(self._others) >= self.max_clients:
            return "other"
        self._others.add(token)
        return token
