"""What a downgrade step destroyed, measured in its own transaction before it commits.

`before()` reads, at the start of the step and inside its transaction, the catalog (every
table the role can read: oid, relfilenode, columns with their types; enum labels), the
transaction's own row counters (`pg_stat_xact_user_tables`), and what each table holds:
its rows, and per column the non-NULL values with an order-independent hash of them (one
sequential scan per table), per enum column the rows of each label.
`destroyed()` reads the catalog and counters again after the step and compares:

- a table whose oid is gone held rows; a column whose (table oid, attnum) is gone held
  non-NULL values (renames keep both, so a rename loses nothing and a drop is counted
  under the name it had when the step began);
- a table that lost rows (DELETE, cascades: the transaction's delete counter; TRUNCATE:
  a new relfilenode with fewer rows);
- a column whose values changed (an UPDATE, a type change such as
  `varchar(20) -> varchar(2) USING left(...)`): its hash after the step, computed on the
  new values cast back to the old type, differs from the one before;
- enum labels gone (a dropped type, or a rebuild without a value) that rows were using.

Exact counts come from the numbers read before the step, except for changed values: the
values after the step are grouped and kept, then `ROLLBACK TO SAVEPOINT` returns to the
state before the step, whose values are grouped and compared. That path is taken only
when something was changed, i.e. only when the step is refused anyway.

Everything runs on the DBAPI connection of the run itself, below SQLAlchemy's events, so
the journal of the running step never sees these reads.
"""

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg2

from dbtools.core.bookkeeping import LOG_SCHEMA

SAVEPOINT = "schema_migrations_consent"
_PROBE = "schema_migrations_consent_probe"

_RELATIONS = """
SELECT c.oid, c.relfilenode, c.oid::regclass::text, c.relkind = 'r',
       a.attnum, quote_ident(a.attname), a.atttypid, a.atttypmod,
       format_type(a.atttypid, a.atttypmod),
       t.typtype = 'e'
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_type t ON t.oid = a.atttypid
WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', %(log_schema)s)
  AND n.nspname NOT LIKE 'pg\\_toast%%'
  AND c.oid IS DISTINCT FROM to_regclass(%(version_table)s)
  AND has_table_privilege(c.oid, 'SELECT')
ORDER BY c.oid, a.attnum
"""

_ENUMS = """
SELECT t.oid, format_type(t.oid, NULL), e.oid, e.enumlabel
FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY t.oid, e.enumsortorder
"""

_COUNTERS = "SELECT relid, n_tup_upd, n_tup_del FROM pg_stat_xact_user_tables"


@dataclass(frozen=True)
class Column:
    name: str  # quoted as SQL needs it
    type_oid: int
    typmod: int
    type_text: str  # with its modifier: character varying(20)
    is_enum: bool


@dataclass
class Relation:
    oid: int
    filenode: int
    name: str  # oid::regclass::text: qualified only where the search path needs it
    holds_rows: bool  # a plain table (a partitioned one holds its rows in its partitions)
    columns: dict[int, Column] = field(default_factory=dict)


@dataclass(frozen=True)
class Content:
    """What a table holds: rows; per attnum (non-NULL values, hash sum); enum labels."""

    rows: int
    values: dict[int, tuple[int, Decimal]]
    labels: dict[int, dict[str, int]]


@dataclass
class Snapshot:
    relations: dict[int, Relation]
    enums: dict[int, tuple[str, dict[int, str]]]  # type oid -> (name, label oid -> label)
    counters: dict[int, tuple[int, int]]  # relid -> (rows updated, rows deleted) so far
    content: dict[int, Content] = field(default_factory=dict)


@dataclass(frozen=True)
class Loss:
    """Something a step destroyed, and how much."""

    kind: str  # table, column, type, value
    name: str
    count: int
    unit: str  # "row", "value", "row deleted", "value changed", "in use"

    def __str__(self) -> str:
        if self.unit == "value changed" and not self.count:
            # Its hash changed, yet every value is still there (rows were also added, or
            # NULLs filled): told only after the rollback that counted it.
            return f"{self.kind} {self.name} (values rewritten)"
        if self.unit == "in use":
            return f"value {self.name} ({self.count} in use)"
        noun, _, rest = self.unit.partition(" ")
        plural = noun if self.count == 1 else f"{noun}s"
        return f"{self.kind} {self.name} ({self.count} {plural}{' ' + rest if rest else ''})"


