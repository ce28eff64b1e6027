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
from dbtools.apply.journal import Journal, summarise
from dbtools.config import Timeouts


class RunTracker:
    """One online run that changes the database: prepared, followed, explained."""

    def __init__(self, connection: Connection, timeouts: Timeouts) -> None:
        self.connection = connection
        self.timeouts = timeouts
        self.step: Any = None  # the RevisionStep running now, if any
        self._started = time.monotonic()
        self.journal = Journal()  # what the running step has committed so far

    def prepare(self, migration_context: Any) -> None:
        """Before the first revision: the session's timeouts and dead-client check; the
        migration log, created if new and checked against the revision files."""
        for statement in self.timeouts.sql():
            self.connection.exec_driver_sql(statement)
        self.connection.execute(
            text(interrupt.CHECK_INTERVAL_SQL), {"interval": interrupt.CHECK_INTERVAL}
        )
        audit.ensure_table(self.connection)
        heads = migration_context.get_current_heads()
        if heads:
            applied = migration_context.script.iterate_revisions(heads, "base")
            audit.verify_unedited(self.connection, applied)

    def follow(self, migration_context: Any) -> None:
        """Wrap the context's step iterator (`_migrations_fn`, set from the command)."""
        steps = getattr(migration_context, "_migrations_fn", None)
        if steps is not None:
            migration_context._migrations_fn = self._tracked(steps)
        self.journal.attach(self.connection)

    def close(self) -> None:
        """Stop following the connection (a handed-in one lives on)."""
        self.journal.detach()

    def _tracked(self, steps: Callable[..., Any]) -> Callable[..., Iterator[Any]]:
        def tracked(heads: Any, ctx: Any) -> Iterator[Any]:
            for step in steps(heads, ctx):
                self.step, self._started = step, time.monotonic()
                self.journal.new_step()
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
            committed=summarise(self.journal.committed),
            outside=self.journal.failed_outside,
        )
