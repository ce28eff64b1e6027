"""`op.change_enum_values(...)`: an enum type's values removed, renamed or reordered.

    op.change_enum_values(
        "parcel_state",
        old=["packed", "shipped", "lost", "delivered"],
        new=["packed", "shipped", "delivered"],
        columns=["parcels.state"],
    )

What `make revision` writes when a model's enum loses or reorders values (values only
added are `ALTER TYPE ... ADD VALUE ... AFTER`, dbtools/review/enum_values.py), and the
downgrade of an added value. In the order PostgreSQL allows:

1. renamed values (`renamed={"lost": "missing"}`, written by hand: autogenerate sees a
   removal and an addition) are `ALTER TYPE ... RENAME VALUE`: catalog only, no table
   touched, and every view, index, CHECK and default that names the value follows;
2. values only added after that are `ALTER TYPE ... ADD VALUE ... AFTER`;
3. anything else rebuilds the type: `CREATE TYPE <name>_new`, one `ALTER TABLE ... ALTER
   COLUMN ... TYPE` per table (each rewrites the table under `ACCESS EXCLUSIVE`: the lock
   trace shows it, and the finding stays until the revision waives it with a reason),
   `DROP TYPE <name>`, `ALTER TYPE <name>_new RENAME TO <name>`.

PostgreSQL refuses to change the type of a column a view reads, and re-reads an index
predicate, a CHECK or a default that names a value as the old type. So, at run time and
before anything changes, the rebuild reads from the database what depends on the type or
its columns: the views (and views on them) with `pg_get_viewdef`, their options, comments
and grants; the indexes, CHECKs and column defaults that name the type
(`pg_get_indexdef`, `pg_get_constraintdef`, `pg_get_expr`). It drops them first and
recreates them after, from those definitions, in the same transaction. What it cannot
carry over (a materialized view, a view with rules or triggers of its own, an index that
backs a constraint) refuses the step with one line before anything changes; so does a
type whose values are not the ones the revision expects.

Offline (`make sql`, the committed SQL) the database is not there to read: the script
shows the type's own statements, with a comment saying what the run adds around them.
The rebuild's `DROP TYPE` and `RENAME TO` carry waivers for `ban-drop-type` and
`renaming-object`: the type is replaced by its rebuilt self within one transaction, so
no client ever sees it missing or under another name.
"""

import logging
from dataclasses import dataclass, field

from alembic.operations import MigrateOperation, Operations
from sqlalchemy import Connection, text

from dbtools.core.errors import UserError
from dbtools.operations.declare import operation
from dbtools.operations.outside import quote
from dbtools.operations.waivers import IGNORE_PREFIX, WAIVER_PREFIX

log = logging.getLogger("alembic.env")

SAME_TYPE = (
    "the rebuilt type takes this name in the same transaction: clients never see it "
    "missing or renamed"
)


class EnumChangeRefused(UserError):
    """The rebuild cannot carry something that depends on the type, or the type is not
    what the revision expects."""


@operation("change_enum_values")
@dataclass(eq=False)
class ChangeEnumValuesOp(MigrateOperation):
    """Turn enum `name` with values `old` into one with values `new`."""

    name: str
    old: list[str] = field(kw_only=True)
    new: list[str] = field(kw_only=True)
    columns: list[str] = field(kw_only=True)  # "table.column", "schema.table.column"
    renamed: dict[str, str] = field(default_factory=dict, kw_only=True)
    schema: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        self.old, self.new, self.columns = list(self.old), list(self.new), list(self.columns)
        self.renamed = dict(self.renamed)
        unknown = sorted(set(self.renamed) - set(self.old))
        if unknown:
            raise ValueError(f"change_enum_values: renamed names values not in old: {unknown}")

    def reverse(self) -> "ChangeEnumValuesOp":
        return ChangeEnumValuesOp(
            self.name,
            old=self.new,
            new=self.old,
            columns=self.columns,
            renamed={new: old for old, new in self.renamed.items()},
            schema=self.schema,
        )

    @property
    def after_renames(self) -> list[str]:
        return [self.renamed.get(value, value) for value in self.old]


@dataclass(frozen=True)
class Column:
    schema: str | None
    table: str
    column: str
    array: bool  # a column of `<enum>[]`


