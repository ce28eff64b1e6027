"""A downgrade step that destroys data needs consent: ALLOW_DATA_LOSS=1.

Consent used to be decided before the run, outside the migration lock, from the
downgrade SQL rendered offline and read with regular expressions: a downgrade queued
behind an upgrade reverted revisions it never checked, `DROP TABLE a, b` checked only `a`,
a drop across a rename was counted under a name that did not exist yet, and DELETE,
TRUNCATE or a narrowing `USING left(...)` passed unseen. Now nothing is read from SQL:
each step of a downgrade is measured in its own transaction, inside the lock, on the
run's own session, from the revision the run really is at (`dbtools/apply/losses.py`
says what is measured and how).

How it hooks in (Alembic's and SQLAlchemy's public hooks only; the run uses
`transaction_per_migration=True`):

- SQLAlchemy's `begin` event marks a step's transaction; its first statement
  (`before_cursor_execute`) is preceded by the measurement of the state before the step
  and a SAVEPOINT (nothing can run in the `begin` event itself: the transaction is not
  set up yet);
- Alembic's `on_version_apply` runs inside the step's transaction after the step and
  before its commit: `MigrationRun.on_version_apply` calls `StepWatch.step_done`, which
  compares and raises `Refused` when anything was destroyed; the step then rolls back
  alone and the steps the run reverted before it stay reverted;
- a `commit` event between the two is a step leaving its transaction (an
  `autocommit_block`, `dbtools/operations/outside.py`): what runs outside cannot be
  measured, and what ran before would commit. The DBAPI transaction is rolled back
  there, before the commit, and `Refused` is raised at the step's next statement, the
  first one outside, before it runs (or at `on_version_apply` if none runs). Except for
  a block that destroys no data by its nature (this repository's index builds and drops
  and VALIDATE CONSTRAINT, marked `KEEPS_DATA` on the connection): then what the step
  did inside its transaction is measured at that commit, before it commits, refused if
  it destroyed anything, and the block runs; measuring starts again when the step is
  back in a transaction.

Why measure the table contents before every step, rather than count on a rollback to
the savepoint: a rollback undoes the step, so it can only be taken when the step is
refused anyway. Knowing beforehand what each table and column held (rows, non-NULL
values, a hash of the values, the rows of each enum label) decides every case from the
result alone, and the savepoint is used only to count changed values exactly on the way
to a refusal. The price is one scan of every table per step of a downgrade run
without consent (0.27 s beside a 1,000,000-row table of three columns); upgrades measure
nothing, and `ALLOW_DATA_LOSS=1` skips it all.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
from sqlalchemy import Connection, event
from sqlalchemy.exc import DBAPIError

from dbtools.apply import losses
from dbtools.apply.progress import Progress, Step
from dbtools.core.errors import UserError
from dbtools.core.settings import Env, is_true
from dbtools.operations.outside import KEEPS_DATA

CONSENT_VAR = "ALLOW_DATA_LOSS"


class Refused(UserError):
    """A downgrade step would destroy data (or cannot be measured) without consent."""


def given(env: Env) -> bool:
    return is_true(env, CONSENT_VAR)


def refusal(step: Step | None, found: list[losses.Loss]) -> Refused:
    return Refused(
        f"{_reverting(step)} would drop data: {', '.join(map(str, found))}; set "
        f"{CONSENT_VAR}=1 to drop it anyway (back it up first); {_left(step)}"
    )


def unmeasurable(step: Step | None) -> Refused:
    return Refused(
        f"{_reverting(step)} runs part of its work outside a transaction, where what it "
        f"destroys cannot be measured; set {CONSENT_VAR}=1 to run it anyway (back it up "
        f"first); {_left(step)}"
    )


def _reverting(step: Step | None) -> str:
    return f"downgrading revision {step.name}" if step else "the downgrade"


def _left(step: Step | None) -> str:
    where = f" and the database stays at {step.stays_at}" if step else ""
    return f"that step was rolled back{where}"


class StepWatch:
    """Measures each step of one downgrade run on `connection` (attached for the run).

    States: between steps; in a step (its transaction began or ran a statement), with or
    without the measurement of its start; refusing (the step left its transaction);
    done (measured, waiting for its commit); stopped (a rollback: the run is failing,
    nothing more is measured).
    """

    def __init__(
        self,
        connection: Connection,
        *,
        owned: bool,
        version_table: str,
        running: Callable[[], Step | None],
    ) -> None:
        self.connection = connection
        self.owned = owned  # False: the caller's transaction, no commit between steps
        self.version_table = version_table
        self.running = running
        self.state = "between"
        self.start: losses.Snapshot | None = None
        self.pending: Refused | None = None  # the refusal to raise at the next statement

    @staticmethod
    def refused(exc: BaseException) -> bool:
        """Whether `exc` is a refusal of this watch (its line already says which step)."""
        return isinstance(exc, Refused)

    def attach(self) -> None:
        for name, listener in self._listeners():
            event.listen(self.connection, name, listener)

    def detach(self) -> None:
        for name, listener in self._listeners():
            if event.contains(self.connection, name, listener):
                event.remove(self.connection, name, listener)

    def _listeners(self) -> list[tuple[str, Any]]:
        return [
            ("begin", self._begun),
            ("before_cursor_execute", self._statement),
            ("commit", self._committing),
            ("rollback", self._rolled_back),
        ]

    def _begun(self, conn: Any) -> None:
        if self.state == "between" or (self.state == "outside" and not _keeps_data(conn)):
            self.state, self.start = "in step", None

    def _statement(self, conn: Any, cursor: Any, *_args: Any) -> None:
        if self.state == "refusing":
            # Before it runs, outside the transaction.
            raise self.pending or unmeasurable(self.running())
        if self.state == "outside":
            if _keeps_data(conn):
                return  # an index built or dropped, a constraint validated: no data goes
            self.state, self.start = "in step", None  # back in the step's transaction
        if self.state == "between":
            self.state, self.start = "in step", None
        if self.state == "in step" and self.start is None:
            with _measuring(cursor.connection) as own:
                self.start = losses.before(own, self.version_table)

    def _committing(self, conn: Connection) -> None:
        if self.state == "done":
            self.state = "between"
        elif self.state == "in step" and _keeps_data(conn):
            # It leaves its transaction for a block that destroys no data: what the step
            # did so far is measured now, before it commits.
            self._measure_before_leaving(conn)
        elif self.state == "in step":
            # The step leaves its transaction: what it did so far is rolled back here,
            # before the DBAPI commit (which then commits nothing), and the step is
            # refused at its next statement, the first one outside, before it runs.
            # (Raising here instead would leave SQLAlchemy's transaction unusable.)
            self.state = "refusing"
            conn.connection.dbapi_connection.rollback()

    def _measure_before_leaving(self, conn: Connection) -> None:
        start, self.start = self.start, None
        found: list[losses.Loss] = []
        if start is not None:
            with _measuring(conn.connection.dbapi_connection) as own:
                found = losses.destroyed(own, start, self.version_table)
                if not found:
                    own.execute(f"RELEASE SAVEPOINT {losses.SAVEPOINT}")
        if found:
            self.pending = refusal(self.running(), found)
            self.state = "refusing"
            conn.connection.dbapi_connection.rollback()
        else:
            self.state = "outside"

    def _rolled_back(self, _conn: Any) -> None:
        if self.state != "outside":  # the autocommit block's own bookkeeping aside
            self.state = "stopped"

    def step_done(self, connection: Connection) -> None:
        """Inside the step's transaction, after it ran: refuse it if it destroyed data."""
        if self.state == "refusing":  # it left its transaction without a statement outside
            raise self.pending or unmeasurable(self.running())
        if self.state == "outside":  # its last work was a block that destroys no data
            self.state = "done" if self.owned else "between"
            return
        if self.state != "in step":
            return
        start, self.start = self.start, None
        if start is None:  # the step ran no statement at all
            self.state = "done" if self.owned else "between"
            return
        with _measuring(connection.connection.dbapi_connection) as own:
            found = losses.destroyed(own, start, self.version_table)
            if found:
                self.state = "stopped"
                raise refusal(self.running(), found)
            own.execute(f"RELEASE SAVEPOINT {losses.SAVEPOINT}")
        self.state = "done" if self.owned else "between"


def _keeps_data(conn: Any) -> bool:
    """Whether the connection is running, or about to run, a block outside a transaction
    that destroys no data (dbtools/operations/outside.py)."""
    return bool(conn.info.get(KEEPS_DATA))


def watch(
    connection: Connection, env: Env, progress: Progress, owned: bool, version_table: str
) -> StepWatch | None:
    """The watch for a downgrade run without consent, attached; None for any other run
    (upgrades measure nothing)."""
    if progress.upgrade is not False or given(env):
        return None
    watching = StepWatch(
        connection, owned=owned, version_table=version_table, running=progress.running
    )
    watching.attach()
    return watching


@contextmanager
def _measuring(dbapi_connection: Any) -> Iterator[Any]:
    """A cursor of the run's own DBAPI connection; a database error while measuring is
    raised as SQLAlchemy raises it for a statement (a lock timeout is then explained,
    with the session holding the lock, like any other)."""
    try:
        with dbapi_connection.cursor() as cursor:
            yield cursor
    except psycopg2.Error as exc:
        query = getattr(exc.cursor, "query", None) or b""
        statement = query.decode(errors="replace") if isinstance(query, bytes) else str(query)
        raise DBAPIError.instance(statement, None, exc, psycopg2.Error) from exc
