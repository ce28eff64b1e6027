"""The database must be at a revision this checkout has.

A database upgraded from a newer branch or commit records a revision no file here
defines; Alembic then fails deep in its resolver (`ResolutionError: No such revision or
branch`). Said in the user's terms instead, before anything runs.
"""

from typing import Any

from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError

from dbtools.core.errors import UserError


def require_known(heads: tuple[str, ...] | list[str], script: ScriptDirectory) -> None:
    """Raise `UserError` when a revision the database is at has no file in this checkout."""
    for head in heads:
        if not _known(head, script):
            raise UserError(
                f"the database is at revision {head}, which this checkout does not have (no file "
                "in migrations/versions defines it; it was applied from another branch or a "
                "newer commit): switch to the branch or pull the commit that has it and run "
                "again, or downgrade from there to a revision this checkout has; nothing was run"
            )


def _known(revision: str, script: ScriptDirectory) -> bool:
    try:
        found: Any = script.get_revision(revision)
    except (RevisionError, CommandError):
        return False
    return found is not None and found.revision == revision
