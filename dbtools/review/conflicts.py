"""Merge-conflict markers in generated files: one line of advice, not a page of noise.

Two branches that each add a revision both change the generated files (the head file,
schema.sql, the revision module). Git then leaves conflict markers in them, and every
tool reading them would report the markers its own way (ruff alone gives a line per
marker). Their content needs no resolving by hand: take either side, then
`make generate` writes them afresh from the revisions.
"""

from pathlib import Path

from dbtools.core.paths import REPO_ROOT
from dbtools.review import fingerprints, generated
from dbtools.review.revision_sql import SQL_DIR

MARKERS = ("<<<<<<< ", ">>>>>>> ")


def conflicted() -> list[Path]:
    """Generated files (relative to the repository root) holding conflict markers."""
    try:
        paths = set(generated.paths())
    except Exception:  # the revisions themselves do not load: look at the files alone
        paths = set()
    paths |= {p.relative_to(REPO_ROOT) for p in (REPO_ROOT / SQL_DIR).glob("*.sql")}
    paths.add(fingerprints.MANIFEST)
    return sorted(path for path in paths if has_markers(REPO_ROOT / path))


def has_markers(path: Path) -> bool:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.startswith(MARKERS) for line in lines)


def advice(paths: list[Path]) -> str:
    shown = " ".join(str(p) for p in paths)
    return (
        f"merge-conflict markers in generated files: {', '.join(map(str, paths))}; "
        f"take either side (`git checkout --theirs -- {shown}`), then run `make generate`"
    )


def without_conflicted(lines: list[str], paths: list[Path]) -> list[str]:
    """The findings that are not about a conflicted file (its markers say it all)."""
    names = [str(p) for p in paths]
    return [line for line in lines if not any(mentions(line, name) for name in names)]


def mentions(line: str, name: str) -> bool:
    index = line.find(name)
    while index != -1:
        before = line[index - 1] if index else " "
        after = line[index + len(name) : index + len(name) + 1]
        if before in " `(" and after in (":", " ", ",", ""):
            return True
        index = line.find(name, index + 1)
    return False
