"""Trust levels: how sensitive a request is, ordered so that ``max`` means "most sensitive"."""

from __future__ import annotations

from enum import IntEnum


class TrustLevel(IntEnum):
    """Sensitivity of a request or a piece of context; higher values are more sensitive."""

    PUBLIC = 0
    INTERNAL = 1
    CONFIDENTIAL = 2
    SECRET = 3

    @classmethod
    def parse(cls, value: str | int | TrustLevel) -> TrustLevel:
        """Parse ``"public"`` / ``"Internal"`` / ``2`` / a member into a level.

        Raises ``ValueError`` naming the valid values when the input is not one of them.
        """
        if isinstance(value, TrustLevel):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            if value in _BY_VALUE:
                return cls(value)
        elif isinstance(value, str):
            member = _BY_NAME.get(value.strip().lower())
            if member is not None:
                return cls(member)
        raise ValueError(f"invalid trust level {value!r}; valid values: {', '.join(VALID_NAMES)}")

    @property
    def label(self) -> str:
        """The lower-case name used in config, headers and receipts (``"confidential"``)."""
        return VALID_NAMES[int(self)]  # a table lookup: enum ``name`` is slow on the request path

    def __str__(self) -> str:
        return self.label


VALID_NAMES: tuple[str, ...] = tuple(member.name.lower() for member in TrustLevel)
_BY_NAME: dict[str, int] = {member.name.lower(): member.value for member in TrustLevel}
_BY_VALUE: frozenset[int] = frozenset(member.value for member in TrustLevel)


def max_level(*levels: TrustLevel) -> TrustLevel:
    """The most sensitive of ``levels``; ``PUBLIC`` when none are given."""
    return max(levels, default=TrustLevel.PUBLIC)
