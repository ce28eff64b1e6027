"""Follows an online migration run step by step, for the log and for error messages.

Alembic tells `on_version_apply` callbacks about a revision once it has run (inside its
transaction), but nobody about the revision it is starting. Wrapping the step iterator
Alembic's command hands to the MigrationContext gives both: the step that is running
(for the error message if it fails) and when it started (for the log's duration).
"""

import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, text

from dbtools import audit, failures, interrupt
from dbtools.apply import ownership
from dbtools.config import Timeouts


class RunTracker:
    """One online run that changes the database: prepared, followed, explained."""

    def __init__(self, connection: Connection, timeouts: Timeouts) -> None:
        self.connection = connection
        self.timeouts = timeouts
        self.step: Any = None  # the RevisionStep running now, if any
        self._started = time.monotonic()
        self._foreign: list[ownership.Foreign] = []

    def prepare(self, migration_context: Any) -> None:
        """Before the first revision, reading only (a run with nothing to do needs no more
        than CONNECT and SELECT): the session's timeouts and dead-client check; who owns
        the bookkeeping; the migration log checked against the revision files, if the log
        can be trusted."""
        for statement in self.timeouts.sql():
            self.connection.exec_driver_sql(statement)
        self.connection.execute(
            text(interrupt.CHECK_INTERVAL_SQL), {"interval": interrupt.CHECK_INTERVAL}
        )
        version_table = migration_context.version_table
        self._foreign = ownership.foreign_objects(self.connection, version_table)
        heads = migration_context.get_current_heads()
        if heads and not self._foreign:
            applied = migration_context.script.iterate_revisions(heads, "base")
            audit.verify_unedited(self.connection, applied)

    def before_first_step(self) -> None:
        """Once it is known that something will run: refuse foreign bookkeeping, then create
        the log if new. Runs in the transaction of the first revision (Alembic's version
        table is created there too), so a first run that fails leaves no bookkeeping."""
        if self._foreign:
            raise ownership.refusal(self._foreign)
        audit.ensure_table(self.connection)

    def follow(self, migration_context: Any) -> None:
        """Wrap the context's step iterator (`_migrations_fn`, set from the command)."""
        steps = getattr(migration_context, "_migrations_fn", None)
        if steps is not None:
            migration_context._migrations_fn = self._tracked(steps)

    def _tracked(self, steps: Callable[..., Any]) -> Callable[..., Iterator[Any]]:
        def tracked(heads: Any, ctx: Any) -> Iterator[Any]:
            for index, step in enumerate(steps(heads, ctx)):
                if index == 0:
                    self.before_first_step()
                self.step, self._started = step, time.monotonic()
                yield step
            self.step = None

        return tracked

    def on_version_apply(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        """Alembic callback, inside the revision's transaction: write its log row."""
        if step.is_stamp:
            return  # a stamp runs no revision code; only migrations are logged
        elapsed_ms = round((time.monotonic() - self._started) * 1000)
        audit.record(ctx.connection, step, elapsed_ms)

    def explain(self, exc: BaseException, *, owned: bool) -> BaseException:
        """The one-line error for `exc`, or `exc` itself when no revision was running."""
        if self.step is None or not hasattr(self.step, "revision"):
            return exc  # failed outside a revision (or in a stamp): nothing to add
        return failures.explain(
            exc,
            self.step,
            timeouts=self.timeouts,
            interrupted=interrupt.received(),
            connection=self.connection if owned else None,
        )
