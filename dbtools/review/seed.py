"""A few synthetic rows in every table of a scratch database, so a traced revision meets
tables that hold data (a scan, a rewrite, a validation then have rows to read).

Tables are filled in the order their foreign keys need. Each row is tried first with a
value for every column a default does not fill, chosen by the column's type (a number,
a text, a date, an enum's first label, the first row of the table a foreign key names),
then, if the table refuses it (a CHECK, a unique constraint, a type this does not know),
with the table's defaults alone; a row the table refuses both ways is left out. A
table's rows with values go in as one statement first; only when the table refuses that
is each row tried on its own as above. Every attempt runs in a savepoint, so one refusal
spoils nothing. The values depend only on the schema, so the rows, and what a trace
reads from them, are the same on every run.
"""

from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from dbtools.core.bookkeeping import LOG_SCHEMA, bookkeeping

ROWS = 3


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # format_type(), usable in a cast
    category: str  # pg_type.typcategory
    type_name: str
    nullable: bool
    filled: bool  # by a default, an identity or a generated expression
    references: str | None  # `table.column` of a single-column foreign key


_TABLES = """
SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', :log_schema)
  AND n.nspname NOT LIKE 'pg\\_%' AND c.relname <> :version_table
ORDER BY 2
"""

_DEPENDS = """
SELECT conrelid, confrelid FROM pg_constraint
WHERE contype = 'f' AND conrelid <> confrelid
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory, t.typname,
       NOT a.attnotnull, a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',
       (SELECT format('%s.%I', f.confrelid::regclass, r.attname)
        FROM pg_constraint f JOIN pg_attribute r
          ON r.attrelid = f.confrelid AND r.attnum = f.confkey[1]
        WHERE f.conrelid = a.attrelid AND f.contype = 'f'
          AND f.conkey = ARRAY[a.attnum] LIMIT 1)
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = ANY(CAST(:oids AS oid[])) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""


def seed(connection: Connection, only_empty: bool = False) -> dict[str, int]:
    """Insert up to ROWS rows into every table (only the empty ones when `only_empty`);
    commit; return how many rows each table got."""
    params = {"log_schema": LOG_SCHEMA, "version_table": bookkeeping().version_table}
    tables = dict(connection.execute(text(_TABLES), params).all())
    depends = connection.execute(text(_DEPENDS)).all()
    added = {}
    columns = _columns(connection, list(tables))
    for oid in in_dependency_order(list(tables), depends):
        name = tables[oid]
        if only_empty and connection.execute(text(f"SELECT EXISTS (TABLE {name})")).scalar():
            continue
        added[name] = insert_rows(connection, name, columns.get(oid, []))
    connection.commit()
    return added


def _columns(connection: Connection, oids: list[int]) -> dict[int, list[Column]]:
    """Each table's columns, in their order, read in one query."""
    found: dict[int, list[Column]] = {}
    for oid, *row in connection.execute(text(_COLUMNS), {"oids": oids}):
        found.setdefault(oid, []).append(Column(*row))
    return found


def insert_rows(connection: Connection, table: str, columns: list[Column]) -> int:
    """ROWS rows with values in one statement, else each row on its own; how many went in."""
    rows = [{c.name: value_for(c, n) for c in columns if not c.filled} for n in range(1, ROWS + 1)]
    names = [k for k, v in rows[0].items() if v is not None]  # the same columns in every row
    if names:
        values = ", ".join("(" + ", ".join(row[k] for k in names) + ")" for row in rows)
        sql = f"INSERT INTO {table} ({', '.join(_quote(k) for k in names)}) VALUES {values}"
        if _attempt(connection, sql):
            return ROWS
    return sum(insert_row(connection, table, columns, n) for n in range(1, ROWS + 1))


def in_dependency_order(tables: list[int], depends: list[tuple[int, int]]) -> list[int]:
    """Referenced tables before the tables that reference them (cycles: as listed)."""
    ordered: list[int] = []
    visiting: set[int] = set()

    def visit(oid: int) -> None:
        if oid in ordered or oid in visiting:
            return
        visiting.add(oid)
        for source, target in depends:
            if source == oid and target in tables:
                visit(target)
        ordered.append(oid)

    for oid in tables:
        visit(oid)
    return ordered


def insert_row(connection: Connection, table: str, columns: list[Column], n: int) -> bool:
    """One row: with values, else with the defaults; whether one went in."""
    chosen = {c.name: value_for(c, n) for c in columns if not c.filled}
    attempts = [{k: v for k, v in chosen.items() if v is not None}, {}]
    for values in attempts:
        if values:
            names = ", ".join(_quote(k) for k in values)
            sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(values.values())})"
        else:
            sql = f"INSERT INTO {table} DEFAULT VALUES"
        if _attempt(connection, sql):
            return True
    return False


def _attempt(connection: Connection, sql: str) -> bool:
    """Run `sql` in a savepoint; whether the table took it (a refusal is rolled back)."""
    savepoint = connection.begin_nested()
    try:
        connection.exec_driver_sql(sql)
    except DBAPIError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def value_for(column: Column, n: int) -> str | None:
    """SQL for the n-th row's value of `column`, or None to leave it out."""
    if column.references:
        table, _, key = column.references.rpartition(".")
        return f"(SELECT {key} FROM {table} ORDER BY {key} LIMIT 1 OFFSET {n - 1})"
    literal = _literal(column, n)
    if literal is None:
        return None
    if column.category == "E":
        return f"enum_first(NULL::{column.type})"
    return f"CAST('{literal}' AS {column.type})"


def _literal(column: Column, n: int) -> str | None:
    by_name = {"uuid": f"00000000-0000-0000-0000-{n:012d}", "json": "{}", "jsonb": "{}"}
    by_category = {
        "N": str(n),
        "S": f"row {n}",
        "B": "true",
        "D": f"2000-01-0{n}",
        "T": f"{n} days",
        "A": "{}",
        "E": "",
    }
    return by_name.get(column.type_name, by_category.get(column.category))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
