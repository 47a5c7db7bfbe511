from __future__ import annotations

import pytest

from adaptive_gateway.trust import validators as v


@pytest.mark.parametrize(
    "number",
    ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "30569309025904"],
)
def test_luhn_accepts_valid_card_numbers(number: str) -> None:
    assert v.luhn_valid(number)
    assert v.credit_card_valid(number)


@pytest.mark.parametrize("number", ["4111111111111112", "1234567812345678", "0000000000000000", "41111111"])
def test_cards_with_bad_checksum_unknown_network_or_length_are_rejected(number: str) -> None:
    assert not v.credit_card_valid(number)


def test_card_separators_are_ignored() -> None:
    assert v.credit_card_valid("4111 1111 1111 1111")
    assert v.credit_card_valid("4111-1111-1111-1111")


@pytest.mark.parametrize(
    "iban",
    [
        "DE89370400440532013000",
        "GB82 WEST 1234 5698 7654 32",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
    ],
)
def test_iban_checksum(iban: str) -> None:
    assert v.iban_valid(iban)


@pytest.mark.parametrize(
    "iban", ["DE89370400440532013001", "DE8937040044053201300", "XX89370400440532013000"]
)
def test_iban_rejects_bad_checksum_length_or_country(iban: str) -> None:
    assert not v.iban_valid(iban)


@pytest.mark.parametrize(
    ("candidate", "length"),
    [
        ("DE89 3704 0044 0532 0130 00 ABCD", 27),
        ("DE89370400440532013000", 22),
        ("DE8937040044053201300012", 0),  # a compact IBAN that runs on is not one
        ("DE89", 0),
    ],
)
def test_iban_length_trims_to_the_country_length(candidate: str, length: int) -> None:
    assert v.iban_length(candidate) == length


@pytest.mark.parametrize(
    ("ssn", "valid"),
    [("536-22-1947", True), ("000-12-3456", False), ("666-12-3456", False), ("912-12-3456", False),
     ("123-00-4567", False), ("123-45-0000", False)],
)  # fmt: skip
def test_us_ssn(ssn: str, valid: bool) -> None:
    assert v.us_ssn_valid(ssn) is valid


@pytest.mark.parametrize(
    ("address", "expected"),
    [("8.8.8.8", 0.85), ("10.1.2.3", 0.6), ("127.0.0.1", 0.0), ("0.0.0.0", 0.0), ("255.255.255.0", 0.0),
     ("224.0.0.1", 0.0), ("169.254.1.1", 0.0), ("::1", 0.0), ("2606:4700:4700::1111", 0.85),
     ("999.1.1.1", 0.0)],
)  # fmt: skip
def test_ip_confidence(address: str, expected: float) -> None:
    assert v.ip_confidence(address) == expected


def test_shannon_entropy() -> None:
    assert v.shannon_entropy("") == 0.0
    assert v.shannon_entropy("aaaa") == 0.0
    assert v.shannon_entropy("abcd") == pytest.approx(2.0)
    assert v.shannon_entropy("aab") == pytest.approx(0.918, abs=1e-3)


@pytest.mark.parametrize(
    ("token", "random"),
    [
        ("Zk8vQ2mX7pL4nR9sT1wY6bC3dF5gH0jK", True),
        ("q9Fz/Lw2Rk7T+vBn3XcYp8Jm1HdGs5Ua0Ke4WiQo", True),
        ("TestRedactionRoundTrip2Placeholders", False),
        ("HttpRequestHandlerFactory2", False),
        ("3f786850e387550fdab836ed7e6dc881de23001b", False),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", False),
        ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJK", False),
    ],
)
def test_looks_random(token: str, random: bool) -> None:
    assert v.looks_random(token, 0.8) is random


# ---- national ids: examples published by the issuers (or generated and cross-checked against
# python-stdnum), then the same numbers with one digit changed -----------------------------------------

NATIONAL_IDS = [
    (v.uk_nino_valid, "AB 12 34 56 C", ["QQ 12 34 56 C", "GB123456A", "AO123456B", "AB123456E", "AB12345C"]),
    (v.ca_sin_valid, "390 139 624", ["390 139 625", "046 454 286", "846 454 286", "39013962"]),
    (v.in_aadhaar_valid, "6148 5253 8885", ["6148 5253 8886", "1148 5253 8885", "614852538"]),
    (v.br_cpf_valid, "529.982.247-25", ["529.982.247-26", "529.982.247-15", "111.111.111-11"]),
    (v.es_dni_valid, "12345678Z", ["12345678A", "1234567Z", "W1234567L"]),
    (v.es_dni_valid, "X1234567L", ["X1234567M", "Y1234567L"]),
    (v.nl_bsn_valid, "1112.22.333", ["111222334", "000000000", "11122233"]),
    (v.it_fiscal_code_valid, "RSSMRA80A01H501U", ["RSSMRA80A01H501V", "RSSMRA80Z01H501U", "RSSMRA80A32H501U"]),  # noqa: E501
    (v.fr_nir_valid, "1 44 04 83 236 056 24", ["1 44 04 83 236 056 25", "5 44 04 83 236 056 24"]),
    (v.de_tax_id_valid, "86 095 742 719", ["86095742718", "06095742719", "11111111111", "86095742"]),
]  # fmt: skip


@pytest.mark.parametrize(("valid", "good", "bad"), NATIONAL_IDS, ids=lambda x: getattr(x, "__name__", ""))
def test_national_id_checks(valid: object, good: str, bad: list[str]) -> None:
    assert callable(valid)
    assert valid(good)
    assert [b for b in bad if valid(b)] == []


def test_verhoeff_and_corsican_nir() -> None:
    assert v.verhoeff_valid("2363") and not v.verhoeff_valid("2364")  # Verhoeff's own example
    body = "184012A760451"  # sex 1, born 84-01, department 2A, commune 760, order 451
    key = 97 - int(body.replace("2A", "19")) % 97
    assert v.fr_nir_valid(f"{body}{key:02d}") and not v.fr_nir_valid(f"{body}{(key + 1) % 97:02d}")


def test_german_tax_id_digit_rules() -> None:
    # one digit twice (or three times, not in a row) among the first ten, the rest at most once
    assert v.de_tax_id_valid("47062965185")
    assert not v.de_tax_id_valid("12345678903")  # every digit once: not an IdNr whatever the check digit
