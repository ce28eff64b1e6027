"""An object a step finds under its name is kept only when it is what the step would build.

A rerun after a failure finds what the earlier run built (a valid index, a constraint)
and keeps it; but an object of the same name can also be somebody else's, with another
definition. The step's own object is built on an empty copy of the table's columns
(`CREATE TEMP TABLE ... (LIKE ...)`, in a transaction that is rolled back: no scan of
the real table, no lock beyond ACCESS SHARE), and the two definitions are compared as
PostgreSQL reports them (`pg_get_indexdef`, `pg_get_constraintdef`), so expressions,
predicates, operator classes and sort orders are compared after PostgreSQL normalised
them on both sides. A foreign key, which a temporary table cannot hold, is compared
column by column from `pg_constraint`.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alembic.operations import Operations
from sqlalchemy import Connection, text

from dbtools.core.errors import UserError

PROBE_TABLE = "_dbtools_intended"  # the empty copy, in the session's temporary schema
PROBE_NAME = "_dbtools_intended_object"


class MismatchedObjectError(UserError):
    """An object of the step's name exists with another definition than the step's."""


@dataclass(frozen=True)
class Definition:
    """What PostgreSQL reports about one index or constraint, and the text to show."""

    key: tuple[Any, ...]  # compared
    shown: str  # said


def _regclass(schema: str | None, name: str = "table", schema_name: str = "schema") -> str:
    """to_regclass of the quoted `:name` parameter, schema-qualified when one is given."""
    if schema:
        return f"to_regclass(format('%I.%I', :{schema_name}, :{name}))"
    return f"to_regclass(format('%I', :{name}))"


_INDEX = """
SELECT i.indisunique, i.indrelid = {regclass}, c.relname,
       substring(pg_get_indexdef(i.indexrelid) FROM ' USING .*$'),
       pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
WHERE i.indexrelid = {index}
"""


def _index(bind: Connection, index: str, table: str, schema: str | None) -> Definition | None:
    """`index` as PostgreSQL reports it: unique, on `table` or not, what follows USING."""
    sql = _INDEX.format(regclass=_regclass(schema), index=_regclass(schema, "index"))
    params = {"schema": schema, "table": table, "index": index}
    row = bind.execute(text(sql), params).first()
    if row is None:
        return None
    unique, on_table, _relname, tail, shown = row
    return Definition(key=(bool(unique), bool(on_table), tail), shown=shown)


@contextmanager
def _probe(operations: Operations, table: str, schema: str | None) -> Iterator[Connection]:
    """An empty temporary copy of `table`'s columns, in a transaction rolled back after."""
    bind = operations.get_bind()
    preparer = operations.get_context().dialect.identifier_preparer
    source = preparer.quote(table)
    if schema:
        source = f"{preparer.quote_schema(schema)}.{source}"
    # In an autocommit block the probe gets a transaction of its own; inside the
    # revision's transaction, a savepoint.
    autocommit = bind.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    start, undo = (
        ("BEGIN", "ROLLBACK")
        if autocommit
        else (f"SAVEPOINT {PROBE_TABLE}", f"ROLLBACK TO SAVEPOINT {PROBE_TABLE}")
    )
    bind.exec_driver_sql(start)
    try:
        bind.exec_driver_sql(f"CREATE TEMP TABLE {PROBE_TABLE} (LIKE {source})")
        yield bind
    finally:
        bind.exec_driver_sql(undo)
        if not autocommit:
            bind.exec_driver_sql(f"RELEASE SAVEPOINT {PROBE_TABLE}")


def require_same_index(
    operations: Operations,
    name: str,
    table: str,
    schema: str | None,
    build: Callable[[str, str], None],
) -> None:
    """Fail unless the existing index `name` is what `build(name, table)` would create.

    `build` creates the step's index under the given name on the given (unqualified)
    table; it is called once, on the empty copy.
    """
    bind = operations.get_bind()
    existing = _index(bind, name, table, schema)
    if existing is None:
        return
    intended = _as_built(
        operations, table, schema, build, lambda b: _index(b, PROBE_NAME, PROBE_TABLE, None)
    )
    unique, _on_table, tail = intended.key
    if existing.key == (unique, True, tail):
        return
    qualified = f"{schema}.{table}" if schema else table
    wanted = f"CREATE {'UNIQUE ' if unique else ''}INDEX {name} ON {qualified}{tail}"
    raise MismatchedObjectError(
        f"an index named {name} exists but is not the one this step builds: the database has "
        f"`{existing.shown}`, the step builds `{wanted}`; rename or drop the existing index, "
        "or give the step another name"
    )


