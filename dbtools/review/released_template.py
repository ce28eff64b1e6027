"""The released chain applied once per server and kept, so a check applies only the rest.

A released revision is never edited again (`make check` names one that was), so the
database the released revisions build is the same on every run until the revisions or
what applies them change. The drift check therefore builds it once on the server it
checks on, by applying the released revisions to a scratch database, and keeps it there
as `dbtools_released_<digest>`. Each check copies it (`CREATE DATABASE ... TEMPLATE`) and
applies only the unreleased revisions, through the same run as `make upgrade` (whose
migration log is checked against the revision files first), then compares the copy.

The digest is of every released revision file (name and bytes, by revision id) and of the
renderer (dbtools/review/fingerprints.py: env.py, alembic.ini, this repository's apply
and operations code, the pinned libraries): a change to any of them names another
database, built afresh. The kept database refuses connections once built, so nothing
changes it afterwards, and it is used only when the checking role owns it and it still
refuses connections: a database of that name that another role made is never trusted by
its name (the whole chain is applied instead). The newest `KEPT` stay, older ones are
dropped.

Only a chain whose released revisions come first (each one's ancestors released too,
one released tip) is kept; otherwise every check applies the whole chain.
"""

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from dbtools.core import released, search_path
from dbtools.core.chain import by_id, script_directory
from dbtools.core.errors import UserError
from dbtools.core.options import RunOptions, run_config
from dbtools.core.scratch import scratch_database
from dbtools.review.fingerprints import renderer_fingerprint
from schema.session import make_engine
from schema.testing import create_database, drop_database

PREFIX = "dbtools_released_"
KEPT = 4  # kept databases per server: a few checkouts (worktrees) share one server


def released_tip(script: ScriptDirectory, marked: set[str]) -> str | None:
    """The last released revision, when the released revisions are the first ones of the
    chain with a single tip; None otherwise (nothing released, or not a prefix)."""
    if not marked:
        return None
    known = by_id(script)
    if not marked <= known.keys():
        return None  # a released revision is gone: make check says so, nothing is kept
    children = {rev: set(known[rev].nextrev) & marked for rev in marked}
    tips = [rev for rev, released_children in children.items() if not released_children]
    if len(tips) != 1:
        return None
    return tips[0] if ancestry(known, tips[0]) == marked else None


def ancestry(known: dict[str, Script], tip: str) -> set[str]:
    """`tip` and every revision below it (what upgrading an empty database to `tip`
    applies: its down revisions and the ones it depends on, to the base)."""
    seen: set[str] = set()
    todo = [tip]
    while todo:
        revision = todo.pop()
        if revision not in seen:
            seen.add(revision)
            script = known[revision]
            todo += [*as_tuple(script.down_revision), *as_tuple(script.dependencies)]
    return seen


def as_tuple(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def released_ids() -> set[str]:
    """The revisions migrations/RELEASED lists; none when it cannot be read (`make check`
    says why in its own line)."""
    try:
        return set(released.read())
    except UserError:
        return set()


def kept_name(script: ScriptDirectory, tip: str) -> str:
    """The kept database's name: a digest of the released files (by revision id) and of
    the renderer."""
    digest = hashlib.sha256(renderer_fingerprint().encode())
    known = by_id(script)
    for revision in sorted(ancestry(known, tip)):
        path = Path(known[revision].path)
        digest.update(b"\0" + path.name.encode() + b"\0" + path.read_bytes())
    return PREFIX + digest.hexdigest()[:32]


@contextmanager
def database_at_release(server_url: URL) -> Iterator[Connection]:
    """A scratch database on `server_url`'s server at the released tip (a copy of the
    kept database), or empty when nothing is kept for this chain; dropped afterwards."""
    kept = kept_release(server_url)
    with scratch_database(server_url, template=kept.name if kept else None) as connection:
        yield connection


@dataclass(frozen=True)
class Kept:
    name: str  # the kept database on the server
    tip: str  # the released revision it is at


def kept_release(server_url: URL) -> Kept | None:
    """The kept database of the released chain on `server_url`'s server (built now if it
    is not there yet); None when nothing is kept for this chain, or when a database of
    its name was not built by this role as above (another role's, or one that accepts
    connections): never trusted by its name, the whole chain is applied instead."""
    script = script_directory()
    tip = released_tip(script, released_ids())
    if tip is None:
        return None
    name = kept_name(script, tip)
    state = _kept_state(server_url, name)
    if state == "absent":
        _build(server_url, name, tip)
    elif state == "foreign":
        return None
    return Kept(name, tip)


def _build(server_url: URL, name: str, tip: str) -> None:
    """Apply the released revisions to a new database and keep it as `name`. It is built
    under a temporary name and renamed when complete, so a half-built one is never used;
    when another check kept the same one first, this one is dropped."""
    building = create_database(server_url, name=f"{PREFIX}build_{uuid.uuid4().hex[:12]}")
    try:
        engine = make_engine(
            building, poolclass=NullPool, connect_args=search_path.connect_args(building)
        )
        try:
            with engine.connect() as connection:
                cfg = run_config(RunOptions(env={}, connection=connection, configure_logging=False))
                command.upgrade(cfg, tip)
                connection.commit()
        finally:
            engine.dispose()
        _admin(server_url, f'ALTER DATABASE "{building.database}" ALLOW_CONNECTIONS false')
        _admin(server_url, f'ALTER DATABASE "{building.database}" RENAME TO "{name}"')
    except BaseException:
        drop_database(building)
        if _kept_state(server_url, name) == "absent":  # another check may have kept it first
            raise
    prune(server_url)


def prune(server_url: URL) -> None:
    """Drop all but the newest `KEPT` kept databases (newest: highest oid)."""
    rows = _admin(
        server_url,
        "SELECT datname::text FROM pg_database WHERE starts_with(datname, :prefix) "
        "AND NOT starts_with(datname, :building) ORDER BY oid DESC OFFSET :kept",
        prefix=PREFIX,
        building=f"{PREFIX}build_",
        kept=KEPT,
    )
    for (old,) in rows:
        try:
            drop_database(server_url.set(database=str(old)))
        except DBAPIError:
            continue  # another check is copying it: the next prune drops it


def _kept_state(server_url: URL, name: str) -> str:
    """`absent`; `kept` when this role owns it and it refuses connections, as `_build`
    leaves it; `foreign` otherwise."""
    found = _admin(
        server_url,
        "SELECT d.datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
        "AND NOT d.datallowconn FROM pg_database d WHERE d.datname = :n",
        n=name,
    )
    if not found:
        return "absent"
    return "kept" if found[0][0] else "foreign"


def _admin(server_url: URL, sql: str, **params: object) -> list[tuple[object, ...]]:
    """One statement in autocommit on the server's maintenance database; its rows."""
    engine = make_engine(server_url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            result = connection.execute(text(sql), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()
