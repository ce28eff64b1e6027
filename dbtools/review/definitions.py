"""Drift by definition: what PostgreSQL makes of the models, against what the migrations built.

Autogenerate compares CHECK constraints, indexes and foreign keys by name, and server
defaults by rendering them in Python. Two objects of the same name can still differ: a
CHECK that gains a value, an index that gains a predicate, an `INCLUDE` column or another
operator class, a foreign key with another action. So the models are built on a scratch
database of their own (`metadata.create_all`) and both sides are read back as PostgreSQL
normalised them (`pg_get_constraintdef`, `pg_get_indexdef`, `pg_get_expr`):

- a CHECK, index or foreign key of the same name whose definition differs is dropped and
  added again (on a table that exists, dbtools/review/safe_forms.py turns the add into
  its non-blocking form: the CHECK `NOT VALID` in the same transaction as the drop, then
  `VALIDATE`);
- a server default is compared by its normalised expression too: a difference Alembic's
  own rendering missed is added, one it reported where PostgreSQL stores the same
  expression is taken back.

A model the database cannot build stops the comparison with one line naming the table.
Where no scratch database can be made (plain `alembic check` as a role without
CREATEDB), the definitions are not compared and a warning says so.

It is an Alembic autogenerate plugin (`dbtools.definitions`): one comparator runs first
and reads both catalogs, one runs last and adds what the others did not already write.
"""

import functools
import logging
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops
from alembic.runtime.plugins import Plugin
from alembic.util import DispatchPriority, PriorityDispatchResult
from sqlalchemy import Connection, MetaData, Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.sql.elements import conv

from dbtools.core.errors import UserError
from dbtools.core.scratch import scratch_database
from dbtools.review.safe_forms import wrapped

PLUGIN = "dbtools.definitions"
_KEY = "dbtools_definitions"  # where the first comparator leaves both catalogs (opts)

log = logging.getLogger("alembic.env")

# (schema, table, name) -> definition; defaults are keyed (schema, table, column).
Key = tuple[str, str, str]

_CONSTRAINTS = """
SELECT n.nspname, c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid)
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype IN ('c', 'f') AND n.nspname = ANY(:schemas)
"""
_INDEXES = """
SELECT n.nspname, t.relname, i.relname, pg_get_indexdef(x.indexrelid)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = ANY(:schemas)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = x.indexrelid
                  AND con.conrelid = x.indrelid)
"""
_COLUMNS = """
SELECT n.nspname, c.relname, a.attname
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p') AND a.attnum > 0
  AND NOT a.attisdropped
"""
_DEFAULTS = """
SELECT n.nspname, c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid)
FROM pg_attrdef d
JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
JOIN pg_class c ON c.oid = d.adrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(:schemas) AND a.attgenerated = ''
"""


@dataclass
class Definitions:
    """One database's definitions, as PostgreSQL prints them."""

    checks: dict[Key, str] = field(default_factory=dict)
    foreign_keys: dict[Key, str] = field(default_factory=dict)
    indexes: dict[Key, str] = field(default_factory=dict)
    defaults: dict[Key, str] = field(default_factory=dict)
    columns: set[Key] = field(default_factory=set)


def read(connection: Connection, schemas: list[str]) -> Definitions:
    found = Definitions()
    for nsp, table, name, kind, definition in connection.execute(
        text(_CONSTRAINTS), {"schemas": schemas}
    ):
        target = found.checks if kind == "c" else found.foreign_keys
        target[(nsp, table, name)] = definition
    for nsp, table, name, definition in connection.execute(text(_INDEXES), {"schemas": schemas}):
        found.indexes[(nsp, table, name)] = definition
    for nsp, table, column, definition in connection.execute(text(_DEFAULTS), {"schemas": schemas}):
        found.defaults[(nsp, table, column)] = definition
    found.columns = {tuple(row) for row in connection.execute(text(_COLUMNS), {"schemas": schemas})}
    return found


def schemas_of(metadata: MetaData, default: str) -> list[str]:
    return sorted({t.schema or default for t in metadata.tables.values()} | {default})


