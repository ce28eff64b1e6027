"""A plain-data description of what a database holds, for comparing two databases.

Two databases built by different routes (Alembic online, the offline SQL through psql,
`schema.sql`) must hold the same schema; comparing these descriptions shows it, and a
difference prints as readable lines.
"""

from typing import Any

from sqlalchemy import Connection, text

_COLUMNS = """
SELECT c.relname AS table_name, a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity AS identity,
       col_description(c.oid, a.attnum) AS comment
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0
  AND NOT a.attisdropped
ORDER BY 1, 2
"""

_TABLES = """
SELECT c.relname, obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
ORDER BY 1
"""

_CONSTRAINTS = """
SELECT t.relname, c.conname, c.contype, pg_get_constraintdef(c.oid, true), c.convalidated
FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = 'public'
ORDER BY 1, 2
"""

_INDEXES = """
SELECT tablename, indexname, indexdef FROM pg_indexes
WHERE schemaname = 'public' ORDER BY 1, 2
"""

_SEQUENCES = """
SELECT sequencename, data_type::text, start_value, increment_by FROM pg_sequences
WHERE schemaname = 'public' ORDER BY 1
"""


def describe(connection: Connection) -> dict[str, Any]:
    """Tables, columns, constraints, indexes and sequences of the `public` schema."""

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in connection.execute(text(sql))]

    return {
        "tables": rows(_TABLES),
        "columns": rows(_COLUMNS),
        "constraints": rows(_CONSTRAINTS),
        "indexes": rows(_INDEXES),
        "sequences": rows(_SEQUENCES),
    }


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Readable lines naming what one description has and the other lacks."""
    lines = []
    for kind in expected.keys() | actual.keys():
        want, got = set(expected.get(kind, [])), set(actual.get(kind, []))
        lines += [f"{kind}: missing {row}" for row in sorted(want - got, key=repr)]
        lines += [f"{kind}: unexpected {row}" for row in sorted(got - want, key=repr)]
    return sorted(lines)
