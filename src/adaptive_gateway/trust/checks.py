"""Checks that confirm (and may widen or narrow) a regex candidate against the original text.

A check receives the text and the candidate span and returns ``(start, end, confidence factor)``
or ``None`` to drop the candidate. Rules search for a cheap literal anchor (``@``, ``://``,
``0000``) and let the check walk to the real boundaries, which keeps the no-finding path fast.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from adaptive_gateway.trust import validators as v

Accepted = tuple[int, int, float]
Check = Callable[[str, int, int], Accepted | None]

_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_EMAIL_LOCAL = frozenset(_WORD | set(".%+-"))
_SCHEME = frozenset(_WORD - {"_"} | set("+.-"))
_DIGITS = frozenset("0123456789")
_HEX_OR_COLON = frozenset("0123456789abcdefABCDEF:")
_NUMBER_NEIGHBOURS = frozenset(_WORD | set(".,/:-"))
_PLACEHOLDER_VALUE = re.compile(
    r"^(?:\$\{?|<|\[|\(|\{\{|%\(|\*{3}|x{4,}|your[_-]|example|placeholder|changeme$|redacted|\.\.\.|urn:)"
    r"|(?-i:^[A-Z][A-Z0-9]*_[A-Z0-9_]+$)|://|^~?\.{0,2}/",
    re.IGNORECASE,
)
# Passwords used by documentation examples ("postgresql://scott:tiger@host/db").
_EXAMPLE_PASSWORDS = frozenset(
    {"pass", "password", "passwd", "pwd", "secret", "tiger", "changeme", "test", "testing", "user", "foo"}
)
_PLAIN_WORD = re.compile(r"[A-Za-z_]+$")  # "challengePassword", "IAmSensitive": names, not secrets
# Code, not a credential: "self.password,", "key_password", "typing.TypeAlias" (no digit in sight).
_CODE_VALUE = re.compile(r"^[A-Za-z_][A-Za-z_.]*[,);:]?$|[,);:]$")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=]{16}")  # truncated key material still counts
_URL_PASSWORD = re.compile(r"://[^\s:/@'\"]*:([^\s@/'\"]+)@")
_PASSWORD_WORDS = ("pass", "pwd")
_ADO_KEYS = ("server=", "data source=", "host=", "user id=", "uid=", "database=")
# Prefixes of identifiers that providers print in responses and docs; they are not credentials.
_PUBLIC_TOKEN_PREFIXES = (
    "sha1-", "sha256-", "sha384-", "sha512-", "toolu_", "srvtoolu_", "msg_", "msgbatch_", "req_",
    "wrkspc_", "file_", "file-", "call_", "chatcmpl-", "asst_", "thread_", "run_", "step_", "resp_",
    "batch_", "cus_", "ch_", "pi_", "evt_", "price_", "prod_", "sub_", "acct_", "org-", "user-",
)  # fmt: skip
# Anthropic-style object ids ("rlg_01VPTCmyiu5ZLsWkcxYG2pY8"): a short type prefix, then "_01".
_PUBLIC_ID = re.compile(r"[a-z]{2,12}_01[0-9A-Za-z]{16,40}$")
_FILE_SUFFIXES = frozenset(
    {"png", "jpg", "jpeg", "gif", "svg", "webp", "js", "ts", "css", "py", "md", "json"}
)


def accept_if(predicate: Callable[[str], bool]) -> Check:
    """A check that keeps the candidate as found when ``predicate(candidate)`` holds."""

    def check(text: str, start: int, end: int) -> Accepted | None:
        return (start, end, 1.0) if predicate(text[start:end]) else None

    return check


def _walk_back(text: str, start: int, allowed: frozenset[str], limit: int) -> int:
    floor = max(0, start - limit)
    while start > floor and text[start - 1] in allowed:
        start -= 1
    return start


def real_value(value: str) -> bool:
    """A credential that is not a placeholder (``${DB_PASSWORD}``, ``<token>``, ``YOUR_API_KEY``),
    a documentation example (``tiger``), a URL or a file path."""
    return value.lower() not in _EXAMPLE_PASSWORDS and not _PLACEHOLDER_VALUE.search(value)


def mixed_alnum(value: str) -> bool:
    """Key material mixes letters and digits; ``sk-learn-style-kebab-case-name`` does not."""
    return any(ch.isdigit() for ch in value) and any(ch.isalpha() for ch in value)


def standalone_number(text: str, start: int, end: int) -> Accepted | None:
    """A number that is not part of a longer number, word, version, path or date."""
    before = text[start - 1] if start else " "
    after = text[end : end + 2]
    if before in _NUMBER_NEIGHBOURS or before == "+":
        return None
    if after[:1] in _WORD or (after[:1] in ".,/:-" and after[1:2].isdigit()):
        return None
    return (start, end, 1.0)


def validated_number(predicate: Callable[[str], bool]) -> Check:
    """``standalone_number`` plus a checksum or plausibility ``predicate`` on the digits."""

    def check(text: str, start: int, end: int) -> Accepted | None:
        if standalone_number(text, start, end) is None or not predicate(text[start:end]):
            return None
        return (start, end, 1.0)

    return check


def nanp_phone(text: str, start: int, end: int) -> Accepted | None:
    """A North American number: area code 2-9xx, standing alone."""
    if standalone_number(text, start, end) is None:
        return None
    digits = v.digits_only(text[start:end])
    return (start, end, 1.0) if digits[0] in "23456789" else None


def phone_digits(text: str, start: int, end: int) -> Accepted | None:
    """A phone number has 7 to 15 digits (E.164)."""
    return (start, end, 1.0) if 7 <= len(v.digits_only(text[start:end])) <= 15 else None


def email(text: str, start: int, end: int) -> Accepted | None:
    """Widen an ``@domain.tld`` anchor to the local part; drop ``icon@2x.png`` and ``git@host:path``."""
    local_start = start
    floor = max(0, start - 64)
    while local_start > floor and (text[local_start - 1] in _EMAIL_LOCAL or text[local_start - 1].isalnum()):
        local_start -= 1  # isalnum: internationalised local parts ("jürgen")
    while local_start < start and text[local_start] in ".%+-":
        local_start += 1
    if local_start == start or text[start - 1] == ".":
        return None
    if text[start:end].rsplit(".", 1)[-1].lower() in _FILE_SUFFIXES:
        return None
    if text[end : end + 1] == ":" and text[end + 1 : end + 2] not in ("", " ", "\n"):
        return None
    return (local_start, end, 1.0)


def url_credentials(text: str, start: int, end: int) -> Accepted | None:
    """Widen a ``://user:pass@host`` anchor to its scheme; drop placeholder passwords."""
    scheme_start = _walk_back(text, start, _SCHEME, 20)
    if start - scheme_start < 2 or not text[scheme_start].isalpha():
        return None
    match = _URL_PASSWORD.match(text, start, end)
    if match is None or not real_value(match.group(1)):
        return None
    return (scheme_start, end, 1.0)


