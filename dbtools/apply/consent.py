"""A downgrade that would destroy data needs consent: ALLOW_DATA_LOSS=1.

`make downgrade REV=base` on a database with rows used to drop `users` and exit 0. Before
a downgrade runs, the SQL of the steps it would revert is rendered offline (exactly what
will run, whatever Python the revisions use to produce it), the tables, columns and types
it drops are read from that SQL, and the database is asked what they hold: rows of a
table, non-NULL values of a column, non-NULL values of columns of a type. Anything
holding data is named, with its count, and the run is refused. A downgrade that loses
nothing (empty tables, all-NULL columns) needs no consent; offline SQL is never checked.
"""

import io
import re
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import Connection, text

from dbtools.core.bookkeeping import bookkeeping
from dbtools.core.errors import UserError
from dbtools.core.options import RunOptions, run_config
from dbtools.core.settings import is_true

CONSENT_VAR = "ALLOW_DATA_LOSS"
_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_QUALIFIED = rf"{_NAME}(?:\.{_NAME})?"
_DROP_TABLE = re.compile(rf"^DROP TABLE (?:IF EXISTS )?({_QUALIFIED})", re.I)
_ALTER_TABLE = re.compile(rf"^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?({_QUALIFIED}) (.*)$", re.I)
# COLUMN is optional in PostgreSQL but always written by Alembic; requiring it keeps
# `ALTER COLUMN x DROP DEFAULT` / `DROP NOT NULL` from reading as a dropped column.
_DROP_COLUMN = re.compile(rf"\bDROP COLUMN (?:IF EXISTS )?({_NAME})", re.I)
_DROP_TYPE = re.compile(rf"^DROP TYPE (?:IF EXISTS )?({_QUALIFIED})", re.I)


@dataclass(frozen=True)
class Loss:
    """Something a downgrade would drop, and how much data it holds."""

    kind: str  # table, column, type
    name: str
    count: int

    def __str__(self) -> str:
        unit = "row" if self.kind == "table" else "value"
        return f"{self.kind} {self.name} ({self.count} {unit}{'' if self.count == 1 else 's'})"


def given(env: dict[str, str]) -> bool:
    return is_true(env, CONSENT_VAR)


def downgrade_sql(config_file: str, current: str, target: str) -> str:
    """The SQL `alembic downgrade current:target --sql` writes; connects nowhere."""
    buffer = io.StringIO()
    cfg = run_config(
        RunOptions(env={}, configure_logging=False), Path(config_file), output_buffer=buffer
    )
    command.downgrade(cfg, f"{current}:{target}", sql=True)
    return buffer.getvalue()


def statements(sql: str) -> list[str]:
    """The statements of an Alembic script, comments dropped, whitespace flattened."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [" ".join(s.split()) for s in "\n".join(lines).split(";") if s.strip()]


def dropped(sql: str) -> list[tuple[str, str, str | None]]:
    """(kind, table or type, column) for every DROP TABLE / DROP COLUMN / DROP TYPE."""
    found: list[tuple[str, str, str | None]] = []
    for statement in statements(sql):
        if match := _DROP_TABLE.match(statement):
            found.append(("table", match.group(1), None))
        elif match := _DROP_TYPE.match(statement):
            found.append(("type", match.group(1), None))
        elif match := _ALTER_TABLE.match(statement):
            for column in _DROP_COLUMN.findall(match.group(2)):
                found.append(("column", match.group(1), column))
    names = bookkeeping()
    return [f for f in found if not names.is_bookkeeping(f[0], *_split(f[1]))]


def _split(qualified: str) -> tuple[str, str | None]:
    """`schema.table` (or `table`) as (table, schema), unquoted."""
    schema, _, table = qualified.rpartition(".")
    return _unquote(table), _unquote(schema) if schema else None


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def losses(connection: Connection, sql: str) -> list[Loss]:
    """What the statements in `sql` would destroy on `connection`'s database now."""
    found = []
    for kind, owner, column in dropped(sql):
        count = _count(connection, kind, owner, column)
        if count:
            name = f"{owner}.{column}" if column else owner
            found.append(Loss(kind, name, count))
    return found


def _count(connection: Connection, kind: str, relation: str, column: str | None) -> int:
    """Rows, non-NULL values of a column, or non-NULL values of a type's columns; 0 when
    the object does not exist (an earlier step of the same downgrade may drop it)."""
    if kind == "type":
        return _type_values(connection, relation)
    if connection.execute(text("SELECT to_regclass(:r)"), {"r": relation}).scalar() is None:
        return 0
    if column is None:
        return connection.execute(text(f"SELECT count(*) FROM {relation}")).scalar_one()
    exists = connection.execute(
        text("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(:r) AND attname = :c"),
        {"r": relation, "c": _unquote(column)},
    ).scalar()
    if not exists:
        return 0
    return connection.execute(text(f"SELECT count({column}) FROM {relation}")).scalar_one()


_TYPE_COLUMNS = """
SELECT a.attrelid::regclass::text, quote_ident(a.attname)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE a.atttypid IN (SELECT t.oid FROM pg_type t WHERE t.oid = to_regtype(:t)
                     UNION SELECT t.typarray FROM pg_type t WHERE t.oid = to_regtype(:t))
  AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
"""


def _type_values(connection: Connection, type_name: str) -> int:
    columns = connection.execute(text(_TYPE_COLUMNS), {"t": type_name}).all()
    return sum(
        connection.execute(text(f"SELECT count({column}) FROM {table}")).scalar_one()
        for table, column in columns
    )


def refusal(target: str, found: list[Loss]) -> UserError:
    return UserError(
        f"downgrading to {target} would drop data: {', '.join(map(str, found))}; set "
        f"{CONSENT_VAR}=1 to drop it anyway (back it up first); nothing was run"
    )


def check_downgrade(connection: Connection, config_file: str, target: str) -> None:
    """Refuse a downgrade from the database's revision to `target` that would drop data."""
    heads = MigrationContext.configure(connection).get_current_heads()
    if len(heads) != 1:
        return  # at base there is nothing to drop; several heads: Alembic explains
    try:
        sql = downgrade_sql(config_file, heads[0], target)
    except CommandError:
        raise  # an unknown or impossible REV: explained by the command line
    except Exception as exc:
        # Without the SQL there is no telling what the downgrade drops: refuse rather
        # than guess (a revision that needs the database to decide cannot render).
        raise UserError(
            f"cannot tell what downgrading to {target} would drop: rendering its SQL failed "
            f"({type(exc).__name__}: {exc}); set {CONSENT_VAR}=1 to run it anyway (back the "
            "database up first); nothing was run"
        ) from None
    found = losses(connection, sql)
    connection.rollback()
    if found:
        raise refusal(target, found)
