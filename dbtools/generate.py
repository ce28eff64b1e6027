"""Generated, committed artefacts: what `make generate` writes and `make check` verifies.

Each artefact is a path and a function that renders its whole text from the repository
deterministically: no dates, versions or random tokens, so `git diff` after
`make generate` is empty on `main`. Renders that need PostgreSQL (schema.sql) build a
scratch database of their own and drop it; they never read the user's data.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dbtools.config import REPO_ROOT


@dataclass(frozen=True)
class Artefact:
    path: Path  # relative to the repository root
    render: Callable[[], str]


def artefacts() -> list[Artefact]:
    """Every generated artefact. Add new ones here; `generate` and `stale` follow."""
    # Imported late: these modules build on Artefact.
    from dbtools import consumers, guide, revision_sql

    return [*revision_sql.artefacts(), *guide.artefacts(), *consumers.artefacts()]


def generate() -> list[Path]:
    """Write every artefact whose text changed; return the paths written."""
    written = []
    for artefact in artefacts():
        target = REPO_ROOT / artefact.path
        text = artefact.render()
        if not target.exists() or target.read_text() != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            written.append(artefact.path)
    return written


def is_stale(artefact: Artefact) -> bool:
    """Whether the committed text differs from what `generate` would write."""
    target = REPO_ROOT / artefact.path
    return not target.exists() or target.read_text() != artefact.render()


def stale() -> list[Path]:
    """The artefacts whose committed text differs from what `generate` would write."""
    return [a.path for a in artefacts() if is_stale(a)]
