"""A busy table of any shape: its rows, and pgbench scripts that write and read it.

Everything comes from the catalog of the table as it stands (columns, types, defaults,
the primary key, foreign keys): each column that needs a value gets one made from the
row number `g`; a column with a default or identity keeps it; a nullable column the
generator has no form for stays NULL. Writers update a row by key and insert one;
readers select one by key. A table the generator cannot fill (a NOT NULL column of a
type it does not know, a CHECK the values break) raises `Unloadable`, and the report
says which and why instead of measuring against an idle table.
"""

from dataclasses import dataclass

from sqlalchemy import Connection, text

_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typtype, a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',
       (SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = a.atttypid
        ORDER BY e.enumsortorder LIMIT 1)
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = CAST(:table AS regclass) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_KEY = """
SELECT a.attname FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
WHERE c.conrelid = CAST(:table AS regclass) AND c.contype = 'p' AND cardinality(c.conkey) = 1
"""

_FOREIGN = """
SELECT a.attname, format('%I.%I', n.nspname, r.relname), ra.attname
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
JOIN pg_class r ON r.oid = c.confrelid JOIN pg_namespace n ON n.oid = r.relnamespace
JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1]
WHERE c.conrelid = CAST(:table AS regclass) AND c.contype = 'f'
"""

# Row numbers as each numeric type holds them (a small type wraps around).
_NUMBER = {
    "smallint": "({g} % 32000)",
    "integer": "{g}",
    "bigint": "{g}",
    "numeric": "{g}",
    "real": "{g}",
    "double precision": "{g}",
}
# Rows a writer inserts are numbered above the fill and below integer's limit.
_NEW_ROWS_UP_TO = 2_000_000_000
_TEXT = ("text", "character varying", "character", "citext")


class Unloadable(Exception):
    """The generator has no value for a column that needs one."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    value: str  # SQL for row `{g}`


@dataclass(frozen=True)
class LoadTable:
    name: str  # schema-qualified, quoted as needed
    key: str | None  # a one-column primary key, when there is one
    filled: list[Column]  # the columns the generator writes

    def fill_sql(self, rows: int) -> str:
        columns = ", ".join(_ident(c.name) for c in self.filled)
        values = ", ".join(_cast(c, "g") for c in self.filled)
        if not self.filled:
            return f"INSERT INTO {self.name} SELECT FROM generate_series(1, {rows}) AS g"
        return (
            f"INSERT INTO {self.name} ({columns}) "
            f"SELECT {values} FROM generate_series(1, {rows}) AS g"
        )

    def key_value(self, variable: str) -> str:
        """The key of row `variable`: generated like the fill, or counted by identity."""
        column = next((c for c in self.filled if c.name == self.key), None)
        return variable if column is None else _cast(column, variable)

    def writer(self, rows: int) -> str:
        """Update a row by key (a write its lock must let through), then insert one."""
        lines = [f"\\set id random(1, {rows})", f"\\set n random({rows + 1}, {_NEW_ROWS_UP_TO})"]
        lines.append("BEGIN;")
        if self.key:
            target = next((c.name for c in self.filled if c.name != self.key), self.key)
            lines.append(
                f"UPDATE {self.name} SET {_ident(target)} = {_ident(target)} "
                f"WHERE {_ident(self.key)} = {self.key_value(':id')};"
            )
        if self.filled:
            columns = ", ".join(_ident(c.name) for c in self.filled)
            values = ", ".join(_cast(c, ":n") for c in self.filled)
            lines.append(f"INSERT INTO {self.name} ({columns}) VALUES ({values});")
        else:
            lines.append(f"INSERT INTO {self.name} DEFAULT VALUES;")
        lines.append("END;")
        return "\n".join(lines) + "\n"

    def reader(self, rows: int) -> str:
        """Select one row by key (or any few rows, with no one-column key)."""
        if not self.key:
            return f"SELECT * FROM {self.name} LIMIT 5;\n"
        return (
            f"\\set id random(1, {rows})\n"
            f"SELECT * FROM {self.name} WHERE {_ident(self.key)} = {self.key_value(':id')};\n"
        )


def load_table(connection: Connection, name: str) -> LoadTable:
    """The table `name` (`schema.table`) as the generator sees it."""
    parameters = {"table": name}
    key = connection.execute(text(_KEY), parameters).scalar()
    parents = {
        column: (parent, parent_key)
        for column, parent, parent_key in connection.execute(text(_FOREIGN), parameters)
    }
    filled = []
    for column, type_, kind, not_null, has_default, first_label in connection.execute(
        text(_COLUMNS), parameters
    ):
        if has_default:
            # The default (or identity) fills it, as the services would; an identity key
            # counts 1, 2, ... on the rows the generator adds.
            continue
        if column in parents:
            if not not_null:
                continue  # an optional reference stays NULL
            parent, parent_key = parents[column]
            value: str | None = f"(SELECT {_ident(parent_key)} FROM {parent} ORDER BY 1 LIMIT 1)"
        else:
            value = _value(type_, kind, first_label)
        if value is None:
            if not_null:
                raise Unloadable(f"{name}.{column} is NOT NULL {type_}: no generated value")
            continue
        filled.append(Column(column, type_, value))
    return LoadTable(name, key, filled)


def _value(type_: str, kind: str, first_label: str | None) -> str | None:
    base = type_.split("(", 1)[0].strip()
    if kind == "e" and first_label is not None:
        label = first_label.replace("'", "''").replace("{", "{{").replace("}", "}}")
        return f"'{label}'"
    if base in _NUMBER:
        return _NUMBER[base]
    if base in _TEXT:
        return "'row ' || {g}"
    if base == "boolean":
        return "({g} % 2 = 0)"
    if base == "uuid":
        return "md5({g}::text)::uuid"
    if base in ("date", "timestamp without time zone", "timestamp with time zone"):
        return "timestamp '2000-01-01' + {g} * interval '1 second'"
    if base in ("json", "jsonb"):
        return "'{{}}'"
    if base == "bytea":
        return "'\\x00'"
    return None


def _cast(column: Column, variable: str) -> str:
    return f"CAST({column.value.format(g=variable)} AS {column.type})"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