def _as_built(
    operations: Operations,
    table: str,
    schema: str | None,
    build: Callable[[str, str], None],
    read: Callable[[Connection], Any],
) -> Any:
    """What `build(name, table)` creates on the empty copy of `table`, as `read` finds it."""
    with _probe(operations, table, schema):
        build(PROBE_NAME, PROBE_TABLE)
        built = read(operations.get_bind())
    assert built is not None
    return built


_CONSTRAINT = """
SELECT contype, pg_get_constraintdef(oid)
FROM pg_constraint WHERE conrelid = {regclass} AND conname = :name
"""


def _constraint(bind: Connection, table: str, name: str, schema: str | None) -> tuple | None:
    sql = _CONSTRAINT.format(regclass=_regclass(schema))
    params = {"schema": schema, "table": table, "name": name}
    row = bind.execute(text(sql), params).first()
    return None if row is None else tuple(row)


def _without_not_valid(definition: str) -> str:
    """A definition compared whether or not it is validated yet (`... NOT VALID`)."""
    suffix = " NOT VALID"
    return definition[: -len(suffix)] if definition.endswith(suffix) else definition


def require_same_constraint(
    operations: Operations,
    table: str,
    name: str,
    schema: str | None,
    build: Callable[[str, str], None],
) -> None:
    """Fail unless the existing constraint `name` on `table` is what `build` would add.

    `build(constraint_name, table)` adds the step's constraint to the given table; it is
    called once, on the empty copy. For CHECK and UNIQUE constraints.
    """
    bind = operations.get_bind()
    existing = _constraint(bind, table, name, schema)
    if existing is None:
        return
    kind, wanted = _as_built(
        operations, table, schema, build, lambda b: _constraint(b, PROBE_TABLE, PROBE_NAME, None)
    )
    if existing[0] == kind and _without_not_valid(existing[1]) == _without_not_valid(wanted):
        return
    raise _mismatch(name, table, existing[1], _without_not_valid(wanted))


def _mismatch(name: str, table: str, existing: str, wanted: str) -> MismatchedObjectError:
    return MismatchedObjectError(
        f"a constraint named {name} exists on {table} but is not the one this step adds: the "
        f"database has `{existing}`, the step adds `{wanted}`; rename or drop the existing "
        "constraint, or give the step another name"
    )


_FOREIGN_KEY = """
SELECT c.contype, pg_get_constraintdef(c.oid),
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o),
       c.confrelid = {referent},
       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o),
       c.confdeltype::text, c.confupdtype::text
FROM pg_constraint c WHERE c.conrelid = {regclass} AND c.conname = :name
"""

# pg_constraint.confdeltype / confupdtype for each ON DELETE / ON UPDATE action.
_ACTIONS = {None: "a", "NO ACTION": "a", "RESTRICT": "r", "CASCADE": "c"}
_ACTIONS |= {"SET NULL": "n", "SET DEFAULT": "d"}


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key as a step describes it."""

    local: Sequence[str]
    referent: str
    referent_schema: str | None
    remote: Sequence[str]
    ondelete: str | None = None
    onupdate: str | None = None

    def shown(self) -> str:
        referent = (
            f"{self.referent_schema}.{self.referent}" if self.referent_schema else self.referent
        )
        text_ = (
            f"FOREIGN KEY ({', '.join(self.local)}) REFERENCES {referent}({', '.join(self.remote)})"
        )
        if self.ondelete:
            text_ += f" ON DELETE {self.ondelete.upper()}"
        if self.onupdate:
            text_ += f" ON UPDATE {self.onupdate.upper()}"
        return text_


def require_same_foreign_key(
    operations: Operations, table: str, name: str, schema: str | None, key: ForeignKey
) -> None:
    """Fail unless the existing constraint `name` is the foreign key `key` describes."""
    sql = _FOREIGN_KEY.format(
        regclass=_regclass(schema),
        referent=_regclass(key.referent_schema, "referent", "referent_schema"),
    )
    params = {
        "schema": schema,
        "table": table,
        "name": name,
        "referent": key.referent,
        "referent_schema": key.referent_schema,
    }
    row = operations.get_bind().execute(text(sql), params).first()
    if row is None:
        return
    kind, existing, local, same_referent, remote, on_delete, on_update = row
    actions = (_action(key.ondelete), _action(key.onupdate))
    if (
        kind == "f"
        and list(local) == list(key.local)
        and same_referent
        and list(remote) == list(key.remote)
        and (on_delete, on_update) == actions
    ):
        return
    raise _mismatch(name, table, existing, key.shown())


def _action(action: str | None) -> str:
    return _ACTIONS.get(action.upper() if action else None, "?")