def ipv6(text: str, start: int, end: int) -> Accepted | None:
    """Widen a ``:hex:`` anchor to the whole hex-and-colon run and validate it as an address."""
    first = _walk_back(text, start, _HEX_OR_COLON, 40)
    last = end
    while last < len(text) and last - first < 45 and text[last] in _HEX_OR_COLON:
        last += 1
    if (first and text[first - 1] in _WORD | {".", "-"}) or text[last : last + 1] in _WORD | {".", "-"}:
        return None
    candidate = text[first:last]
    if candidate.count(":") < 2 or not any(ch.isdigit() for ch in candidate):
        return None
    confidence = v.ip_confidence(candidate)
    return (first, last, confidence) if confidence else None


def ipv4(text: str, start: int, end: int) -> Accepted | None:
    """Widen a ``0.000.000.0`` shape anchor to the whole dotted quad and validate it.

    Unlike other numbers an address may follow ``/`` or ``@`` and precede ``:port`` or ``/path``.

    Loopback, netmask and other reserved addresses are dropped; private ones score lower. Quads
    whose first two parts are single digits ("2.5.4.16", "8.4.1.3") are OIDs, section or version
    numbers far more often than personal addresses, so they are dropped too.
    """
    first = _walk_back(text, start, _DIGITS, 2)
    last = end
    while last < len(text) and last - end < 2 and text[last] in _DIGITS:
        last += 1
    before = text[first - 1] if first else " "
    after = text[last : last + 2]
    if before in _WORD or before == "." or after[:1] in _WORD or (after[:1] == "." and after[1:2].isdigit()):
        return None
    candidate = text[first:last]
    if candidate[1] == "." and candidate[3] == ".":
        return None
    confidence = v.ip_confidence(candidate)
    return (first, last, confidence) if confidence else None


def iban(text: str, start: int, end: int) -> Accepted | None:
    """Trim the candidate to its country's IBAN length and verify the mod-97 checksum."""
    length = v.iban_length(text[start:end])
    return (start, start + length, 1.0) if length else None


def credential_value(text: str, start: int, end: int) -> Accepted | None:
    """A quoted credential value: not a placeholder or a plain word; after a password keyword any
    such value counts, after token/key/secret keywords it must mix letters and digits."""
    value = text[start:end]
    if not real_value(value) or len(set(value)) < 4 or _PLAIN_WORD.match(value):
        return None
    keyword_zone = text[max(0, start - 40) : start].lower()
    if any(word in keyword_zone for word in _PASSWORD_WORDS) or mixed_alnum(value):
        return (start, end, 1.0)
    return None


