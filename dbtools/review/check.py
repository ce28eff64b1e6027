"""`make generate`, `make lint` and `make check`: what a reviewer relies on being true.

`check` gathers every problem into one list before failing, so one run tells a
contributor everything to fix: drift between the models and the migrations, more than
one head, a revision docstring still the template's, stale generated artefacts, linter
findings, and what the lock traces observed (dbtools/review/trace_gate.py).
"""

from collections.abc import Callable

from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from dbtools import devserver
from dbtools.core.chain import script_directory, several_heads
from dbtools.core.errors import UserError, describe
from dbtools.core.paths import REPO_ROOT
from dbtools.core.settings import Env
from dbtools.review import conflicts, generated, lint, revision_sql, revision_trace
from dbtools.review.docstrings import unwritten_docstrings
from dbtools.review.drift import drift

GENERATE_HINT = "run `make generate`"


def generate() -> None:
    """Rewrite every generated artefact; delete rendered SQL of revisions that are gone."""
    written = generated.generate()
    removed = revision_sql.orphans() + revision_trace.orphans()
    for path in removed:
        (REPO_ROOT / path).unlink()
    for path in written:
        print(f"wrote {path}")
    for path in removed:
        print(f"removed {path} (its revision no longer exists)")
    if not written and not removed:
        print("generated artefacts are up to date")


def lint_all() -> None:
    """ruff (lint and format) on the Python, Squawk on the rendered SQL, actionlint on
    the workflows."""
    findings = lint_findings()
    for line in findings:
        print(line)
    if findings:
        raise UserError(
            f"lint found {len(findings)} problem(s), listed above; "
            "docs/reviewing.md explains each SQL rule and its safe pattern"
        )
    print("lint passed: ruff, the import layers, squawk and actionlint found nothing")


def check(env: Env) -> None:
    """Every problem a reviewer should never have to find by hand, in one list."""
    sections: list[tuple[str, Callable[[], list[str]]]] = [
        ("heads", head_problems),
        ("docstring", unwritten_docstrings),
        ("stale", stale_problems),
        ("drift", lambda: drift_problems(env)),
        ("lint", lint_findings),
        ("trace", lambda: revision_trace.problems(lint.lock_rules_flagging)),
    ]
    problems = [f"{name}: {line}" for name, find in sections for line in find()]
    if markers := conflicts.conflicted():
        problems = [
            f"conflict: {conflicts.advice(markers)}",
            *conflicts.without_conflicted(problems, markers),
        ]
    if problems:
        print(f"make check found {len(problems)} problem(s):")
        for line in problems:
            print(f"  - {line}")
        raise UserError(f"check failed with {len(problems)} problem(s), listed above")
    heads = script_directory().get_heads()
    print(
        f"check passed: one head ({heads[0]}), models match the migrations, "
        "generated artefacts are fresh, lint is clean, the lock traces pass"
    )


def lint_findings() -> list[str]:
    """Ruff, the import layers and Squawk; a generated file with merge-conflict markers is
    one line."""
    if markers := conflicts.conflicted():
        # The import layers are not read: a conflicted module cannot even be parsed.
        findings = lint.ruff() + lint.squawk() + lint.actionlint()
        return [conflicts.advice(markers), *conflicts.without_conflicted(findings, markers)]
    return lint.ruff() + lint.layers() + lint.squawk() + lint.actionlint()


def head_problems() -> list[str]:
    heads = script_directory().get_heads()
    return [several_heads(heads)] if len(heads) > 1 else []


def stale_problems() -> list[str]:
    lines = []
    # Each artefact on its own, so one that cannot be rendered (two heads, no server)
    # does not hide the others; artefacts failing for the same reason share a line.
    unrenderable: dict[str, list[str]] = {}
    for artefact in generated.artefacts():
        try:
            if artefact.is_stale():
                lines.append(f"{artefact.path} is stale: {GENERATE_HINT}")
        except (UserError, CommandError) as exc:
            unrenderable.setdefault(str(exc), []).append(str(artefact.path))
    lines += [
        f"cannot render {', '.join(paths)}: {reason}" for reason, paths in unrenderable.items()
    ]
    lines += [
        f"{path} belongs to no revision: {GENERATE_HINT} (it deletes it)"
        for path in revision_sql.orphans() + revision_trace.orphans()
    ]
    return lines


def drift_problems(env: Env) -> list[str]:
    server = devserver.database_url(env)
    try:
        found = drift(server)
    except (SQLAlchemyError, CommandError) as exc:
        return [f"cannot apply the migrations to a scratch database: {describe(exc, server)}"]
    return [
        f'{line}: add a revision with `make revision m="..."` or fix the models' for line in found
    ]
