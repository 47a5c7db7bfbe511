"""Scan results per text already seen, for the detectors and the injection heuristics.

The scans are pure functions of the text, so a conversation's earlier turns, a shared system prompt and
a repeated request (a cache hit, a retry) are not scanned again. Keyed by the SHA-256 of the text (the
text itself is not kept); one memo per compiled detector set or injection policy, so a config reload
starts a new one; the oldest entries go first. The same digests are the receipts' content hashes
(:func:`content_hash`), so a request's texts are hashed once for all three.

SHA-256 rather than BLAKE2b: most server CPUs hash it in hardware (SHA extensions on x86-64 since AMD Zen
and Intel Ice Lake, and on ARMv8), where OpenSSL runs it at 1.8 GB/s here against BLAKE2b's 0.94 (100 KB:
55 µs against 106), and the receipts need the SHA-256 anyway. Without the extensions (Intel Skylake and
Cascade Lake servers) SHA-256 runs at ~0.55 GB/s (182 µs per 100 KB, measured here with
``OPENSSL_ia32cap=:~0x20000000``): there a 100 KB conversation costs ~70 µs more than BLAKE2b plus a
SHA-256 of its new text would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from hashlib import sha256
from typing import Generic, TypeVar

T = TypeVar("T")


def digest(text: str) -> bytes:
    return sha256(text.encode("utf-8", "surrogatepass")).digest()


# one request's digests by text object, shared by the memos it is looked up in (the detectors' and the
# injection heuristics' see the same message strings) and by its receipt: each text is digested once
# per request (~0.8 µs per KB of ASCII; an agent's 100 KB conversation was hashed three times before).
# Keyed by id() and holding the text itself, so an id cannot be reused while the map lives; kept no
# longer than its request.
Digests = dict[int, tuple[str, bytes]]
DIGESTS_NOTE = "trust.digests"  # ctx.notes: the request's Digests, left by the trust stage


def known_digest(text: str, seen: Digests | None) -> bytes | None:
    """The digest ``seen`` holds for this very text object, or None."""
    hit = seen.get(id(text)) if seen else None
    return hit[1] if hit is not None and hit[0] is text else None


def digests_of(texts: Sequence[str], seen: Digests | None) -> list[bytes]:
    if seen is None:
        return [digest(t) for t in texts]
    out = []
    for t in texts:
        hit = seen.get(id(t))
        if hit is None or hit[0] is not t:
            hit = seen[id(t)] = (t, digest(t))
        out.append(hit[1])
    return out


class TextMemo(Generic[T]):
    __slots__ = ("_found", "limit")

    def __init__(self, limit: int = 16_384) -> None:
        self.limit = limit
        self._found: dict[bytes, tuple[T, ...]] = {}

    def __len__(self) -> int:
        return len(self._found)

    def results(
        self,
        texts: Sequence[str],
        scan_each: Callable[[list[str]], Iterable[Iterable[T]]],
        seen: Digests | None = None,
    ) -> list[tuple[T, ...]]:
        """The results of each text: from the memo, else from one ``scan_each`` call over the texts
        not seen before (which returns one result per text it was given, in order). ``seen``: the
        request's digests so far (:data:`Digests`), shared with its other memo lookups."""
        found = self._found
        digests = digests_of(texts, seen)
        known = [found.get(d) for d in digests]
        new = [i for i, hit in enumerate(known) if hit is None]
        if new:
            for i, scanned in zip(new, scan_each([texts[i] for i in new]), strict=True):
                known[i] = kept = tuple(scanned)
                if len(found) >= self.limit:
                    del found[next(iter(found))]
                found[digests[i]] = kept
        return known  # type: ignore[return-value]  # every None was replaced above


def content_hash(text: str, seen: Digests | None) -> str:
    """The hex SHA-256 of ``text`` (its UTF-8 bytes) for a receipt: the request's digest of this very
    text object when the trust stage made one, else computed here."""
    known = known_digest(text, seen)
    return known.hex() if known is not None else digest(text).hex()