def before(cursor: Any, version_table: str) -> Snapshot:
    """The state at the start of a step, with what every table holds; then a savepoint."""
    snapshot = catalog(cursor, version_table)
    for relation in snapshot.relations.values():
        if relation.holds_rows:
            snapshot.content[relation.oid] = content(cursor, relation)
    cursor.execute(f"SAVEPOINT {SAVEPOINT}")
    return snapshot


def catalog(cursor: Any, version_table: str) -> Snapshot:
    cursor.execute(_RELATIONS, {"log_schema": LOG_SCHEMA, "version_table": version_table})
    relations: dict[int, Relation] = {}
    for oid, filenode, name, plain, attnum, column, type_oid, typmod, text, enum in cursor:
        relation = relations.setdefault(oid, Relation(oid, filenode, name, plain))
        if attnum is not None:
            relation.columns[attnum] = Column(column, type_oid, typmod, text, bool(enum))
    cursor.execute(_ENUMS)
    enums: dict[int, tuple[str, dict[int, str]]] = {}
    for type_oid, type_name, label_oid, label in cursor:
        enums.setdefault(type_oid, (type_name, {}))[1][label_oid] = label
    cursor.execute(_COUNTERS)
    counters = {relid: (updated, deleted) for relid, updated, deleted in cursor}
    return Snapshot(relations, enums, counters)


def content(cursor: Any, relation: Relation, casts: dict[int, str] | None = None) -> Content:
    """Rows, and per column its non-NULL values and their hash sum (one scan).

    `casts` maps an attnum to the type its values are cast to before hashing (the type a
    column had before the step changed it), so a value that survives the change hashes
    the same; where that cast fails, the values are hashed as text.
    """
    casts = casts or {}
    attnums = list(relation.columns)

    def scan(casted: bool) -> tuple[Any, ...]:
        exprs = ["count(*)"]
        for attnum in attnums:
            column = relation.columns[attnum]
            value = column.name
            if casted and attnum in casts:
                value = f"({value})::{casts[attnum]}"
            exprs += [
                f"count({column.name})",
                f"coalesce(sum(hashtextextended(({value})::text, 0)::numeric), 0)",
            ]
        cursor.execute(f"SELECT {', '.join(exprs)} FROM ONLY {relation.name}")
        return cursor.fetchone()

    row = _with_fallback(cursor, lambda: scan(True), lambda: scan(False)) if casts else scan(True)
    values = {a: (row[1 + 2 * i], row[2 + 2 * i]) for i, a in enumerate(attnums)}
    labels = {}
    for attnum, column in relation.columns.items():
        if column.is_enum and row[0]:
            cursor.execute(
                f"SELECT {column.name}::text, count(*) FROM ONLY {relation.name} "
                f"WHERE {column.name} IS NOT NULL GROUP BY 1"
            )
            labels[attnum] = dict(cursor.fetchall())
    return Content(row[0], values, labels)


def _with_fallback(cursor: Any, first: Any, second: Any) -> Any:
    """`first()` inside a savepoint of its own; `second()` if the database refused it."""
    cursor.execute(f"SAVEPOINT {_PROBE}")
    try:
        result = first()
    except (psycopg2.DataError, psycopg2.ProgrammingError):
        cursor.execute(f"ROLLBACK TO SAVEPOINT {_PROBE}")
        result = second()
    cursor.execute(f"RELEASE SAVEPOINT {_PROBE}")
    return result


@dataclass(frozen=True)
class _Changed:
    """A column whose values differ after the step: counted on the refusal path."""

    oid: int
    attnum: int


def destroyed(cursor: Any, start: Snapshot, version_table: str) -> list[Loss]:
    """Everything the step destroyed, with exact counts (empty: it destroyed nothing).

    When values were changed, this returns to the savepoint taken by `before()` to count
    them: the caller must then refuse the step.
    """
    end = catalog(cursor, version_table)
    found: list[Loss] = []
    changed: list[_Changed] = []
    for oid, relation in start.relations.items():
        held = start.content.get(oid)
        if held is None or held.rows == 0:
            continue
        after = end.relations.get(oid)
        if after is None:
            found.append(Loss("table", relation.name, held.rows, "row"))
            continue
        for attnum, column in relation.columns.items():
            if attnum not in after.columns and held.values[attnum][0]:
                count = held.values[attnum][0]
                found.append(Loss("column", f"{relation.name}.{column.name}", count, "value"))
        deleted, columns = _touched(cursor, start, end, oid)
        if deleted:
            found.append(Loss("table", relation.name, deleted, "row deleted"))
        changed += [_Changed(oid, attnum) for attnum in columns]
    found += _enum_values(start, end)
    if changed:
        found += _count_changed(cursor, start, end, changed)
    return found


