"""Do the models and the migrations describe the same schema?

The chain is applied to a scratch database (created on the configured server and
dropped afterwards; the released revisions come from a copy of the database they built
once and that stays on the server, dbtools/review/released_template.py), then
Alembic's autogenerate comparison runs against the models with the very options
`env.py` gives autogenerate (dbtools/review/autogen_options.py): types, server
defaults, comments, named CHECK constraints, foreign keys with their actions, indexes,
enum types and their values. Each difference becomes one line naming
what differs, worded from the point of view of the fix: what a new revision would have
to do. Values are shown as SQL, never as Python object reprs.
"""

from collections.abc import Iterator
from typing import Any

from alembic import command
from alembic.autogenerate import produce_migrations
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from alembic_postgresql_enum.operations.add_enum_values import AddEnumValuesOp
from alembic_postgresql_enum.operations.enum_lifecycle_base import EnumLifecycleOp
from alembic_postgresql_enum.operations.sync_enum_values import SyncEnumValuesOp
from sqlalchemy import DefaultClause, ForeignKeyConstraint
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL
from sqlalchemy.sql.elements import ClauseElement, TextClause
from sqlalchemy.types import TypeEngine

from dbtools.core.options import RunOptions, run_config
from dbtools.review.autogen_options import compare_options
from dbtools.review.released_template import database_at_release

POSTGRESQL = postgresql.dialect()


def drift(server_url: URL) -> list[str]:
    """One line per difference between the models and the migrations at head."""
    with database_at_release(server_url) as connection:
        cfg = run_config(RunOptions(env={}, connection=connection, configure_logging=False))
        command.upgrade(cfg, "heads")
        connection.commit()
        options = compare_options()
        metadata = options.pop("target_metadata")
        context = MigrationContext.configure(connection, opts=options)
        return describe_ops(produce_migrations(context, metadata).upgrade_ops)


def describe_ops(upgrade_ops: ops.UpgradeOps) -> list[str]:
    """Readable lines for what autogenerate would write, plus hints for likely renames."""
    flat = list(leaves(upgrade_ops))
    enum_lines = [describe_enum(op) for op in flat if is_enum_op(op)]
    diffs = [diff for op in flat if not is_enum_op(op) for diff in diff_tuples(op)]
    printed = {object_key(op): op.definition for op in flat if hasattr(op, "definition")}
    diffs, fk_lines = merge_changed_foreign_keys(diffs, printed)
    diffs, changed_lines = merge_changed_definitions(diffs, printed)
    return (
        [describe(diff) for diff in diffs]
        + changed_lines
        + fk_lines
        + enum_lines
        + rename_hints(diffs)
    )


def leaves(op: Any) -> Iterator[Any]:
    """The operations inside `op`, with table groups (ModifyTableOps) opened up."""
    if isinstance(op, ops.OpContainer):
        for child in op.ops:
            yield from leaves(child)
    else:
        yield op


def is_enum_op(op: Any) -> bool:
    return isinstance(op, AddEnumValuesOp | SyncEnumValuesOp | EnumLifecycleOp)


def diff_tuples(op: ops.MigrateOperation) -> list[tuple[Any, ...]]:
    """Alembic's diff tuples for one operation (a column alteration may give several)."""
    diff = op.to_diff_tuple()
    return list(diff) if isinstance(diff, list) else [diff]


_ONLY_MODELS = "in the models but no revision creates it"
_ONLY_MIGRATIONS = "in the migrations but not in the models"


def describe_enum(op: Any) -> str:
    if isinstance(op, EnumLifecycleOp):
        where = _ONLY_MODELS if op.operation_name == "create_enum" else _ONLY_MIGRATIONS
        return f"enum type {op.name}: {where} (values {', '.join(op.enum_values)})"
    return (
        f"enum type {op.name}: values {', '.join(op.old_values)} in the migrations, "
        f"{', '.join(op.new_values)} in the models"
    )