def build_models(connection: Connection, metadata: MetaData) -> None:
    """The models' own database: every table created as SQLAlchemy would, one at a time, so
    a model PostgreSQL refuses is named."""
    for name in sorted({t.schema for t in metadata.tables.values() if t.schema}):
        connection.execute(sa.schema.CreateSchema(name, if_not_exists=True))
    for table in metadata.sorted_tables:
        try:
            with connection.begin_nested():
                metadata.create_all(connection, tables=[table])
        except (DBAPIError, sa.exc.CompileError, sa.exc.ArgumentError) as exc:
            raise UserError(
                f"model {table.fullname}: PostgreSQL cannot build it: {first_line(exc)}"
            ) from exc


def first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(exc).__name__


@dataclass
class Compared:
    models: Definitions
    migrated: Definitions
    default_schema: str


def _first(autogen_context: AutogenContext, _upgrade_ops: ops.UpgradeOps) -> Any:
    """Read both catalogs once, before any other comparator runs."""
    connection = autogen_context.connection
    metadata = autogen_context.metadata
    if connection is None or not isinstance(metadata, MetaData):
        return PriorityDispatchResult.CONTINUE
    default = connection.dialect.default_schema_name or "public"
    schemas = schemas_of(metadata, default)
    with ExitStack() as stack:
        try:
            models = stack.enter_context(scratch_database(connection.engine.url))
        except (OperationalError, ProgrammingError) as exc:
            log.warning("definitions not compared (no scratch database: %s)", first_line(exc))
            return PriorityDispatchResult.CONTINUE
        with models.begin():
            models.execute(text("SELECT set_config('search_path', :p, true)"), {"p": default})
            build_models(models, metadata)
            built = read(models, schemas)
    autogen_context.opts[_KEY] = Compared(built, read(connection, schemas), default)
    return PriorityDispatchResult.CONTINUE


def _last(autogen_context: AutogenContext, upgrade_ops: ops.UpgradeOps) -> Any:
    """Schemas the models need first; then objects of one name with different
    definitions, dropped and added again."""
    compared: Compared | None = autogen_context.opts.pop(_KEY, None)
    metadata = autogen_context.metadata
    if not isinstance(metadata, MetaData):
        return PriorityDispatchResult.CONTINUE
    missing = missing_schemas(autogen_context, metadata)
    upgrade_ops.ops[:0] = [CreateSchemaOp(name) for name in missing]
    if compared is None:
        return PriorityDispatchResult.CONTINUE
    touched = {name_of(op) for op in walk(upgrade_ops)}
    for table in metadata.sorted_tables:
        schema = table.schema or compared.default_schema
        for op in [
            *changed_ops(table, schema, compared, touched),
            *changed_defaults(table, schema, compared, upgrade_ops),
        ]:
            table_ops(upgrade_ops, table).ops.append(op)
    drop_empty(upgrade_ops)
    for op in walk(upgrade_ops):
        describe_existing(op, compared)
    return PriorityDispatchResult.CONTINUE


def describe_existing(op: Any, compared: Compared) -> None:
    """An operation other comparators wrote (a foreign key dropped and added for another
    option) carries the definitions too, so the drift line shows both."""
    name, table = name_of(op), getattr(op, "table_name", getattr(op, "source_table", None))
    if name is None or table is None or hasattr(op, "definition"):
        return
    key = (getattr(op, "schema", None) or compared.default_schema, str(table), name)
    side = (
        compared.migrated
        if isinstance(op, ops.DropConstraintOp | ops.DropIndexOp)
        else compared.models
    )
    for found in (side.checks, side.foreign_keys, side.indexes):
        if key in found:
            described(op, found[key])
            return


def missing_schemas(autogen_context: AutogenContext, metadata: MetaData) -> list[str]:
    """The schemas models use that the migrated database lacks."""
    used = sorted({t.schema for t in metadata.tables.values() if t.schema})
    connection = autogen_context.connection
    if not used or connection is None:
        return []
    present = set(
        connection.execute(
            text("SELECT nspname FROM pg_namespace WHERE nspname = ANY(:s)"), {"s": used}
        ).scalars()
    )
    return [name for name in used if name not in present]


class CreateSchemaOp(ops.MigrateOperation):
    """`CREATE SCHEMA` for models in a schema no revision made yet; the downgrade drops it."""

    def __init__(self, name: str, *, drop: bool = False) -> None:
        self.name = name
        self.drop = drop

    def reverse(self) -> "CreateSchemaOp":
        return CreateSchemaOp(self.name, drop=not self.drop)

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("remove_schema" if self.drop else "add_schema", self.name)


