"""The one way a duration setting is written and read (500ms, 5s, 10min, 2h), and a whole
number (ASCII digits only)."""

import re

from dbtools.core.errors import UserError

# A unit is required: PostgreSQL reads a bare number as milliseconds, people as seconds.
# ASCII digits only: Python's \d and int() also take other scripts' digits (such as the
# Arabic-Indic one, U+0661), which PostgreSQL does not.
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*(ms|s|min|h)$", re.ASCII)
_SECONDS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}
EXAMPLES = "500ms, 5s, 10min or 2h"


def parse(name: str, value: str) -> float:
    """Seconds in `value`; a UserError naming the setting `name` when it is no duration,
    or shorter than 1 ms: PostgreSQL rounds a timeout below 1 ms to 0, which means no
    timeout at all.

    The pattern admits nothing but digits and a unit, so a parsed value is also safe to
    put into a `SET ... = '<value>'` statement.
    """
    match = _DURATION.match(value.strip())
    if not match:
        raise UserError(f"{name} must be a duration such as {EXAMPLES}, got {value!r}")
    seconds = float(match.group(1)) * _SECONDS[match.group(2)]
    if round(seconds * 1000, 6) < 1:
        raise UserError(
            f"{name} must be at least 1ms (PostgreSQL rounds a shorter one to 0, which means "
            f"no limit at all), got {value!r}"
        )
    return seconds


def whole_number(name: str, value: str) -> int:
    """`value` as an int; a UserError naming `name` unless it is ASCII digits only."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise UserError(f"{name} must be a whole number, got {value!r} (digits 0-9 only)")
    return int(text)
