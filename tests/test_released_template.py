"""The database at the released tip that drift, schema.sql's dump and `make revision`
start from: built once per server by applying the released revisions, kept refusing
connections, copied by every later check, and never used for another chain or renderer."""

import datetime
from pathlib import Path

import pytest
import sqlalchemy
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import schema
from dbtools.consume import snapshot
from dbtools.core import chain
from dbtools.core.bookkeeping import QUALIFIED_LOG, bookkeeping
from dbtools.review import generated, released_template
from dbtools.review.released_template import (
    PREFIX,
    database_at_release,
    kept_name,
    prune,
    released_ids,
    released_tip,
)
from schema.testing import create_database, drop_database
from tests.repo_copy import copy_repo


def kept(server_url) -> dict[str, tuple[int, bool]]:
    """The kept databases on the server: name -> (oid, accepts connections)."""
    engine = schema.make_engine(server_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT datname, oid::bigint, datallowconn FROM pg_database "
                    "WHERE starts_with(datname, :prefix)"
                ),
                {"prefix": PREFIX},
            )
            return {name: (oid, allowed) for name, oid, allowed in rows}
    finally:
        engine.dispose()


def test_the_released_tip_is_the_last_of_the_released_revisions_that_come_first():
    script = chain.script_directory()
    ids = [s.revision for s in chain.revisions(script)]
    assert released_tip(script, set()) is None  # nothing released: nothing kept
    assert released_tip(script, {ids[0]}) == ids[0]
    assert released_tip(script, set(ids)) == ids[-1]
    assert released_tip(script, {*ids, "0123456789ab"}) is None  # a released one is gone
    if len(ids) > 1:  # a released revision above an unreleased one: not a prefix
        assert released_tip(script, {ids[-1]}) is None


def test_a_check_copies_the_kept_database_instead_of_applying_the_released_chain(server_url):
    script = chain.script_directory()
    tip = released_tip(script, released_ids())
    if tip is None:
        pytest.skip("no revision is released in this checkout")
    with database_at_release(server_url):
        pass  # the first one builds it, if no check on this server did yet
    name = kept_name(script, tip)
    before = kept(server_url)
    oid, accepts = before[name]
    assert accepts is False  # nobody can connect and change it
    with pytest.raises(OperationalError, match="not currently accepting connections"):
        schema.make_engine(server_url.set(database=name)).connect()

    started = datetime.datetime.now(datetime.UTC)
    with database_at_release(server_url) as connection:
        version = connection.execute(text(f"SELECT version_num FROM {_version()}")).scalars().all()
        logged = connection.execute(
            text(f"SELECT revision, applied_at FROM {QUALIFIED_LOG} WHERE direction = 'upgrade'")
        ).all()
    assert version == [tip]
    # Every released revision's log row was written when the kept database was built,
    # none by this call: it copied them, it applied nothing.
    assert {revision for revision, _ in logged} == released_ids()
    assert all(applied < started for _, applied in logged)
    assert kept(server_url)[name][0] == oid  # the same database, not built again


def _version() -> str:
    return bookkeeping().qualified_version


def test_another_chain_or_renderer_names_another_database(tmp_path, monkeypatch):
    script = chain.script_directory()
    ids = [s.revision for s in chain.revisions(script)]
    name = kept_name(script, ids[-1])
    assert name.startswith(PREFIX) and len(name) <= 63
    assert kept_name(script, ids[-1]) == name  # the same inputs, the same name

    # A released file that differs by one byte (a database built from it differs).
    copy = copy_repo(tmp_path)
    edited = Path(chain.by_id(script)[ids[0]].path)
    target = copy / edited.relative_to(edited.parents[2])
    target.write_text(target.read_text() + "\n# edited\n")
    copied = ScriptDirectory.from_config(Config(str(copy / "alembic.ini")))
    assert kept_name(copied, ids[-1]) != name

    # What applies the revisions (env.py, the operations, the pinned libraries) changed.
    monkeypatch.setattr(released_template, "renderer_fingerprint", lambda: "another")
    assert kept_name(script, ids[-1]) != name


