"""fround: round(x, n) for the evidence of every request, without the decimal round trip."""

from __future__ import annotations

import math
import random

import pytest

from adaptive_gateway.numbers import fround


@pytest.mark.parametrize(
    ("x", "digits", "expected"),
    [
        (0.0, 8, 0.0),
        (12.345678, 2, 12.35),
        (12.344999, 2, 12.34),
        (0.000051234567, 8, 5.123e-05),
        (1700000000.123456, 3, 1700000000.123),
        (2.5, 0, 2.0),  # ties to even, as round() does
        (-1.23456, 3, -1.235),
        (1e300, 3, 1e300),  # too large to scale: returned as it is (it is an integer already)
    ],
)
def test_it_rounds_like_round(x: float, digits: int, expected: float) -> None:
    assert fround(x, digits) == expected == round(x, digits)


def test_it_agrees_with_round_but_for_one_unit_in_rare_half_way_cases() -> None:
    rng = random.Random(7)
    differ = 0
    for _ in range(100_000):
        x = rng.choice([rng.random(), rng.random() * 1000, rng.expovariate(1) * 1e-4, rng.random() * 1e6])
        for digits in (2, 3, 8):
            exact, fast = round(x, digits), fround(x, digits)
            if exact != fast:
                differ += 1
                assert abs(exact - fast) <= 1.01 * 10**-digits
    assert differ < 1000  # of 300,000


def test_infinities_and_nan_come_back_unchanged() -> None:
    assert fround(math.inf, 2) == math.inf
    assert fround(-math.inf, 8) == -math.inf
    assert math.isnan(fround(math.nan, 3))