@renderers.dispatch_for(CreateSchemaOp)
def _render_schema(autogen_context: AutogenContext, op: CreateSchemaOp) -> str:
    prefix = autogen_context.opts.get("alembic_module_prefix", "op.")
    quoted = sa.sql.quoted_name(op.name, None)
    name = autogen_context.dialect.identifier_preparer.quote_schema(quoted)
    sql = f"DROP SCHEMA {name}" if op.drop else f"CREATE SCHEMA IF NOT EXISTS {name}"
    return f"{prefix}execute({sql!r})"


def changed_defaults(
    table: Table, schema: str, compared: Compared, upgrade_ops: ops.UpgradeOps
) -> Iterator[ops.AlterColumnOp]:
    """Server defaults whose normalised expressions differ, whatever Alembic's rendering said:
    Alembic's alteration kept where they differ, taken back where they do not."""
    altered = {
        op.column_name: op
        for op in walk(upgrade_ops)
        if isinstance(op, ops.AlterColumnOp)
        and (op.table_name, op.schema) == (table.name, table.schema)
    }
    for column in table.columns:
        key = (schema, table.name, column.name)
        old, new = compared.migrated.defaults.get(key), compared.models.defaults.get(key)
        if column.computed is not None or column.identity is not None:
            continue
        if key not in compared.migrated.columns:
            continue  # a new column (or table) brings its default with it
        alteration = altered.get(column.name)
        if alteration is not None and alteration.modify_server_default is not False:
            if old == new:
                alteration.modify_server_default = False
            continue
        if old != new:
            yield ops.AlterColumnOp(
                table.name,
                column.name,
                schema=table.schema,
                existing_type=column.type,
                existing_nullable=column.nullable,
                existing_server_default=text(old) if old is not None else None,
                modify_server_default=column.server_default,
            )


def drop_empty(upgrade_ops: ops.UpgradeOps) -> None:
    """Alterations left with nothing to do (a default taken back) are removed."""
    for group in upgrade_ops.ops:
        if isinstance(group, ops.ModifyTableOps):
            group.ops = [op for op in group.ops if not is_noop(op)]
    upgrade_ops.ops = [
        op for op in upgrade_ops.ops if not (isinstance(op, ops.ModifyTableOps) and not op.ops)
    ]


def is_noop(op: Any) -> bool:
    return isinstance(op, ops.AlterColumnOp) and not op.has_changes()


def changed_ops(table: Table, schema: str, compared: Compared, touched: set[Any]) -> Iterator[Any]:
    old, new = compared.migrated, compared.models
    for check in sorted(table.constraints, key=lambda c: str(c.name)):
        if not isinstance(check, sa.CheckConstraint) or check.name is None:
            continue
        key = (schema, table.name, final_name(check))
        if key[2] in touched or key not in old.checks or key not in new.checks:
            continue
        if old.checks[key] != new.checks[key]:
            drop = DropConstraintAsPrinted(
                conv(key[2]), table.name, type_="check", schema=table.schema
            )
            yield described(drop.restored_by(old.checks[key]), old.checks[key])
            yield described(ops.AddConstraintOp.from_constraint(check), new.checks[key])
    for fk in sorted(table.foreign_key_constraints, key=lambda c: str(c.name)):
        key = (schema, table.name, final_name(fk))
        if key[2] in touched or key not in old.foreign_keys or key not in new.foreign_keys:
            continue
        if old.foreign_keys[key] != new.foreign_keys[key]:
            yield described(
                DropConstraintAsPrinted(
                    conv(key[2]), table.name, type_="foreignkey", schema=table.schema
                ).restored_by(old.foreign_keys[key]),
                old.foreign_keys[key],
            )
            yield described(ops.AddConstraintOp.from_constraint(fk), new.foreign_keys[key])
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        key = (schema, table.name, final_name(index))
        if key[2] in touched or key not in old.indexes or key not in new.indexes:
            continue
        if old.indexes[key] != new.indexes[key]:
            drop = DropIndexAsPrinted(conv(key[2]), table_name=table.name, schema=table.schema)
            yield described(drop.restored_by(old.indexes[key]), old.indexes[key])
            yield described(ops.CreateIndexOp.from_index(index), new.indexes[key])


