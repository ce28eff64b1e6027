"""Autogenerate writes the forms that do not block a table that already exists.

`make revision` compares the models with the migrations and Alembic writes plain
operations: `create_index` (blocks writes while it builds), `create_foreign_key` and a
CHECK (scan the table while blocking writes), `alter_column(nullable=False)` (scans it
under ACCESS EXCLUSIVE), `create_unique_constraint` (builds its index under ACCESS
EXCLUSIVE). On a table the revision does not create itself, each becomes the
repository's operation that does the same without blocking (dbtools/operations/):

| written by Alembic | rewritten as |
| --- | --- |
| `op.create_index(...)` | `op.create_index_concurrently(...)` (partial, expression indexes too) |
| `op.drop_index(...)` | `op.drop_index_concurrently(...)` |
| `op.create_foreign_key(...)` | `op.add_foreign_key_not_valid(...)` |
| `op.create_check_constraint(...)` | `op.add_check_not_valid(...)` |
| `op.alter_column(..., nullable=False)` | `op.set_not_null_safely(...)` (other changes stay) |
| `op.create_unique_constraint(...)` | `op.add_unique_using_index(...)` |

Tables created (or dropped) in the same direction keep the plain forms: nobody uses them
meanwhile. When a revision gets a step outside its transaction, its plain steps that
have an idempotent form (`add_column`, `create_table`, `create_index` with
`if_not_exists`; the drops with `if_exists`) get it, so a rerun after a later step failed
never stops on `already exists` from its own first half.

The downgrade is the reverse of the rewritten upgrade (each operation of this
repository has its `reverse()`: a concurrent build is dropped concurrently, a NOT VALID
constraint is dropped, a safe NOT NULL is dropped), and what it adds back to an existing
table gets the safe forms too. The rewriting goes through Alembic's `Rewriter`. This is
a `process_revision_directives` step; env.py runs it after the empty-revision guard.
"""

from collections.abc import Callable, Iterable
from typing import Any

from alembic.autogenerate import Rewriter, renderers
from alembic.operations import ops
from sqlalchemy import Column, text
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ClauseElement, TextClause, conv

from dbtools.operations.backfill import BackfillInBatchesOp
from dbtools.operations.constraints import (
    AddCheckNotValidOp,
    AddForeignKeyNotValidOp,
    AddUniqueUsingIndexOp,
    SetNotNullSafelyOp,
    ValidateConstraintOp,
)
from dbtools.operations.indexes import CreateIndexConcurrentlyOp, DropIndexConcurrentlyOp
from dbtools.operations.waivers import WaiveLintOp

OUTSIDE_TRANSACTION = (
    CreateIndexConcurrentlyOp,
    DropIndexConcurrentlyOp,
    AddForeignKeyNotValidOp,
    AddCheckNotValidOp,
    SetNotNullSafelyOp,
    AddUniqueUsingIndexOp,
    ValidateConstraintOp,
    BackfillInBatchesOp,
)


def rewrite(context: Any, revision: Any, directives: list[Any]) -> None:
    """Rewrite each script's upgrade as the module docstring says, and its downgrade (what
    autogenerate computed for it) into the safe forms too."""
    for script in directives:
        for upgrade, downgrade in zip(
            script.upgrade_ops_list, script.downgrade_ops_list, strict=True
        ):
            # Each direction from what autogenerate computed for it, in its safe forms:
            # the downgrade is written in safe forms too, not as a plain reverse.
            to_safe_forms(context, revision, upgrade)
            # Downgrades are linted without the rules about dropping: no waiver for them.
            to_safe_forms(context, revision, downgrade, waive_drops=False)


def to_safe_forms(
    context: Any, revision: Any, container: ops.OpContainer, *, waive_drops: bool = True
) -> None:
    """The ops of one direction in their safe forms, through Alembic's `Rewriter`; tables
    this direction creates or drops keep the plain forms (nobody uses them meanwhile)."""
    fresh = {
        op.table_name for op in container.ops if isinstance(op, ops.CreateTableOp | ops.DropTableOp)
    }
    writer = Rewriter()
    for op_type, convert in _CONVERSIONS.items():
        writer.rewrites(op_type)(_unless_fresh(convert, fresh))
    writer(context, revision, [container])
    for each in [container, *walk_containers(container.ops)]:
        each.ops = restored_safely(waive_replaced_drops(each.ops) if waive_drops else each.ops)
    if any(isinstance(op, OUTSIDE_TRANSACTION) for op in walk(container.ops)):
        make_idempotent(container.ops)


