"""The built-in detector rules: one table row per pattern, compiled once at import.

Every rule is anchored on a literal so that a clean prompt costs one C-speed substring search
per rule, never a regex attempt at every position:

* text rules start with a literal prefix (``sk-``, ``eyJ``, ``@``, ``://``) that ``re`` searches
  for directly; checks in :mod:`.checks` widen the span to the real boundaries;
* shape rules run on the digit/letter projection (:mod:`.views`), where ``\\d{4}`` is ``0000``;
* keyword rules are matched only where one of their ``anchors`` occurs in the lower-cased text;
* API-key rules are matched only at the start of long key-alphabet runs, dispatched on their
  first two characters, so twenty key formats cost one search for long runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adaptive_gateway.trust import checks as c
from adaptive_gateway.trust import validators as v
from adaptive_gateway.trust.levels import TrustLevel
from adaptive_gateway.trust.views import View


@dataclass(frozen=True, slots=True)
class Rule:
    """One detector row.

    ``regex`` is searched across ``view``, unless the rule has ``anchors`` (then it is matched at
    each occurrence of an anchor in the lower-cased text) or ``prefixes`` (then it is matched at
    the start of each run of 20+ key-alphabet characters whose first two characters are a
    prefix). ``group`` selects the reported span (in ``password = "x"`` only the value is
    redacted). ``level`` ``None`` means the category default.
    """

    type: str
    regex: re.Pattern[str]
    confidence: float
    view: View = "text"
    anchors: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    group: int = 0
    check: c.Check | None = None
    level: TrustLevel | None = None

    @property
    def category(self) -> str:
        """``"secret"``, ``"pii"`` or ``"custom"``: the part of ``type`` before the dot."""
        return self.type.partition(".")[0]


def _rule(
    type_: str,
    pattern: str,
    confidence: float,
    *,
    view: View = "text",
    anchors: tuple[str, ...] = (),
    prefixes: tuple[str, ...] = (),
    group: int = 0,
    check: c.Check | None = None,
) -> Rule:
    flags = re.IGNORECASE if anchors else 0
    return Rule(type_, re.compile(pattern, flags), confidence, view, anchors, prefixes, group, check)


# Tokens end where the key alphabet ends; a key glued to a longer word is not reported.
_END = r"(?![\w-])"
_CREDENTIAL_ANCHORS = ("pass", "pwd", "secret", "api", "access", "private", "token")

SECRET_RULES: tuple[Rule, ...] = (
    _rule("secret.anthropic_key", r"sk-ant-[a-z]{2,8}\d{0,3}-[\w-]{32,256}" + _END, 0.99, prefixes=("sk",)),
    _rule(
        "secret.openai_key",
        r"sk-(?!ant-)(?:(?:proj|svcacct|admin|None)-)?[\w-]{20,256}" + _END,
        0.95,
        prefixes=("sk",),
        check=c.accept_if(c.mixed_alnum),
    ),
    _rule(
        "secret.aws_access_key",
        r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])",
        0.95,
        prefixes=("AK", "AS", "AB", "AC", "A3"),
    ),
    _rule(
        "secret.aws_secret_key",
        r"aws[\w.-]{0,20}?secret[\w.-]{0,20}?[\"']?\s{0,5}[:=]\s{0,5}[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        0.9,
        anchors=("aws",),
        group=1,
    ),
    _rule("secret.github_token", r"gh[pousr]_[A-Za-z0-9]{36}(?!\w)", 0.99, prefixes=("gh",)),
    _rule("secret.github_token", r"github_pat_[A-Za-z0-9_]{50,255}(?!\w)", 0.99, prefixes=("gi",)),
    _rule(
        "secret.gitlab_token",
        r"gl(?:pat|dt|ft|soat|rt|cbt|ptt|oas)-[\w-]{20,128}" + _END,
        0.95,
        prefixes=("gl",),
    ),
    _rule(
        "secret.slack_token",
        r"xox[abposr]-(?:\d{1,20}-){1,4}[A-Za-z0-9]{8,64}" + _END,
        0.95,
        prefixes=("xo",),
    ),
    _rule(
        "secret.slack_webhook",
        r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]{1,32}/B[A-Za-z0-9_]{1,32}/[A-Za-z0-9_]{1,64}",
        0.95,
    ),
    _rule("secret.stripe_key", r"[rs]k_live_[A-Za-z0-9]{24,128}(?!\w)", 0.97, prefixes=("rk", "sk")),
    _rule("secret.google_api_key", r"AIza[\w-]{35}" + _END, 0.95, prefixes=("AI",)),
    _rule("secret.huggingface_token", r"hf_[A-Za-z0-9]{34,64}(?!\w)", 0.95, prefixes=("hf",)),
    _rule("secret.groq_key", r"gsk_[A-Za-z0-9]{48,64}(?!\w)", 0.97, prefixes=("gs",)),
    _rule("secret.npm_token", r"npm_[A-Za-z0-9]{36}(?!\w)", 0.95, prefixes=("np",)),
    _rule("secret.pypi_token", r"pypi-AgE[\w-]{50,512}" + _END, 0.97, prefixes=("py",)),
    _rule("secret.sendgrid_key", r"SG\.(?<!\wSG\.)[\w-]{22}\.[\w-]{43}" + _END, 0.97),
    _rule("secret.jwt", r"eyJ(?<![\w-]eyJ)[\w-]{5,1024}\.eyJ[\w-]{5,4096}\.[\w-]{10,1024}" + _END, 0.95),
    _rule(
        "secret.private_key",
        r"-----BEGIN[A-Z ]{0,24} PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END[A-Z ]{0,24} PRIVATE KEY(?: BLOCK)?-----|\Z)",
        0.99,
        check=c.pem_with_body,
    ),
    _rule(
        "secret.connection_string",
        r"://[^\s:/@'\"]{0,128}:[^\s@/'\"]{1,256}@[^\s'\"<>`]{1,512}",
        0.95,
        check=c.url_credentials,
    ),
    _rule(
        "secret.connection_string",
        r"(?:password|pwd)=([^;\s'\"]{1,200}+)(?=;|\s|$)",
        0.9,
        anchors=("pass", "pwd"),
        group=1,
        check=c.ado_password,
    ),
    _rule("secret.connection_string", r"AccountKey=([A-Za-z0-9+/]{40,128}={0,2})", 0.97, group=1),
    _rule(
        "secret.credential_assignment",
        r"(?<![a-z0-9])(?:password|passwd|passphrase|pwd|secret|api[_-]?key|access[_-]?key|private[_-]?key"
        r"|token)[\w-]{0,20}?[\"']?\s{0,5}(?::=|==|=>|[:=])\s{0,5}[\"']([^\"'\s]{8,200}+)[\"']",
        0.75,
        anchors=_CREDENTIAL_ANCHORS,
        group=1,
        check=c.credential_value,
    ),
    _rule(
        "secret.credential_assignment",
        r"(?<![a-z0-9])(?:password|passwd|passphrase|pwd|secret|api[_-]?key|access[_-]?key|private[_-]?key"
        r"|token)[\w-]{0,20}(?:=|:[ \t]+)([^\s'\"&;]{8,200}+)(?=[\s&;]|$)",
        0.7,
        anchors=_CREDENTIAL_ANCHORS,
        group=1,
        check=c.bare_credential_value,
    ),
)

PII_RULES: tuple[Rule, ...] = (
    _rule(
        "pii.email",
        r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w@-])",
        0.95,
        check=c.email,
    ),
    _rule(
        "pii.phone",
        r"\+(?<![\w+.-]\+)(?:\d{8,15}|\d{1,3}(?:[ .-]?\(\d{1,5}\)|[ .-]\d{1,8}){1,6})(?!\w|[-.]\d)",
        0.85,
        check=c.phone_digits,
    ),
    _rule("pii.phone", r"000(?P<sep>[.-])000(?P=sep)0000", 0.8, view="shape", check=c.nanp_phone),
    _rule("pii.phone", r"\(000\) ?000[.-]0000", 0.8, view="shape", check=c.nanp_phone),
    _rule(
        "pii.phone",
        r"(?<![a-z0-9])(?:phone|tel|telephone|mobile|cell|fax)(?:[ .]?(?:no|nr|number|#))?"
        r"\.?\s{0,2}[:#]?\s{0,3}(\(?\+?\d[\d ().-]{5,18}\d)(?!\w|[-.]\d)",
        0.8,
        anchors=("phone", "tel", "mobile", "cell", "fax"),
        group=1,
        check=c.phone_digits,
    ),
    _rule(
        "pii.credit_card",
        r"0000(?:(?P<sep>[ -])0000(?P=sep)0000(?P=sep)0{1,7}|[ -]000000[ -]0{4,5}|0{9,15})",
        0.95,
        view="shape",
        check=c.validated_number(v.credit_card_valid),
    ),
    _rule("pii.us_ssn", r"000-00-0000", 0.85, view="shape", check=c.validated_number(v.us_ssn_valid)),
    _rule(
        "pii.iban",
        r"AA00(?<![A0a]AA00)(?:[A0]{11,30}|(?: [A0]{4}){2,7}(?: [A0]{1,4})?)(?![A0a])",
        0.95,
        view="shape",
        check=c.iban,
    ),
    _rule("pii.ip_address", r"0\.00?0?\.00?0?\.0", 1.0, view="shape", check=c.ipv4),
    _rule("pii.ip_address", r":[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]{0,40}", 1.0, check=c.ipv6),
)

# Runs of 20+ key-alphabet characters in the "runs" view; confirmed by ``checks.high_entropy``.
HIGH_ENTROPY_PATTERN = re.compile("x" * 20 + "x{0,492}={0,2}")
