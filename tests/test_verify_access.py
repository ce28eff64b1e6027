"""`make verify` reads only, and guards `make upgrade` when MIGRATION_VERIFY is set."""

import uuid

import pytest
from sqlalchemy import text

from dbtools.core.paths import REPO_ROOT
from tests.harness import make
from tests.migrate import migrate_to
from tests.pg import admin_engine
from tests.runs import error_line
from tests.verifying import (
    chain,
    execute,
    head,
    snapshot,
    verify,
    verify_env,
    verify_json,
)


@pytest.fixture
def reader_url(server_url, database_url):
    """A role that may connect to the test's database and read it, and nothing more."""
    role = f"verify_reader_{uuid.uuid4().hex[:8]}"
    admin = admin_engine(server_url)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"))
        conn.execute(text(f'REVOKE ALL ON DATABASE "{database_url.database}" FROM PUBLIC'))
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{database_url.database}" TO {role}'))
        conn.execute(text(f"GRANT pg_read_all_data TO {role}"))
    try:
        yield database_url.set(username=role, password=None)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database_url.database}" WITH (FORCE)'))
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def test_a_read_only_role_verifies_and_changes_nothing(reader_url, database_url, server_url):
    migrate_to(database_url, "head")
    before = snapshot(database_url)

    done = verify(reader_url, server_url)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"matches revision {head()}"
    assert snapshot(database_url) == before

    execute(database_url, "CREATE TABLE public.verify_hand_made (id int)")
    before = snapshot(database_url)
    drifted = verify_json(reader_url, server_url)
    assert ("table-extra", "public.verify_hand_made") in [
        (d["kind"], d["object"]) for d in drifted["differences"]
    ]
    assert snapshot(database_url) == before
    # The role really cannot write: had verify needed to, it would have failed above.
    with pytest.raises(Exception, match="permission denied"):
        execute(reader_url, "CREATE TABLE public.verify_probe (id int)")


def _older() -> str:
    """The revision below head (base for a one-revision chain)."""
    revisions = chain()
    return revisions[-2] if len(revisions) > 1 else "base"


def test_the_gate_refuses_to_migrate_a_drifted_database(database_url, server_url):
    older = _older()
    if older != "base":
        migrate_to(database_url, older)
    execute(database_url, "CREATE TABLE public.verify_hand_made (id int)")
    before = snapshot(database_url)

    env = verify_env(database_url, server_url, MIGRATION_VERIFY="1")
    done = make(REPO_ROOT, "upgrade", env)

    assert done.returncode != 0
    assert "table-extra: public.verify_hand_made" in done.stdout
    lines = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert error_line("\n".join(lines)).startswith(
        f"error: the database has drifted from revision {older}"
    )
    assert "nothing was applied" in lines[-1]
    assert snapshot(database_url) == before  # not one revision applied


def test_the_gate_lets_a_matching_database_migrate(database_url, server_url):
    older = _older()
    if older != "base":
        migrate_to(database_url, older)

    env = verify_env(database_url, server_url, MIGRATION_VERIFY="1")
    done = make(REPO_ROOT, "upgrade", env)

    assert done.returncode == 0, done.stderr
    assert f"matches revision {older}" in done.stdout
    assert snapshot(database_url)["versions"] == [head()]
    assert verify(database_url, server_url).returncode == 0
