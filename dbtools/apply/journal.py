"""What a running revision has committed, statement by statement.

A revision normally commits once, at its end, with the version table update. A step
outside the transaction (an autocommit block: `CREATE INDEX CONCURRENTLY`, `VALIDATE`,
a batched backfill) commits what came before it, and then each of its own statements.
When a later step fails, "it was rolled back" is no longer true; the error must say
what committed and what did not. SQLAlchemy's connection events tell this journal every
statement run and every commit and rollback, so it knows, whoever wrote the block.
"""

import re
from typing import Any

from sqlalchemy import Connection, event

from dbtools.core.bookkeeping import Bookkeeping

# Reads, session settings and bookkeeping change no schema and no data of the revision.
_NOT_A_CHANGE = ("SELECT", "SET ", "SHOW", "RESET")
_SHOWN_CHARS = 100


class Journal:
    """The statements of the current step: committed, or pending in its transaction.

    A statement that started and never returned failed (SQLAlchemy 2 offers no
    per-connection error event); what runs after it is the failed step's clean-up, not
    its work, and is left out.
    """

    def __init__(self, bookkeeping: Bookkeeping) -> None:
        self._bookkeeping = bookkeeping.tables  # its writes are no change of the revision's
        self._connection: Connection | None = None
        self.new_step()

    def new_step(self) -> None:
        self.committed: list[str] = []
        self._pending: list[str] = []
        self._running: bool | None = None  # a statement is running: in autocommit mode?
        self._failed_outside: bool | None = None  # set once a statement has failed

    @property
    def failed_outside(self) -> bool:
        """Whether the statement that failed ran outside a transaction."""
        if self._failed_outside is not None:
            return self._failed_outside
        return bool(self._running)

    def attach(self, connection: Connection) -> None:
        self._connection = connection
        for name, listener in self._listeners():
            event.listen(connection, name, listener)

    def detach(self) -> None:
        if self._connection is None:
            return
        for name, listener in self._listeners():
            if event.contains(self._connection, name, listener):
                event.remove(self._connection, name, listener)
        self._connection = None

    def _listeners(self) -> list[tuple[str, Any]]:
        return [
            ("before_cursor_execute", self._starting),
            ("after_cursor_execute", self._executed),
            ("commit", self._committed),
            ("rollback", self._rolled_back),
        ]

    def _starting(self, _conn: Any, cursor: Any, *_args: Any) -> None:
        if self._running is not None and self._failed_outside is None:
            self._failed_outside = self._running  # the previous one never returned
        # psycopg2 in autocommit mode (an autocommit block) commits each statement.
        self._running = bool(getattr(cursor.connection, "autocommit", False))

    def _executed(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        outside, self._running = self._running, None
        if self._failed_outside is not None or not is_change(statement, self._bookkeeping):
            return
        (self.committed if outside else self._pending).append(shorten(statement))

    def _committed(self, _conn: Any) -> None:
        self.committed += self._pending
        self._pending = []

    def _rolled_back(self, _conn: Any) -> None:
        self._pending = []


def is_change(statement: str, bookkeeping: tuple[str, ...]) -> bool:
    flat = statement.lstrip().upper()
    if flat.startswith(_NOT_A_CHANGE):
        return False
    return not any(name in statement for name in bookkeeping)


def shorten(statement: str) -> str:
    flat = " ".join(statement.split())
    return flat if len(flat) <= _SHOWN_CHARS else flat[: _SHOWN_CHARS - 3] + "..."


def summarise(statements: list[str]) -> list[str]:
    """Consecutive statements that differ only in numbers (a backfill's batches) as one."""
    runs: list[tuple[str, str, int]] = []  # (shape, first statement, count)
    for statement in statements:
        shape = re.sub(r"\d+", "#", statement)
        if runs and runs[-1][0] == shape:
            runs[-1] = (shape, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((shape, statement, 1))
    return [
        first if count == 1 else f"{first}` and {count - 1} more like it (batches) `"
        for _shape, first, count in runs
    ]
