"""Generated, committed artefacts: what `make generate` writes and `make check` verifies.

Each artefact is a path and a function that renders its whole text from the repository
(never from a live database the user configured), deterministically: no dates, versions
or random tokens, so `git diff` after `make generate` is empty on `main`.
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
    from dbtools import guide, revision_sql  # imported late: they build on Artefact

    return [*revision_sql.artefacts(), *guide.artefacts()]


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


def stale() -> list[Path]:
    """The artefacts whose committed text differs from what `generate` would write."""
    return [
        a.path
        for a in artefacts()
        if not (REPO_ROOT / a.path).exists() or (REPO_ROOT / a.path).read_text() != a.render()
    ]
