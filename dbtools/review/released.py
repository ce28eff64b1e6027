"""Released revisions are immutable: `make check` names any that changed, `make release`
marks the chain as released.

What counts as released is `migrations/RELEASED` (dbtools/core/released.py), not the base
branch: the marker is in every clone, CI needs neither a remote nor the history, and a
revision's release is a reviewed line in a pull request.
"""

from pathlib import Path

from dbtools.core import released
from dbtools.core.chain import revisions
from dbtools.core.errors import UserError
from dbtools.core.paths import REPO_ROOT

FIX_FORWARD = "restore it and fix forward in a new revision (docs/reviewing.md#released-revisions)"


def problems() -> list[str]:
    """One line per released revision whose file changed or is gone."""
    try:
        marked = released.read()
    except UserError as exc:
        return [f"migrations/RELEASED: {exc}"]
    present = {script.revision: Path(script.path) for script in revisions()}
    lines = []
    for release in marked.values():
        path = present.get(release.revision)
        if path is None:
            lines.append(
                f"migrations/versions/{release.file}: released revision {release.revision} "
                f"is gone; {FIX_FORWARD}"
            )
        elif released.file_checksum(path) not in release.checksums:
            lines.append(
                f"{_shown(path)}: released revision {release.revision} was edited (its "
                f"checksum is none of those migrations/RELEASED lists for it); {FIX_FORWARD}"
            )
    return lines


def release() -> list[str]:
    """Mark every revision not yet listed as released; the revision ids marked."""
    marked = released.read()
    new = [s for s in revisions() if s.revision not in marked]
    released.append([released.line(s.revision, Path(s.path)) for s in new])
    return [s.revision for s in new]


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
