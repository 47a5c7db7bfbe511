from __future__ import annotations

import pytest

from adaptive_gateway.trust.levels import VALID_NAMES, TrustLevel, max_level


def test_levels_are_ordered() -> None:
    assert TrustLevel.PUBLIC < TrustLevel.INTERNAL < TrustLevel.CONFIDENTIAL < TrustLevel.SECRET
    assert [int(level) for level in TrustLevel] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("public", TrustLevel.PUBLIC),
        ("Internal", TrustLevel.INTERNAL),
        (" CONFIDENTIAL ", TrustLevel.CONFIDENTIAL),
        ("secret", TrustLevel.SECRET),
        (3, TrustLevel.SECRET),
        (TrustLevel.INTERNAL, TrustLevel.INTERNAL),
    ],
)
def test_parse(raw: str | int | TrustLevel, expected: TrustLevel) -> None:
    assert TrustLevel.parse(raw) is expected


@pytest.mark.parametrize("raw", ["top-secret", "", "4", 4, -1, True])
def test_parse_rejects_unknown_values_and_names_the_valid_ones(raw: object) -> None:
    with pytest.raises(ValueError, match="valid values: public, internal, confidential, secret"):
        TrustLevel.parse(raw)  # type: ignore[arg-type]


def test_label_and_str() -> None:
    assert TrustLevel.CONFIDENTIAL.label == "confidential"
    assert str(TrustLevel.SECRET) == "secret"
    assert VALID_NAMES == ("public", "internal", "confidential", "secret")


def test_max_level() -> None:
    assert max_level() is TrustLevel.PUBLIC
    assert max_level(TrustLevel.INTERNAL) is TrustLevel.INTERNAL
    assert max_level(TrustLevel.SECRET, TrustLevel.PUBLIC, TrustLevel.CONFIDENTIAL) is TrustLevel.SECRET
