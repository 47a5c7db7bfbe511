"""Authenticate: gateway key -> :class:`Principal`, per the configured auth mode.

Keys arrive as ``Authorization: Bearer``, ``x-api-key``, ``x-goog-api-key`` or ``?key=`` (Gemini);
only their SHA-256 is compared, in constant time, against in-memory hashes (no database round trip).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping

from adaptive_gateway.config import CompiledConfig, hash_key
from adaptive_gateway.errors import AuthenticationFailed
from adaptive_gateway.pipeline.context import Principal

KEY_HEADERS = ("authorization", "x-api-key", "x-goog-api-key")
PROVIDER_KEY_HEADER = "x-provider-key"
# extra resolvers (virtual keys, ...) map a key hash to a principal, or None when unknown
KeyResolver = Callable[[str], Principal | None]


def presented_key(headers: Mapping[str, str], query_key: str | None = None) -> str | None:
    for name in KEY_HEADERS:
        value = headers.get(name)
        if value:
            if name == "authorization":
                scheme, _, token = value.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    continue
                return token.strip()
            return value.strip()
    return query_key or None


def key_prefix(key: str) -> str:
    return key[:10] + "…" if len(key) > 12 else "…"


class Authenticator:
    def __init__(self, resolvers: list[KeyResolver] | None = None) -> None:
        self.resolvers: list[KeyResolver] = resolvers or []
        # the master key's principal, made once per key hash (shared by its requests, as a virtual key's
        # principal is shared from the key table: principals are never changed after authentication)
        self._master: tuple[str, Principal] | None = None

    def authenticate(
        self, config: CompiledConfig, headers: Mapping[str, str], query_key: str | None = None
    ) -> tuple[Principal, str | None]:
        """The caller and the provider key to forward (passthrough / hybrid), or raise 401."""
        mode = config.source.auth.mode
        key = presented_key(headers, query_key)
        if mode == "passthrough":
            if not key:
                raise AuthenticationFailed("missing API key: passthrough mode forwards your provider key")
            return Principal("passthrough", "passthrough", key_prefix(key)), key
        if not key:
            raise AuthenticationFailed(
                "missing API key: send the gateway key as 'Authorization: Bearer <key>' or 'x-api-key'"
            )
        digest = hash_key(key)
        master = config.master_key_hash
        if master is not None and hmac.compare_digest(digest, master):
            kept = self._master
            if kept is None or kept[0] != digest:
                kept = self._master = (digest, Principal("master", "master", key_prefix(key)))
            principal = kept[1]
        else:
            principal = self._resolve(digest)
        provider_key = headers.get(PROVIDER_KEY_HEADER) if mode == "hybrid" else None
        return principal, provider_key

    def _resolve(self, digest: str) -> Principal:
        for resolver in self.resolvers:
            principal = resolver(digest)
            if principal is not None:
                return principal
        raise AuthenticationFailed("invalid API key")
