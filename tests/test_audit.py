"""Promise 7: every applied or reverted revision is logged; edited revisions are refused.

The log (`migration_audit.migration_log`) is written in each revision's own transaction:
revision, direction, when, by which role, how long, and the SHA-256 of the revision
file. A run refuses to start when an applied revision's file has changed since, unless
MIGRATION_ALLOW_EDITED=1 accepts the edit (recorded, so later runs compare against it).
The log is online-only: the offline SQL does not write it, and autogenerate ignores it.
"""

import hashlib
import subprocess

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from dbtools.core.bookkeeping import QUALIFIED_LOG
from dbtools.core.chain import script_directory
from dbtools.core.paths import REPO_ROOT
from dbtools.review.autogen_options import compare_options
from tests.chain import (
    BEFORE_HEAD,
    FIRST,
    HEAD,
    REVISIONS,
    in_model_schemas,
    revision_file,
    upgrades,
)
from tests.repo_copy import copy_repo, write_revision
from tests.runs import SECRET, cli_env, error_line, log_rows, run, state, versions


def test_each_revision_is_logged_with_role_duration_and_checksum(database_url, engine):
    env = cli_env(database_url)
    assert run(REPO_ROOT, ["upgrade", "head"], env).returncode == 0
    assert run(REPO_ROOT, ["downgrade", "-1"], env).returncode == 0

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT revision, direction, applied_by = current_user, duration_ms, checksum, "
                "applied_at <= now(), description FROM migration_audit.migration_log ORDER BY id"
            )
        ).all()
    assert [(r[0], r[1]) for r in rows] == [
        *((revision, "upgrade") for revision in REVISIONS),
        (HEAD, "downgrade"),
    ]
    for revision, _, by_current_user, duration_ms, checksum, in_the_past, description in rows:
        assert by_current_user and in_the_past
        assert 0 <= duration_ms < 60_000
        digest = hashlib.sha256(revision_file(REPO_ROOT, revision).read_bytes()).hexdigest()
        assert checksum == digest
        assert description
    assert versions(engine) == [BEFORE_HEAD]


def test_each_logged_duration_is_that_revision_s_own(tmp_path, database_url, engine):
    # A revision that takes a known second, after the real chain: its row shows that
    # second, and the revisions before it do not (each step is timed on its own).
    repo = copy_repo(tmp_path)
    head = script_directory().get_current_head()
    write_revision(repo, "5e5e5e5e5e5e", head, "Sleep.", 'op.execute("SELECT pg_sleep(1)")')
    assert run(repo, ["upgrade", "head"], cli_env(database_url)).returncode == 0
    with engine.connect() as conn:
        durations = dict(
            conn.execute(
                text("SELECT revision, duration_ms FROM migration_audit.migration_log")
            ).all()
        )
    slow = durations.pop("5e5e5e5e5e5e")
    assert 1000 <= slow < 10_000
    assert durations and all(ms < 1000 for ms in durations.values()), durations


def test_an_edited_applied_revision_is_refused_until_accepted(tmp_path, database_url, engine):
    repo = copy_repo(tmp_path)
    env = cli_env(database_url)
    assert run(repo, ["upgrade", FIRST], env).returncode == 0
    edited = revision_file(repo, FIRST)
    edited.write_text(edited.read_text() + "\n# edited after release\n")
    before = state(engine)

    for args in (["upgrade", "head"], ["downgrade", "base"]):
        result = run(repo, args, env)
        assert result.returncode != 0
        line = error_line(result.stderr)
        assert (
            f"revision {FIRST} (migrations/versions/{edited.name}) was edited after it was applied"
            in line
        )
        assert "MIGRATION_ALLOW_EDITED=1" in line
        assert state(engine) == before

    report = run(repo, ["audit"], env)
    assert "(file edited since)" in report.stdout

    accepted = run(repo, ["upgrade", "head"], {**env, "MIGRATION_ALLOW_EDITED": "1"})
    assert accepted.returncode == 0, accepted.stderr
    assert log_rows(engine) == [
        ("upgrade", FIRST),
        ("accept-edit", FIRST),
        *upgrades(REVISIONS[1:]),
    ]
    # The accepted checksum is the one later runs compare against.
    assert run(repo, ["downgrade", "-1"], env).returncode == 0
    assert versions(engine) == [BEFORE_HEAD]


def test_make_audit_prints_the_history(database_url):
    env = cli_env(database_url)
    assert run(REPO_ROOT, ["upgrade", "head"], env).returncode == 0
    shown = subprocess.run(
        ["make", "-s", "audit"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split()[:4] == ["applied", "at", "(UTC)", "direction"]
    assert [line.split()[2:4] for line in lines[1:]] == [[d, r] for d, r in upgrades()]
    assert SECRET not in shown.stderr and SECRET not in shown.stdout


def test_autogenerate_and_offline_sql_ignore_the_log(database_url, engine):
    env = cli_env(database_url)
    assert run(REPO_ROOT, ["upgrade", "head"], env).returncode == 0
    # Every schema is compared (not only `public`, where the log is not), with the options
    # env.py gives autogenerate: the log's schema and table are skipped, nothing else is.
    options = {**compare_options(), "include_schemas": True}
    metadata = options.pop("target_metadata")
    with engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn, opts=options), metadata)
        assert found == []
        unfiltered = compare_metadata(
            MigrationContext.configure(conn, opts={"include_schemas": True}), metadata
        )
    removed = [d[1].fullname for d in unfiltered if d[0] == "remove_table"]
    assert QUALIFIED_LOG in removed
    # Unfiltered, tables of schemas the models do not use read as removed too (a team's
    # own schemas); in the models' schemas nothing but the log does.
    assert [n for n in removed if in_model_schemas({n: set()})] == []
    offline = run(REPO_ROOT, ["sql"], env)
    assert offline.returncode == 0
    assert "migration_audit" not in offline.stdout
