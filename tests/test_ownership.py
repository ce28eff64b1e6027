"""Trust only your own bookkeeping; a first run that fails leaves none; a run with
nothing to do needs no more than CONNECT and SELECT.

An intruder with CREATE on the database made `migration_audit` (or `alembic_version`)
first, with a trigger that ran as the deploying role and granted the intruder every
privilege; the next `make upgrade` adopted it. Now the run refuses before anything is
applied, naming the object and its owner.
"""

from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from dbtools.apply.audit import migration_log
from dbtools.core.bookkeeping import LOG_SCHEMA
from dbtools.core.bookkeeping import QUALIFIED_LOG as QUALIFIED
from dbtools.core.paths import REPO_ROOT
from tests.pg import column
from tests.repo_copy import copy_repo
from tests.roles import PASSWORD, deployer_database
from tests.runs import cli_env, engine_for, error_line, run, state, versions

HEAD = ScriptDirectory.from_config(Config(str(REPO_ROOT / "alembic.ini"))).get_current_head()

# A trigger function the intruder owns: run by whoever inserts into the log.
GRAB = """
CREATE FUNCTION {schema}.grab() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN EXECUTE 'GRANT ALL ON ALL TABLES IN SCHEMA public TO {intruder}'; RETURN NEW; END $$
"""
TRIGGER = "CREATE TRIGGER grab AFTER INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {function}"


@pytest.fixture
def roles(server_url):
    with deployer_database(server_url) as made:
        yield made


def log_made_by_intruder(roles, intruder):
    """The intruder makes the log's schema and table first, grants the deployer use of
    them, and puts a trigger on the table."""
    roles.sql(f'GRANT CREATE ON DATABASE "{roles.database}" TO {intruder}')
    engine = engine_for(roles.admin_url())
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SET ROLE {intruder}")
        conn.exec_driver_sql(f"CREATE SCHEMA {LOG_SCHEMA}")
        migration_log.create(conn)
        conn.exec_driver_sql(GRAB.format(schema=LOG_SCHEMA, intruder=intruder))
        conn.exec_driver_sql(TRIGGER.format(table=QUALIFIED, function=f"{LOG_SCHEMA}.grab()"))
        conn.exec_driver_sql(f"GRANT ALL ON SCHEMA {LOG_SCHEMA} TO {roles.deployer}")
        conn.exec_driver_sql(f"GRANT ALL ON ALL TABLES IN SCHEMA {LOG_SCHEMA} TO {roles.deployer}")
    engine.dispose()
    return f"schema {LOG_SCHEMA} belongs to role {intruder}"


def version_table_made_by_intruder(roles, intruder):
    roles.sql(f"GRANT CREATE ON SCHEMA public TO {intruder}")
    roles.sql(
        "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)",
        f"GRANT ALL ON alembic_version TO {roles.deployer}",
        role=intruder,
    )
    return f"table alembic_version belongs to role {intruder}"


def trigger_added_to_own_log(roles, intruder):
    """The log is the deployer's own (a first revision applied), but a superuser-made
    trigger on it calls a function the intruder owns."""
    assert run(REPO_ROOT, ["upgrade", "+1"], cli_env(roles.url())).returncode == 0
    roles.sql(
        f"CREATE SCHEMA trap AUTHORIZATION {intruder}",
        GRAB.format(schema="trap", intruder=intruder),
        f"ALTER FUNCTION trap.grab() OWNER TO {intruder}",
        TRIGGER.format(table=QUALIFIED, function="trap.grab()"),
    )
    return f"trigger grab on {QUALIFIED} (function trap.grab()) belongs to role {intruder}"


@pytest.mark.parametrize(
    "plant", [log_made_by_intruder, version_table_made_by_intruder, trigger_added_to_own_log]
)
def test_foreign_bookkeeping_is_refused_before_anything_runs(roles, plant):
    intruder = roles.add("pw_intruder")
    expected = plant(roles, intruder)
    engine = engine_for(roles.admin_url())
    before = state(engine)

    result = run(REPO_ROOT, ["upgrade", "head"], cli_env(roles.url()))

    assert result.returncode == 1
    line = error_line(result.stderr, PASSWORD)
    assert expected in line, line
    assert "the run trusts only bookkeeping and schemas it owns; nothing was applied" in line
    assert PASSWORD not in result.stdout
    assert state(engine) == before
    granted = column(
        roles.admin_url(),
        "SELECT count(*) FROM information_schema.role_table_grants "
        f"WHERE grantee = '{intruder}' AND grantor <> grantee",
    )
    assert granted == [0], "the intruder's trigger must never run"
    engine.dispose()


def test_bookkeeping_owned_by_a_role_the_deployer_is_member_of_is_trusted(roles):
    group = roles.add("pw_owners")
    roles.sql(f"GRANT {group} TO {roles.deployer}")
    assert run(REPO_ROOT, ["upgrade", "+1"], cli_env(roles.url())).returncode == 0
    roles.sql(
        f"ALTER SCHEMA {LOG_SCHEMA} OWNER TO {group}",
        f"ALTER TABLE {QUALIFIED} OWNER TO {group}",
        f"ALTER TABLE alembic_version OWNER TO {group}",
    )

    result = run(REPO_ROOT, ["upgrade", "head"], cli_env(roles.url()))

    assert result.returncode == 0, result.stderr
    assert versions(engine_for(roles.admin_url())) == [HEAD]


def first_revision_file(root):
    script = ScriptDirectory.from_config(Config(str(root / "alembic.ini")))
    return next(s for s in script.walk_revisions() if s.down_revision is None).path


def test_a_failed_first_run_leaves_no_bookkeeping(tmp_path, roles):
    repo = copy_repo(tmp_path)
    path = Path(first_revision_file(repo))
    failing = "def upgrade() -> None:\n    raise RuntimeError('the first revision fails')\n"
    path.write_text(path.read_text().replace("def upgrade() -> None:\n", failing, 1))

    result = run(repo, ["upgrade", "head"], cli_env(roles.url()))

    assert result.returncode == 1
    assert "the first revision fails" in error_line(result.stderr, PASSWORD)
    left = column(
        roles.admin_url(),
        f"SELECT to_regclass('public.alembic_version')::text UNION ALL "
        f"SELECT nspname::text FROM pg_namespace WHERE nspname = '{LOG_SCHEMA}'",
    )
    assert left == [None], "neither the version table nor the log's schema may stay"


def test_an_upgrade_with_nothing_to_do_needs_only_connect_and_select(roles):
    assert run(REPO_ROOT, ["upgrade", "head"], cli_env(roles.url())).returncode == 0
    reader = roles.add("pw_reader")
    roles.sql(
        f'REVOKE ALL ON DATABASE "{roles.database}" FROM PUBLIC',
        f'GRANT CONNECT ON DATABASE "{roles.database}" TO {reader}',
        f"GRANT USAGE ON SCHEMA public, {LOG_SCHEMA} TO {reader}",
        f"GRANT SELECT ON alembic_version, {QUALIFIED} TO {reader}",
    )
    engine = engine_for(roles.admin_url())
    before = state(engine)
    creates = column(
        roles.admin_url(),
        f"SELECT has_database_privilege('{reader}', current_database(), 'CREATE')",
    )
    assert creates == [False]

    result = run(REPO_ROOT, ["upgrade", "head"], cli_env(roles.url(reader)))

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr
    assert state(engine) == before
    engine.dispose()
