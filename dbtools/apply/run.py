"""The safety around one online run, behind one context manager for `env.py`.

`connected()` opens the session a run migrates on (masked `Database:` line, connect
timeout, Ctrl-C and SIGTERM cancelling the statement server-side). `MigrationRun.guarded()`
wraps Alembic's `run_migrations()`: a database at a revision this checkout lacks is named,
then the migration lock, the session's timeouts, the bookkeeping trusted only when the
migrating role owns it, the migration log (checked against the revision files first), and
a failure explained as one line naming the revision that was running.

A downgrade without consent is watched step by step for the data it destroys
(`dbtools.apply.consent`); that code is loaded only for a downgrade.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from alembic.runtime.environment import EnvironmentContext
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.pool import NullPool

from dbtools.apply import audit, failures, interrupt, ownership
from dbtools.apply.checkout import require_known
from dbtools.apply.journal import Journal, summarise
from dbtools.apply.lock import migration_lock
from dbtools.apply.progress import Progress, Step, plan
from dbtools.core import search_path, settings
from dbtools.core.bookkeeping import Bookkeeping
from dbtools.core.options import RunOptions
from dbtools.core.secrets import masked
from dbtools.devserver import database_url
from schema.session import make_engine

if TYPE_CHECKING:
    from dbtools.apply.consent import StepWatch

log = logging.getLogger("alembic.env")


@contextmanager
def connected(env: settings.Env) -> Iterator[Connection]:
    """A connection to the configured database, interruptible while the block runs."""
    url = database_url(env)
    log.info("Database: %s", masked(url))
    engine = make_engine(
        url,
        poolclass=NullPool,
        connect_args={"application_name": "schema-migrations", **search_path.connect_args(url)},
    )
    try:
        with engine.connect() as connection, interrupt.interruptible(connection):
            yield connection
    finally:
        engine.dispose()


class MigrationRun:
    """One online run on `connection`: Alembic's callback, and the guard around the run."""

    def __init__(self, connection: Connection, options: RunOptions, names: Bookkeeping) -> None:
        self.connection = connection
        self.names = names  # the version table and the log
        self.env = options.env
        self.request = options.request
        self.timeouts = settings.timeouts(options.env)
        self.progress: Progress | None = None
        self.journal = Journal(names)  # what the running step has committed so far
        self.foreign: list[ownership.Foreign] = []  # bookkeeping another role owns
        self.log_ready = False  # the migration log exists (looked up once per run)
        self.consent: StepWatch | None = None  # measures a downgrade's steps

    def on_version_apply(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        """Alembic's callback, inside the revision's transaction: write its log row.

        The log is created here when new, in the transaction of the first revision (as
        Alembic creates its version table there), so a first run that fails leaves no
        bookkeeping behind.
        """
        if self.progress is None or step.is_stamp:
            return  # a stamp runs no revision code; only migrations are logged
        if self.foreign:  # reached only if the check before the run could not tell
            raise ownership.refusal(self.foreign)
        if self.consent is not None:
            self.consent.step_done(ctx.connection)  # refuses a step that destroyed data
        if not self.log_ready:
            audit.ensure_table(ctx.connection)
            self.log_ready = True
        audit.record(ctx.connection, step, self.progress.advanced(step))
        # What runs from here on belongs to the next step (this one only commits now).
        self.journal.new_step()

    @contextmanager
    def guarded(self, environment: EnvironmentContext) -> Iterator[None]:
        """Around `run_migrations()`: lock, timeouts, log, and one-line failures."""
        # A connection handed in inside a transaction belongs to the caller: run in it,
        # never commit it. (Asked before the first query, which begins a transaction.)
        owned = not self.connection.in_transaction()
        migration_context = environment.get_context()
        heads = tuple(migration_context.get_current_heads())
        require_known(heads, environment.script)
        if migration_context.opts.get("dont_mutate"):
            yield  # `current` only reads: no lock to wait for, no bookkeeping written
            return
        self._plan(environment.script, heads)  # a wrong REV is refused before the lock
        if owned:
            self.connection.commit()  # reading the version table began a transaction
        with migration_lock(self.connection, commit=owned):
            start = self._prepare(migration_context)
            if owned:
                self.connection.commit()
            # Another run may have moved the database while this one waited for the lock.
            self.progress = Progress(self._plan(environment.script, start))
            if self.foreign and self.progress.has_work():
                raise ownership.refusal(self.foreign)
            self.journal.attach(self.connection)
            self.consent = self._watch(owned, migration_context.version_table)
            try:
                yield
            except (Exception, KeyboardInterrupt) as exc:
                explained = self._explain(exc, owned=owned)
                if explained is exc:
                    raise
                raise explained from exc
            finally:
                self.journal.detach()  # a handed-in connection lives on
                if self.consent is not None:
                    self.consent.detach()

    def has_work(self) -> bool | None:
        """Whether the run will apply anything (None: not known, or not planned yet)."""
        return self.progress.has_work() if self.progress is not None else None

    def _watch(self, owned: bool, version_table: str) -> "StepWatch | None":
        """The data-loss watch of a downgrade without consent; None for any other run."""
        if self.progress is None or self.progress.upgrade is not False:
            return None  # upgrades measure nothing: the consent code stays unloaded
        from dbtools.apply import consent

        return consent.watch(self.connection, self.env, self.progress, owned, version_table)

    def _plan(self, script: Any, heads: tuple[str, ...]) -> list[Step] | None:
        """The steps of what was asked, from `heads`; None when nobody said what."""
        return plan(script, self.request, heads) if self.request is not None else None

    def _prepare(self, migration_context: Any) -> tuple[str, ...]:
        """Before the first revision, reading only (a run with nothing to do needs no more
        than CONNECT and SELECT): the session's timeouts and dead-client check; who owns
        the bookkeeping; the migration log checked against the revision files, if the log
        can be trusted. Returns where the database is."""
        # Pinned at connect already, unless the connection was handed in: pin it here.
        self.connection.exec_driver_sql(search_path.set_sql())
        for statement in self.timeouts.sql():
            self.connection.exec_driver_sql(statement)
        self.connection.execute(
            text(interrupt.CHECK_INTERVAL_SQL), {"interval": interrupt.CHECK_INTERVAL}
        )
        self.foreign = ownership.foreign_objects(
            self.connection, self.names, search_path.MODEL_SCHEMAS
        )
        heads = migration_context.get_current_heads()
        if heads and not self.foreign:
            applied = migration_context.script.iterate_revisions(heads, "base")
            audit.verify_unedited(self.connection, applied, self.env)
        return tuple(heads)

    def _explain(self, exc: BaseException, *, owned: bool) -> BaseException:
        """The one-line error for `exc`, or `exc` itself when no revision was running."""
        if isinstance(exc, CommandError | RevisionError) or (
            self.consent is not None and self.consent.refused(exc)
        ):
            # Alembic refused before any revision ran (unknown REV, two heads), or a
            # downgrade step was refused for the data it destroys (its line says which).
            return exc
        step = self.progress.running() if self.progress else None
        if step is None:
            return exc
        return failures.explain(
            exc,
            step,
            timeouts=self.timeouts,
            interrupted=interrupt.received(),
            connection=self.connection if owned else None,
            committed=summarise(self.journal.committed),
            outside=self.journal.failed_outside,
        )
