"""The command line behind the Makefile: `python -m dbtools <command>`.

Each command is a thin wrapper over `alembic.command`. What this module adds is the
error contract: a failure a user can cause ends with one line on stderr, a non-zero
exit status, and never a password.
"""

import argparse
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

import schema
from dbtools import audit, devserver, failures
from dbtools import config as settings
from dbtools.errors import UserError
from dbtools.failures import InterruptedRun
from dbtools.retry import with_lock_retries
from dbtools.review import check as review
from dbtools.scriptcheck import VERSIONS, check_revision_files


def alembic_config() -> Config:
    return Config(str(settings.REPO_ROOT / "alembic.ini"))


def cmd_upgrade(args: argparse.Namespace) -> None:
    # Retrying after a lock timeout resumes from the last committed revision.
    with explained_revision_argument():
        with_lock_retries(lambda: command.upgrade(alembic_config(), args.rev or "head"))


def cmd_downgrade(args: argparse.Namespace) -> None:
    with explained_revision_argument():
        command.downgrade(alembic_config(), args.rev or "-1")


@contextmanager
def explained_revision_argument() -> Iterator[None]:
    """An unknown REV or a downgrade below base, said in the user's terms."""
    try:
        yield
    except CommandError as exc:
        heads = ScriptDirectory.from_config(alembic_config()).get_heads
        explained = failures.revision_argument(exc, heads)
        if explained is exc:
            raise
        raise explained from exc


def cmd_current(_args: argparse.Namespace) -> None:
    command.current(alembic_config())


def cmd_history(_args: argparse.Namespace) -> None:
    command.history(alembic_config())


def cmd_heads(_args: argparse.Namespace) -> None:
    command.heads(alembic_config())


def cmd_audit(_args: argparse.Namespace) -> None:
    """The migration log of the configured database: what ran, when, by whom, how long."""
    url = settings.database_url()
    print(f"Database: {settings.masked(url)}", file=sys.stderr)
    engine = schema.make_engine(url)
    try:
        with engine.connect() as connection:
            print(audit.report(connection, VERSIONS))
    finally:
        engine.dispose()


def cmd_sql(args: argparse.Namespace) -> None:
    """The upgrade SQL from FROM (default: empty database) to TO; connects nowhere."""
    target = args.to or "head"
    span = f"{args.from_rev}:{target}" if args.from_rev else target
    command.upgrade(alembic_config(), span, sql=True)


def cmd_revision(args: argparse.Namespace) -> None:
    """Autogenerate a revision by comparing the models with a scratch database at head;
    with `--empty`, write one from the same template for the author to fill in."""
    message = (args.message or "").strip()
    if not message:
        raise UserError('a revision needs a message: make revision m="add phone to users"')
    cfg = alembic_config()
    if args.empty:
        command.revision(cfg, message=message)
    else:
        with scratch_database(settings.database_url()) as connection:
            cfg.attributes["connection"] = connection
            cfg.attributes["autogenerate_revision"] = True  # env.py refuses an empty one
            command.upgrade(cfg, "head")
            command.revision(cfg, message=message, autogenerate=True)
    review.cmd_generate(args)  # the new revision's SQL and the head file


@contextmanager
def scratch_database(server_url: URL) -> Iterator[Connection]:
    """A connection to a new, empty database on `server_url`'s server, dropped afterwards."""
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = schema.make_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = schema.make_engine(server_url.set(database=name))
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def cmd_db(_args: argparse.Namespace) -> None:
    url = devserver.ensure_running()
    print(f"Development server running: {settings.masked(url)}")


def cmd_db_stop(_args: argparse.Namespace) -> None:
    if devserver.stop():
        print("Development server stopped; its data stays in .pgdata/")
    else:
        print("Development server was not running")


def cmd_psql(_args: argparse.Namespace) -> None:
    url = settings.database_url()
    # The password goes through the environment, not argv, which `ps` shows to everyone.
    libpq_url = url.set(drivername="postgresql")._replace(password=None).render_as_string()
    env = {**os.environ, "PGPASSWORD": url.password} if url.password else dict(os.environ)
    psql = devserver.bin_dir(devserver.postgres_version()) / "psql"
    os.execve(psql, [str(psql), libpq_url], env)


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], None], str]] = {
    "upgrade": (cmd_upgrade, "apply migrations up to REV (default head)"),
    "downgrade": (cmd_downgrade, "revert to REV (default one step back)"),
    "current": (cmd_current, "the revision the database is at"),
    "history": (cmd_history, "the chain of revisions"),
    "heads": (cmd_heads, "the head revision(s)"),
    "audit": (cmd_audit, "the migration log of the configured database"),
    "sql": (cmd_sql, "print upgrade SQL without connecting"),
    "revision": (cmd_revision, "autogenerate a revision from the models"),
    "db": (cmd_db, "start the development server"),
    "db-stop": (cmd_db_stop, "stop the development server"),
    "psql": (cmd_psql, "open psql on the configured database"),
    "generate": (review.cmd_generate, "rewrite every generated artefact"),
    "lint": (review.cmd_lint, "ruff, and squawk on the rendered SQL"),
    "check": (review.cmd_check, "drift, heads, stale artefacts and lint, in one list"),
}


# The commands that load migrations/versions: a broken file is named before they start.
READS_REVISIONS = ("upgrade", "downgrade", "current", "history", "heads", "sql", "revision")


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
            p.add_argument("--to", default="")
        if name == "revision":
            p.add_argument("-m", "--message", default="")
            p.add_argument("--empty", action="store_true", help="no autogenerate")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in READS_REVISIONS:
            check_revision_files()
        args.func(args)
    except BrokenPipeError:
        # The reader went away (`make -s sql | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except InterruptedRun as exc:
        fail(describe(exc))
        return exc.exit_status
    except KeyboardInterrupt:
        return fail("interrupted; the revision that was running has been rolled back")
    except Exception as exc:
        if os.environ.get("DBTOOLS_TRACEBACK"):
            raise
        return fail(describe(exc))
    return 0


def describe(exc: BaseException) -> str:
    """One line for `exc`, with the password of the configured URL masked out."""
    if isinstance(exc, UserError | CommandError):
        text_ = str(exc)
    elif isinstance(exc, OperationalError) and _is_connect_error(exc):
        text_ = f"cannot connect to the database: {exc.orig}"
    elif isinstance(exc, DBAPIError) and exc.orig is not None:
        text_ = f"database error: {exc.orig}"
    elif isinstance(exc, SQLAlchemyError):
        text_ = f"database error: {exc}"
    else:
        text_ = f"{exc.__class__.__name__}: {exc}"
    text_ = " ".join(text_.split())
    try:
        url = settings.configured_url()
    except UserError:
        url = None
    return settings.mask_secret(text_, url or os.environ.get("DATABASE_URL"))


def _is_connect_error(exc: OperationalError) -> bool:
    # psycopg2 reports every failure to open a connection this way (refused, timeout,
    # authentication, unknown database).
    return str(exc.orig).startswith("connection to server") or exc.statement is None


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1