def parse_column(spec: str, default_schema: str | None) -> Column:
    array = spec.endswith("[]")
    parts = spec.removesuffix("[]").split(".")
    if len(parts) not in (2, 3):
        raise ValueError(f"change_enum_values: columns are 'table.column', got {spec!r}")
    schema = parts[0] if len(parts) == 3 else default_schema
    return Column(schema, parts[-2], parts[-1], array)


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def added_only(old: list[str], new: list[str]) -> bool:
    """Whether `new` is `old` with values inserted (old's order kept)."""
    return [v for v in new if v in old] == old


def add_value_statements(type_sql: str, old: list[str], new: list[str]) -> list[str]:
    """`ALTER TYPE ... ADD VALUE` with its position, for each value `new` adds to `old`."""
    statements = []
    present = list(old)
    for index, value in enumerate(new):
        if value in present:
            continue
        # The neighbour named is already in the type: the previous value, or for a new
        # first value, the old first one.
        where = f"AFTER {literal(new[index - 1])}" if index else f"BEFORE {literal(present[0])}"
        statements.append(f"ALTER TYPE {type_sql} ADD VALUE {literal(value)} {where}")
        present.insert(index, value)
    return statements


@dataclass(frozen=True)
class Plan:
    """The type's own statements: renames, added values, or the rebuild (with the
    position of its `DROP TYPE` and `RENAME TO`, which carry waivers offline)."""

    statements: list[str]
    rebuild_from: int | None = None  # index of the rebuild's first statement
    waived: dict[int, str] = field(default_factory=dict)  # statement index -> rule


def plan(operations: Operations, op: ChangeEnumValuesOp) -> Plan:
    type_sql = quote(operations, op.name, op.schema)
    statements = [
        f"ALTER TYPE {type_sql} RENAME VALUE {literal(old)} TO {literal(new)}"
        for old, new in op.renamed.items()
        if old != new
    ]
    current = op.after_renames
    if current == op.new:
        return Plan(statements)
    if added_only(current, op.new):
        return Plan(statements + add_value_statements(type_sql, current, op.new))
    temporary = f"{op.name[:59]}_new"
    new_sql = quote(operations, temporary, op.schema)
    start = len(statements)
    statements.append(f"CREATE TYPE {new_sql} AS ENUM ({', '.join(literal(v) for v in op.new)})")
    by_table: dict[tuple[str | None, str], list[Column]] = {}
    for spec in op.columns:
        column = parse_column(spec, op.schema)
        by_table.setdefault((column.schema, column.table), []).append(column)
    for (schema, table), columns in by_table.items():
        changes = []
        for c in columns:
            name = quote(operations, c.column)
            suffix = "[]" if c.array else ""
            changes.append(
                f"ALTER COLUMN {name} TYPE {new_sql}{suffix} "
                f"USING {name}::text{suffix}::{new_sql}{suffix}"
            )
        statements.append(f"ALTER TABLE {quote(operations, table, schema)} " + ", ".join(changes))
    statements.append(f"DROP TYPE {type_sql}")
    statements.append(f"ALTER TYPE {new_sql} RENAME TO {quote(operations, op.name)}")
    last = len(statements) - 1
    return Plan(statements, start, {last - 1: "ban-drop-type", last: "renaming-object"})


@Operations.implementation_for(ChangeEnumValuesOp)
def _change_enum_values(operations: Operations, op: ChangeEnumValuesOp) -> None:
    steps = plan(operations, op)
    context = operations.get_context()
    if context.as_sql:
        _render(operations, op, steps)
        return
    connection = operations.get_bind()
    _check_values(connection, op)
    if steps.rebuild_from is None:
        for statement in steps.statements:
            operations.execute(statement)
        return
    around = dependents(connection, op)
    for statement in steps.statements[: steps.rebuild_from]:
        operations.execute(statement)
    for statement in around.drops:
        operations.execute(statement)
    for statement in steps.statements[steps.rebuild_from :]:
        operations.execute(statement)
    for statement in around.creates:
        operations.execute(statement)


