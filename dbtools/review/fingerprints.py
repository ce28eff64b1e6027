"""What each committed SQL file was rendered from, so unchanged revisions are not
rendered (or linted) again.

`migrations/sql/FINGERPRINTS`, written by `make generate`, records one line per committed
SQL file: the SHA-256 of its revision file and of the SQL file itself, and whether Squawk
found it clean. Two more lines record the renderer (the files and pinned libraries that
shape how any revision renders) and the linter (its configuration and version). A line
holds while the revision file, the SQL file and the renderer are all what it records;
then the committed SQL is what rendering would write, and it is used without rendering.
Any change to the renderer voids every line (everything is rendered again), any change to
the linter voids every clean mark (everything is linted again).

`schema.sql` has a line too: its first checksum is of the whole chain (every revision
file) and the code that dumps it (`CHAIN_INPUTS`), so it holds while no revision and
nothing that shapes the dump changed; `make check` then knows the committed file is what
a dump would give, without applying the chain to a scratch database and dumping it.

The file is a cache whose every line is checked before it is trusted: a line that no
longer holds (or a file with merge-conflict markers, or none at all) costs a render,
never a wrong answer, so it is not itself checked for staleness.
"""

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from dbtools.core.paths import REPO_ROOT

MANIFEST = Path("migrations/sql/FINGERPRINTS")

# What shapes the SQL of every revision, relative to the repository root (a directory
# stands for its Python files). tests/test_fingerprints.py checks that every module of this
# repository a render imports is listed here, or is a model module: the models are compared
# with the migrations, never read by an offline render (revisions do not import them).
RENDERER_INPUTS = (
    "alembic.ini",
    "requirements.txt",  # the pinned versions of Alembic, SQLAlchemy, alembic-postgresql-enum
    "migrations/env.py",
    "dbtools/__init__.py",
    "dbtools/core",
    "dbtools/apply",
    "dbtools/operations",
    "dbtools/devserver.py",
    "dbtools/review/__init__.py",
    "dbtools/review/fingerprints.py",
    "dbtools/review/revision_sql.py",
    "dbtools/review/offline_sql.py",
    # Imported by env.py for autogenerate today.
    "dbtools/review/autogen_options.py",
    "dbtools/review/revision_hooks.py",
    "dbtools/review/safe_forms.py",
    "dbtools/review/drift.py",
    "dbtools/review/enum_values.py",
    "dbtools/review/hooks.py",
    # The lock trace committed beside each revision's SQL.
    "dbtools/review/trace.py",
    "dbtools/review/seed.py",
    "dbtools/review/revision_trace.py",
    "dbtools/review/trace_gate.py",
    "dbtools/review/locks.py",
    "schema/__init__.py",
    "schema/base.py",
    "schema/naming.py",
    "schema/session.py",
    "schema/startup.py",
    "schema/testing.py",
)
# Libraries a render loads that requirements.txt does not pin (pip picks them for the pins):
# none of them writes SQL, so their versions are not part of the renderer.
UNPINNED_LOADED = (
    "mako",  # Alembic's revision templates
    "markupsafe",  # Mako's escaping
    "pygments",  # colour in Alembic's messages
    "typing_extensions",  # type hints
)
# What shapes Squawk's findings on a given SQL text.
LINT_INPUTS = (
    ".squawk.toml",
    "dbtools/review/lint.py",
    "dbtools/review/statements.py",
    "dbtools/operations/waivers.py",
    # Findings carry a safe form, and the committed lock trace overrules or confirms them.
    "dbtools/review/fixes.py",
    "dbtools/review/locks.py",
    "dbtools/review/trace_gate.py",
)
LINT_PIN = "squawk-cli"  # its line in requirements-dev.txt
# What shapes schema.sql besides the renderer and the revisions: the dump and its text.
CHAIN_INPUTS = ("dbtools/consume/snapshot.py", "dbtools/consume/revision_module.py")

HEADER = (
    "# Written by `make generate` (dbtools/review/fingerprints.py); a merge conflict here needs\n"
    "# no resolving: take either side and run `make generate`.\n"
    "# <sql file> <sha256 of its revision file> <sha256 of the sql file> <clean|-> (Squawk)\n"
)


@dataclass(frozen=True)
class Entry:
    revision_sha: str
    sql_sha: str
    clean: bool


