"""One line for a revision that failed: which revision, which statement, what to do.

Alembic lets the database error or the revision's Python exception escape with a
traceback. Here the revision that was running (known from the step Alembic was on) and
the statement the database refused become a sentence; a lock timeout also names the
table and the session holding it, read from pg_locks once the transaction is gone.
"""

import re
import signal
import traceback
from collections.abc import Sequence
from pathlib import Path

from psycopg2 import errors as pgerrors
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, PendingRollbackError

from dbtools.apply.progress import Step
from dbtools.core.chain import script_directory, several_heads
from dbtools.core.errors import UserError
from dbtools.core.settings import Timeouts

_STATEMENT_CHARS = 160
_IDENTIFIER = re.compile(r'"([^"]+)"|\b([A-Za-z_][A-Za-z0-9_$]*)\b')

# pg_stat_activity hides state and times of other roles' sessions (NULL) from a role
# without pg_read_all_stats; the pid, role and application are always visible.
# The relations a statement names, and the table of an index it names (DROP INDEX ...).
_NAMED = """
SELECT oid FROM pg_class WHERE relname = ANY(:names)
UNION SELECT i.indrelid FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE ic.relname = ANY(:names)
"""

_BLOCKERS = f"""
SELECT c.relname, a.pid, a.usename, a.state, coalesce(a.application_name, ''),
       extract(epoch FROM now() - coalesce(a.xact_start, a.query_start))::int
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND l.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND c.oid IN ({_NAMED})
ORDER BY c.relname, a.pid
"""

_RELATIONS = f"""
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid IN ({_NAMED}) AND c.relkind IN ('r', 'p', 'v', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1
"""


class LockTimeoutError(UserError):
    """A revision gave up waiting for a table lock; running it again may succeed."""


class InterruptedRun(UserError):
    """SIGINT or SIGTERM stopped the run; the running revision was rolled back."""

    def __init__(self, message: str, signal_name: str) -> None:
        super().__init__(message)
        # 128 + the signal's number, as a shell reports a process the signal ended.
        self.exit_status = 128 + signal.Signals[signal_name].value


def explain(
    exc: BaseException,
    step: Step,
    *,
    timeouts: Timeouts,
    interrupted: str | None,
    connection: Connection | None,
    committed: Sequence[str] = (),
    outside: bool = False,
) -> UserError:
    """The one-line error for `exc`, raised while `step` was running.

    `committed` lists the step's statements that committed before it failed (outside
    its transaction); notes on `exc` (what a failed operation cleaned up) are added.
    `outside` says the failing statement ran outside a transaction, where
    MIGRATION_CONCURRENT_STATEMENT_TIMEOUT is the statement timeout.
    """
    exc = first_error(exc)
    where = f"revision {step.name}"
    after = left_behind(exc, step, committed)
    # Fix the cause, then: the steps that committed are done, the rest runs again.
    resume = ": fix the cause and run the same command again to continue" if committed else ""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    if interrupted or isinstance(exc, KeyboardInterrupt):
        name = interrupted or "SIGINT"
        return InterruptedRun(
            f"interrupted by {name} while running {where}; {after}, and the migration lock "
            "is released: run the same command again to continue",
            name,
        )
    if isinstance(orig, pgerrors.LockNotAvailable):
        statement = getattr(exc, "statement", "") or ""
        return LockTimeoutError(
            f"{where} gave up after MIGRATION_LOCK_TIMEOUT={timeouts.lock} waiting for a lock on "
            f"{_lock_holders(connection, statement)}; {after}: run the same command again once "
            "that session ends, or set MIGRATION_LOCK_RETRIES to retry automatically"
        )
    if isinstance(orig, pgerrors.QueryCanceled) and "statement timeout" in str(orig):
        if outside:
            return UserError(
                f"{where} ran longer than MIGRATION_CONCURRENT_STATEMENT_TIMEOUT="
                f"{timeouts.concurrent} in `{_short(exc.statement)}` (a step outside the "
                f"transaction); {after}: raise MIGRATION_CONCURRENT_STATEMENT_TIMEOUT and run "
                "the same command again"
            )
        return UserError(
            f"{where} ran longer than MIGRATION_STATEMENT_TIMEOUT={timeouts.statement} in "
            f"`{_short(exc.statement)}`; {after}: raise MIGRATION_STATEMENT_TIMEOUT or make the "
            "revision cheaper (batches, CONCURRENTLY)"
        )
    if orig is not None:
        message = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        detail = getattr(getattr(orig, "diag", None), "message_detail", None)
        message += f" ({detail.rstrip('.')})" if detail else ""
        return UserError(f"{where} failed in `{_short(exc.statement)}`: {message}; {after}{resume}")
    if isinstance(exc, UserError):  # an operation's own check (an INVALID index, ...)
        return UserError(f"{where} failed: {exc}; {after}{resume}")
    return UserError(
        f"{where} raised {type(exc).__name__}: {exc} at {_origin(exc, step)}; {after}{resume}"
    )


