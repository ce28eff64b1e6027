"""The migration log: which revision was applied or reverted, when, by whom, how long.

A bookkeeping table (`migration_audit.migration_log`) beside Alembic's `alembic_version`,
written online only, in the
same transaction as the revision it describes (so a revision that rolls back leaves no
row). Each row carries the SHA-256 of the revision file as it was when it ran; a run
refuses to start when a revision applied to this database has been edited since, as
Flyway's `validate` does. `MIGRATION_ALLOW_EDITED=1` accepts the edit once: the new
checksum is recorded (direction `accept-edit`) and later runs compare against it.

A baseline written by `make squash` keeps the id of the last revision it folds and lists
in `replaces` the checksum each folded file had: a database that ran the folded file
recorded that checksum, and it still counts as unedited.
"""

import ast
import hashlib
import logging
import re
from collections.abc import Iterable
from datetime import UTC
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from dbtools.core import released, settings
from dbtools.core.bookkeeping import LOG_SCHEMA, LOG_TABLE, QUALIFIED_LOG
from dbtools.core.errors import UserError
from dbtools.core.paths import REPO_ROOT

OVERRIDE_VAR = "MIGRATION_ALLOW_EDITED"
# Directions whose checksum says "this is the file the database ran".
_APPLIED = ("upgrade", "accept-edit")

log = logging.getLogger("alembic.env")

