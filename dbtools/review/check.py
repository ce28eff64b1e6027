"""`make generate`, `make lint` and `make check`: what a reviewer relies on being true.

`check` gathers every problem into one list before failing, so one run tells a
contributor everything to fix: drift between the models and the migrations, more than
one head, a released revision edited, a revision docstring still the template's, stale
generated artefacts, linter findings, and what the lock traces observed
(dbtools/review/trace_gate.py).
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from dbtools import devserver
from dbtools.consume import artefacts as consumer_artefacts
from dbtools.core.chain import script_directory, several_heads
from dbtools.core.errors import UserError, describe
from dbtools.core.paths import REPO_ROOT
from dbtools.core.settings import Env
from dbtools.review import (
    conflicts,
    fingerprints,
    generated,
    lint,
    released,
    revision_sql,
    revision_trace,
)
from dbtools.review.docstrings import unwritten_docstrings
from dbtools.review.drift import drift
from dbtools.review.fingerprints import Fingerprints

GENERATE_HINT = "run `make generate`"


@dataclass(frozen=True)
class Generated:
    """What `make generate` changed (paths relative to the repository root)."""

    written: list[Path]
    removed: list[Path]  # rendered SQL and traces of revisions that no longer exist


def generate_artefacts(env: Env) -> Generated:
    """Rewrite every generated artefact; delete rendered SQL and traces of revisions that
    are gone; record what each SQL file was rendered from (and whether Squawk finds it
    clean)."""
    before = Fingerprints.now()
    report_scope(before)
    written = generated.generate(env)
    removed = revision_sql.orphans() + revision_trace.orphans()
    for path in removed:
        (REPO_ROOT / path).unlink()
    if record_fingerprints(before):
        written.append(fingerprints.MANIFEST)
    return Generated(written, removed)


def record_fingerprints(before: Fingerprints) -> bool:
    """Write migrations/sql/FINGERPRINTS for the SQL as committed now; whether it changed."""
    files = revision_sql.files() + revision_trace.files()
    clean = lint.clean_files(files, before)
    rows = [(sql, revision_file, sql in clean) for sql, revision_file in files]
    return fingerprints.write(
        fingerprints.render_manifest(Fingerprints.now(), rows, [consumer_artefacts.SNAPSHOT])
    )


def report_scope(known: Fingerprints) -> None:
    """One line on stderr: how many revisions' SQL this run renders and lints."""
    files = revision_sql.files()
    render = sum(not known.holds(sql, rev) for sql, rev in files)
    relint = sum(not known.linted_clean(sql, rev) for sql, rev in files)
    print(
        f"rendering {render} of {len(files)} SQL files and linting {relint} of "
        f"{len(files)}; the others are unchanged since `make generate` "
        f"({Path(fingerprints.MANIFEST)})",
        file=sys.stderr,
    )


def report_lint_scope() -> None:
    """`make lint`'s line: what it renders and lints."""
    report_scope(Fingerprints.now())


def problems(env: Env) -> list[str]:
    """Every problem a reviewer should never have to find by hand, in one list."""
    report_scope(Fingerprints.now())
    sections: list[tuple[str, Callable[[], list[str]]]] = [
        ("heads", head_problems),
        ("released", released.problems),
        ("docstring", unwritten_docstrings),
        ("stale", lambda: stale_problems(env)),
        ("drift", lambda: drift_problems(env)),
        ("lint", lint_findings),
        ("trace", lambda: trace_problems(env)),
    ]
    found = [f"{name}: {line}" for name, find in sections for line in find()]
    if markers := conflicts.conflicted():
        found = [
            f"conflict: {conflicts.advice(markers)}",
            *conflicts.without_conflicted(found, markers),
        ]
    return found


def single_head() -> str:
    return script_directory().get_heads()[0]


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


def stale_problems(env: Env) -> list[str]:
    lines = []
    # Each artefact on its own, so one that cannot be rendered (two heads, no server)
    # does not hide the others; artefacts failing for the same reason share a line.
    unrenderable: dict[str, list[str]] = {}
    with revision_trace.parent_states() as parents:
        for artefact in generated.artefacts(env, parents):
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


def trace_problems(env: Env) -> list[str]:
    """The lock-trace gate; each finding says whether Squawk sees it from the text too."""
    return revision_trace.problems(devserver.database_url(env), lint.lock_rules_flagging)


def drift_problems(env: Env) -> list[str]:
    server = devserver.database_url(env)
    try:
        found = drift(server)
    except (SQLAlchemyError, CommandError) as exc:
        return [f"cannot apply the migrations to a scratch database: {describe(exc, server)}"]
    return [
        f'{line}: add a revision with `make revision m="..."` or fix the models' for line in found
    ]
