"""The command line behind the Makefile: `python -m dbtools <command>`.

One table of commands (`COMMANDS`): each entry names the command, its help, its
arguments, whether it reads the revision files, and the job it runs. Jobs return data;
the commands here print it. Jobs of review and verify are imported only when their
command runs, so `make upgrade` loads no review or verify code. What this module adds is
the error contract: a failure a user can cause ends with one line on stderr, a non-zero
exit status, and never a password. Settings are read once here and handed down. Nothing
imports this module.
"""

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from alembic import command

from dbtools import devserver
from dbtools.apply import commands as apply
from dbtools.apply import interrupt
from dbtools.apply.failures import InterruptedRun
from dbtools.apply.preflight import check_revision_files
from dbtools.core import settings
from dbtools.core.errors import UserError, describe, fail
from dbtools.core.paths import alembic_config
from dbtools.core.secrets import masked

Run = Callable[[settings.Env, argparse.Namespace], None]


def job(name: str) -> Any:
    """A job's module (`review.check`, `verify.command`, ...), imported when a command
    needs it: `make upgrade`, the commonest run, never loads review or verify code."""
    return import_module(f"dbtools.{name}")


@dataclass(frozen=True)
class Argument:
    """One argparse argument: its flags and `add_argument` keywords."""

    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    # The environment variable the Makefile hands the value over in (as data, never
    # through the shell): the argument's default.
    from_env: str = ""


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Run  # calls the job with the parsed arguments and prints what it returns
    arguments: tuple[Argument, ...] = ()
    reads_revisions: bool = False  # a broken revision file is named before it starts


# --- what each command runs, and prints --------------------------------------------


def upgrade(env: settings.Env, args: argparse.Namespace) -> None:
    if settings.is_true(env, "MIGRATION_VERIFY"):
        # A drifted database is refused before anything runs.
        outcome = verified(env, "Verifying {} before migrating ...")
        if outcome.differences:
            raise UserError(
                f"the database has drifted from revision {outcome.revision} "
                f"({len(outcome.differences)} difference(s) listed above); nothing was "
                "applied: restore it with the SQL shown, then migrate again"
            )
    apply.upgrade(env, args.rev)


def verify(env: settings.Env, _args: argparse.Namespace) -> None:
    """`make verify`: exit 0 when the database matches its revision, 1 with the list if not."""
    outcome = verified(env, "Database: {}")
    if outcome.differences:
        raise UserError(
            f"the database differs from revision {outcome.revision} in "
            f"{len(outcome.differences)} place(s), listed above with the SQL that restores each"
        )


def verified(env: settings.Env, intro: str) -> Any:
    """The verify job on the configured database, its outcome printed as asked."""
    verifying, report, live = job("verify.command"), job("verify.report"), job("verify.live")
    opts = verifying.options(env)
    url = devserver.database_url(env)
    print(intro.format(masked(url)), file=sys.stderr)
    try:
        outcome = verifying.verify(url, opts, env)
    except live.MigrationRunning:
        if opts.format == "json":
            print(report.migration_running_json(masked(url)))
        raise
    print(report.as_json(outcome) if opts.format == "json" else report.as_text(outcome))
    return outcome


def audit(env: settings.Env, _args: argparse.Namespace) -> None:
    """The migration log of the configured database: what ran, when, by whom, how long."""
    url = devserver.database_url(env)
    print(f"Database: {masked(url)}", file=sys.stderr)
    print(apply.audit_report(url))


def sql(env: settings.Env, args: argparse.Namespace) -> None:
    """The upgrade SQL from FROM (default: empty database) to TO; connects nowhere."""
    job("review.offline_sql").write_upgrade_sql(env, sys.stdout, args.from_rev, args.to)


def revision(env: settings.Env, args: argparse.Namespace) -> None:
    written = job("review.revision").write_revision(env, args.message, empty=args.empty)
    print(f"wrote {written.path}")
    show_generated(written.generated)


def generate(env: settings.Env, _args: argparse.Namespace) -> None:
    show_generated(job("review.check").generate_artefacts(env))


def show_generated(generated: Any) -> None:
    for path in generated.written:
        print(f"wrote {path}")
    for path in generated.removed:
        print(f"removed {path} (its revision no longer exists)")
    if not generated.written and not generated.removed:
        print("generated artefacts are up to date")


def lint(_env: settings.Env, _args: argparse.Namespace) -> None:
    """ruff (lint and format) on the Python, the import layers, Squawk on the rendered SQL."""
    checking = job("review.check")
    checking.report_lint_scope()
    findings = checking.lint_findings()
    for line in findings:
        print(line)
    if findings:
        raise UserError(
            f"lint found {len(findings)} problem(s), listed above; "
            "docs/reviewing.md explains each SQL rule and its safe pattern"
        )
    print("lint passed: ruff, the import layers, squawk and actionlint found nothing")


def check(env: settings.Env, _args: argparse.Namespace) -> None:
    """Every problem a reviewer should never have to find by hand, in one list."""
    checking = job("review.check")
    problems = checking.problems(env)
    if problems:
        print(f"make check found {len(problems)} problem(s):")
        for line in problems:
            print(f"  - {line}")
        raise UserError(f"check failed with {len(problems)} problem(s), listed above")
    print(
        f"check passed: one head ({checking.single_head()}), models match the migrations, "
        "generated artefacts are fresh, lint is clean"
    )


