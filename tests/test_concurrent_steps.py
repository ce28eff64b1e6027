"""Steps outside a transaction: a failed concurrent build is never recorded as applied.

A revision (in a copy of the repository, chained off the test's own table, which follows
the current head: tests/own_table.py) adds a column in its transaction, then builds a
unique index concurrently. The build is made to fail by duplicate rows, by a writer's open
transaction (lock timeout, with and without retries) and by SIGTERM. Each time: no INVALID
index remains once the blocker is gone, the version did not advance, the error says what
committed; after the cause is fixed the same command gives a valid index and the head,
never `already exists` from the first half.
"""

import signal

import pytest
from sqlalchemy import Engine, text

from dbtools.core.chain import script_directory
from tests import own_table
from tests.chain import free_table
from tests.harness import start
from tests.repo_copy import copy_repo, write_revision
from tests.runs import cli_env, columns, error_line, run, slow_function, versions, wait_for

HEAD = script_directory().get_current_head()
NEW = "f6f6f6f6f6f6"
# The table the revision alters, and the revision before NEW (where a failed run stays).
TABLE, BEFORE = own_table.TABLE, own_table.REVISION
INDEX = f"ix_{TABLE}_nickname"

UPGRADE = f"""
op.add_column("{TABLE}", sa.Column("nickname", sa.Text()), if_not_exists=True)
op.execute("UPDATE {TABLE} SET nickname = name")
op.create_index_concurrently("{INDEX}", "{TABLE}", [sa.text("{{key}}")], unique=True)
"""
DROP_INDEX = f'op.drop_index("{INDEX}", "{TABLE}")'
DOWNGRADE = f'{DROP_INDEX}\nop.drop_column("{TABLE}", "nickname")'

INDEXES = (
    "SELECT indexrelid::regclass::text, indisvalid FROM pg_index "
    f"WHERE indrelid = '{TABLE}'::regclass AND indexrelid::regclass::text = '{INDEX}'"
)


# For the lock tests: no ALTER TABLE first, which would wait for the writer itself.
INDEX_ONLY = f'op.create_index_concurrently("{INDEX}", "{TABLE}", ["name"])'


def repo_with(tmp_path, key: str = "nickname", upgrade: str = UPGRADE):
    root = copy_repo(tmp_path)
    own_table.add_revision(root, HEAD)
    downgrade = DOWNGRADE if upgrade == UPGRADE else DROP_INDEX
    write_revision(root, NEW, BEFORE, "Unique nicknames.", upgrade.format(key=key), downgrade)
    return root


def with_people(root, database_url, engine: Engine, names: list[str]) -> None:
    """The chain and the own table applied, holding people called `names`."""
    assert run(root, ["upgrade", BEFORE], cli_env(database_url)).returncode == 0
    with engine.begin() as conn:
        for i, name in enumerate(names):
            conn.execute(
                text(f"INSERT INTO {TABLE} (name, email) VALUES (:n, :e)"),
                {"n": name, "e": f"p{i}@example.org"},
            )


def nickname_index(engine: Engine) -> list[tuple[str, bool]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(INDEXES))]


def test_unique_build_over_duplicates_leaves_nothing_then_resumes(tmp_path, database_url, engine):
    root = repo_with(tmp_path)
    with_people(root, database_url, engine, ["Ada", "Ada", "Bo"])
    env = cli_env(database_url)

    failed = run(root, ["upgrade", "head"], env)
    assert failed.returncode != 0
    line = error_line(failed.stderr)
    for part in (
        f"revision {NEW} (Unique nicknames) failed in `CREATE UNIQUE INDEX CONCURRENTLY",
        "could not create unique index",
        "is duplicated",
        f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS nickname TEXT",
        f"UPDATE {TABLE} SET nickname = name",
        f"the version stays at {BEFORE}",
        f"the INVALID index {INDEX} it left was dropped",
        "run the same command again",
    ):
        assert part in line, line
    assert "rolled back and the database stays" not in line
    assert nickname_index(engine) == []
    assert versions(engine) == [BEFORE]
    assert "nickname" in columns(engine, TABLE)  # what committed, as the message says

    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {TABLE} SET name = 'Ada Two' WHERE email = 'p1@example.org'"))
    again = run(root, ["upgrade", "head"], env)
    assert again.returncode == 0, again.stderr
    assert "already exists" not in again.stderr
    assert nickname_index(engine) == [(INDEX, True)]
    assert versions(engine) == [NEW]
    with engine.begin() as conn, pytest.raises(Exception, match="duplicate key"):
        conn.execute(text(f"INSERT INTO {TABLE} (name, nickname) VALUES ('x', 'Bo')"))