def _unless_fresh(convert: Callable[[Any], list[Any]], fresh: set[str]) -> Any:
    def rewrite_one(_context: Any, _revision: Any, op: Any) -> list[Any]:
        table = getattr(op, "table_name", getattr(op, "source_table", None))
        return [op] if table in fresh else convert(op)

    return rewrite_one


def walk(operations: Iterable[Any]) -> Iterable[Any]:
    """Every operation, with those grouped per table (ModifyTableOps) flattened."""
    for op in operations:
        if isinstance(op, ops.OpContainer):
            yield from walk(op.ops)
        else:
            yield op


def walk_containers(operations: list[Any]) -> list[ops.OpContainer]:
    """Every container among `operations`, nested ones too (a table's ModifyTableOps)."""
    found = []
    for op in operations:
        if isinstance(op, ops.OpContainer):
            found += [op, *walk_containers(op.ops)]
    return found


def restored_safely(operations: list[Any]) -> list[Any]:
    """What a drift fix's downgrade puts back as PostgreSQL printed it
    (dbtools/review/definitions.py): a CHECK or foreign key added NOT VALID is validated
    right after, in a transaction of its own; an index rebuilt from its printed definition
    is built the plain way (a printed definition cannot be built concurrently here), so
    its downgrade says so with a waiver a reviewer reads."""
    out: list[Any] = []
    for op in operations:
        if getattr(op, "restores_index", False):
            reason = (
                "the downgrade rebuilds the index as PostgreSQL printed it: a plain build, "
                "which blocks writes to the table while it runs"
            )
            out.append(
                WaiveLintOp(["require-concurrent-index-creation", "trace-blocks-writes"], reason)
            )
        out.append(op)
        if validate := getattr(op, "then_validate", None):
            table, name, schema = validate
            out.append(ValidateConstraintOp(table, name, schema=schema))
    return out


def waive_replaced_drops(operations: list[Any]) -> list[Any]:
    """A constraint dropped and added again under its name in the same revision (a changed
    definition: a CHECK's values, a foreign key's action) keeps its guarantee: its drop
    carries a waiver of `ban-drop-constraint` saying so."""
    added = {
        str(name)
        for op in operations
        if not isinstance(op, ops.DropConstraintOp)
        and (name := getattr(op, "constraint_name", None)) is not None
    }
    out: list[Any] = []
    for op in operations:
        if isinstance(op, ops.DropConstraintOp) and str(op.constraint_name) in added:
            reason = f"{op.constraint_name} is added again below with its new definition"
            out.append(WaiveLintOp(["ban-drop-constraint"], reason))
        out.append(op)
    return out


def safe_form(op: Any) -> list[Any]:
    """The operations that replace `op` on an existing table (`[op]` when it is safe)."""
    convert = next((f for t in type(op).__mro__ if (f := _CONVERSIONS.get(t))), None)
    return convert(op) if convert else [op]


def _index(op: ops.CreateIndexOp) -> list[Any]:
    """Plain columns stay names; expressions and a predicate (`postgresql_where`) are
    written as the SQL PostgreSQL is given (`sa.text(...)`), so partial and expression
    indexes are built concurrently too."""
    columns = [_column_name(c) or _as_text(c) for c in op.columns]
    kw = {k: _as_text(v) if isinstance(v, ClauseElement) else v for k, v in op.kw.items()}
    if not all(_plain(v) or isinstance(v, TextClause) for v in kw.values()):
        return [op]  # anything else is left as written, and the lint says what to change
    return [
        CreateIndexConcurrentlyOp(
            op.index_name,
            op.table_name,
            columns,
            schema=op.schema,
            unique=op.unique,
            kw=kw,
        )
    ]


def _as_text(expression: Any) -> TextClause:
    if isinstance(expression, TextClause):
        return expression
    compiled = expression.compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    return text(str(compiled))


