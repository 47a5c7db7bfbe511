"""Checksum and shape validators that turn regex candidates into findings (pure, no state)."""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType

# Word-like runs ("Handler", "HTTP", "2024"): identifiers are mostly made of them, keys are not.
_WORDLIKE_RUN = re.compile(r"[A-Z]?[a-z]{2,}|[A-Z]{3,}|\d{4,}")
_MAX_WORDY_FRACTION = 0.75
_DIGIT = re.compile(r"[0-9]")
_SEPARATORS = re.compile(r"[-_/+.]")
_MIN_RANDOM_SEGMENT = 12

# Official IBAN lengths per country (SWIFT IBAN registry); a candidate of another length is not an IBAN.
IBAN_LENGTHS: Mapping[str, int] = MappingProxyType(
    {
        "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
        "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
        "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
        "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
        "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
        "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
        "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
        "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
        "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    }
)  # fmt: skip

# Issuer prefixes of the major card networks: (prefix range start, end, allowed lengths).
_CARD_RANGES: tuple[tuple[int, int, tuple[int, ...]], ...] = (
    (4, 4, (13, 16, 19)),  # Visa
    (51, 55, (16,)),  # Mastercard
    (2221, 2720, (16,)),  # Mastercard 2-series
    (34, 34, (15,)),  # Amex
    (37, 37, (15,)),  # Amex
    (6011, 6011, (16, 19)),  # Discover
    (644, 649, (16, 19)),  # Discover
    (65, 65, (16, 19)),  # Discover
    (3528, 3589, (16, 19)),  # JCB
    (300, 305, (14, 16, 19)),  # Diners Club
    (36, 36, (14, 16, 19)),  # Diners Club
    (38, 39, (14, 16, 19)),  # Diners Club
    (62, 62, (16, 17, 18, 19)),  # UnionPay
)


def digits_only(text: str) -> str:
    """``text`` with every non-digit removed."""
    return "".join(ch for ch in text if ch.isdigit())


def luhn_valid(number: str) -> bool:
    """Whether a digit string passes the Luhn checksum used by payment cards."""
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_network_known(number: str) -> bool:
    """Whether ``number`` has the prefix and length of a major card network."""
    length = len(number)
    for low, high, lengths in _CARD_RANGES:
        width = len(str(low))
        if length in lengths and low <= int(number[:width]) <= high:
            return True
    return False


def credit_card_valid(candidate: str) -> bool:
    """A card number: 13-19 digits, a known network prefix and a valid Luhn checksum."""
    number = digits_only(candidate)
    return 13 <= len(number) <= 19 and card_network_known(number) and luhn_valid(number)


def iban_valid(candidate: str) -> bool:
    """An IBAN: the registered length for its country and the ISO 13616 mod-97 checksum."""
    iban = candidate.replace(" ", "").upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(numeric) % 97 == 1


def us_ssn_valid(candidate: str) -> bool:
    """A US SSN ``AAA-GG-SSSS``: area not 000/666/9xx, group not 00, serial not 0000."""
    area, group, serial = candidate.split("-")
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


def ip_confidence(candidate: str) -> float:
    """Confidence that ``candidate`` is a personal/host IP address; 0.0 when it is not one.

    Loopback, unspecified, multicast, link-local and reserved addresses (such as the netmask
    ``255.255.255.0``) are not findings; private ranges are reported with lower confidence.
    """
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return 0.0
    noise = (address.is_loopback, address.is_unspecified, address.is_multicast, address.is_reserved)
    if any(noise) or address.is_link_local:
        return 0.0
    return 0.6 if address.is_private else 0.85


def shannon_entropy(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    length = len(text)
    if not length:
        return 0.0
    # H = log2(n) - sum(c * log2(c)) / n; characters seen once add nothing, which keeps random
    # tokens (mostly unique characters) cheap.
    spread = sum(count * math.log2(count) for count in Counter(text).values() if count > 1)
    return math.log2(length) - spread / length


def looks_random(token: str, threshold: float) -> bool:
    """Whether a token looks like generated key material rather than a word, path or hash.

    Mixed case and digits are required (prose, hex digests and UUIDs lack one of them); tokens
    whose ``-_/+.``-separated parts are all short are names (model ids, paths); tokens mostly made
    of word-like runs (``HttpRequestHandler2``) are identifiers; and the entropy must
    reach ``threshold`` (0..1) of what a random string of this length can reach.
    """
    # Names are built from short parts ("SmolLM2-135M-Instruct", "phi-4-Q4_K_M"); in a key the
    # longest part is itself random: mixed case and digits.
    longest = max(_SEPARATORS.split(token), key=len)
    if len(longest) < _MIN_RANDOM_SEGMENT:
        return False
    # str.lower/upper and a compiled digit search run in C; a Python loop per character would not.
    if longest.lower() == longest or longest.upper() == longest or _DIGIT.search(longest) is None:
        return False
    wordy = sum(len(run) for run in _WORDLIKE_RUN.findall(longest))
    if wordy >= _MAX_WORDY_FRACTION * len(longest):
        return False
    return shannon_entropy(token) >= threshold * math.log2(min(len(token), 64))


def iban_length(candidate: str) -> int:
    """Length of the valid IBAN at the start of ``candidate`` (0 when there is none).

    The candidate may run on into following text ("DE89 3704 ... 00 ABCD"); the registered length
    for its country decides where the IBAN ends, and a compact IBAN that runs on is rejected.
    """
    expected = IBAN_LENGTHS.get(candidate[:2])
    if expected is None:
        return 0
    positions = [index for index, char in enumerate(candidate) if char != " "]
    if len(positions) < expected:
        return 0
    end = positions[expected - 1] + 1
    if end < len(candidate) and candidate[end] != " ":
        return 0
    return end if iban_valid(candidate[:end]) else 0


# ---- national identity numbers ------------------------------------------------------------------------
# Each takes the candidate as written (separators included) and checks what the issuer documents: the
# format, ranges that are never issued, and the check digit where there is one.

# UK National Insurance numbers: letters never used first / second, and prefixes never allocated.
_NINO_BAD_FIRST = frozenset("DFIQUV")
_NINO_BAD_SECOND = frozenset("DFIOQUV")
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
# Verhoeff's dihedral-group tables (multiplication, permutation), as used by Aadhaar.
_VERHOEFF_D = (
    "0123456789", "1234067895", "2340178956", "3401289567", "4012395678",
    "5987604321", "6598710432", "7659821043", "8765932104", "9876543210",
)  # fmt: skip
_VERHOEFF_P = (
    "0123456789", "1576283094", "5803796142", "8916043527",
    "9453126870", "4286573901", "2793806415", "7046913258",
)  # fmt: skip
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_NIE_PREFIX = {"X": "0", "Y": "1", "Z": "2"}
# Codice fiscale: the value of a character in an odd (1st, 3rd, ...) position; digits count as A-J.
_CF_ODD = (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23)
_CF_LAYOUT = "LLLLLLDDLDDLDDDL"
_CF_MONTHS = frozenset("ABCDEHLMPRST")  # L letter, D digit (omocodia, letters for digits, is not accepted)


def _compact(candidate: str) -> str:
    return candidate.replace(" ", "").replace("-", "").replace(".", "").upper()


def uk_nino_valid(candidate: str) -> bool:
    """A UK National Insurance number ``AB 12 34 56 C``: allocated prefix letters, suffix A-D."""
    nino = _compact(candidate)
    if len(nino) != 9 or not (nino[:2].isalpha() and nino[2:8].isdigit() and nino[8] in "ABCD"):
        return False
    first, second = nino[0], nino[1]
    return (
        first not in _NINO_BAD_FIRST and second not in _NINO_BAD_SECOND and nino[:2] not in _NINO_BAD_PREFIXES
    )


def ca_sin_valid(candidate: str) -> bool:
    """A Canadian Social Insurance Number: 9 digits, first digit 1-7 or 9 (0 and 8 are never
    issued to people), valid Luhn checksum."""
    sin = digits_only(candidate)
    return len(sin) == 9 and sin[0] not in "08" and luhn_valid(sin)


def verhoeff_valid(number: str) -> bool:
    """Whether a digit string passes Verhoeff's checksum (the last digit is the check digit)."""
    check = 0
    for index, char in enumerate(reversed(number)):
        check = int(_VERHOEFF_D[check][int(_VERHOEFF_P[index % 8][int(char)])])
    return check == 0


def in_aadhaar_valid(candidate: str) -> bool:
    """An Indian Aadhaar number: 12 digits, not starting with 0 or 1, valid Verhoeff checksum."""
    number = digits_only(candidate)
    return len(number) == 12 and number[0] not in "01" and verhoeff_valid(number)


def br_cpf_valid(candidate: str) -> bool:
    """A Brazilian CPF: 11 digits, not all equal, both mod-11 check digits right."""
    cpf = digits_only(candidate)
    if len(cpf) != 11 or len(set(cpf)) == 1:
        return False
    digits = [int(ch) for ch in cpf]
    for position in (9, 10):
        total = sum(d * (position + 1 - i) for i, d in enumerate(digits[:position]))
        if total * 10 % 11 % 10 != digits[position]:
            return False
    return True


def es_dni_valid(candidate: str) -> bool:
    """A Spanish DNI (``12345678Z``) or NIE (``X1234567L``): the letter is the number mod 23."""
    value = _compact(candidate)
    if len(value) != 9:
        return False
    number = _NIE_PREFIX.get(value[0], value[0]) + value[1:8]
    return number.isdigit() and value[8] == _DNI_LETTERS[int(number) % 23]


def nl_bsn_valid(candidate: str) -> bool:
    """A Dutch BSN: 9 digits passing the "11-proof" (weights 9..2, the last digit weighted -1)."""
    bsn = digits_only(candidate)
    if len(bsn) != 9 or bsn == "000000000":
        return False
    total = sum(int(ch) * (9 - i) for i, ch in enumerate(bsn[:8])) - int(bsn[8])
    return total % 11 == 0


def it_fiscal_code_valid(candidate: str) -> bool:
    """An Italian codice fiscale (16 characters): layout, birth month letter and day (1-31, +40 for
    women), and the final check letter."""
    code = candidate.upper()
    if len(code) != 16 or not all(
        (ch.isdigit() if kind == "D" else "A" <= ch <= "Z") for ch, kind in zip(code, _CF_LAYOUT, strict=True)
    ):
        return False
    day = int(code[9:11])
    if code[8] not in _CF_MONTHS or not (1 <= day <= 31 or 41 <= day <= 71):
        return False
    total = 0
    for index, char in enumerate(code[:15]):
        value = int(char) if char.isdigit() else ord(char) - 65
        total += _CF_ODD[value] if index % 2 == 0 else value
    return code[15] == chr(65 + total % 26)


def fr_nir_valid(candidate: str) -> bool:
    """A French social security number (NIR / INSEE): 13 characters and a 2-digit key equal to
    ``97 - number mod 97`` (Corsican departments 2A / 2B count as 19 / 18); sex digit 1-4, 7 or 8."""
    nir = _compact(candidate)
    if len(nir) != 15 or nir[0] not in "123478" or not nir[13:].isdigit():
        return False
    body = nir[:13]
    if body[5:7] in ("2A", "2B"):
        body = body[:5] + ("19" if body[6] == "A" else "18") + body[7:]
    if not body.isdigit() or not 1 <= int(body[3:5]) <= 99:
        return False
    return 97 - int(body) % 97 == int(nir[13:])


def de_tax_id_valid(candidate: str) -> bool:
    """A German tax id (Steuer-IdNr): 11 digits, no leading 0, exactly one digit repeated (twice,
    or three times but not three in a row) in the first ten, and the ISO 7064 MOD 11,10 check digit."""
    tin = digits_only(candidate)
    if len(tin) != 11 or tin[0] == "0":
        return False
    distinct = len(set(tin[:10]))  # 9: one digit twice; 8: one three times (or two twice: refused)
    if distinct == 8:
        if max(Counter(tin[:10]).values()) != 3 or any(tin[i] == tin[i + 1] == tin[i + 2] for i in range(8)):
            return False
    elif distinct != 9:
        return False
    product = 10
    for char in tin[:10]:
        total = (int(char) + product) % 10 or 10
        product = total * 2 % 11
    return (11 - product) % 10 == int(tin[10])