def writer(engine: Engine):
    """A writer's open transaction: the concurrent build must wait for it."""
    conn = engine.connect()
    conn.execute(text(f"INSERT INTO {TABLE} (name, email) VALUES ('Writer', 'w@example.org')"))
    return conn


def test_lock_timeout_fails_without_recording_then_the_next_run_cleans_up(
    tmp_path, database_url, engine
):
    root = repo_with(tmp_path, upgrade=INDEX_ONLY)
    with_people(root, database_url, engine, ["Ada", "Bo"])
    env = cli_env(database_url, MIGRATION_LOCK_TIMEOUT="1s")
    holder = writer(engine)
    try:
        failed = run(root, ["upgrade", "head"], env)
        assert failed.returncode != 0
        line = error_line(failed.stderr)
        assert "gave up after MIGRATION_LOCK_TIMEOUT=1s" in line, line
        assert f"the INVALID index {INDEX} it left could not be dropped yet" in line
        assert "the next run drops it before building again" in line
        assert versions(engine) == [BEFORE]
        # While the writer's transaction is open, nobody can drop the INVALID index.
        assert nickname_index(engine) == [(INDEX, False)]
    finally:
        holder.rollback()
        holder.close()

    again = run(root, ["upgrade", "head"], env)
    assert again.returncode == 0, again.stderr
    assert f"Dropping the INVALID index {INDEX} an earlier run left" in again.stderr
    assert nickname_index(engine) == [(INDEX, True)]
    assert versions(engine) == [NEW]


CLEANUP_WAITING = """
SELECT count(*) > 0 FROM pg_stat_activity
WHERE application_name = 'schema-migrations' AND wait_event_type = 'Lock'
  AND query LIKE '%DROP INDEX CONCURRENTLY%'
"""


def test_retries_start_clean_and_succeed_once_the_writer_ends(tmp_path, database_url, engine):
    root = repo_with(tmp_path, upgrade=INDEX_ONLY)
    with_people(root, database_url, engine, ["Ada", "Bo"])
    env = cli_env(
        database_url,
        MIGRATION_LOCK_TIMEOUT="1s",
        MIGRATION_LOCK_RETRIES="6",
        MIGRATION_LOCK_RETRY_DELAY="500ms",
    )
    holder = writer(engine)
    try:
        migration = start(root, ["upgrade", "head"], env)
        # The first attempt gives up on the build, then on dropping what it left: the
        # writer keeps both waiting. Only then does the writer end.
        wait_for(engine, CLEANUP_WAITING)
        wait_for(engine, f"SELECT NOT ({CLEANUP_WAITING.strip()})")
        assert versions(engine) == [BEFORE]
    finally:
        holder.rollback()
        holder.close()
    _, stderr = migration.communicate(timeout=120)

    assert migration.returncode == 0, stderr
    assert "retry 1 of 6" in stderr
    assert nickname_index(engine) == [(INDEX, True)]
    assert versions(engine) == [NEW]


SLOW_KEY = slow_function("slow_key", 0.05, immutable=True)
BUILDING = (
    "SELECT count(*) > 0 FROM pg_stat_progress_create_index WHERE phase LIKE 'building index%'"
)


