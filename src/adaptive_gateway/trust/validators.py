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