def _drop_index(op: ops.DropIndexOp) -> list[Any]:
    """A dropped index is dropped concurrently; its reverse builds it concurrently again."""
    if op.table_name is None or op.kw.get("postgresql_concurrently"):
        return [op]
    try:
        before = op.reverse()  # the index as it stood, when Alembic knows it
    except ValueError:
        before = None
    rebuilt = _index(before) if isinstance(before, ops.CreateIndexOp) else []
    build = rebuilt[0] if rebuilt and isinstance(rebuilt[0], CreateIndexConcurrentlyOp) else None
    return [
        DropIndexConcurrentlyOp(op.index_name, op.table_name, schema=op.schema, reverse_of=build)
    ]


def _foreign_key(op: ops.CreateForeignKeyOp) -> list[Any]:
    kw = {k: v for k, v in op.kw.items() if v is not None}
    if not all(_plain(v) for v in kw.values()):
        return [op]
    return [
        AddForeignKeyNotValidOp(
            op.constraint_name, op.source_table, op.referent_table, op.local_cols,
            op.remote_cols, kw=kw,
        )
    ]  # fmt: skip


def _check(op: ops.CreateCheckConstraintOp) -> list[Any]:
    condition = op.condition
    if isinstance(condition, ClauseElement):
        compiled = condition.compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
        condition = str(compiled)
    return [AddCheckNotValidOp(op.constraint_name, op.table_name, condition, schema=op.schema)]


def _alter_column(op: ops.AlterColumnOp) -> list[Any]:
    """NOT NULL through a validated CHECK; a type change PostgreSQL makes without a rewrite
    carries a waiver saying why."""
    steps = _not_null(op)
    waiver = binary_compatible_waiver(op)
    return [waiver, *steps] if waiver else steps


def binary_compatible_waiver(op: ops.AlterColumnOp) -> WaiveLintOp | None:
    """A `varchar` widened, or made `text` or unbounded: PostgreSQL rewrites no table and
    scans no row for it (the new type is binary-coercible and no length check can fail),
    so Squawk's `changing-column-type` does not apply. Anything else is left to the lint."""
    old, new = op.existing_type, op.modify_type
    if old is None or new is None or not _plain_varchar(old) or op.kw.get("postgresql_using"):
        return None
    if isinstance(new, sqltypes.Text):
        widened = True
    elif not _plain_varchar(new):
        widened = False
    elif new.length is None:
        widened = True
    else:
        widened = old.length is not None and new.length >= old.length
    if not widened:
        return None
    before, after = (str(t.compile(dialect=postgresql.dialect())) for t in (old, new))
    reason = f"{before} to {after} is binary-compatible: no rewrite, no scan"
    return WaiveLintOp(["changing-column-type"], reason)


def _plain_varchar(type_: Any) -> bool:
    """`String`/`VARCHAR` (not `CHAR`, whose padding a length change rewrites, nor `Text`)."""
    return isinstance(type_, sqltypes.String) and not isinstance(
        type_, sqltypes.CHAR | sqltypes.NCHAR | sqltypes.Text | sqltypes.Enum
    )


def _not_null(op: ops.AlterColumnOp) -> list[Any]:
    if op.modify_nullable is not False:
        return [op]
    safe = SetNotNullSafelyOp(op.table_name, op.column_name, schema=op.schema)
    op.modify_nullable = None
    others = (
        op.modify_type is not None
        or op.modify_name is not None
        or op.modify_server_default is not False
        or op.modify_comment is not False
    )
    # Other changes first: a type change must land before the CHECK that reads the column.
    return [op, safe] if others else [safe]


def _unique(op: ops.CreateUniqueConstraintOp) -> list[Any]:
    if op.kw or not all(isinstance(c, str) for c in op.columns):
        return [op]
    return [AddUniqueUsingIndexOp(op.constraint_name, op.table_name, op.columns, schema=op.schema)]


_CONVERSIONS: dict[type, Callable[[Any], list[Any]]] = {
    ops.CreateIndexOp: _index,
    ops.DropIndexOp: _drop_index,
    ops.CreateForeignKeyOp: _foreign_key,
    ops.CreateCheckConstraintOp: _check,
    ops.AlterColumnOp: _alter_column,
    ops.CreateUniqueConstraintOp: _unique,
}


