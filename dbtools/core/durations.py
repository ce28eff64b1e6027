"""The one way a duration setting is written and read: 500ms, 5s, 10min, 2h."""

import re

from dbtools.core.errors import UserError

# A unit is required: PostgreSQL reads a bare number as milliseconds, people as seconds.
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|min|h)$")
_SECONDS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}
EXAMPLES = "500ms, 5s, 10min or 2h"


def parse(name: str, value: str) -> float:
    """Seconds in `value`; a UserError naming the setting `name` when it is no duration.

    The pattern admits nothing but digits and a unit, so a parsed value is also safe to
    put into a `SET ... = '<value>'` statement.
    """
    match = _DURATION.match(value.strip())
    if not match:
        raise UserError(f"{name} must be a duration such as {EXAMPLES}, got {value!r}")
    return float(match.group(1)) * _SECONDS[match.group(2)]