def first_error(exc: BaseException) -> BaseException:
    """The error that started the failure, not what it caused later.

    A step outside a transaction whose connection died (pg_terminate_backend, a server
    restart) fails first with the database's error; the clean-up after it then meets
    SQLAlchemy's `PendingRollbackError` ("Can't reconnect until invalid transaction is
    rolled back"), which replaces it. The real cause is in `__context__`.
    """
    while isinstance(exc, PendingRollbackError) and exc.__context__ is not None:
        exc = exc.__context__
    return exc


def left_behind(exc: BaseException, step: Step, committed: Sequence[str]) -> str:
    """What the failed step left: nothing, or exactly the statements that committed."""
    if committed:
        done = "; ".join(f"`{statement}`" for statement in committed)
        text_ = (
            f"these statements had committed before the failure, outside the revision's "
            f"transaction: {done}; nothing else of the revision was kept, and the version "
            f"stays at {step.stays_at}"
        )
    else:
        text_ = f"it was rolled back and the database stays at {step.stays_at}"
    notes = [" ".join(note.split()) for note in getattr(exc, "__notes__", [])]
    return "; ".join([text_, *notes])


def _short(statement: str | None) -> str:
    flat = " ".join((statement or "").split())
    return flat if len(flat) <= _STATEMENT_CHARS else flat[: _STATEMENT_CHARS - 3] + "..."


def _origin(exc: BaseException, step: Step) -> str:
    """`file.py:line` of the innermost frame in the revision file, else the file name."""
    path = Path(step.script.path)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return f"{path.name}:{frames[-1].lineno}" if frames else path.name


def _lock_holders(connection: Connection | None, statement: str) -> str:
    """`table users (held by pid 42 (role app), idle in transaction for 3s)`, as far as known."""
    names = sorted({a or b for a, b in _IDENTIFIER.findall(statement)})
    if connection is None or connection.closed or connection.in_transaction():
        return _target(statement)
    try:
        holders = connection.execute(text(_BLOCKERS), {"names": names}).all()
        tables = [r[0] for r in connection.execute(text(_RELATIONS), {"names": names})]
        connection.rollback()
    except Exception:  # the diagnosis is a courtesy; the error is what matters
        return _target(statement)
    if holders:
        table, *holder = holders[0]
        return f"table {table} (held by {_holder(*holder)})"
    return f"table {', '.join(tables)}" if tables else _target(statement)


def _holder(pid: int, role: str | None, state: str | None, app: str, age: int | None) -> str:
    """`pid 42 (role alice, application 'psql'), idle in transaction for 3s`; the parts
    this role may not see are left out rather than shown as placeholders."""
    about = [f"role {role}"] if role else []
    about += [f"application '{app}'"] if app else []
    who = f"pid {pid}" + (f" ({', '.join(about)})" if about else "")
    if state:
        who += f", {state}" + (f" for {age}s" if age is not None else "")
    return who


_TARGET = re.compile(r'\b(?:TABLE|ON|INTO|FROM|UPDATE)\s+(?:ONLY\s+)?("[^"]+"|[\w.$]+)', re.I)


def _target(statement: str) -> str:
    """Without the catalog: the name after TABLE / ON / INTO / FROM / UPDATE, if any."""
    match = _TARGET.search(statement)
    return f"table {match.group(1).strip(chr(34))}" if match else "a table"


_RELATIVE = re.compile(r"Relative revision (-\d+) didn't produce")
_UNKNOWN = re.compile(r"Can't locate revision identified by '([^']*)'")


def revision_argument(exc: BaseException) -> BaseException:
    """Alembic's complaint about REV, said in the user's terms; other errors unchanged."""
    message = str(exc)
    if message.startswith("Multiple head revisions are present"):
        heads = script_directory().get_heads()
        return UserError(f"{several_heads(heads)}; nothing was applied")
    if match := _RELATIVE.search(message):
        steps = match.group(1)[1:]
        return UserError(
            f"cannot downgrade {steps} step(s): that goes below base (make current shows where "
            "the database is); make downgrade REV=base reverts everything"
        )
    if match := _UNKNOWN.search(message):
        return UserError(
            f"unknown revision {match.group(1)!r}: REV takes a revision id (or a unique prefix), "
            "head, base, or a relative step such as -1; make history lists the revisions"
        )
    return exc