def review(env: settings.Env, args: argparse.Namespace) -> None:
    """`make review`: the new revisions as Markdown (or REVIEW_FORMAT=json) for a PR."""
    sys.stdout.write(job("review.report").rendered(env, args.from_rev))


def squash(env: settings.Env, args: argparse.Namespace) -> None:
    """`make squash TO=<revision>`: the released revisions up to TO folded into one."""
    squashing = job("review.squash")
    print(squashing.summary(squashing.squash(env, args.to)))


def release(_env: settings.Env, _args: argparse.Namespace) -> None:
    """`make release`: mark every revision not yet listed in migrations/RELEASED."""
    for revision in job("review.released").release():
        print(f"released {revision}")
    print("migrations/RELEASED lists every revision; commit it")


def db(env: settings.Env, _args: argparse.Namespace) -> None:
    print(f"Development server running: {masked(devserver.ensure_running(env))}")


def db_stop(_env: settings.Env, _args: argparse.Namespace) -> None:
    if devserver.stop():
        print("Development server stopped; its data stays in .pgdata/")
    else:
        print("Development server was not running")


def cmd_psql(env: settings.Env, _args: argparse.Namespace) -> None:
    raise SystemExit(devserver.open_psql(env))


REV = Argument(("rev",), {"nargs": "?", "default": ""}, "DBTOOLS_REV")
FROM = Argument(("--from",), {"dest": "from_rev", "default": ""}, "DBTOOLS_FROM")
TO = Argument(("--to",), {"default": ""}, "DBTOOLS_TO")

COMMANDS = (
    Command("upgrade", "apply migrations up to REV (default head)", upgrade, (REV,), True),
    Command(
        "downgrade",
        "revert to REV (default one step back)",
        lambda env, a: apply.downgrade(env, a.rev),
        (REV,),
        True,
    ),
    Command(
        "current",
        "the revision the database is at",
        lambda env, _a: apply.current(env),
        reads_revisions=True,
    ),
    Command(
        "history",
        "the chain of revisions",
        lambda _env, _a: command.history(alembic_config()),
        reads_revisions=True,
    ),
    Command(
        "heads",
        "the head revision(s)",
        lambda _env, _a: command.heads(alembic_config()),
        reads_revisions=True,
    ),
    Command(
        "audit",
        "the migration log of the configured database",
        audit,
    ),
    Command(
        "sql",
        "print upgrade SQL without connecting",
        sql,
        (FROM, TO),
        True,
    ),
    Command(
        "revision",
        "autogenerate a revision from the models",
        revision,
        (
            Argument(("-m", "--message"), {"default": ""}, "DBTOOLS_MESSAGE"),
            Argument(
                ("--empty",), {"action": "store_true", "help": "no autogenerate"}, "DBTOOLS_EMPTY"
            ),
        ),
        True,
    ),
    Command("db", "start the development server", db),
    Command("db-stop", "stop the development server", db_stop),
    Command("psql", "open psql on the configured database", cmd_psql),
    Command("generate", "rewrite every generated artefact", generate),
    Command("lint", "ruff, import layers, and squawk on the rendered SQL", lint),
    Command("check", "drift, heads, stale artefacts and lint, in one list", check),
    Command(
        "squash",
        "fold the released revisions up to TO into one baseline revision",
        squash,
        (TO,),
        True,
    ),
    Command("release", "mark every revision as released in migrations/RELEASED", release),
    Command(
        "verify",
        "compare the database with the schema of its revision",
        verify,
        reads_revisions=True,
    ),
    Command(
        "review",
        "the new revisions for a pull request: SQL, lint with fixes, lock trace",
        review,
        (FROM,),
        True,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    # The Makefile hands REV, m, EMPTY, FROM and TO over as DBTOOLS_* environment
    # variables (never through the shell): they are the defaults of the arguments.
    given = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m dbtools")
    sub = parser.add_subparsers(dest="command", required=True)
    for entry in COMMANDS:
        p = sub.add_parser(entry.name, help=entry.help)
        p.set_defaults(entry=entry)
        for argument in entry.arguments:
            options = dict(argument.options)
            if argument.from_env:
                value = given(argument.from_env, "")
                flag = options.get("action") == "store_true"
                options["default"] = value.strip() == "1" if flag else value
            p.add_argument(*argument.flags, **options)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with interrupt.for_command():  # SIGINT/SIGTERM: exit 130/143 in every phase
        return run_command(args)


def run_command(args: argparse.Namespace) -> int:
    entry: Command = args.entry
    env: settings.Env = dict(os.environ)  # until .env is read, the secret to mask is here
    try:
        env = settings.load()
        if entry.reads_revisions:
            check_revision_files()
        entry.run(env, args)
    except BrokenPipeError:
        # The reader went away (`make -s sql | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except InterruptedRun as exc:
        fail(describe(exc, env.get("DATABASE_URL")))
        return exc.exit_status
    except (KeyboardInterrupt, interrupt.Interrupted):
        name = interrupt.command_signal() or "SIGINT"
        fail(interrupt.outside_a_revision(name, args.command))
        return interrupt.exit_status(name)
    except Exception as exc:
        if os.environ.get("DBTOOLS_TRACEBACK"):
            raise
        return fail(describe(exc, env.get("DATABASE_URL")))
    return 0
