"""The built-in detector rules: one table row per pattern, compiled once at import.

Every rule is anchored on a literal so that a clean prompt costs one C-speed substring search
per rule, never a regex attempt at every position:

* text rules start with a literal prefix (``sk-``, ``eyJ``, ``@``, ``://``) that ``re`` searches
  for directly; checks in :mod:`.checks` widen the span to the real boundaries;
* shape rules run on the digit/letter projection (:mod:`.views`), where ``\\d{4}`` is ``0000``;
* keyword rules are matched only where one of their ``anchors`` occurs in the lower-cased text;
* API-key rules are matched only at the start of long key-alphabet runs, dispatched on their
  first two characters, so twenty key formats cost one search for long runs;
* national-id rules are matched only on number tokens (one search for ``000`` on the shape view),
  dispatched on the token's exact shape (``000 000 000``, ``AA000000A``), so ten id formats cost one
  search too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

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
    prefix) or ``shapes`` (then it must match the whole of each number token, see
    :data:`NUMBER_TOKEN`, whose shape is one of them). ``group`` selects the reported span (in
    ``password = "x"`` only the value is redacted). ``level`` ``None`` means the category default.
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
    shapes: tuple[str, ...] = ()
    label: c.Label | None = None  # words one of which must come shortly before (shaped rules only)

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
    shapes: tuple[str, ...] = (),
) -> Rule:
    flags = re.IGNORECASE if anchors else 0
    regex = re.compile(pattern, flags)
    return Rule(type_, regex, confidence, view, anchors, prefixes, group, check, shapes=shapes)


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

# Card numbers as written: 13-19 digits, in groups of four (the last group 1-7 digits), in the Amex and
# Diners 4-6-4/5 layout, or not grouped at all.
_CARD_SHAPES = (
    *(f"0000{sep}0000{sep}0000{sep}{'0' * last}" for sep in " -" for last in range(1, 8)),
    *(f"0000{a}000000{b}{'0' * last}" for a in " -" for b in " -" for last in (4, 5)),
    *("0" * length for length in range(13, 20)),
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
        r"\d{4}(?:([ -])\d{4}\1\d{4}\1\d{1,7}|[ -]\d{6}[ -]\d{4,5}|\d{9,15})",
        0.95,
        shapes=_CARD_SHAPES,
        check=c.validated_number(v.credit_card_valid),
    ),
    _rule(
        "pii.us_ssn",
        r"\d{3}-\d\d-\d{4}",
        0.85,
        shapes=("000-00-0000",),
        check=c.validated_number(v.us_ssn_valid),
    ),
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


def _id(
    type_: str,
    pattern: str,
    confidence: float,
    shapes: tuple[str, ...],
    valid: Callable[[str], bool],
    label: c.Label | None = None,
) -> Rule:
    rule = _rule(type_, pattern, confidence, shapes=shapes, check=c.national_id(valid))
    return replace(rule, label=label)


# National identity numbers: each format written the ways people write it, confirmed by its check digit.
# Ids with only a mod-10 check (Luhn, Verhoeff) or written as a bare run of digits need a ``label``
# (a word such as "SIN") shortly before them: one random number in ten passes such a check, and
# "255 250 250" (a colour), a list of years or a 9-digit order number are far more common than ids
# without a label.
_SIN = c.Label(("sin", "social insurance", "assurance sociale", "nas"))
_BSN = c.Label(("bsn", "burgerservicenummer", "sofinummer", "sofi-nummer"))
_AADHAAR = c.Label(("aadhaar", "aadhar", "uidai"))
_CPF = c.Label(("cpf",))
NATIONAL_ID_RULES: tuple[Rule, ...] = (
    _id("pii.uk_nino", r"[A-Z]{2}\d{6}[A-D]", 0.75, ("AA000000A",), v.uk_nino_valid),
    _rule("pii.uk_nino", "AA 00 00 00 A", 0.8, view="shape", check=c.national_id(v.uk_nino_valid)),
    _id(
        "pii.ca_sin",
        r"\d{3}([ -]?)\d{3}\1\d{3}",
        0.85,
        ("000 000 000", "000-000-000", "000000000"),
        v.ca_sin_valid,
        _SIN,
    ),
    _id(
        "pii.in_aadhaar",
        r"\d{4}([ -]?)\d{4}\1\d{4}",
        0.9,
        ("0000 0000 0000", "0000-0000-0000", "000000000000"),
        v.in_aadhaar_valid,
        _AADHAAR,
    ),
    _id("pii.br_cpf", r"\d{3}\.\d{3}\.\d{3}-\d\d", 0.95, ("000.000.000-00",), v.br_cpf_valid),
    _id("pii.br_cpf", r"\d{11}", 0.9, ("0" * 11,), v.br_cpf_valid, _CPF),
    _id("pii.es_dni", r"\d{8}-?[A-Z]", 0.85, ("00000000A", "00000000-A"), v.es_dni_valid),
    _id("pii.es_dni", r"[XYZ]\d{7}[A-Z]", 0.85, ("A0000000A",), v.es_dni_valid),  # NIE
    _id("pii.nl_bsn", r"\d{4}\.\d\d\.\d{3}", 0.85, ("0000.00.000",), v.nl_bsn_valid),
    _id("pii.nl_bsn", r"\d{9}", 0.85, ("0" * 9,), v.nl_bsn_valid, _BSN),
    _id(
        "pii.it_fiscal_code",
        r"[A-Z]{6}\d\d[A-Z]\d\d[A-Z]\d{3}[A-Z]",
        0.95,
        ("AAAAAA00A00A000A",),
        v.it_fiscal_code_valid,
    ),
    _id("pii.fr_nir", r"\d{6}[\dAB]\d{8}", 0.9, ("0" * 15, "000000A00000000"), v.fr_nir_valid),
    _id("pii.fr_nir", r"\d \d\d \d\d \d\d \d{3} \d{3} \d\d", 0.9, ("0 00 00 00 000 000 00",), v.fr_nir_valid),
    _id("pii.de_tax_id", r"\d{11}", 0.8, ("0" * 11,), v.de_tax_id_valid),
    _id("pii.de_tax_id", r"\d\d \d{3} \d{3} \d{3}", 0.85, ("00 000 000 000",), v.de_tax_id_valid),
)
# Number tokens on the shape view: a run of digits and upper-case letters, with single ``.``/`` ``
# between digits and ``-`` after a digit, found through the first ``000`` of a digit run when a letter
# or at least four more token characters follow (every id is that long from there, or ends in a letter
# like the codice fiscale: "2024" or "8080" are not looked at). The detector walks back to the token's
# start (``checks.token_start``) and dispatches on its shape.
NUMBER_TOKEN = re.compile(
    r"000(?<!0000)(?=[0A .-]{4}|A)[0A]{0,20}(?:(?<=0)[ .]0[0A]{0,16}|(?<=0)-[0A]{1,16}){0,8}"
)

# Runs of 20+ key-alphabet characters in the "runs" view; confirmed by ``checks.high_entropy``.
HIGH_ENTROPY_PATTERN = re.compile("x" * 20 + "x{0,492}={0,2}")
