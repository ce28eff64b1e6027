"""The schema a revision should give, kept as a template database on the scratch server.

The first verify of a revision applies the chain up to it to a new database, and keeps
that database; later verifies of the same revision only read it. The name says what it
holds: `verify_<revision>_<hash>`, the hash covering every revision file up to that
revision, so a chain edited since (a file changed, a revision inserted below) gets a new
template instead of a stale one. Two verifies building the same template at once each
build under a private name and rename at the end; the loser drops its copy.

A repeated verify finds its template without loading the chain: the template's comment
carries a digest of every file in `migrations/versions` (`[files <digest>]`), so the same
checkout at the same revision names the same template after one catalog lookup.
"""

import hashlib
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError

import schema
from dbtools.core import search_path
from dbtools.core.errors import UserError
from dbtools.core.paths import VERSIONS
from dbtools.core.secrets import mask_secret, masked
from schema.testing import create_database, drop_database

if TYPE_CHECKING:  # Alembic loads only when a template must be found from the chain
    from alembic.config import Config
    from alembic.script import ScriptDirectory

PREFIX = "verify_"
NOTE = "make verify:"  # how a template's COMMENT ON DATABASE starts
_HASH_CHARS = 16
_MAX_LABEL = 63 - len(PREFIX) - 1 - _HASH_CHARS  # PostgreSQL's 63-byte name limit


def chain_files(script: "ScriptDirectory", revisions: tuple[str, ...]) -> list[Path]:
    """The files of `revisions` and of every revision below them, in a stable order."""
    if not revisions:
        return []
    below = script.iterate_revisions(list(revisions), "base")
    return sorted((Path(s.path) for s in below), key=lambda p: p.name)


def template_name(script: "ScriptDirectory", revisions: tuple[str, ...]) -> str:
    """`verify_<revision>_<hash of the files up to it>`: deterministic, under 63 bytes."""
    digest = hashlib.sha256()
    for path in chain_files(script, revisions):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{PREFIX}{_label(revisions)}_{digest.hexdigest()[:_HASH_CHARS]}"


def files_digest() -> str:
    """A digest of every revision file of this checkout (names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(VERSIONS.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:_HASH_CHARS]


def _label(revisions: tuple[str, ...]) -> str:
    label = {0: "base", 1: "".join(revisions)}.get(len(revisions), f"{len(revisions)}heads")
    return re.sub(r"[^a-z0-9]", "_", label.lower())[:_MAX_LABEL]


_KNOWN = """
SELECT datname FROM pg_database
WHERE starts_with(datname, :prefix) AND shobj_description(oid, 'pg_database') LIKE :files
"""


def ensure_template(server_url: URL, revisions: tuple[str, ...]) -> str:
    """The name of the template database for `revisions`, built first if it is missing.

    Raises UserError when the checkout has no file for one of `revisions`.
    """
    files = files_digest()
    admin = schema.make_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            params = {"prefix": f"{PREFIX}{_label(revisions)}_", "files": f"%[files {files}]"}
            found = conn.execute(text(_KNOWN), params).scalar()
        if found is not None:
            return found  # built from exactly these files: known, and current
        return _ensure_from_chain(admin, server_url, revisions, files)
    except DBAPIError as exc:
        # Said apart from the verified database's errors: this is the scratch server.
        reason = mask_secret(" ".join(str(exc.orig).split()), server_url)
        raise UserError(
            f"cannot build the expected schema on the scratch server "
            f"{masked(server_url)} (VERIFY_SCRATCH_URL; its role must be allowed "
            f"to create databases): {reason}"
        ) from None
    finally:
        admin.dispose()


def _ensure_from_chain(
    admin: Engine, server_url: URL, revisions: tuple[str, ...], files: str
) -> str:
    from alembic.script import ScriptDirectory  # only when the chain must be read

    from dbtools.apply.checkout import require_known
    from dbtools.core.paths import alembic_config

    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    require_known(revisions, script)
    name = template_name(script, revisions)
    if not _exists(admin, name):
        _build(admin, server_url, cfg, revisions, name)
    with admin.connect() as conn:
        note = f"{NOTE} the schema of revision(s) {', '.join(revisions) or 'base'} [files {files}]"
        conn.execute(text(f"COMMENT ON DATABASE \"{name}\" IS '{note}'"))
    return name


def _exists(admin: Engine, name: str) -> bool:
    with admin.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        return found.first() is not None


def _build(
    admin: Engine, server_url: URL, cfg: "Config", revisions: tuple[str, ...], name: str
) -> None:
    from alembic import command

    from dbtools.core.options import RunOptions, store

    building = create_database(server_url, name=f"{PREFIX}build_{uuid.uuid4().hex[:12]}")
    try:
        with _connection(building) as connection:
            store(cfg, RunOptions(env={}, connection=connection, configure_logging=False))
            for revision in revisions:
                command.upgrade(cfg, revision)
            connection.commit()
        with admin.connect() as conn:
            try:
                conn.execute(text(f'ALTER DATABASE "{building.database}" RENAME TO "{name}"'))
            except (ProgrammingError, IntegrityError):
                # Another verify built the same template first: use theirs. Losing the
                # race is a duplicate name, or a unique violation on pg_database's index.
                return
            note = f"{NOTE} the schema of revision(s) {', '.join(revisions) or 'base'}"
            conn.execute(text(f"COMMENT ON DATABASE \"{name}\" IS '{note}'"))
    finally:
        drop_database(building)  # gone already when it was renamed


@contextmanager
def _connection(url: URL) -> Iterator[Connection]:
    engine = schema.make_engine(url, connect_args=search_path.connect_args(url))
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


# Only databases this module made: a template carries its note, a build its exact name
# (a user's own database called verify_something is never touched).
_OURS = """
SELECT datname FROM pg_database
WHERE shobj_description(oid, 'pg_database') LIKE :note OR datname ~ :building
ORDER BY 1
"""
_BUILDING = f"^{PREFIX}build_[0-9a-f]{{12}}$"


def drop_templates(server_url: URL) -> list[str]:
    """Drop every template `make verify` keeps on the scratch server; return their names."""
    admin = schema.make_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            rows = conn.execute(text(_OURS), {"note": NOTE + "%", "building": _BUILDING})
            names = [r[0] for r in rows]
        for name in names:
            drop_database(server_url.set(database=name))
        return names
    finally:
        admin.dispose()