def _touched(cursor: Any, start: Snapshot, end: Snapshot, oid: int) -> tuple[int, list[int]]:
    """Rows deleted from a table that is still there, and its columns whose values changed."""
    relation, after, held = start.relations[oid], end.relations[oid], start.content[oid]
    upd0, del0 = start.counters.get(oid, (0, 0))
    upd1, del1 = end.counters.get(oid, (0, 0))
    kept = [a for a in relation.columns if a in after.columns]
    retyped = {
        a: relation.columns[a].type_text
        for a in kept
        # The type itself, not its name: a renamed type (or enum value) changes no datum.
        if (relation.columns[a].type_oid, relation.columns[a].typmod)
        != (after.columns[a].type_oid, after.columns[a].typmod)
    }
    rewritten = after.filenode != relation.filenode
    if not (rewritten or retyped or upd1 > upd0 or del1 > del0):
        return 0, []  # untouched, or rows only added (nothing was there to lose)
    now = content(cursor, after, retyped)
    deleted = max(del1 - del0, held.rows - now.rows, 0)
    if deleted:
        return deleted, []
    return 0, [a for a in kept if now.values[a] != held.values[a]]


def _enum_values(start: Snapshot, end: Snapshot) -> list[Loss]:
    """Enum types dropped, and labels removed, that rows were using when the step began.

    A type that keeps its oid keeps a label as long as the label's pg_enum row is there
    (`RENAME VALUE` keeps it); a type rebuilt under its name (a new oid: how a value is
    removed) keeps the labels the new type spells the same.
    """
    found = []
    by_name = {name: set(labels.values()) for name, labels in end.enums.values()}
    for type_oid, (type_name, labels) in start.enums.items():
        used, values = _in_use(start, type_oid)
        if type_oid in end.enums:
            gone = [label for oid, label in labels.items() if oid not in end.enums[type_oid][1]]
        elif type_name in by_name:
            gone = [label for label in labels.values() if label not in by_name[type_name]]
        else:
            if values:
                found.append(Loss("type", type_name, values, "value"))
            continue
        found += [
            Loss("value", f"'{label}' of type {type_name}", used[label], "in use")
            for label in gone
            if used[label]
        ]
    return found


def _in_use(start: Snapshot, type_oid: int) -> tuple[Counter[str], int]:
    """The rows of each label of an enum type, and its non-NULL values, before the step."""
    used: Counter[str] = Counter()
    values = 0
    for oid, relation in start.relations.items():
        held = start.content.get(oid)
        for attnum, column in relation.columns.items():
            if held is not None and column.type_oid == type_oid:
                used.update(held.labels.get(attnum, {}))
                values += held.values[attnum][0]
    return used, values


def _count_changed(
    cursor: Any, start: Snapshot, end: Snapshot, changed: list[_Changed]
) -> list[Loss]:
    """How many values each changed column lost: its values after the step (cast back to
    the type they had) against those before it, read after ROLLBACK TO SAVEPOINT."""
    now = {}
    for item in changed:
        column = end.relations[item.oid].columns[item.attnum]
        cast = start.relations[item.oid].columns[item.attnum].type_text
        table = end.relations[item.oid].name
        now[item] = _with_fallback(
            cursor,
            lambda c=column.name, t=table, k=cast: _grouped(cursor, f"(({c})::{k})::text", t),
            lambda c=column.name, t=table: _grouped(cursor, f"({c})::text", t),
        )
    cursor.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
    found = []
    for item in changed:
        relation = start.relations[item.oid]
        column = relation.columns[item.attnum]
        was = _grouped(cursor, f"({column.name})::text", relation.name)
        was.pop(None, None)  # a NULL overwritten held nothing
        count = sum((was - now[item]).values())
        name = f"{relation.name}.{column.name}"
        found.append(Loss("column", name, count, "value changed"))
    return found


def _grouped(cursor: Any, expression: str, table: str) -> Counter[Any]:
    cursor.execute(f"SELECT {expression}, count(*) FROM ONLY {table} GROUP BY 1")
    return Counter(dict(cursor.fetchall()))
