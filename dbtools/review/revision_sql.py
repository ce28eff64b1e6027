"""The committed review artefacts of the revision chain.

- `migrations/sql/<revision file stem>.upgrade.sql` / `.downgrade.sql`: the exact SQL each
  revision runs, rendered offline the way `make sql` renders it, so a pull request shows
  DBAs the SQL diff beside the Python.
- `migrations/HEAD`: the head revision id. Two branches that each add a revision both
  change this one line, so git reports the conflict at merge time, not production at
  deploy time (the idea of django-linear-migrations' `max_migration.txt`).

Rendering never connects to a database and uses the default timeouts, whatever the
developer's environment says, so the text depends on the repository alone. A revision
whose fingerprint holds (dbtools/review/fingerprints.py: neither it, its SQL file nor the
renderer changed since `make generate` wrote that file) is not rendered again.
"""

import io
from pathlib import Path

from alembic import command
from alembic.script import Script

from dbtools.core.artefacts import Artefact
from dbtools.core.chain import revisions, script_directory
from dbtools.core.errors import UserError
from dbtools.core.options import Hooks, RunOptions, run_config
from dbtools.core.paths import REPO_ROOT
from dbtools.core.settings import DEFAULT_LOCK_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT, Timeouts
from dbtools.review.fingerprints import Fingerprints
from dbtools.review.offline_sql import revision_blocks

SQL_DIR = Path("migrations/sql")
HEAD_FILE = Path("migrations/HEAD")
DIRECTIONS = ("upgrade", "downgrade")


def sql_path(script: Script, direction: str) -> Path:
    return SQL_DIR / f"{Path(script.path).stem}.{direction}.sql"


def render(script: Script, direction: str) -> str:
    """The SQL that applies (upgrade) or reverts (downgrade) this one revision."""
    parent = script.down_revision
    if isinstance(parent, tuple | list):
        raise UserError(
            f"revision {script.revision} merges {', '.join(parent)}: this repository keeps one "
            "line of revisions; set the newer revision's down_revision to the other head "
            "instead of merging"
        )
    if direction == "upgrade":
        span = f"{parent}:{script.revision}" if parent else script.revision
    else:
        span = f"{script.revision}:{parent or 'base'}"
    buffer = io.StringIO()
    options = RunOptions(
        env={},  # rendering connects nowhere and depends on the repository alone
        timeouts=Timeouts(DEFAULT_LOCK_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT),
        configure_logging=False,
        hooks=Hooks(offline_output=revision_blocks),
    )
    cfg = run_config(options, output_buffer=buffer)
    run = command.upgrade if direction == "upgrade" else command.downgrade
    run(cfg, span, sql=True)
    return buffer.getvalue()


def render_head() -> str:
    """The head revision id(s), one per line (two lines mean two heads: a problem)."""
    return "".join(f"{head}\n" for head in sorted(script_directory().get_heads()))


def current(script: Script, direction: str, fingerprints: Fingerprints) -> str:
    """The SQL as the revision renders now: the committed file while its fingerprint holds."""
    path = sql_path(script, direction)
    if fingerprints.holds(path, Path(script.path)):
        return (REPO_ROOT / path).read_text()
    return render(script, direction)


def artefacts(fingerprints: Fingerprints | None = None) -> list[Artefact]:
    """Each revision's upgrade and downgrade SQL, and the head file."""
    fingerprints = fingerprints or Fingerprints.now()
    rendered = [
        Artefact(
            sql_path(script, direction),
            _renderer(script, direction),
            _fresh(fingerprints, sql_path(script, direction), Path(script.path)),
        )
        for script in revisions()
        for direction in DIRECTIONS
    ]
    return [*rendered, Artefact(HEAD_FILE, render_head)]


def _renderer(script: Script, direction: str):
    return lambda: render(script, direction)


def _fresh(fingerprints: Fingerprints, sql: Path, revision_file: Path):
    return lambda: fingerprints.holds(sql, revision_file)


def files() -> list[tuple[Path, Path]]:
    """(committed SQL path, revision file) for each revision and direction."""
    return [
        (sql_path(script, direction), Path(script.path))
        for script in revisions()
        for direction in DIRECTIONS
    ]


def orphans() -> list[Path]:
    """Rendered SQL files whose revision no longer exists (renamed or deleted)."""
    expected = {sql_path(s, d) for s in revisions() for d in DIRECTIONS}
    found = {p.relative_to(REPO_ROOT) for p in (REPO_ROOT / SQL_DIR).glob("*.sql")}
    return sorted(found - expected)