_metadata = sa.MetaData()
migration_log = sa.Table(
    LOG_TABLE,
    _metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("revision", sa.String(32), nullable=False),
    sa.Column("direction", sa.Text, nullable=False),
    sa.Column(
        "applied_at",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.text("clock_timestamp()"),
    ),
    sa.Column("applied_by", sa.Text, nullable=False, server_default=sa.text("current_user")),
    sa.Column("duration_ms", sa.Integer, nullable=True),
    sa.Column("checksum", sa.String(64), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.CheckConstraint(
        "direction IN ('upgrade', 'downgrade', 'accept-edit')",
        name=f"ck_{LOG_TABLE}_direction",
    ),
    schema=LOG_SCHEMA,
    comment="Every revision applied or reverted on this database (written by migrations/env.py).",
)


def checksum(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def ensure_table(connection: Connection) -> None:
    """Create the log where it is missing. Looked up first: CREATE SCHEMA IF NOT EXISTS
    needs CREATE on the database even when the schema is there."""
    if not exists(connection):
        connection.execute(sa.schema.CreateSchema(LOG_SCHEMA, if_not_exists=True))
        migration_log.create(connection, checkfirst=True)


def exists(connection: Connection) -> bool:
    return (
        connection.execute(sa.text(f"SELECT to_regclass('{QUALIFIED_LOG}')")).scalar() is not None
    )


def record(connection: Connection, info: Any, duration_ms: int | None) -> None:
    """Write one row for `info` (Alembic's MigrationInfo) on `connection`'s transaction."""
    script = info.up_revision
    # One statement for every row, its values as parameters: compiled once per run.
    connection.execute(
        migration_log.insert(),
        {
            "revision": info.up_revision_id,
            "direction": "upgrade" if info.is_upgrade else "downgrade",
            "duration_ms": duration_ms,
            "checksum": checksum(script.path),
            "description": (script.doc or "").strip() or None,
        },
    )


def verify_unedited(connection: Connection, applied: Iterable[Any], env: settings.Env) -> None:
    """Refuse when a revision in `applied` (Alembic Scripts) differs from what ran.

    With MIGRATION_ALLOW_EDITED set, the edit is accepted and its checksum recorded.
    """
    recorded = _recorded_checksums(connection) if exists(connection) else {}
    edited = [
        s for s in applied if s.revision in recorded and not _same_release(s, recorded[s.revision])
    ]
    if not edited:
        return
    if settings.is_true(env, OVERRIDE_VAR):
        for script in edited:
            log.warning(
                "Accepting the edited revision file %s (%s)", _shown(script.path), OVERRIDE_VAR
            )
            connection.execute(
                migration_log.insert().values(
                    revision=script.revision,
                    direction="accept-edit",
                    checksum=checksum(script.path),
                )
            )
        return
    script = edited[0]
    raise UserError(
        f"revision {script.revision} ({_shown(script.path)}) was edited after it was applied to "
        f"this database (its checksum differs from the one recorded in {QUALIFIED_LOG}); "
        "a released "
        "revision is never edited: restore the file and fix forward in a new revision, or set "
        f"{OVERRIDE_VAR}=1 to accept the edit"
    )


def _same_release(script: Any, recorded: str) -> bool:
    """The file is the one the database ran; or the database ran a file a squashed
    baseline replaced (its `replaces`); or both are versions of it that
    migrations/RELEASED accepts (a revision edited after its release, recorded there)."""
    now = checksum(script.path)
    if recorded in {now, *replaced_checksums(script)}:
        return True
    accepted = released.accepted(script.revision)
    return now in accepted and recorded in accepted


def replaced_checksums(script: Any) -> list[str]:
    """For a squashed baseline, the checksums of the files it replaced (`replaces`)."""
    replaced = (getattr(script.module, "replaces", None) or {}).get(script.revision, [])
    return [replaced] if isinstance(replaced, str) else list(replaced)


def _recorded_checksums(connection: Connection) -> dict[str, str]:
    """The latest checksum recorded as applied, per revision."""
    t = migration_log
    rows = connection.execute(
        sa.select(t.c.revision, t.c.checksum).where(t.c.direction.in_(_APPLIED)).order_by(t.c.id)
    )
    return {revision: digest for revision, digest in rows}


def _shown(path: str | Path) -> str:
    path = Path(path)
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return path.name


def history(connection: Connection) -> list[dict[str, Any]]:
    """Every row of the log, oldest first; empty when the table does not exist yet."""
    if not sa.inspect(connection).has_table(LOG_TABLE, schema=LOG_SCHEMA):
        return []
    rows = connection.execute(sa.select(migration_log).order_by(migration_log.c.id))
    return [dict(r._mapping) for r in rows]


def format_history(rows: list[dict[str, Any]], current_files: dict[str, set[str]]) -> str:
    """A fixed-width table of `rows`; `current_files` maps revision -> the checksums
    that count as its file unedited today."""
    if not rows:
        return f"No migrations recorded in {QUALIFIED_LOG} yet (make upgrade writes it)."
    lines = [
        f"{'applied at (UTC)':<23} {'direction':<11} {'revision':<14} {'role':<16} "
        f"{'ms':>7}  {'checksum':<12} description"
    ]
    for row in rows:
        now = current_files.get(row["revision"])
        mark = "" if now is None or row["checksum"] in now else " (file edited since)"
        duration = "" if row["duration_ms"] is None else str(row["duration_ms"])
        first_line = (row["description"] or "").splitlines()[0] if row["description"] else ""
        lines.append(
            f"{row['applied_at'].astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"[:23]
            + f" {row['direction']:<11} {row['revision']:<14} {row['applied_by']:<16} "
            f"{duration:>7}  {row['checksum'][:12]:<12} {first_line}{mark}"
        )
    return "\n".join(lines)


def current_checksums(versions: Path) -> dict[str, set[str]]:
    """revision id -> the checksums that count as its file unedited today (a squashed
    baseline adds those of the files it replaced), read without importing the files."""
    found: dict[str, set[str]] = {}
    for path in versions.glob("*.py"):
        source = path.read_text(errors="replace")
        match = _REVISION_LINE.search(source)
        if match:
            found.setdefault(match.group(1), set()).add(checksum(path))
            for revision, digests in _replaces(source).items():
                listed = [digests] if isinstance(digests, str) else digests
                found.setdefault(revision, set()).update(listed)
    return found


def _replaces(source: str) -> dict[str, Any]:
    """A baseline's `replaces = {...}`, read as a literal; empty for any other file."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "replaces" and node.value is not None:
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return {}
            return dict(value) if isinstance(value, dict) else {}
    return {}


_REVISION_LINE = re.compile(r'^revision(?:\s*:\s*str)?\s*=\s*["\']([^"\']+)["\']', re.M)


def report(connection: Connection, versions: Path) -> str:
    """The migration history of the database on `connection`, as `make audit` prints it."""
    return format_history(history(connection), current_checksums(versions))