def describe(diff: tuple[Any, ...]) -> str:
    """A readable line for one autogenerate difference."""
    kind = diff[0]
    if kind in ("add_schema", "remove_schema"):
        where = _ONLY_MODELS if kind == "add_schema" else _ONLY_MIGRATIONS
        return f"schema {diff[1]}: {where}"
    if kind in ("add_table", "remove_table"):
        where = _ONLY_MODELS if kind == "add_table" else _ONLY_MIGRATIONS
        return f"table {diff[1].name}: {where}"
    if kind in ("add_column", "remove_column"):
        where = _ONLY_MODELS if kind == "add_column" else _ONLY_MIGRATIONS
        return f"column {diff[2]}.{diff[3].name}: {where}"
    if kind.startswith("modify_") and kind != "modify_table_comment":
        _, _schema, table, column, _info, old, new = diff
        what = kind.removeprefix("modify_").replace("_", " ")
        if kind == "modify_comment":
            old, new = (None if c is None else literal(c) for c in (old, new))
        return (
            f"column {table}.{column}: {what} {as_sql(old)} in the migrations, "
            f"{as_sql(new)} in the models"
        )
    if kind == "modify_table_comment":
        table, old = diff[1], diff[2]
        return (
            f"table {table.name}: comment {as_sql(old and literal(old))} in the migrations, "
            f"{as_sql(table.comment and literal(table.comment))} in the models"
        )
    if kind in ("add_index", "remove_index"):
        index = diff[1]
        where = _ONLY_MODELS if kind == "add_index" else _ONLY_MIGRATIONS
        return f"index {index.name} on {index.table.name}: {where}"
    if kind in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        constraint = diff[1]
        where = _ONLY_MODELS if kind.startswith("add") else _ONLY_MIGRATIONS
        return f"constraint {constraint.name} on {constraint.table.name}: {where}"
    return f"{kind}: {' '.join(str(part) for part in diff[1:])}"


def as_sql(value: Any) -> str:
    """A default, type or comment as SQL: `now()`, `'pending'::order_status`, `BIGINT`."""
    if value is None:
        return "none"
    if isinstance(value, DefaultClause):
        value = value.arg  # a string literal, a text() clause, or an expression
        if isinstance(value, str):
            return literal(value)
    if isinstance(value, TextClause):
        return value.text
    if isinstance(value, TypeEngine | ClauseElement):
        return str(value.compile(dialect=POSTGRESQL))
    return str(value)  # reflected defaults are SQL already; booleans for nullable


def literal(text_: str) -> str:
    return "'" + text_.replace("'", "''") + "'"


