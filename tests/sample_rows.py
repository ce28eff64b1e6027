"""Test support: one row in every table, with values the database itself accepts.

Tests that need "a database with rows" cannot know a team's tables: which columns are NOT
NULL, which CHECKs hold, which types they use. So the values are not guessed once: each
table's row is tried inside a savepoint, and when PostgreSQL rejects it for a CHECK, the
columns of the violated constraint (read from `pg_constraint`) move on to their next
candidate value. Columns with a default or an identity keep them; foreign keys take the
key of the row inserted into the referenced table before (tables in dependency order).
Every schema the database holds is filled, except PostgreSQL's own and the bookkeeping.
"""

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import islice

import sqlalchemy as sa
from psycopg2 import errors
from sqlalchemy.engine import Connection, Engine

from dbtools.core.bookkeeping import bookkeeping

# Candidates per Python type, tried in order; the first is the plain, likely value.
CANDIDATES: dict[type, list[object]] = {
    int: [1, 0, 2, 10, 100, 1000, -1],
    str: ["xxxxxxxx", "x", "abc", "a" * 40, "0", ""],
    bool: [True, False],
    float: [1.0, 0.0, 10.0, -1.0],
    Decimal: [Decimal("1"), Decimal("0"), Decimal("10"), Decimal("100.5"), Decimal("-1")],
    datetime: [datetime(2026, 1, 1, tzinfo=UTC), datetime(2000, 1, 1, tzinfo=UTC)],
    date: [date(2026, 1, 1), date(2000, 1, 1)],
    time: [time(12, 0), time(0, 0)],
    timedelta: [timedelta(seconds=1), timedelta(0)],
    uuid.UUID: [uuid.UUID(int=1), uuid.UUID(int=2)],
    bytes: [b"x", b""],
    dict: [{}, {"x": 1}],
    list: [[], [1]],
}
ATTEMPTS = 64

OWN_SCHEMAS = """
SELECT nspname FROM pg_namespace
WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
ORDER BY nspname
"""

CHECK_COLUMNS = """
SELECT a.attname FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
WHERE c.conname = :name AND c.conrelid = :table ::regclass
"""


def fill(engine: Engine, nullable_null: bool = False) -> None:
    """One row in every table; nullable columns NULL when `nullable_null`."""
    metadata, names = reflect(engine), bookkeeping()
    with engine.begin() as conn:
        keys: dict[str, object] = {}
        for table in metadata.sorted_tables:
            if names.is_bookkeeping("table", table.name, table.schema):
                continue
            keys[table.fullname] = insert_row(conn, table, keys, nullable_null)


def reflect(engine: Engine) -> sa.MetaData:
    """Every table of every schema the database holds (the models may use several)."""
    metadata = sa.MetaData()
    with engine.connect() as conn:
        names = list(conn.execute(sa.text(OWN_SCHEMAS)).scalars())
        default = conn.execute(sa.text("SELECT current_schema()")).scalar()
    for name in names:
        metadata.reflect(engine, schema=None if name == default else name)
    return metadata


def insert_row(
    conn: Connection, table: sa.Table, keys: dict[str, object], nullable_null: bool
) -> object:
    """Insert one accepted row into `table`; its primary key (for the tables that refer to it)."""
    filled = [c for c in table.columns if not generated(c) and not (c.nullable and nullable_null)]
    position = dict.fromkeys((c.name for c in filled), 0)
    for _ in range(ATTEMPTS):
        row = {c.name: value(c, position[c.name], keys) for c in filled}
        savepoint = conn.begin_nested()
        try:
            inserted = conn.execute(table.insert().values(**row).returning(*table.primary_key))
            key = inserted.scalar()
            savepoint.commit()
            return key
        except sa.exc.IntegrityError as error:
            savepoint.rollback()
            if not isinstance(error.orig, errors.CheckViolation):
                raise
            name = error.orig.diag.constraint_name
            involved = conn.execute(
                sa.text(CHECK_COLUMNS), {"name": name, "table": table_ref(table)}
            ).scalars()
            for column in involved:
                if column in position:
                    position[column] += 1
    raise AssertionError(f"no candidate row satisfies the CHECKs of {table.fullname}")


def generated(column: sa.Column) -> bool:
    """The database fills it: a default, an identity, a serial."""
    return (
        column.server_default is not None
        or column.identity is not None
        or column.autoincrement is True
        or column.computed is not None
    )


def value(column: sa.Column, position: int, keys: dict[str, object]) -> object:
    """The `position`-th candidate for the column (wrapping), a referenced key for a FK."""
    for foreign in column.foreign_keys:
        referenced = foreign.column.table.fullname
        if referenced in keys:
            return keys[referenced]
    labels = getattr(column.type, "enums", None)
    if labels:
        return labels[position % len(labels)]
    try:
        kind = column.type.python_type
    except NotImplementedError as missing:
        raise AssertionError(
            f"no sample value for {column.table.fullname}.{column.name}"
        ) from missing
    candidates = list(islice(candidates_for(kind, column), 16))
    assert candidates, f"no sample value for type {column.type} of {column.name}"
    return candidates[position % len(candidates)]


def candidates_for(kind: type, column: sa.Column) -> list[object]:
    found = CANDIDATES.get(kind) or next(
        (values for base, values in CANDIDATES.items() if issubclass(kind, base)), []
    )
    length = getattr(column.type, "length", None)
    if kind is str and length:
        return [text[:length] for text in found]
    return found


def table_ref(table: sa.Table) -> str:
    quoted = f'"{table.name}"'
    return f'"{table.schema}".{quoted}' if table.schema else quoted