def make_idempotent(operations: list[Any]) -> None:
    """The plain steps that have an IF [NOT] EXISTS form get it."""
    for op in walk(operations):
        if isinstance(op, ops.AddColumnOp | ops.CreateTableOp | ops.CreateIndexOp):
            op.if_not_exists = True
        elif isinstance(op, ops.DropColumnOp | ops.DropTableOp | ops.DropIndexOp):
            op.if_exists = True


def _column_name(column: Any) -> str | None:
    if isinstance(column, str):
        return column
    if isinstance(column, Column):
        return column.name
    return None


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float)


# How autogenerate writes the operations into the revision file.


def wrapped(value: str, width: int = 60) -> str:
    """A string literal; a long one as adjacent literals in parentheses, which ruff keeps
    within the line length (it never splits a string itself)."""
    if len(value) <= width:
        return repr(value)
    chunks, line = [], ""
    for word in value.split(" "):
        if line and len(line) + len(word) + 1 > width:
            chunks.append(line + " ")
            line = word
        else:
            line = f"{line} {word}" if line else word
    chunks.append(line)
    return "(" + " ".join(repr(chunk) for chunk in chunks) + ")"


def _call(name: str, *args: Any, **kw: Any) -> str:
    parts = [_literal(a) for a in args]
    parts += [f"{k}={_literal(v)}" for k, v in kw.items() if v not in (None, False)]
    return f"op.{name}({', '.join(parts)})"


def _literal(value: Any) -> str:
    """Python source for `value`; a name the naming convention made is written op.f(...)."""
    if isinstance(value, conv):
        return f"op.f({str(value)!r})"
    if isinstance(value, TextClause):
        return f"sa.text({value.text!r})"
    if isinstance(value, str):
        return wrapped(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


@renderers.dispatch_for(CreateIndexConcurrentlyOp)
def _render_index(_ctx: Any, op: CreateIndexConcurrentlyOp) -> str:
    return _call(
        "create_index_concurrently",
        op.index_name, op.table_name, op.columns, schema=op.schema, unique=op.unique, **op.kw,
    )  # fmt: skip


@renderers.dispatch_for(DropIndexConcurrentlyOp)
def _render_drop_index(_ctx: Any, op: DropIndexConcurrentlyOp) -> str:
    return _call("drop_index_concurrently", op.index_name, op.table_name, schema=op.schema)


@renderers.dispatch_for(AddForeignKeyNotValidOp)
def _render_foreign_key(_ctx: Any, op: AddForeignKeyNotValidOp) -> str:
    return _call(
        "add_foreign_key_not_valid",
        op.constraint_name, op.source_table, op.referent_table, op.local_cols, op.remote_cols,
        **op.kw,
    )  # fmt: skip


@renderers.dispatch_for(AddCheckNotValidOp)
def _render_check(_ctx: Any, op: AddCheckNotValidOp) -> str:
    return _call(
        "add_check_not_valid", op.constraint_name, op.table_name, op.condition, schema=op.schema
    )


@renderers.dispatch_for(ValidateConstraintOp)
def _render_validate(_ctx: Any, op: ValidateConstraintOp) -> str:
    return _call("validate_constraint", op.table_name, op.constraint_name, schema=op.schema)


@renderers.dispatch_for(SetNotNullSafelyOp)
def _render_not_null(_ctx: Any, op: SetNotNullSafelyOp) -> str:
    return _call("set_not_null_safely", op.table_name, op.column_name, schema=op.schema)


@renderers.dispatch_for(AddUniqueUsingIndexOp)
def _render_unique(_ctx: Any, op: AddUniqueUsingIndexOp) -> str:
    return _call(
        "add_unique_using_index", op.constraint_name, op.table_name, op.columns, schema=op.schema
    )


@renderers.dispatch_for(WaiveLintOp)
def _render_waiver(_ctx: Any, op: WaiveLintOp) -> str:
    rules = op.rules[0] if len(op.rules) == 1 else op.rules
    return _call("waive_lint", rules, reason=op.reason)