def final_name(obj: Any) -> str:
    """The name PostgreSQL is given for a model's constraint or index: the naming convention
    applied, cut to length as SQLAlchemy cuts it, unquoted."""
    preparer = postgresql.dialect().identifier_preparer
    rendered = preparer.format_index(obj) if isinstance(obj, sa.Index) else None
    rendered = rendered or preparer.format_constraint(obj) or str(obj.name)
    if rendered.startswith('"') and rendered.endswith('"'):
        return rendered[1:-1].replace('""', '"')
    return rendered


def described(op: Any, definition: str) -> Any:
    """`op`, carrying the definition PostgreSQL printed (the drift check says it)."""
    op.definition = definition
    return op


class DropIndexAsPrinted(ops.DropIndexOp):
    """A drop whose reverse (the downgrade) builds the old index as PostgreSQL printed it."""

    printed = ""

    def restored_by(self, printed: str) -> "DropIndexAsPrinted":
        self.printed = printed
        return self

    def reverse(self) -> Any:
        restore = RestoreAsPrinted(self.printed)
        restore.restores_index = True  # a plain build: safe_forms says what it blocks
        return restore


class DropConstraintAsPrinted(ops.DropConstraintOp):
    """A drop whose reverse adds the old constraint back as PostgreSQL printed it."""

    printed = ""

    def restored_by(self, printed: str) -> "DropConstraintAsPrinted":
        self.printed = printed
        return self

    def to_diff_tuple(self) -> tuple[Any, ...]:
        stub = Table(self.table_name, MetaData(), schema=self.schema)
        constraint = sa.CheckConstraint(text("true"), name=self.constraint_name)
        stub.append_constraint(constraint)
        return ("remove_constraint", constraint)

    def reverse(self) -> Any:
        table = self.table_name if self.schema is None else f"{self.schema}.{self.table_name}"
        definition = self.printed.removesuffix(" NOT VALID")
        if definition.startswith(("CHECK", "FOREIGN KEY")):
            # Added NOT VALID (a brief lock), then validated in a transaction of its own
            # (safe_forms adds the VALIDATE after it): the downgrade blocks no writes.
            restore = RestoreAsPrinted(
                f'ALTER TABLE {table} ADD CONSTRAINT "{self.constraint_name}" {definition} '
                "NOT VALID"
            )
            restore.then_validate = (self.table_name, str(self.constraint_name), self.schema)
            return restore
        return RestoreAsPrinted(
            f'ALTER TABLE {table} ADD CONSTRAINT "{self.constraint_name}" {self.printed}'
        )


class RestoreAsPrinted(ops.ExecuteSQLOp):
    """`op.execute(...)` of what PostgreSQL printed, the string wrapped to fit a line."""


@renderers.dispatch_for(RestoreAsPrinted)
def _render_restore(autogen_context: AutogenContext, op: RestoreAsPrinted) -> str:
    prefix = autogen_context.opts.get("alembic_module_prefix", "op.")
    literal = wrapped(str(op.sqltext))  # the only argument: its parentheses are the call's
    return f"{prefix}execute({literal[1:-1] if literal.startswith('(') else literal})"


def walk(op: Any) -> Iterator[Any]:
    if isinstance(op, ops.OpContainer):
        for child in op.ops:
            yield from walk(child)
    else:
        yield op


def name_of(op: Any) -> Any:
    for attr in ("constraint_name", "index_name"):
        if getattr(op, attr, None) is not None:
            return str(getattr(op, attr))
    return None


def table_ops(upgrade_ops: ops.UpgradeOps, table: Table) -> ops.ModifyTableOps:
    for op in upgrade_ops.ops:
        if isinstance(op, ops.ModifyTableOps) and (op.table_name, op.schema) == (
            table.name,
            table.schema,
        ):
            return op
    group = ops.ModifyTableOps(table.name, [], schema=table.schema)
    upgrade_ops.ops.append(group)
    return group


def setup(plugin: Plugin) -> None:
    plugin.add_autogenerate_comparator(_first, "autogenerate", priority=DispatchPriority.FIRST)
    plugin.add_autogenerate_comparator(_last, "autogenerate", priority=DispatchPriority.LAST)


@functools.cache
def register() -> str:
    """Register the plugin once per process; returns its name for `autogenerate_plugins`."""
    Plugin.setup_plugin_from_module(sys.modules[__name__], PLUGIN)
    return PLUGIN
