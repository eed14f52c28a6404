"""Checks on the identifiers a client chooses (room and user), pure and side-effect free."""

from __future__ import annotations

import re

from chatlib.errors import InvalidIdentifier
from chatlib.limits import IDENTIFIER_MAX_LENGTH, IDENTIFIER_PATTERN

__all__ = ["validate_identifier", "validate_room_id", "validate_user_id"]

_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_RULE = f"letters, digits, '-' and '_', 1 to {IDENTIFIER_MAX_LENGTH} characters"


def validate_identifier(name: str, value: object) -> str:
    """Return ``value`` if it is a usable id; raise :class:`InvalidIdentifier` saying why not."""
    if value is None or value == "":
        raise InvalidIdentifier(f"{name} is required: connect with ?{name}=<{_RULE}>")
    if not isinstance(value, str):
        raise InvalidIdentifier(f"{name} must be a string of {_RULE}")
    if len(value) > IDENTIFIER_MAX_LENGTH:
        raise InvalidIdentifier(
            f"{name} is {len(value)} characters long; the limit is {IDENTIFIER_MAX_LENGTH}"
        )
    if not _IDENTIFIER.fullmatch(value):
        raise InvalidIdentifier(
            f"{name} {value!r} has characters that are not allowed: use {_RULE}"
        )
    return value


def validate_room_id(value: object) -> str:
    return validate_identifier("roomId", value)


def validate_user_id(value: object) -> str:
    return validate_identifier("userId", value)
