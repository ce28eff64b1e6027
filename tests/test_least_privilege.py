"""Promise 5: migrations run as a role that owns the database but is no superuser.

As on managed PostgreSQL services: the role owns its database and the public schema,
and cannot create databases or roles. The whole chain goes up, down and up again as it.
"""

import uuid

import pytest
from sqlalchemy import text

import schema
from dbtools.core.paths import REPO_ROOT
from schema.testing import create_database, drop_database
from tests.chain import HEAD, REVISIONS, upgrades
from tests.harness import columns
from tests.pg import admin_engine
from tests.runs import cli_env, engine_for, log_rows, run, versions

OWNER_PASSWORD = "owner p@ss:%/ü"


@pytest.fixture
def owner_url(server_url):
    """A database owned by a fresh NOSUPERUSER NOCREATEDB NOCREATEROLE role."""
    # pw_*: the test server checks this role's password (scram), as a managed service does.
    role = f"pw_migrator_{uuid.uuid4().hex[:8]}"
    database = f"lp_{uuid.uuid4().hex[:8]}"
    admin = admin_engine(server_url)
    with admin.connect() as conn:
        conn.execute(
            text(
                f"CREATE ROLE {role} LOGIN PASSWORD '{OWNER_PASSWORD}' "
                "NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT"
            )
        )
    create_database(server_url, name=database, owner=role)
    db_admin = admin_engine(server_url.set(database=database))
    with db_admin.connect() as conn:
        conn.execute(text(f"ALTER SCHEMA public OWNER TO {role}"))  # PG 15+ does it already
    db_admin.dispose()
    try:
        yield server_url.set(database=database, username=role, password=OWNER_PASSWORD)
    finally:
        drop_database(server_url.set(database=database))
        with admin.connect() as conn:
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def test_whole_chain_up_and_down_as_a_database_owner(owner_url):
    env = cli_env(owner_url)
    engine = engine_for(owner_url)
    try:
        with engine.connect() as conn:
            privileges = conn.execute(
                text(
                    "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
                    "WHERE rolname = current_user"
                )
            ).one()
        assert tuple(privileges) == (False, False, False)

        for args, expected in (
            (["upgrade", "head"], [HEAD]),
            (["downgrade", "base"], []),
            (["upgrade", "head"], [HEAD]),
        ):
            result = run(REPO_ROOT, args, env)
            assert result.returncode == 0, result.stderr
            assert OWNER_PASSWORD not in result.stderr + result.stdout
            assert versions(engine) == expected

        # Every table the models define, in whichever schema, has their columns and
        # belongs to the role that ran the migrations.
        tables = {qualified(t.schema, t.name): t for t in schema.metadata.tables.values()}
        found = columns(engine)
        assert {key: found.get(key) for key in tables} == {
            key: {c.name for c in table.columns} for key, table in tables.items()
        }
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT schemaname, tablename, tableowner FROM pg_tables"))
            owners = {qualified(schema_name, name): owner for schema_name, name, owner in rows}
            assert {key: owners.get(key) for key in tables} == dict.fromkeys(
                tables, owner_url.username
            )
            roles = conn.execute(
                text("SELECT DISTINCT applied_by FROM migration_audit.migration_log")
            )
            assert [r[0] for r in roles] == [owner_url.username]
        assert log_rows(engine) == [
            *upgrades(),
            *(("downgrade", revision) for revision in reversed(REVISIONS)),
            *upgrades(),
        ]
    finally:
        engine.dispose()


def qualified(schema_name: str | None, table: str) -> str:
    """A table's key as tests/harness.py `columns` gives it: `public`'s by name alone."""
    return table if schema_name in (None, "public") else f"{schema_name}.{table}"