@dataclass(frozen=True)
class Fingerprints:
    """The manifest as committed, and the renderer and linter as they are now."""

    renderer: str
    lint: str
    recorded_renderer: str
    recorded_lint: str
    entries: dict[str, Entry]  # by SQL file name

    @classmethod
    def now(cls, root: Path = REPO_ROOT) -> "Fingerprints":
        renderer, lint, entries = _read(root / MANIFEST)
        return cls(renderer_fingerprint(root), lint_fingerprint(root), renderer, lint, entries)

    def holds(self, sql: Path, revision_file: Path, root: Path = REPO_ROOT) -> bool:
        """Whether the committed `sql` is what rendering `revision_file` would write."""
        return self._holds(sql, lambda: file_sha(revision_file), root)

    def holds_for_chain(
        self, artefact: Path, revision_files: Iterable[Path], root: Path = REPO_ROOT
    ) -> bool:
        """Whether the committed `artefact` (schema.sql) is what the chain of
        `revision_files` dumps to, as recorded by the last `make generate`."""
        return self._holds(artefact, lambda: chain_fingerprint(revision_files, root), root)

    def _holds(self, path: Path, source_sha: Callable[[], str], root: Path) -> bool:
        entry = self.entries.get(path.name)
        target = root / path
        return (
            entry is not None
            and self.recorded_renderer == self.renderer
            and target.exists()
            and entry.revision_sha == source_sha()
            and entry.sql_sha == file_sha(target)
        )

    def linted_clean(self, sql: Path, revision_file: Path, root: Path = REPO_ROOT) -> bool:
        """Whether `sql` holds and Squawk, as configured now, found it clean."""
        entry = self.entries.get(sql.name)
        return (
            entry is not None
            and entry.clean
            and self.recorded_lint == self.lint
            and self.holds(sql, revision_file, root)
        )


def render_manifest(
    fingerprints: Fingerprints,
    files: Iterable[tuple[Path, Path, bool]],
    chain_artefacts: Iterable[Path] = (),
    root: Path = REPO_ROOT,
) -> str:
    """The manifest for `files` (sql path, revision file, linted clean) and for the
    `chain_artefacts` dumped from the whole chain (schema.sql), as committed now."""
    lines = [
        HEADER,
        f"renderer {fingerprints.renderer}\n",
        f"lint {fingerprints.lint}\n",
    ]
    for sql, revision_file, clean in sorted(files):
        mark = "clean" if clean else "-"
        lines.append(f"{sql.name} {file_sha(revision_file)} {file_sha(root / sql)} {mark}\n")
    chain = chain_fingerprint({revision_file for _sql, revision_file, _clean in files}, root)
    for artefact in sorted(chain_artefacts):
        if (root / artefact).exists():
            lines.append(f"{artefact.name} {chain} {file_sha(root / artefact)} -\n")
    return "".join(lines)


def write(text: str, root: Path = REPO_ROOT) -> bool:
    """Write the manifest if its text changed; whether it did."""
    target = root / MANIFEST
    if target.exists() and target.read_text() == text:
        return False
    target.write_text(text)
    return True


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def chain_fingerprint(revision_files: Iterable[Path], root: Path = REPO_ROOT) -> str:
    """One SHA-256 over every revision file (name and bytes) and `CHAIN_INPUTS`."""
    digest = hashlib.sha256(_digest(root, CHAIN_INPUTS).encode())
    for path in sorted(set(revision_files)):
        digest.update(f"\0{path.name}\0{file_sha(path)}".encode())
    return digest.hexdigest()


def renderer_fingerprint(root: Path = REPO_ROOT) -> str:
    return _digest(root, RENDERER_INPUTS)


def lint_fingerprint(root: Path = REPO_ROOT) -> str:
    pins = (root / "requirements-dev.txt").read_text().splitlines()
    pinned = "\n".join(line for line in pins if line.startswith(LINT_PIN))
    return hashlib.sha256(f"{_digest(root, LINT_INPUTS)}\n{pinned}".encode()).hexdigest()


def _digest(root: Path, inputs: tuple[str, ...]) -> str:
    """One SHA-256 over the listed files' names and contents (missing files count too)."""
    digest = hashlib.sha256()
    for path in _files(root, inputs):
        digest.update(f"{path}\0".encode())
        full = root / path
        digest.update(full.read_bytes() if full.exists() else b"(missing)")
        digest.update(b"\0")
    return digest.hexdigest()


def _files(root: Path, inputs: tuple[str, ...]) -> list[str]:
    found = []
    for name in inputs:
        full = root / name
        if full.is_dir():
            found += [str(p.relative_to(root)) for p in sorted(full.rglob("*.py"))]
        else:
            found.append(name)
    return sorted(found)


def _read(path: Path) -> tuple[str, str, dict[str, Entry]]:
    """(renderer, lint, entries); lines that do not parse are left out (they hold nothing)."""
    renderer = lint = ""
    entries: dict[str, Entry] = {}
    text = path.read_text() if path.exists() else ""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == "renderer":
            renderer = fields[1]
        elif len(fields) == 2 and fields[0] == "lint":
            lint = fields[1]
        elif len(fields) == 4 and not line.startswith("#"):
            entries[fields[0]] = Entry(fields[1], fields[2], fields[3] == "clean")
    return renderer, lint, entries
