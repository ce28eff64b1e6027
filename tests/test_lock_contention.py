"""Promise 2: a revision that cannot get its table lock gives up after lock_timeout.

Another session holds a lock the revision needs (an open transaction that read the
test's own table, tests/own_table.py). The run gives up after MIGRATION_LOCK_TIMEOUT
instead of queuing, so a reader arriving meanwhile waits at most about that long; the
error line names the revision, the table and the timeout and says how to retry; the
revision before it in the same run stays applied. With retries configured, the run
succeeds once the other session ends.
"""

import threading
import time

import pytest
from sqlalchemy import Engine, text

from tests import own_table
from tests.chain import HEAD, free_table
from tests.harness import start
from tests.repo_copy import copy_repo, write_revision
from tests.runs import (
    MIGRATION_WAITING_FOR_LOCK,
    cli_env,
    columns,
    error_line,
    log_rows,
    run,
    versions,
    wait_for,
)

# Timings matter here: these modules share one worker, never running beside each other.
pytestmark = pytest.mark.xdist_group("timing")

LOCK_TIMEOUT_S = 2
TAGS, NICKNAME = "a1a1a1a1a1a1", "b2b2b2b2b2b2"
TABLE = own_table.TABLE  # the table the blocked revision alters
COLUMN = "nickname"  # a column the own table has not got
PROBE = free_table("tags")  # a table no model has taken


@pytest.fixture
def repo(tmp_path):
    """The chain, the own table, a revision that needs no lock and one that alters the table."""
    root = copy_repo(tmp_path)
    own_table.add_revision(root, HEAD)
    write_revision(
        root,
        TAGS,
        own_table.REVISION,
        "Create the tags table.",
        f'op.create_table("{PROBE}", sa.Column("id", sa.Integer, primary_key=True))',
        f'op.drop_table("{PROBE}")',
    )
    write_revision(
        root,
        NICKNAME,
        TAGS,
        "Add a nickname column.",
        f'op.add_column("{TABLE}", sa.Column("{COLUMN}", sa.Text))',
        f'op.drop_column("{TABLE}", "{COLUMN}")',
    )
    return root


def holding_the_table(engine: Engine):
    """A session in an open transaction that has read the table (ACCESS SHARE lock)."""
    conn = engine.connect()
    conn.execute(text(f"SELECT count(*) FROM {TABLE}"))
    return conn


def timed_read(engine: Engine, out: dict) -> None:
    with engine.connect() as conn:
        started = time.monotonic()
        conn.execute(text(f"SELECT count(*) FROM {TABLE}"))
        out["delay"] = time.monotonic() - started


def test_blocked_revision_gives_up_and_late_readers_are_not_held(
    repo, database_url, engine, figure
):
    env = cli_env(database_url, MIGRATION_LOCK_TIMEOUT=f"{LOCK_TIMEOUT_S}s")
    assert run(repo, ["upgrade", own_table.REVISION], env).returncode == 0
    holder = holding_the_table(engine)
    try:
        started = time.monotonic()
        migration = start(repo, ["upgrade", "head"], env)
        wait_for(engine, MIGRATION_WAITING_FOR_LOCK)
        seen_waiting = time.monotonic()
        reader_result: dict = {}
        reader = threading.Thread(target=timed_read, args=(engine, reader_result))
        reader.start()  # queues behind the ALTER TABLE waiting for its lock
        _, stderr = migration.communicate(timeout=60)
        blocked_for = time.monotonic() - started
        waited = time.monotonic() - seen_waiting
        reader.join(timeout=60)
    finally:
        holder.close()

    assert migration.returncode != 0
    line = error_line(stderr)
    for part in (NICKNAME, TABLE, f"MIGRATION_LOCK_TIMEOUT={LOCK_TIMEOUT_S}s", "run the same"):
        assert part in line, line
    # The revision before the blocked one stays applied; the blocked one left nothing.
    assert versions(engine) == [TAGS]
    assert columns(engine, PROBE) == ["id"]
    assert COLUMN not in columns(engine, TABLE)
    assert log_rows(engine)[-1] == ("upgrade", TAGS)
    # The promise itself: a reader arriving meanwhile waits at most about lock_timeout.
    assert reader_result["delay"] < LOCK_TIMEOUT_S + 2
    figure(
        "blocked run (lock_timeout 2s)",
        f"waited {waited:.2f} s for the lock; exited {blocked_for:.1f} s after it started",
    )
    figure("late reader delayed", f"{reader_result['delay']:.2f} s (lock_timeout 2s)")
    figure("lock timeout message", line)

    # Once the other session has ended, the same command succeeds.
    assert run(repo, ["upgrade", "head"], env).returncode == 0
    assert versions(engine) == [NICKNAME]
    assert columns(engine, TABLE)[-1] == COLUMN


def test_retries_succeed_once_the_other_session_ends(repo, database_url, engine, figure):
    env = cli_env(
        database_url,
        MIGRATION_LOCK_TIMEOUT="1s",
        MIGRATION_LOCK_RETRIES="5",
        MIGRATION_LOCK_RETRY_DELAY="500ms",
    )
    assert run(repo, ["upgrade", TAGS], env).returncode == 0
    holder = holding_the_table(engine)
    try:
        migration = start(repo, ["upgrade", "head"], env)
        wait_for(engine, MIGRATION_WAITING_FOR_LOCK)  # first attempt waiting
        wait_for(engine, f"SELECT NOT ({MIGRATION_WAITING_FOR_LOCK.strip()})")  # it gave up
    finally:
        holder.close()
    _, stderr = migration.communicate(timeout=120)

    assert migration.returncode == 0, stderr
    assert "retry 1 of 5" in stderr
    assert versions(engine) == [NICKNAME]
    assert log_rows(engine)[-1] == ("upgrade", NICKNAME)
    retries = stderr.count("Lock timeout; retry")
    figure("lock retries before success", f"{retries} (MIGRATION_LOCK_RETRIES=5)")
