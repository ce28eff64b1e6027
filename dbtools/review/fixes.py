"""The safe form of a flagged statement, written with the statement's own names.

A lint finding says what is wrong; this says what to write instead, as strong_migrations
does: the operation of this repository (dbtools/operations/) or the steps that replace the
statement, filled in with its table, column, index and constraint names. The statement
is read with pglast (PostgreSQL's own parser), never with patterns over its text. A
statement this does not recognise gets no safe form (the rule's documentation in
docs/reviewing.md still applies).
"""

from collections.abc import Callable

from pglast import parse_sql
from pglast.ast import AlterTableCmd, AlterTableStmt, ColumnDef, Constraint, DropStmt, IndexStmt
from pglast.enums import AlterTableType, ConstrType, ObjectType
from pglast.parser import ParseError
from pglast.stream import RawStream


def safe_form(rule: str, sql: str) -> str | None:
    """What to write instead of `sql`, which broke `rule`; None when unknown."""
    try:
        parsed = parse_sql(sql)
    except ParseError:
        return None
    if len(parsed) != 1:
        return None
    statement = parsed[0].stmt
    for writer in _WRITERS.get(rule, ()):
        written = writer(statement)
        if written:
            return written
    return None


def _names(values: tuple | list | None) -> list[str]:
    return [getattr(v, "sval", str(v)) for v in values or ()]


def _python(names: list[str]) -> str:
    return "[" + ", ".join(f'"{n}"' for n in names) + "]"


def _sql(node: object) -> str:
    return RawStream()(node)


def _alter(statement: object, subtype: int) -> tuple[str, AlterTableCmd] | None:
    if not isinstance(statement, AlterTableStmt) or len(statement.cmds or ()) != 1:
        return None
    command = statement.cmds[0]
    if command.subtype != subtype:
        return None
    return statement.relation.relname, command


def _index(statement: object) -> str | None:
    if not isinstance(statement, IndexStmt) or statement.concurrent:
        return None
    columns = [p.name for p in statement.indexParams or ()]
    if not statement.idxname or None in columns:
        return None
    unique = ", unique=True" if statement.unique else ""
    return (
        f'op.create_index_concurrently("{statement.idxname}", "{statement.relation.relname}", '
        f"{_python(columns)}{unique})"
    )


def _drop_index(statement: object) -> str | None:
    if not isinstance(statement, DropStmt) or statement.removeType != ObjectType.OBJECT_INDEX:
        return None
    if statement.concurrent or len(statement.objects or ()) != 1:
        return None
    name = _names(statement.objects[0])[-1]
    return f'op.drop_index_concurrently("{name}")'


def _not_null(statement: object) -> str | None:
    found = _alter(statement, AlterTableType.AT_SetNotNull)
    if found is None:
        return None
    table, command = found
    return f'op.set_not_null_safely("{table}", "{command.name}")'


def _constraint(statement: object) -> str | None:
    found = _alter(statement, AlterTableType.AT_AddConstraint)
    if found is None or not isinstance(found[1].def_, Constraint):
        return None
    table, constraint = found[0], found[1].def_
    name = constraint.conname or "<name>"
    if constraint.contype == ConstrType.CONSTR_CHECK:
        return f'op.add_check_not_valid("{name}", "{table}", "{_sql(constraint.raw_expr)}")'
    if constraint.contype == ConstrType.CONSTR_FOREIGN:
        return (
            f'op.add_foreign_key_not_valid("{name}", "{table}", "{constraint.pktable.relname}", '
            f"{_python(_names(constraint.fk_attrs))}, {_python(_names(constraint.pk_attrs))})"
        )
    if constraint.contype == ConstrType.CONSTR_UNIQUE:
        return f'op.add_unique_using_index("{name}", "{table}", {_python(_names(constraint.keys))})'
    return None


def _added_column(statement: object) -> tuple[str, ColumnDef] | None:
    found = _alter(statement, AlterTableType.AT_AddColumn)
    if found is None or not isinstance(found[1].def_, ColumnDef):
        return None
    return found[0], found[1].def_


def _default(statement: object) -> str | None:
    added = _added_column(statement)
    if added is None:
        return None
    table, column = added
    default = next(
        (c.raw_expr for c in column.constraints or () if c.contype == ConstrType.CONSTR_DEFAULT),
        None,
    )
    if default is None:
        return None
    name, expression = column.colname, _sql(default)
    return (
        f"{_add_nullable(table, name, _sql(column.typeName))}; "
        f'op.alter_column("{table}", "{name}", server_default=sa.text("{expression}")); '
        f"then, in a revision of its own, {_backfill(table, name, expression)}"
    )


def _add_nullable(table: str, column: str, type_sql: str) -> str:
    return f'op.add_column("{table}", sa.Column("{column}", <{type_sql}>, nullable=True))'


def _backfill(table: str, column: str, value: str, where: str = "") -> str:
    condition = f"{column} IS NULL{where}"
    return f'op.backfill_in_batches("{table}", set_="{column} = {value}", where="{condition}")'


def _type(statement: object) -> str | None:
    found = _alter(statement, AlterTableType.AT_AlterColumnType)
    if found is None or not isinstance(found[1].def_, ColumnDef):
        return None
    table, command = found
    column, new_type = command.name, _sql(command.def_.typeName)
    new = f"{column}_new"
    return (
        f"{_add_nullable(table, new, new_type)}; "
        f"{_backfill(table, new, column, f' AND {column} IS NOT NULL')}; move readers and "
        f"writers to {new}; drop {column} in a later revision"
    )


def _required(statement: object) -> str | None:
    added = _added_column(statement)
    if added is None:
        return None
    table, column = added
    name = column.colname
    return (
        f"{_add_nullable(table, name, _sql(column.typeName))}; {_backfill(table, name, '...')}; "
        f'then, in a later revision, op.set_not_null_safely("{table}", "{name}")'
    )


def _drop_column(statement: object) -> str | None:
    found = _alter(statement, AlterTableType.AT_DropColumn)
    if found is None:
        return None
    table, command = found
    return (
        f'once no service reads or writes {table}.{command.name}: op.waive_lint("ban-drop-column", '
        f'reason="<the release that stopped using {table}.{command.name}>") before the drop'
    )


_WRITERS: dict[str, tuple[Callable[[object], str | None], ...]] = {
    "require-concurrent-index-creation": (_index,),
    "require-concurrent-index-deletion": (_drop_index,),
    "adding-not-nullable-field": (_not_null,),
    "constraint-missing-not-valid": (_constraint,),
    "adding-foreign-key-constraint": (_constraint,),
    "disallowed-unique-constraint": (_constraint,),
    "adding-field-with-default": (_default,),
    "changing-column-type": (_type,),
    "adding-required-field": (_required,),
    "ban-drop-column": (_drop_column,),
}
