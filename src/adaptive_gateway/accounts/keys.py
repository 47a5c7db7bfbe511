"""Virtual key material: generated once, shown once, stored only as a SHA-256 hash plus a display
prefix."""

from __future__ import annotations

import secrets

from adaptive_gateway.config import hash_key

KEY_PREFIX = "sk-agw-"
DISPLAY_CHARS = 12


def new_key() -> str:
    """A fresh virtual key (43 random URL-safe characters after the ``sk-agw-`` prefix)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def display_prefix(key: str) -> str:
    """What lists and logs show of a key: enough to recognise it, useless to an attacker."""
    return key[:DISPLAY_CHARS] + "…"


def new_id(kind: str) -> str:
    """A short random id such as ``key_3f9a0c1d2b4e``."""
    return f"{kind}_{secrets.token_hex(8)}"


__all__ = ["KEY_PREFIX", "display_prefix", "hash_key", "new_id", "new_key"]
