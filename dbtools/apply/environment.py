"""Alembic's environment for this repository: what `migrations/env.py` runs.

Shaped like Alembic's own template: the options shared by both modes, an offline run
that writes SQL, an online run that migrates a connection, one dispatch. It applies
revisions and nothing more: whoever writes a revision, renders SQL for review or compares
with the models hands its hooks in through the run's options (`dbtools.core.options`),
so this module imports only the apply job, the operations and the core.

Online, each revision runs in its own transaction inside the guard of
`dbtools.apply.run` (migration lock, timeouts, log, one-line failures), on the connection
handed in or on one to the configured database. Offline (`--sql`) it writes the same
steps as a script, through the output wrapper handed in, if any.

The repository's operations (`op.add_check_not_valid`, ...) are registered just before
revision code can run: a run that finds the database at its target (the no-op, the
commonest run in a deploy) never loads them.
"""

import sys
from dataclasses import replace
from logging.config import fileConfig
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from sqlalchemy import Connection, MetaData

from dbtools.apply.run import MigrationRun, connected
from dbtools.core import options as run_options
from dbtools.core import settings
from dbtools.core.bookkeeping import Bookkeeping, bookkeeping
from dbtools.core.options import Request, RunOptions
from schema.naming import NAMING_CONVENTION

# Alembic commands that run env.py to compare with the models or to write SQL.
_REVIEWING_COMMANDS = ("check", "revision")


def wants_review_hooks(config: Config) -> bool:
    """Whether nobody handed options in and the command compares with the models or
    renders SQL: Alembic's own `alembic check`, `revision --autogenerate`, `upgrade --sql`,
    or another program calling `alembic.command` (pytest-alembic) without options."""
    if run_options.handed(config) is not None:
        return False
    cmd_opts = config.cmd_opts
    if cmd_opts is None:
        return True
    cmd = getattr(cmd_opts, "cmd", None)
    name = getattr(cmd[0], "__name__", "") if cmd else ""
    return name in _REVIEWING_COMMANDS or bool(getattr(cmd_opts, "sql", False))


def alembic_cli_request(config: Config) -> Request | None:
    """`alembic upgrade <rev>` / `alembic downgrade <rev>`: what Alembic's own CLI was asked."""
    cmd = getattr(config.cmd_opts, "cmd", None)
    name = getattr(cmd[0], "__name__", "") if cmd else ""
    revision = getattr(config.cmd_opts, "revision", None)
    if name in ("upgrade", "downgrade") and isinstance(revision, str):
        return Request(name, revision)
    return None


def register_operations() -> None:
    """Register `op.waive_lint`, `op.create_index_concurrently`, ... on Alembic's
    `Operations` (importing the package does it; a second call costs nothing)."""
    import dbtools.operations  # noqa: F401


def run(context: EnvironmentContext) -> None:
    """Run the migrations Alembic was asked for, offline or online."""
    config = context.config
    # Alembic's own CLI (`alembic upgrade head`) hands nothing in: settings read here, once.
    options = run_options.handed(config) or RunOptions(
        env=settings.load(), request=alembic_cli_request(config)
    )
    run_options.store(config, options)
    # disable_existing_loggers=False: running migrations in-process (tests, tooling) must
    # not silence everybody else's loggers.
    if config.config_file_name is not None and options.configure_logging:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    if context.is_offline_mode():
        run_offline(context, options)
    else:
        run_online(context, options)


def shared_options(options: RunOptions, names: Bookkeeping) -> dict[str, Any]:
    """The configure() options that offline and online runs have in common."""
    # The version table is always schema-qualified: no search_path can redirect it.
    shared: dict[str, Any] = {"transaction_per_migration": True, **names.configure_options()}
    hooks = options.hooks
    if hooks.process_revision_directives is not None:
        shared["process_revision_directives"] = hooks.process_revision_directives
    if hooks.compare is None:
        # Nothing is compared with the models: they stay unloaded. Alembic still names
        # the constraints revisions create by the models' convention.
        return {**shared, "target_metadata": MetaData(naming_convention=NAMING_CONVENTION)}
    return {**shared, **hooks.compare()}


def run_offline(context: EnvironmentContext, options: RunOptions) -> None:
    """Write the migration SQL to stdout (or the configured buffer); logs go to stderr."""
    out = context.config.output_buffer or sys.stdout
    # Committed renderings pass the default timeouts: a developer's settings never leak.
    timeouts = options.timeouts or settings.timeouts(options.env)
    wrap = options.hooks.offline_output
    register_operations()
    context.configure(
        dialect_name="postgresql",
        literal_binds=True,
        output_buffer=wrap(out, timeouts) if wrap else out,
        **shared_options(options, bookkeeping(context.config)),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online(context: EnvironmentContext, options: RunOptions) -> None:
    handed = run_options.connection_of(context.config, options)
    if isinstance(handed, Connection):
        migrate(context, options, handed)
    elif handed is not None:  # an Engine, or anything whose connect() yields a Connection
        with handed.connect() as connection:
            migrate(context, options, connection)
    else:
        with connected(options.env) as connection:
            migrate(context, options, connection)


def migrate(context: EnvironmentContext, options: RunOptions, connection: Connection) -> None:
    # Handed in inside the caller's transaction (pytest-alembic), nothing may commit: the
    # operations that step outside a transaction run their plain forms inside it.
    options = replace(options, inside_caller_transaction=connection.in_transaction())
    run_options.store(context.config, options)
    names = bookkeeping(context.config)
    run = MigrationRun(connection, options, names)
    context.configure(
        connection=connection,
        on_version_apply=run.on_version_apply,
        **shared_options(options, names),
    )
    with run.guarded(context), context.begin_transaction():
        if run.has_work() is not False:  # False only when a known plan has no step
            register_operations()
        context.run_migrations()