def merge_changed_foreign_keys(
    diffs: list[tuple[Any, ...]], printed: dict[tuple[str, str, str], str]
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """A foreign key removed and added again on the same columns is one change (its
    ON DELETE / ON UPDATE action), said once instead of as two contradictory lines."""
    removed = {fk_key(d[1]): d for d in diffs if d[0] == "remove_fk"}
    added = {fk_key(d[1]): d for d in diffs if d[0] == "add_fk"}
    changed = removed.keys() & added.keys()
    lines = [fk_change(removed[key][1], added[key][1], printed) for key in sorted(changed)]
    kept = [d for d in diffs if d[0] not in ("add_fk", "remove_fk") or fk_key(d[1]) not in changed]
    return kept, lines


def merge_changed_definitions(
    diffs: list[tuple[Any, ...]], printed: dict[tuple[str, str, str], str]
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """A CHECK, foreign key or index dropped and added again under the same name is one
    change of its definition (dbtools/review/definitions.py), said once with both
    definitions as PostgreSQL prints them."""
    kinds = ("constraint", "fk", "index")
    removed = {diff_key(d[1]): d[0] for d in diffs if d[0] in [f"remove_{k}" for k in kinds]}
    added = {diff_key(d[1]): d[0] for d in diffs if d[0] in [f"add_{k}" for k in kinds]}
    lines, done = [], set()
    for table, name in sorted(removed.keys() & added.keys()):
        before = printed.get((removed[(table, name)], table, name))
        after = printed.get((added[(table, name)], table, name))
        if before is None or after is None:
            continue  # a foreign key Alembic compared alone: said by its actions below
        what = "index" if added[(table, name)] == "add_index" else "constraint"
        lines.append(
            f"{what} {name} on {table}: changed, {before} in the migrations, {after} in the models"
        )
        done.add((table, name))
    paired = [f"{side}_{k}" for side in ("add", "remove") for k in kinds]
    kept = [d for d in diffs if not (d[0] in paired and diff_key(d[1]) in done)]
    return kept, lines


def diff_key(obj: Any) -> tuple[str, str]:
    return (str(obj.table.name), str(obj.name))


def object_key(op: Any) -> tuple[str, str, str]:
    """(diff kind, table, name) of an operation, as its diff tuple would say it."""
    kind, obj = op.to_diff_tuple()[:2]
    return (kind, *diff_key(obj))


def fk_key(fk: ForeignKeyConstraint) -> tuple[str, tuple[str, ...], str]:
    return (fk.table.name, tuple(c.name for c in fk.columns), fk.referred_table.name)


def fk_change(
    old: ForeignKeyConstraint, new: ForeignKeyConstraint, printed: dict[tuple[str, str, str], str]
) -> str:
    # Only the actions that differ are named; a constraint differing otherwise (deferrable,
    # another referred column) shows both definitions as PostgreSQL prints them.
    actions = [a for a in ("ondelete", "onupdate") if action(old, a) != action(new, a)]
    table, name = str(new.table.name), str(new.name)
    before, after = printed.get(("remove_fk", table, name)), printed.get(("add_fk", table, name))
    if not actions and before and after:
        return (
            f"constraint {name} on {table}: changed, {before} in the migrations, "
            f"{after} in the models"
        )
    actions = actions or ["ondelete", "onupdate"]
    return (
        f"constraint {new.name} on {new.table.name}: changed, {fk_actions(old, actions)} "
        f"in the migrations, {fk_actions(new, actions)} in the models"
    )


def action(fk: ForeignKeyConstraint, which: str) -> str:
    return (getattr(fk, which) or "NO ACTION").upper()


def fk_actions(fk: ForeignKeyConstraint, which: list[str]) -> str:
    words = {"ondelete": "ON DELETE", "onupdate": "ON UPDATE"}
    return " ".join(f"{words[w]} {action(fk, w)}" for w in which)


def rename_hints_for(upgrade_ops: ops.UpgradeOps) -> list[str]:
    """The rename hints for what autogenerate is about to write (env.py prints them)."""
    return rename_hints([diff for op in leaves(upgrade_ops) for diff in diff_tuples(op)])


def rename_hints(diffs: list[tuple[Any, ...]]) -> list[str]:
    """In one table, a column only in the migrations and one of the same type only in the
    models is most likely a rename, which must not be written as drop plus add. The
    indexes and constraints the naming convention names after the column are renamed
    with it (autogenerate sees them dropped and created under the new name): the hint
    names each, so a rename it leads to leaves no drift."""
    dropped = [(d[1], d[2], d[3]) for d in diffs if d[0] == "remove_column"]
    added = [(d[2], d[3]) for d in diffs if d[0] == "add_column"]
    hints = []
    for schema, table, old in dropped:
        for other_table, new in added:
            if other_table == table and same_type(old.type, new.type):
                hint = (
                    f"column {table}.{old.name} -> {table}.{new.name}: looks like a rename; "
                    f'write op.alter_column("{table}", "{old.name}", '
                    f'new_column_name="{new.name}") instead of dropping and adding'
                )
                indexes, constraints = derived_renames(diffs, table, old.name, new.name)
                if indexes or constraints:
                    where = f", schema={schema!r}" if schema else ""
                    hint = (
                        f"column {table}.{old.name} -> {table}.{new.name}: looks like a rename; "
                        f"write op.rename_column({table!r}, {old.name!r}, {new.name!r}, "
                        f"indexes={indexes!r}, constraints={constraints!r}{where}) instead of "
                        "dropping and adding: it renames the column and what the naming "
                        "convention names after it"
                    )
                hints.append(hint)
    return hints


_RENAMED_KINDS = {
    ("remove_index", "add_index"): "index",
    ("remove_constraint", "add_constraint"): "constraint",
    ("remove_fk", "add_fk"): "constraint",
}


def derived_renames(
    diffs: list[tuple[Any, ...]], table: str, old: str, new: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The indexes and the constraints of `table` the migrations have under a name made
    from column `old` and the models under the same name made from `new`, over the same
    columns: old name -> new name, each."""
    renamed: dict[str, dict[str, str]] = {"index": {}, "constraint": {}}
    for (removed_kind, added_kind), kind in _RENAMED_KINDS.items():
        removed = [d[1] for d in diffs if d[0] == removed_kind and _table_name(d[1]) == table]
        created = [d[1] for d in diffs if d[0] == added_kind and _table_name(d[1]) == table]
        for before in removed:
            for after in created:
                if _renamed(before, after, old, new):
                    renamed[kind][str(before.name)] = str(after.name)
    return renamed["index"], renamed["constraint"]


def _table_name(obj: Any) -> str | None:
    table = getattr(obj, "table", None)
    return getattr(table, "name", None)


def _renamed(before: Any, after: Any, old: str, new: str) -> bool:
    """The same object, its name and its columns made from `new` where they had `old`."""
    if type(before) is not type(after) or not before.name or not after.name:
        return False
    if str(before.name).replace(old, new) != str(after.name) or before.name == after.name:
        return False
    columns_before = [new if c.name == old else c.name for c in getattr(before, "columns", [])]
    columns_after = [c.name for c in getattr(after, "columns", [])]
    return columns_before == columns_after


def same_type(a: TypeEngine, b: TypeEngine) -> bool:
    return str(a.compile(dialect=POSTGRESQL)) == str(b.compile(dialect=POSTGRESQL))
