"""The command line behind the Makefile: `python -m dbtools <command>`.

A table of commands, each calling one job (apply, review, consume, the development
server). What this module adds is the error contract: a failure a user can cause ends
with one line on stderr, a non-zero exit status, and never a password. Settings are read
once here and handed down. Nothing imports this module.
"""

import argparse
import os
import sys
from collections.abc import Callable
from importlib import import_module
from types import ModuleType

from alembic import command

from dbtools import devserver
from dbtools.apply import commands as apply
from dbtools.apply.failures import InterruptedRun
from dbtools.apply.preflight import check_revision_files
from dbtools.core import settings
from dbtools.core.errors import describe, fail
from dbtools.core.paths import alembic_config
from dbtools.core.secrets import masked

Command = Callable[[settings.Env, argparse.Namespace], None]


def job(name: str) -> ModuleType:
    """A job's module (`review.check`, `verify.command`, ...), imported when a command
    needs it: `make upgrade`, the commonest run, never loads review or verify code."""
    return import_module(f"dbtools.{name}")


def cmd_upgrade(env: settings.Env, args: argparse.Namespace) -> None:
    if settings.is_true(env, "MIGRATION_VERIFY"):
        # A drifted database is refused before anything runs.
        job("verify.command").gate(env)
    apply.upgrade(env, args.rev)


def cmd_sql(_env: settings.Env, args: argparse.Namespace) -> None:
    """The upgrade SQL from FROM (default: empty database) to TO; connects nowhere."""
    target = args.to or "head"
    span = f"{args.from_rev}:{target}" if args.from_rev else target
    command.upgrade(alembic_config(), span, sql=True)


def cmd_db(env: settings.Env, _args: argparse.Namespace) -> None:
    url = devserver.ensure_running(env)
    print(f"Development server running: {masked(url)}")


def cmd_db_stop(_env: settings.Env, _args: argparse.Namespace) -> None:
    if devserver.stop():
        print("Development server stopped; its data stays in .pgdata/")
    else:
        print("Development server was not running")


def cmd_psql(env: settings.Env, _args: argparse.Namespace) -> None:
    url = devserver.database_url(env)
    # The password goes through the environment, not argv, which `ps` shows to everyone.
    password = url.password or url.query.get("password")
    shown = url.difference_update_query(["password"]).set(drivername="postgresql")
    libpq_url = shown._replace(password=None).render_as_string()
    child_env = {**os.environ, "PGPASSWORD": str(password)} if password else dict(os.environ)
    psql = devserver.bin_dir(devserver.postgres_version(env)) / "psql"
    os.execve(psql, [str(psql), libpq_url], child_env)


COMMANDS: dict[str, tuple[Command, str]] = {
    "upgrade": (cmd_upgrade, "apply migrations up to REV (default head)"),
    "downgrade": (
        lambda env, a: apply.downgrade(env, a.rev),
        "revert to REV (default one step back)",
    ),
    "current": (lambda env, _a: apply.current(env), "the revision the database is at"),
    "history": (lambda _env, _a: command.history(alembic_config()), "the chain of revisions"),
    "heads": (lambda _env, _a: command.heads(alembic_config()), "the head revision(s)"),
    "audit": (
        lambda env, _a: apply.show_audit(env),
        "the migration log of the configured database",
    ),
    "sql": (cmd_sql, "print upgrade SQL without connecting"),
    "revision": (
        lambda env, a: job("review.revision").write_revision(env, a.message, empty=a.empty),
        "autogenerate a revision from the models",
    ),
    "db": (cmd_db, "start the development server"),
    "db-stop": (cmd_db_stop, "stop the development server"),
    "psql": (cmd_psql, "open psql on the configured database"),
    "generate": (
        lambda _env, _a: job("review.check").generate(),
        "rewrite every generated artefact",
    ),
    "lint": (
        lambda _env, _a: job("review.check").lint_all(),
        "ruff, import layers, and squawk on the rendered SQL",
    ),
    "check": (
        lambda env, _a: job("review.check").check(env),
        "drift, heads, stale artefacts and lint, in one list",
    ),
    "squash": (
        lambda env, a: print(job("review.squash").summary(job("review.squash").squash(env, a.to))),
        "fold the released revisions up to TO into one baseline revision",
    ),
    "verify": (
        lambda env, _a: job("verify.command").cmd_verify(env),
        "compare the database with the schema of its revision",
    ),
}

# The commands that load migrations/versions: a broken file is named before they start.
READS_REVISIONS = (
    "upgrade",
    "downgrade",
    "current",
    "history",
    "heads",
    "sql",
    "revision",
    "squash",
    "verify",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dbtools")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(func=func)
        if name in ("upgrade", "downgrade"):
            p.add_argument("rev", nargs="?", default="")
        if name == "sql":
            p.add_argument("--from", dest="from_rev", default="")
        if name in ("sql", "squash"):
            p.add_argument("--to", default="")
        if name == "revision":
            p.add_argument("-m", "--message", default="")
            p.add_argument("--empty", action="store_true", help="no autogenerate")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env: settings.Env = dict(os.environ)  # until .env is read, the secret to mask is here
    try:
        env = settings.load()
        if args.command in READS_REVISIONS:
            check_revision_files()
        args.func(env, args)
    except BrokenPipeError:
        # The reader went away (`make -s sql | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except InterruptedRun as exc:
        fail(describe(exc, env.get("DATABASE_URL")))
        return exc.exit_status
    except KeyboardInterrupt:
        return fail("interrupted; the revision that was running has been rolled back")
    except Exception as exc:
        if os.environ.get("DBTOOLS_TRACEBACK"):
            raise
        return fail(describe(exc, env.get("DATABASE_URL")))
    return 0
