"""The release marker `migrations/RELEASED`: which revisions are released, and the file
each one was released as.

One line per accepted file: `<revision> <sha256 of the file> <file name>`, then an
optional `# reason`. A revision may have more than one line: each checksum listed is a
version of its file that databases ran, so each is accepted (the migration log compares
against them too). `make release` appends the revisions not listed yet; nothing else
writes the file. A committed file works on a fresh clone and in CI, where the base
branch and its history may be absent.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from dbtools.core.errors import UserError
from dbtools.core.paths import MIGRATIONS

RELEASED = MIGRATIONS / "RELEASED"
HEADER = (
    "# Released revisions: never edited again (fix forward in a new revision).\n"
    "# One line per accepted file: <revision> <sha256 of the file> <file name> [# reason].\n"
    "# `make release` appends the revisions not listed yet; `make check` fails when a\n"
    "# listed revision's file differs from every checksum listed for it.\n"
)


@dataclass(frozen=True)
class Release:
    revision: str
    checksums: frozenset[str]
    file: str  # the file name as released, in migrations/versions/


def file_checksum(path: str | Path) -> str:
    """The SHA-256 of a revision file's bytes (what the migration log records)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read(path: Path = RELEASED) -> dict[str, Release]:
    """Every released revision; an absent marker means nothing is released yet."""
    if not path.exists():
        return {}
    found: dict[str, Release] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.partition("#")[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 3 or len(fields[1]) != 64:
            raise UserError(
                f"{path.name}:{number}: expected `<revision> <sha256> <file name>`, found {raw!r}"
            )
        revision, digest, name = fields
        known = found.get(revision)
        checksums = (known.checksums if known else frozenset()) | {digest}
        found[revision] = Release(revision, checksums, known.file if known else name)
    return found


def accepted(revision: str, path: Path = RELEASED) -> frozenset[str]:
    """The checksums accepted for `revision`'s file (empty when it is not released)."""
    release = read(path).get(revision)
    return release.checksums if release else frozenset()


def line(revision: str, file: Path) -> str:
    return f"{revision} {file_checksum(file)} {file.name}\n"


def append(lines: list[str], path: Path = RELEASED) -> None:
    """Add `lines` (from `line`) to the marker, creating it with its header."""
    text = path.read_text() if path.exists() else HEADER
    path.write_text(text + "".join(lines))