def _render(operations: Operations, op: ChangeEnumValuesOp, steps: Plan) -> None:
    buffer = operations.get_context().impl.output_buffer
    for index, statement in enumerate(steps.statements):
        if index == steps.rebuild_from:
            buffer.write(
                f"-- Rebuild of enum {op.name}: at run time the views that read it or its "
                "columns, and the indexes, CHECKs and defaults that name it, are dropped "
                "before this and recreated after it from their definitions in the "
                "database (this script cannot see them; make upgrade runs them)\n"
            )
        rule = steps.waived.get(index)
        if rule:
            buffer.write(f"{WAIVER_PREFIX}{SAME_TYPE}\n{IGNORE_PREFIX}{rule}\n")
        operations.execute(statement)


_LABELS = """
SELECT t.oid, array_agg(e.enumlabel ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
WHERE t.typname = :name
  AND t.typnamespace = coalesce(to_regnamespace(:schema), current_schema()::regnamespace)
GROUP BY t.oid
"""


def _type_oid(connection: Connection, op: ChangeEnumValuesOp) -> tuple[int, list[str]] | None:
    row = connection.execute(text(_LABELS), {"name": op.name, "schema": op.schema}).first()
    return (int(row[0]), list(row[1])) if row else None


def _check_values(connection: Connection, op: ChangeEnumValuesOp) -> None:
    found = _type_oid(connection, op)
    if found is None:
        raise EnumChangeRefused(f"enum type {op.name} does not exist")
    if found[1] != op.old:
        raise EnumChangeRefused(
            f"enum type {op.name} has the values {', '.join(found[1])}, not "
            f"{', '.join(op.old)} as this step expects"
        )


@dataclass(frozen=True)
class Dependents:
    drops: list[str]
    creates: list[str]


# The affected columns as (table oid, attnum).
_COLUMNS = """
SELECT a.attrelid, a.attnum, pg_get_expr(d.adbin, d.adrelid), a.attrelid::regclass::text
FROM pg_attribute a
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = to_regclass(:table) AND a.attname = :column AND NOT a.attisdropped
"""

# Views reading the type or one of the columns, then views reading those, with the depth
# each is first reached at (a view is created after every view it reads).
_VIEWS = """
WITH RECURSIVE found(oid, depth) AS (
    SELECT r.ev_class, 1
    FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
    WHERE d.classid = 'pg_rewrite'::regclass
      AND ((d.refclassid = 'pg_type'::regclass AND d.refobjid = :type)
           OR (d.refclassid = 'pg_class'::regclass
               AND (d.refobjid, d.refobjsubid) IN (
                   SELECT * FROM unnest(CAST(:tables AS oid[]), CAST(:attnums AS int[]))
               )))
  UNION
    SELECT r.ev_class, f.depth + 1
    FROM found f
    JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = f.oid
    JOIN pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
    WHERE r.ev_class <> f.oid AND f.depth < 100
)
SELECT c.oid, c.oid::regclass::text, c.relkind, max(f.depth),
       pg_get_viewdef(c.oid), c.reloptions, obj_description(c.oid, 'pg_class'),
       (SELECT count(*) FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN')
       + (SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = c.oid)
FROM found f JOIN pg_class c ON c.oid = f.oid
GROUP BY c.oid
ORDER BY max(f.depth), c.oid::regclass::text
"""

_VIEW_COLUMN_COMMENTS = """
SELECT a.attname, col_description(a.attrelid, a.attnum)
FROM pg_attribute a
WHERE a.attrelid = :view AND a.attnum > 0 AND col_description(a.attrelid, a.attnum) IS NOT NULL
ORDER BY a.attnum
"""

_GRANTS = """
SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END,
       x.privilege_type, x.is_grantable
FROM pg_class c, aclexplode(c.relacl) x
LEFT JOIN pg_roles r ON r.oid = x.grantee
WHERE c.oid = :view AND x.grantee <> c.relowner
ORDER BY 1, 2
"""

# Indexes and CHECKs that name the type (a value in a predicate, an expression, a CHECK).
_INDEXES = """
SELECT DISTINCT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid),
       EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid)
FROM pg_depend d JOIN pg_index i ON i.indexrelid = d.objid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_type'::regclass
  AND d.refobjid = :type
ORDER BY 1
"""

_CHECKS = """
SELECT DISTINCT k.conrelid::regclass::text, quote_ident(k.conname), pg_get_constraintdef(k.oid)
FROM pg_depend d JOIN pg_constraint k ON k.oid = d.objid
WHERE d.classid = 'pg_constraint'::regclass AND d.refclassid = 'pg_type'::regclass
  AND d.refobjid = :type AND k.contype = 'c'
ORDER BY 1, 2
"""