def test_sigterm_during_the_build_drops_the_index_and_the_rerun_completes(
    tmp_path, database_url, engine
):
    root = repo_with(tmp_path, key="slow_key(nickname)")
    with_people(root, database_url, engine, [f"person {i}" for i in range(80)])
    with engine.begin() as conn:
        conn.execute(text(SLOW_KEY))
    env = cli_env(database_url)

    migration = start(root, ["upgrade", "head"], env)
    wait_for(engine, BUILDING)
    migration.send_signal(signal.SIGTERM)
    _, stderr = migration.communicate(timeout=60)

    assert migration.returncode == 128 + signal.SIGTERM
    line = error_line(stderr)
    assert f"interrupted by SIGTERM while running revision {NEW}" in line, line
    assert f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS nickname TEXT" in line
    assert f"the INVALID index {INDEX} it left was dropped" in line
    assert nickname_index(engine) == []
    assert versions(engine) == [BEFORE]

    again = run(root, ["upgrade", "head"], env)
    assert again.returncode == 0, again.stderr
    assert nickname_index(engine) == [(INDEX, True)]
    assert versions(engine) == [NEW]


LOST = "f7f7f7f7f7f7"
PARCELS = free_table("parcels")
PARCEL_INDEX = f"ix_{PARCELS}_slow_code"
PARCEL_INDEX_STATE = "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"
CIC_BACKEND = (
    "SELECT pid FROM pg_stat_activity WHERE application_name = 'schema-migrations' "
    "AND query LIKE 'CREATE INDEX CONCURRENTLY%'"
)


def test_a_connection_lost_in_a_concurrent_build_reports_the_cause_and_what_it_left(
    tmp_path, database_url, engine
):
    root = copy_repo(tmp_path)
    write_revision(
        root,
        LOST,
        HEAD,
        "Index parcels slowly.",
        f'op.create_index_concurrently("{PARCEL_INDEX}", "{PARCELS}", [sa.text("slow_key(code)")])',
        f'op.drop_index("{PARCEL_INDEX}", "{PARCELS}")',
    )
    env = cli_env(database_url)
    assert run(root, ["upgrade", HEAD], env).returncode == 0
    with engine.begin() as conn:
        conn.execute(text(SLOW_KEY))
        conn.execute(text(f"CREATE TABLE {PARCELS} (id bigint PRIMARY KEY, code text)"))
        conn.execute(
            text(f"INSERT INTO {PARCELS} SELECT g, 'c' || g FROM generate_series(1, 80) g")
        )

    migration = start(root, ["upgrade", "head"], env)
    wait_for(engine, BUILDING)
    with engine.connect() as conn:
        [pid] = conn.execute(text(CIC_BACKEND)).scalars().all()
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    _, stderr = migration.communicate(timeout=60)

    assert migration.returncode == 1
    line = error_line(stderr)
    assert "PendingRollbackError" not in line and "Can't reconnect" not in line, line
    assert f"revision {LOST} (Index parcels slowly) failed in `CREATE INDEX CONCURRENTLY" in line
    assert "terminating connection due to administrator command" in line, line
    assert f"the INVALID index {PARCEL_INDEX} the build may have left" in line, line
    assert "the next run drops it before building again" in line, line
    assert versions(engine) == [HEAD]
    with engine.connect() as conn:
        left = conn.execute(text(PARCEL_INDEX_STATE), {"name": PARCEL_INDEX}).scalar()
    assert left is False  # what the line warned of: an INVALID index

    again = run(root, ["upgrade", "head"], env)
    assert again.returncode == 0, again.stderr
    assert f"Dropping the INVALID index {PARCEL_INDEX} an earlier run left" in again.stderr
    with engine.connect() as conn:
        assert conn.execute(text(PARCEL_INDEX_STATE), {"name": PARCEL_INDEX}).scalar() is True
    assert versions(engine) == [LOST]
