"""`make sql` and the committed per-revision SQL: what a DBA approves is what runs.

No test here lets the SQL commands reach a database: DATABASE_URL is wrong, unreachable
or absent (with CI=true), and the output must not change.
"""

import re

import pytest

from dbtools.core import settings
from dbtools.core.catalog import differences
from dbtools.core.chain import revisions, script_directory
from dbtools.core.paths import REPO_ROOT
from dbtools.review import generated, revision_sql
from tests.harness import clean_env, make
from tests.pg import catalog, run_cli, url_string, versions
from tests.repo_copy import psql

NO_DATABASE = {
    "unreachable": {"DATABASE_URL": "postgresql://app:s3cret@127.0.0.1:9/nowhere"},
    "another dialect": {"DATABASE_URL": "mysql://app:s3cret@db.example/app"},
    "CI without a URL": {"CI": "true"},
}


def committed(direction: str) -> list[str]:
    """The committed SQL of each revision, oldest first."""
    return [(REPO_ROOT / revision_sql.sql_path(s, direction)).read_text() for s in revisions()]


@pytest.mark.parametrize("env", NO_DATABASE.values(), ids=NO_DATABASE.keys())
def test_sql_needs_no_database(env):
    done = run_cli(["sql"], env)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr
    # The whole chain is the committed upgrade SQL of each revision, in order.
    assert done.stdout == "".join(committed("upgrade"))


def test_each_revision_is_headed_by_its_id_and_message_and_runs_with_timeouts():
    sql = run_cli(["sql"], NO_DATABASE["unreachable"]).stdout
    scripts = revisions()
    headers = re.findall(r"^-- Running upgrade .*$", sql, flags=re.M)
    assert headers == [
        f"-- Running upgrade {s.down_revision or 'base'} -> {s.revision}, {s.doc}" for s in scripts
    ]
    blocks = sql.split("-- Running upgrade ")[1:]
    for block in blocks:
        lines = [line for line in block.splitlines() if line.strip()]
        assert lines[1:4] == [
            "BEGIN;",
            "SET lock_timeout = '5s';",
            "SET statement_timeout = '10min';",
        ]
        assert lines[-1] == "COMMIT;"


def test_from_and_to_select_part_of_the_chain():
    first, second = [s.revision for s in revisions()[:2]]
    after_first = run_cli(["sql", "--from", first], NO_DATABASE["CI without a URL"])
    assert after_first.returncode == 0, after_first.stderr
    assert after_first.stdout == committed("upgrade")[1] + "".join(committed("upgrade")[2:])
    assert f"-> {first}," not in after_first.stdout

    up_to_first = run_cli(["sql", "--to", first], NO_DATABASE["unreachable"])
    assert up_to_first.stdout == committed("upgrade")[0]
    assert f"-> {second}," not in up_to_first.stdout


def test_make_sql_prints_the_sql_alone_on_stdout():
    first = revisions()[0].revision
    done = make(REPO_ROOT, "sql", clean_env(**NO_DATABASE["unreachable"]), FROM=first)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "".join(committed("upgrade")[1:])
    assert "Running upgrade" in done.stderr  # progress goes to stderr


def test_offline_script_through_psql_builds_what_make_upgrade_builds(server_url, tmp_path):
    from tests.pg import fresh_database

    script = run_cli(["sql"], NO_DATABASE["unreachable"]).stdout
    with fresh_database(server_url) as by_psql, fresh_database(server_url) as by_alembic:
        applied = psql(by_psql, script)
        assert applied.returncode == 0, applied.stderr
        upgraded = run_cli(["upgrade"], {"DATABASE_URL": url_string(by_alembic)})
        assert upgraded.returncode == 0, upgraded.stderr

        online = catalog(by_alembic)
        assert online["table"], "the upgrade built nothing"
        assert differences(online, catalog(by_psql)) == []
        assert versions(by_psql) == versions(by_alembic) == [revisions()[-1].revision]


def test_committed_revision_sql_upgrades_and_downgrades_step_by_step(server_url):
    from tests.pg import fresh_database

    ups, downs = committed("upgrade"), committed("downgrade")
    with fresh_database(server_url) as url:
        states = [catalog(url)]
        for script in ups:
            done = psql(url, script)
            assert done.returncode == 0, done.stderr
            states.append(catalog(url))
        # Each downgrade brings back exactly the catalog the step before it left.
        for index in reversed(range(len(downs))):
            done = psql(url, downs[index])
            assert done.returncode == 0, done.stderr
            # The reader leaves the bookkeeping out: Alembic keeps its (emptied)
            # version table when going down to base.
            assert differences(states[index], catalog(url)) == []


def test_generated_artefacts_are_committed_and_fresh(rendering_server):
    assert generated.stale(settings.load()) == []
    assert revision_sql.orphans() == []
    heads = script_directory().get_heads()
    assert (REPO_ROOT / "migrations" / "HEAD").read_text() == f"{heads[0]}\n"
    for script in revisions():
        for direction in revision_sql.DIRECTIONS:
            assert (REPO_ROOT / revision_sql.sql_path(script, direction)).is_file()


def test_sql_runs_with_the_configured_timeouts_but_committed_sql_keeps_the_defaults(
    monkeypatch, rendering_server
):
    env = {**NO_DATABASE["unreachable"], "MIGRATION_LOCK_TIMEOUT": "2s"}
    done = run_cli(["sql"], env)
    assert done.returncode == 0, done.stderr
    assert "SET lock_timeout = '2s';" in done.stdout
    assert "SET lock_timeout = '5s';" not in done.stdout

    # A developer's settings never reach the committed files.
    monkeypatch.setenv("MIGRATION_LOCK_TIMEOUT", "2s")
    monkeypatch.setenv("MIGRATION_STATEMENT_TIMEOUT", "1min")
    assert generated.stale(settings.load()) == []


def test_a_hand_written_revision_names_its_constraints_by_the_convention_on_every_route(
    server_url, tmp_path
):
    # A revision that leaves its primary key unnamed: Alembic names it by the naming
    # convention of env.py's target metadata, whether the run applies revisions online
    # (`make upgrade`, which does not load the models) or writes the SQL offline.
    from tests.pg import column, fresh_database
    from tests.repo_copy import copy_repo, dbtools, write_revision

    repo = copy_repo(tmp_path)
    create = 'op.create_table("named_probe", sa.Column("id", sa.BigInteger, primary_key=True))'
    write_revision(repo, "7a7a7a7a7a7a", script_directory().get_current_head(), "Probe.", create)
    script = dbtools(repo, ["sql"], clean_env()).stdout
    with fresh_database(server_url) as by_psql, fresh_database(server_url) as by_alembic:
        assert psql(by_psql, script).returncode == 0
        upgraded = dbtools(repo, ["upgrade"], clean_env(DATABASE_URL=url_string(by_alembic)))
        assert upgraded.returncode == 0, upgraded.stderr
        names = (
            "SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'named_probe'::regclass AND contype = 'p'"
        )
        assert column(by_alembic, names) == column(by_psql, names) == ["pk_named_probe"]
