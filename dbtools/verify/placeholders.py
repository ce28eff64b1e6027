"""A value for the existing rows of a NOT NULL column that comes back without its data.

A column dropped by hand takes its values with it: the fix adds it again, and a NOT NULL
column without a default needs something in the rows already there. The placeholder is
the type's plain zero (`0`, `''`, `false`, the epoch, an empty array, an enum's first
value); for a type without one there is none, and the fix adds the column nullable.
"""

from dbtools.core.catalog import Catalog
from dbtools.verify.fixes import literal

_ZERO = {
    "smallint": "0",
    "integer": "0",
    "bigint": "0",
    "real": "0",
    "double precision": "0",
    "interval": "0",
    "boolean": "false",
    "text": "",
    "bytea": "",
    "date": "epoch",
    "uuid": "00000000-0000-0000-0000-000000000000",
    "json": "null",
    "jsonb": "null",
}
_PREFIXES = {
    "numeric": "0",
    "character varying": "",
    "character": "",
    "bit varying": "",
    "timestamp": "epoch",
    "time": "allballs",
}


def placeholder(type_: str, expected: Catalog) -> str | None:
    """SQL for a value of `type_` (as `format_type` spells it), or None when none fits."""
    value = _ZERO.get(type_)
    if value is None and type_.endswith("[]"):
        value = "{}"
    if value is None:
        value = next((v for p, v in _PREFIXES.items() if type_.startswith(p)), None)
    if value is None:
        labels = [e["labels"] for k, e in expected["enum"].items() if _names(k, type_)]
        value = labels[0][0] if labels and labels[0] else None
    return None if value is None else f"{literal(value)}::{type_}"


def _names(enum_key: str, type_: str) -> bool:
    schema, _, name = enum_key.partition(".")
    return type_ in (name, enum_key, f'"{schema}"."{name}"', f'{schema}."{name}"')
