"""Definitions compared in the form PostgreSQL itself gives them, not as stored text.

The same CHECK reaches the catalog as different expression trees by different routes:
`status IN ('A', 'B')` from a revision, and the text `pg_dump` wrote for it (what
`schema.sql` holds) read back. `pg_get_constraintdef` prints the two differently, though
they mean the same. So where the expected and the live definition differ as text, both
are given to PostgreSQL again on the template database (inside a transaction that is
rolled back) until the text it prints no longer changes; when both settle on the same
text, they are the same definition.
"""

import re
from collections.abc import Callable

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from dbtools.core.catalog import Catalog
from dbtools.verify.fixes import column_name, ident, qualified

_NAME = "verify_normalised"
_ROUNDS = 3  # one round settles every case seen; more only guard a slow fixed point

# reparse(template, definition, key, object) -> the text PostgreSQL prints for it
Reparse = Callable[[Connection, str, str, dict], str | None]


def settle(template: Connection, want: Catalog, got: Catalog) -> None:
    """Give `got` the expected text wherever PostgreSQL reads both the same (in place)."""
    for kind, attribute, reparse in _REPARSED:
        for key in sorted(want[kind].keys() & got[kind].keys()):
            a, b = want[kind][key].get(attribute), got[kind][key].get(attribute)
            if a is None or b is None or a == b:
                continue
            if kind == "constraint" and want[kind][key]["type"] != "c":
                continue
            obj = want[kind][key]
            if _fixed_point(template, reparse, a, key, obj) == _fixed_point(
                template, reparse, b, key, obj
            ):
                got[kind][key][attribute] = a


def _fixed_point(
    template: Connection, reparse: Reparse, sql: str, key: str, obj: dict
) -> str | None:
    current: str | None = sql
    for _ in range(_ROUNDS):
        again = _attempt(template, reparse, current, key, obj)
        if again is None or again == current:
            return again
        current = again
    return current


def _attempt(template: Connection, reparse: Reparse, sql: str, key: str, obj: dict) -> str | None:
    savepoint = template.begin_nested()
    try:
        return reparse(template, sql, key, obj)
    except DBAPIError:
        return None  # PostgreSQL does not take it here: no evidence they are the same
    finally:
        savepoint.rollback()


def _check(conn: Connection, definition: str, _key: str, obj: dict) -> str | None:
    table = qualified(obj["table"])
    conn.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {_NAME} {definition} NOT VALID"))
    found = conn.execute(
        text(
            "SELECT pg_get_constraintdef(oid, true) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND conname = :n"
        ),
        {"t": table, "n": _NAME},
    ).scalar()
    return None if found is None else found.removesuffix(" NOT VALID")


def _default(conn: Connection, expression: str, key: str, obj: dict) -> str | None:
    table = qualified(obj["table"])
    column = ident(column_name(key))
    conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {expression}"))
    return conn.execute(
        text(
            "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
            "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            "WHERE d.adrelid = CAST(:t AS regclass) AND a.attname = :c"
        ),
        {"t": table, "c": column_name(key)},
    ).scalar()


_INDEX_NAME = re.compile(r"^(CREATE (?:UNIQUE )?INDEX )(\S+)( ON )")


def _index(conn: Connection, definition: str, _key: str, obj: dict) -> str | None:
    original = _INDEX_NAME.match(definition)
    if original is None:
        return None
    conn.execute(text(_INDEX_NAME.sub(rf"\g<1>{_NAME}\g<3>", definition, count=1)))
    schema = obj["table"].partition(".")[0]
    found = conn.execute(
        text("SELECT pg_get_indexdef(CAST(:i AS regclass))"), {"i": f"{ident(schema)}.{_NAME}"}
    ).scalar()
    return None if found is None else _INDEX_NAME.sub(rf"\g<1>{original.group(2)}\g<3>", found)


def _view(conn: Connection, definition: str, key: str, _obj: dict) -> str | None:
    schema = ident(key.partition(".")[0])
    conn.execute(text(f"CREATE VIEW {schema}.{_NAME} AS {definition.rstrip().rstrip(';')}"))
    return conn.execute(
        text("SELECT pg_get_viewdef(CAST(:v AS regclass), true)"), {"v": f"{schema}.{_NAME}"}
    ).scalar()


_REPARSED: list[tuple[str, str, Reparse]] = [
    ("constraint", "definition", _check),
    ("column", "default", _default),
    ("index", "definition", _index),
    ("view", "definition", _view),
]