_RECREATE = "drop it before this step and create it again after"


def _cannot_recreate(what: str, remedy: str) -> EnumChangeRefused:
    """The one line refusing an object the rebuild cannot carry over, and what to do."""
    return EnumChangeRefused(f"{what} which this step cannot recreate: {remedy}, in the revision")


def dependents(connection: Connection, op: ChangeEnumValuesOp) -> Dependents:
    """What the rebuild drops first and recreates after, read from the database now;
    refused with one line when something cannot be carried over."""
    found = _type_oid(connection, op)
    assert found is not None  # _check_values ran first
    type_oid = found[0]
    tables, attnums, drops, creates = [], [], [], []
    defaults: list[tuple[str, str, str]] = []
    for spec in op.columns:
        column = parse_column(spec, op.schema)
        table = f"{column.schema}.{column.table}" if column.schema else column.table
        row = connection.execute(
            text(_COLUMNS), {"table": _quoted_name(table), "column": column.column}
        ).first()
        if row is None:
            raise EnumChangeRefused(f"column {spec} does not exist")
        tables.append(row[0])
        attnums.append(row[1])
        if row[2] is not None:
            defaults.append((str(row[3]), _ident(column.column), str(row[2])))
    views = connection.execute(
        text(_VIEWS), {"type": type_oid, "tables": tables, "attnums": attnums}
    ).all()
    for _oid, name, kind, _depth, _definition, _options, _comment, extras in views:
        if kind != "v":
            raise _cannot_recreate(f"{name} (a materialized view) reads enum {op.name},", _RECREATE)
        if extras:
            raise _cannot_recreate(
                f"view {name} reads enum {op.name} and has rules or triggers of its own,",
                _RECREATE,
            )
    indexes = connection.execute(text(_INDEXES), {"type": type_oid}).all()
    for name, _definition, backs_constraint in indexes:
        if backs_constraint:
            raise _cannot_recreate(
                f"index {name} names enum {op.name} and backs a constraint,",
                "drop the constraint before this step and add it again after",
            )
    checks = connection.execute(text(_CHECKS), {"type": type_oid}).all()
    if views:
        drops.append("DROP VIEW " + ", ".join(row[1] for row in reversed(views)))
    drops += [f"DROP INDEX {name}" for name, _d, _b in indexes]
    drops += [f"ALTER TABLE {table} DROP CONSTRAINT {name}" for table, name, _d in checks]
    drops += [f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT" for t, c, _e in defaults]
    creates += [f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {e}" for t, c, e in defaults]
    creates += [f"ALTER TABLE {table} ADD CONSTRAINT {name} {d}" for table, name, d in checks]
    creates += [definition for _n, definition, _b in indexes]
    for oid, name, _kind, _depth, definition, options, comment, _extras in views:
        creates += _view_statements(connection, oid, name, definition, options, comment)
    return Dependents(drops, creates)


def _view_statements(
    connection: Connection,
    oid: int,
    name: str,
    definition: str,
    options: list[str] | None,
    comment: str | None,
) -> list[str]:
    with_ = f" WITH ({', '.join(options)})" if options else ""
    statements = [f"CREATE VIEW {name}{with_} AS {definition.strip().rstrip(';')}"]
    if comment is not None:
        statements.append(f"COMMENT ON VIEW {name} IS {literal(comment)}")
    for column, text_ in connection.execute(text(_VIEW_COLUMN_COMMENTS), {"view": oid}).all():
        statements.append(f"COMMENT ON COLUMN {name}.{_ident(column)} IS {literal(text_)}")
    grants: dict[tuple[str, bool], list[str]] = {}
    for grantee, privilege, grantable in connection.execute(text(_GRANTS), {"view": oid}).all():
        grants.setdefault((grantee, grantable), []).append(privilege)
    for (grantee, grantable), privileges in grants.items():
        option = " WITH GRANT OPTION" if grantable else ""
        statements.append(f"GRANT {', '.join(privileges)} ON {name} TO {grantee}{option}")
    return statements


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quoted_name(table: str) -> str:
    return ".".join(_ident(part) for part in table.split("."))