def test_only_the_newest_kept_databases_stay(server_url):
    made = [
        create_database(server_url, name=f"{PREFIX}test{i}_{tmp}")
        for i, tmp in enumerate(["a", "b", "c", "d", "e", "f"])
    ]
    try:
        prune(server_url)
        left = kept(server_url)
        assert len(left) == released_template.KEPT
        newest = [url.database for url in made[-released_template.KEPT :]]
        assert set(newest) <= left.keys()
    finally:
        for url in made:
            drop_database(url)


def test_a_database_of_that_name_another_role_made_is_never_trusted(server_url, monkeypatch):
    """A name is not proof: a database another role made under the kept name (say, one
    with a table the chain does not make) is not copied; the check starts empty."""
    script = chain.script_directory()
    ids = [s.revision for s in chain.revisions(script)]
    tip = released_tip(script, set(ids))
    name = kept_name(script, tip)
    admin = schema.make_engine(server_url, isolation_level="AUTOCOMMIT")
    squatted = server_url.set(database=name)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text("CREATE ROLE kept_squatter LOGIN CREATEDB"))
            conn.execute(text(f'CREATE DATABASE "{name}" OWNER kept_squatter'))
        inside = schema.make_engine(squatted, isolation_level="AUTOCOMMIT")
        with inside.connect() as conn:
            conn.execute(text("CREATE TABLE public.squatted (id int)"))
        inside.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" IS_TEMPLATE true'))

        # The chain as released in full, whatever migrations/RELEASED says.
        monkeypatch.setattr(released_template, "released_ids", lambda: set(ids))
        with database_at_release(server_url) as connection:
            tables = connection.execute(
                text("SELECT count(*) FROM pg_class WHERE relname = 'squatted'")
            ).scalar()
            version = connection.execute(
                text(f"SELECT to_regclass('{_version()}') IS NOT NULL")
            ).scalar()
        assert tables == 0 and version is False  # it started empty, not from that copy
    finally:
        with admin.connect() as conn:
            found = text("SELECT 1 FROM pg_database WHERE datname = :n")
            if conn.execute(found, {"n": name}).first():
                conn.execute(text(f'ALTER DATABASE "{name}" IS_TEMPLATE false'))
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            conn.execute(text("DROP ROLE IF EXISTS kept_squatter"))
        admin.dispose()


def test_schema_sql_is_dumped_from_a_copy_of_the_kept_release(server_url, monkeypatch):
    """The dump behind schema.sql applies only the revisions above the released tip: it
    starts from the kept database, whose log rows it copied."""
    if released_tip(chain.script_directory(), released_ids()) is None:
        pytest.skip("no revision is released in this checkout")
    released_template.kept_release(server_url)  # built by applying the chain, if not yet
    seen: list[str] = []
    with database_at_release(server_url) as connection:
        logged = connection.execute(text(f"SELECT count(*) FROM {QUALIFIED_LOG}")).scalar()

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    sqlalchemy.event.listen(sqlalchemy.Engine, "before_cursor_execute", record)
    try:
        monkeypatch.setattr(snapshot, "_cache", {})  # rendered now, by this test
        env = {"DATABASE_URL": server_url.render_as_string(hide_password=False)}
        artefact = next(a for a in generated.artefacts(env) if a.path == Path(snapshot.PATH))
        rendered = artefact.render()
    finally:
        sqlalchemy.event.remove(sqlalchemy.Engine, "before_cursor_execute", record)
    assert logged == len(released_ids())  # the copy holds the released chain's rows
    applied = [
        s for s in seen if s.lstrip().upper().startswith("INSERT INTO " + QUALIFIED_LOG.upper())
    ]
    assert len(applied) == len(chain.revisions()) - len(released_ids())
    head = chain.revisions()[-1].revision
    assert rendered == snapshot.normalise(snapshot.dump_at_head(server_url), head=head)
