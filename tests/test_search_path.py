"""The run owns its environment: a pinned search_path, and schemas only it may create in.

PostgreSQL's default search_path is `"$user", public`. A role with nothing but CREATE on
the database makes a schema named after the deploying role and, with the default path,
captures every unqualified name: the tables a fresh database is built with, the table a
data migration updates (with a trigger that runs as the deployer), the version table.
Each test is the form a user meets it in: a NOSUPERUSER deployer runs `python -m dbtools`
(as `make` does) while an intruder role has CREATE on the database.
"""

import subprocess
import sys
import uuid

import pytest

import schema
from dbtools.core.paths import REPO_ROOT
from dbtools.core.search_path import MODEL_SCHEMAS
from tests.chain import HEAD, TABLES
from tests.pg import query
from tests.repo_copy import copy_repo, write_revision
from tests.roles import deployer_database
from tests.runs import cli_env, error_line, run


@pytest.fixture
def roles(server_url):
    with deployer_database(server_url) as made:
        yield made


def intruder_schema(roles) -> str:
    """An intruder with CREATE on the database makes the schema `"$user"` names."""
    intruder = roles.add("intruder")
    roles.sql(f'GRANT CREATE ON DATABASE "{roles.database}" TO {intruder}')
    roles.sql(
        f'CREATE SCHEMA "{roles.deployer}"',
        f'GRANT USAGE, CREATE ON SCHEMA "{roles.deployer}" TO PUBLIC',
        role=intruder,
    )
    return intruder


def relations_in(roles, schema_name: str) -> list[str]:
    return [
        row[0]
        for row in query(
            roles.admin_url(),
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = '{schema_name}' ORDER BY 1",
        )
    ]


def public_versions(roles) -> list[str]:
    return [
        r[0] for r in query(roles.admin_url(), "SELECT version_num FROM public.alembic_version")
    ]


def dbtools(root, args, roles, **extra):
    return run(root, args, cli_env(roles.url(), **extra))


def test_the_pinned_path_names_every_schema_the_models_use():
    used = {table.schema or "public" for table in schema.metadata.tables.values()}
    assert used <= set(MODEL_SCHEMAS), f"add {sorted(used - set(MODEL_SCHEMAS))} to MODEL_SCHEMAS"
    assert "$user" not in MODEL_SCHEMAS


def test_a_fresh_database_builds_nothing_in_the_intruders_schema(roles):
    intruder_schema(roles)
    done = dbtools(REPO_ROOT, ["upgrade"], roles)
    assert done.returncode == 0, done.stderr
    assert relations_in(roles, roles.deployer) == []
    assert public_versions(roles) == [HEAD]
    assert set(TABLES) <= set(relations_in(roles, "public"))


def test_a_data_migration_touches_the_real_table_only(tmp_path, roles):
    repo = copy_repo(tmp_path)
    table = f"probe_{uuid.uuid4().hex[:8]}"
    made, filled = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]
    write_revision(
        repo,
        made,
        HEAD,
        "Add a probe table (test only).",
        f'op.execute("CREATE TABLE {table} (id int PRIMARY KEY, note text)")\n'
        f"op.execute(\"INSERT INTO {table} VALUES (1, 'before')\")",
        f'op.execute("DROP TABLE {table}")',
    )
    write_revision(
        repo,
        filled,
        made,
        "Fill in the probe's note (a data migration, unqualified).",
        f"op.execute(\"UPDATE {table} SET note = 'migrated'\")",
    )
    assert dbtools(repo, ["upgrade", made], roles).returncode == 0
    intruder = intruder_schema(roles)
    captured = f'"{roles.deployer}".captured'
    roles.sql(
        f'CREATE TABLE "{roles.deployer}".{table} (id int, note text)',
        f"INSERT INTO \"{roles.deployer}\".{table} VALUES (1, 'decoy')",
        f"CREATE TABLE {captured} (who text)",
        f"GRANT INSERT ON {captured} TO PUBLIC",
        f'GRANT SELECT, UPDATE ON "{roles.deployer}".{table} TO PUBLIC',
        f'CREATE FUNCTION "{roles.deployer}".spy() RETURNS trigger LANGUAGE plpgsql AS '
        f"$$ BEGIN INSERT INTO {captured} VALUES (current_user); RETURN NEW; END $$",
        f'CREATE TRIGGER spy BEFORE UPDATE ON "{roles.deployer}".{table} '
        f'FOR EACH ROW EXECUTE FUNCTION "{roles.deployer}".spy()',
        role=intruder,
    )
    done = dbtools(repo, ["upgrade"], roles)
    assert done.returncode == 0, done.stderr
    assert query(roles.admin_url(), f"SELECT note FROM public.{table}") == [("migrated",)]
    assert query(roles.admin_url(), f'SELECT note FROM "{roles.deployer}".{table}') == [("decoy",)]
    assert query(roles.admin_url(), f"SELECT count(*) FROM {captured}") == [(0,)]
    assert public_versions(roles) == [filled]


def test_a_decoy_version_table_fools_neither_upgrade_nor_current(roles):
    intruder = intruder_schema(roles)
    decoy = f'"{roles.deployer}".alembic_version'
    roles.sql(
        f"CREATE TABLE {decoy} (version_num varchar(32) PRIMARY KEY)",
        f"INSERT INTO {decoy} VALUES ('{HEAD}')",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {decoy} TO PUBLIC",
        role=intruder,
    )
    before = dbtools(REPO_ROOT, ["current"], roles)
    assert before.returncode == 0, before.stderr
    assert HEAD not in before.stdout  # the real version table does not exist yet
    done = dbtools(REPO_ROOT, ["upgrade"], roles)
    assert done.returncode == 0, done.stderr
    assert public_versions(roles) == [HEAD]
    assert set(TABLES) <= set(relations_in(roles, "public"))
    assert query(roles.admin_url(), f"SELECT version_num FROM {decoy}") == [(HEAD,)]
    after = dbtools(REPO_ROOT, ["current"], roles)
    assert HEAD in after.stdout


def test_another_role_that_may_create_in_public_is_refused_before_anything_runs(roles):
    intruder = roles.add("intruder")
    roles.sql(f"GRANT CREATE ON SCHEMA public TO {intruder}")
    done = dbtools(REPO_ROOT, ["upgrade"], roles)
    assert done.returncode == 1
    line = error_line(done.stderr)
    assert f"role {intruder} may create objects in schema public" in line
    assert relations_in(roles, "public") == []  # nothing was built, not even bookkeeping


def test_psql_opens_a_session_with_the_pinned_path(roles):
    done = subprocess.run(
        [sys.executable, "-m", "dbtools", "psql"],
        input="SHOW search_path;\n",
        env=cli_env(roles.url()),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "public" in done.stdout and "$user" not in done.stdout
