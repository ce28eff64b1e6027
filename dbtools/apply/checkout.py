"""The database must be at a revision this checkout has.

A database upgraded from a newer branch or commit records a revision no file here
defines; Alembic then fails deep in its resolver (`ResolutionError: No such revision or
branch`). Said in the user's terms instead, before anything runs.

A database at a revision that `make squash` folded into a baseline is told which release
to upgrade through first: the baseline's revision, from the commit that still has the
folded files (the baseline records both in `replaces` and `squashed_from`).
"""

from typing import Any

from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError

from dbtools.core.errors import UserError


def require_known(heads: tuple[str, ...] | list[str], script: ScriptDirectory) -> None:
    """Raise `UserError` when a revision the database is at has no file in this checkout."""
    for head in heads:
        if _known(head, script):
            continue
        baseline = _folded_into(head, script)
        raise UserError(_unknown(head) if baseline is None else _folded(head, baseline))


def _unknown(head: str) -> str:
    return (
        f"the database is at revision {head}, which this checkout does not have (no file "
        "in migrations/versions defines it; it was applied from another branch or a "
        "newer commit): switch to the branch or pull the commit that has it and run "
        "again, or downgrade from there to a revision this checkout has; nothing was run"
    )


def _folded(head: str, baseline: Any) -> str:
    """Which release to upgrade through: the baseline's revision, from the commit that
    still has the revision the database is at."""
    commit = str(getattr(baseline.module, "squashed_from", None) or "")[:12] or "<that commit>"
    return (
        f"the database is at revision {head}, which `make squash` folded into the baseline "
        f"{baseline.revision}: upgrade it to {baseline.revision} first with the release that "
        f"still has {head} (`git checkout {commit} && make upgrade REV={baseline.revision}`), "
        "then upgrade from this checkout; nothing was run"
    )


def _folded_into(revision: str, script: ScriptDirectory) -> Any:
    """The baseline whose `replaces` names `revision`, if one does."""
    for candidate in script.walk_revisions():
        if revision in (getattr(candidate.module, "replaces", None) or {}):
            return candidate
    return None


def _known(revision: str, script: ScriptDirectory) -> bool:
    try:
        found: Any = script.get_revision(revision)
    except (RevisionError, CommandError):
        return False
    return found is not None and found.revision == revision
