"""Alembic environment: applies the revisions in `versions/` to PostgreSQL.

Online, it connects to the database the configuration names (or the one handed in
through `config.attributes["connection"]`, as tests do), takes the migration lock, sets
the lock and statement timeouts, and runs each revision in its own transaction.
Offline (`--sql`), it writes the same steps as a script, without connecting anywhere.
"""

import logging
import sys
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.util import CommandError
from sqlalchemy import Connection
from sqlalchemy.pool import NullPool

import schema
from dbtools import (
    audit,
    interrupt,
    safe_forms,
    waivers,  # noqa: F401  (registers op.waive_lint for the revisions)
)
from dbtools import config as settings
from dbtools.locking import migration_lock
from dbtools.offline import RevisionBlocks, revision_messages
from dbtools.operations import (  # noqa: F401  (register op.create_index_concurrently, ...)
    backfill,
    constraints,
    indexes,
)
from dbtools.operations.outside import INSIDE_CALLER_TRANSACTION
from dbtools.tracking import RunTracker

config = context.config
log = logging.getLogger("alembic.env")

# disable_existing_loggers=False: running migrations in-process (tests, tooling) must
# not silence everybody else's loggers.
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def refuse_empty_revision(_context: Any, _revision: Any, directives: list[Any]) -> None:
    """Autogenerate found nothing to do: refuse rather than write an empty revision."""
    if directives and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        raise CommandError("the models and the migrations already match: no revision written")


def write_revision(context_: Any, revision: Any, directives: list[Any]) -> None:
    """What autogenerate wrote, checked then rewritten: never empty; on tables that exist
    already, the forms that do not block them (dbtools/safe_forms.py)."""
    refuse_empty_revision(context_, revision, directives)
    safe_forms.rewrite(context_, revision, directives)


def shared_options() -> dict[str, Any]:
    """The configure() options that offline and online runs have in common."""
    return {
        "target_metadata": schema.metadata,
        "compare_type": True,
        "compare_server_default": True,
        "transaction_per_migration": True,
        "process_revision_directives": write_revision,
        "include_name": skip_bookkeeping,
    }


def skip_bookkeeping(name: str | None, type_: str, _parents: Any) -> bool:
    """Autogenerate ignores the migration log: it belongs to env.py, not to the models."""
    return not (type_ in ("schema", "table") and audit.is_bookkeeping(name))


def run_migrations_offline() -> None:
    """Write the migration SQL to stdout; logs go to stderr."""
    out = config.output_buffer or sys.stdout
    # Committed renderings pass the default timeouts, so a developer's settings never
    # leak into them.
    timeouts = config.attributes.get("timeouts") or settings.timeouts()
    context.configure(
        dialect_name="postgresql",
        literal_binds=True,
        output_buffer=RevisionBlocks(out, timeouts.sql(), revision_messages(context.script)),
        **shared_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    handed = config.attributes.get("connection")
    if isinstance(handed, Connection):
        migrate(handed)
    elif handed is not None:  # an Engine, or anything whose connect() yields a Connection
        with handed.connect() as connection:
            migrate(connection)
    else:
        url = settings.database_url()
        log.info("Database: %s", settings.masked(url))
        engine = schema.make_engine(
            url,
            poolclass=NullPool,
            connect_args={"application_name": "schema-migrations"},
        )
        try:
            with engine.connect() as connection, interrupt.interruptible():
                migrate(connection)
        finally:
            engine.dispose()


def migrate(connection: Connection) -> None:
    # A connection handed in inside a transaction belongs to the caller: run in it,
    # never commit it.
    owned = not connection.in_transaction()
    # The operations that run steps outside a transaction run them inside instead.
    config.attributes[INSIDE_CALLER_TRANSACTION] = not owned
    tracker = RunTracker(connection, settings.timeouts())
    context.configure(
        connection=connection, on_version_apply=tracker.on_version_apply, **shared_options()
    )
    if context.get_context().opts.get("dont_mutate"):
        # `current` only reads: no lock to wait for, no bookkeeping written.
        with context.begin_transaction():
            context.run_migrations()
        return
    with migration_lock(connection, commit=owned):
        tracker.prepare(context.get_context())
        if owned:
            connection.commit()
        tracker.follow(context.get_context())
        try:
            with context.begin_transaction():
                context.run_migrations()
        except (Exception, KeyboardInterrupt) as exc:
            explained = tracker.explain(exc, owned=owned)
            if explained is exc:
                raise
            raise explained from exc
        finally:
            tracker.close()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