def bare_credential_value(text: str, start: int, end: int) -> Accepted | None:
    """An unquoted ``password=...`` value (env file, query string, CLI flag) that is not code."""
    value = text[start:end]
    if value[:1] in "${(<" or any(ch in value for ch in "()[]{}") or _CODE_VALUE.search(value):
        return None
    return credential_value(text, start, end)


def ado_password(text: str, start: int, end: int) -> Accepted | None:
    """The password of an ADO/ODBC connection string (``Server=...;Password=...``)."""
    zone = text[max(0, start - 300) : start].lower()
    value = text[start:end]
    if not any(key in zone for key in _ADO_KEYS) or not real_value(value) or _CODE_VALUE.search(value):
        return None
    return (start, end, 1.0)


def high_entropy(threshold: float) -> Check:
    """Random-looking tokens, except data-URI payloads, ``sha512-`` integrity hashes, PEM bodies,
    URL paths and public object ids (``toolu_01D7...``, ``chatcmpl-...``).

    PEM bodies of private keys are reported by the private-key rule; those of certificates and
    public keys are public.
    """

    def check(text: str, start: int, end: int) -> Accepted | None:
        token = text[start:end].rstrip("=")
        if (
            token.startswith(_PUBLIC_TOKEN_PREFIXES)
            or _PUBLIC_ID.match(token)
            or text.endswith("base64,", 0, start)
        ):
            return None
        if not v.looks_random(token, threshold):
            return None
        return None if _inside_url(text, start) or _inside_public_pem(text, start) else (start, end, 1.0)

    return check


def pem_with_body(text: str, start: int, end: int) -> Accepted | None:
    """A PEM block with key material in it, not just the marker lines quoted in code or docs."""
    header_end = text.find("-----", start + 10) + 5
    return (start, end, 1.0) if _PEM_BODY.search(text, header_end, min(end, header_end + 400)) else None


def _inside_url(text: str, start: int) -> bool:
    """Whether ``start`` lies in the path or query of a URL (ids there are addresses, not keys)."""
    word_start = max(text.rfind(" ", 0, start), text.rfind("\n", 0, start), start - 300)
    return text.find("://", word_start, start) >= 0


def _inside_public_pem(text: str, start: int) -> bool:
    """Whether ``start`` lies in an open ``-----BEGIN ...-----`` block (certificates, public keys)."""
    block = text.rfind("-----BEGIN ", 0, start)
    return block >= 0 and text.find("-----END", block, start) < 0


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: a per-scan cache key
class Label:
    """Words that say what a number is ("SIN", "BSN"), to be found shortly before it."""

    words: tuple[str, ...]
    reach: int = 40
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        alternation = "|".join(map(re.escape, self.words))
        # whole words, and not a function name ("math.sin(")
        object.__setattr__(self, "regex", re.compile(rf"(?<![a-z])(?:{alternation})(?![a-z(])"))

    def ends(self, lower: str) -> list[int]:
        """Where the words end in ``lower`` (the lower-cased text), sorted; one ``str.find`` pass per
        word, since a regex alternation would be tried at every position of the text."""
        ends = []
        for word in self.words:
            position = lower.find(word)
            while position >= 0:
                match = self.regex.match(lower, position)
                if match is not None:
                    ends.append(match.end())
                position = lower.find(word, position + 1)
        return sorted(ends)

    def near(self, ends: list[int], start: int) -> bool:
        """Whether one of ``ends`` is within ``reach`` characters before ``start``."""
        index = bisect.bisect_right(ends, start)
        return index > 0 and start - ends[index - 1] <= self.reach


def national_id(predicate: Callable[[str], bool]) -> Check:
    """An id number that stands alone (not inside a longer number, word or part number) and passes
    ``predicate`` (its format and check digit)."""

    def check(text: str, start: int, end: int) -> Accepted | None:
        before = text[start - 1] if start else " "
        if before.isalnum() or before in "_.-/+" or (before == ":" and text[start - 2 : start - 1].isdigit()):
            return None
        after = text[end : end + 2]
        if after[:1].isalnum() or after[:1] == "_" or (after[:1] in ".,/:-" and after[1:2].isdigit()):
            return None
        if after[:1] == "-" and after[1:2].isalpha():  # "12345678Z-B": a part number
            return None
        return (start, end, 1.0) if predicate(text[start:end]) else None

    return check


def token_start(shape: str, start: int) -> int:
    """Walk back from a ``000`` inside a number token (shape view) to the token's first character:
    over digits, upper-case letters, and separators that have a digit on their left."""
    floor = max(0, start - 16)
    while start > floor:
        char = shape[start - 1]
        if char not in "0A" and not (char in " .-" and start >= 2 and shape[start - 2] == "0"):
            break
        if char in " ." and shape[start] != "0":
            break
        start -= 1
    return start
