"""Promise 4: SIGTERM or Ctrl-C during a long revision leaves the database consistent.

A test revision sleeps in the database (`pg_sleep`) after creating a table. The run is
signalled while the server sleeps: the revision rolls back, the statement stops on the
server (no backend left running it), the migration lock is released, and the next run
completes. A client killed outright (SIGKILL) cannot clean up; the server notices the
dead client within seconds (client_connection_check_interval) and ends its backend.
"""

import signal
import time

import pytest
from sqlalchemy import text

from tests.chain import HEAD, free_table
from tests.harness import start
from tests.repo_copy import copy_repo, write_revision
from tests.runs import (
    ADVISORY_LOCKS,
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

SLOW = "d4d4d4d4d4d4"
PROBE = free_table("tags")  # a table no model has taken
SLEEPING = """
SELECT count(*) > 0 FROM pg_stat_activity
WHERE datname = current_database() AND state = 'active' AND query LIKE 'SELECT pg_sleep%'
"""
NOBODY_SLEEPING = f"SELECT NOT ({SLEEPING.strip()})"
NO_ADVISORY_LOCK = f"SELECT ({ADVISORY_LOCKS.strip()}) = 0"


@pytest.fixture
def repo(tmp_path):
    root = copy_repo(tmp_path)
    write_revision(
        root,
        SLOW,
        HEAD,
        "Create tags, slowly.",
        "import os\n"
        f'op.create_table("{PROBE}", sa.Column("id", sa.Integer, primary_key=True))\n'
        "op.execute(f\"SELECT pg_sleep({os.environ.get('SLOW_REVISION_SECONDS', '0')})\")",
        f'op.drop_table("{PROBE}")',
    )
    return root


def interrupt_during_sleep(repo, database_url, engine, signum: int):
    """Start the slow upgrade, signal it mid-sleep; (process, stderr, seconds to exit)."""
    env = cli_env(database_url, SLOW_REVISION_SECONDS="120")
    assert run(repo, ["upgrade", HEAD], env).returncode == 0
    migration = start(repo, ["upgrade", "head"], env)
    wait_for(engine, SLEEPING)
    signalled = time.monotonic()
    migration.send_signal(signum)
    _, stderr = migration.communicate(timeout=60)
    return migration, stderr, time.monotonic() - signalled


def assert_consistent_and_resumable(repo, database_url, engine) -> None:
    wait_for(engine, NOBODY_SLEEPING, timeout=30)
    wait_for(engine, NO_ADVISORY_LOCK, timeout=30)
    assert versions(engine) == [HEAD]
    assert columns(engine, PROBE) == []
    assert log_rows(engine)[-1] == ("upgrade", HEAD)
    assert run(repo, ["upgrade", "head"], cli_env(database_url)).returncode == 0
    assert versions(engine) == [SLOW]
    assert columns(engine, PROBE) == ["id"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_rolls_back_the_running_revision(repo, database_url, engine, signum, figure):
    migration, stderr, seconds = interrupt_during_sleep(repo, database_url, engine, signum)

    assert migration.returncode == 128 + signum
    line = error_line(stderr)
    name = signal.Signals(signum).name
    assert f"interrupted by {name} while running revision {SLOW}" in line
    assert f"stays at {HEAD}" in line
    # Checked at once, before any grace period: the cancel reached the server.
    with engine.connect() as conn:
        assert conn.execute(text(SLEEPING)).scalar() is False
        assert conn.execute(text(ADVISORY_LOCKS)).scalar() == 0
    assert_consistent_and_resumable(repo, database_url, engine)
    figure(f"{name} during a revision", f"process exited {seconds:.2f} s after the signal")


def test_killed_client_releases_its_locks_server_side(repo, database_url, engine, figure):
    migration, _, _ = interrupt_during_sleep(repo, database_url, engine, signal.SIGKILL)
    killed = time.monotonic()
    wait_for(engine, NOBODY_SLEEPING, timeout=30)
    ended = time.monotonic() - killed

    assert migration.returncode == -signal.SIGKILL
    assert_consistent_and_resumable(repo, database_url, engine)
    figure("SIGKILL during a revision", f"server ended the orphaned backend {ended:.1f} s later")


# Many short statements: a backfill of one row per batch, then a revision after it.
BACKFILL = "e5e5e5e5e5e5"
AFTER = "e6e6e6e6e6e6"
ROWS_TABLE = free_table("counters")
DONE_ROWS = f"SELECT count(*) FROM {ROWS_TABLE} WHERE v = 1"


def repo_with_a_long_backfill(tmp_path):
    root = copy_repo(tmp_path)
    write_revision(
        root,
        BACKFILL,
        HEAD,
        "Count one by one.",
        f'op.backfill_in_batches("{ROWS_TABLE}", set_="v = 1", where="v = 0", batch_size=1)',
    )
    write_revision(
        root,
        AFTER,
        BACKFILL,
        "After the backfill.",
        f'op.add_column("{ROWS_TABLE}", sa.Column("w", sa.Integer))',
    )
    return root


@pytest.mark.parametrize("signals", [1, 2], ids=["one-signal", "two-signals"])
def test_sigterm_during_many_short_statements_stops_the_run(
    tmp_path, database_url, engine, signals, figure
):
    root = repo_with_a_long_backfill(tmp_path)
    env = cli_env(database_url)
    assert run(root, ["upgrade", HEAD], env).returncode == 0
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {ROWS_TABLE} (id bigint PRIMARY KEY, v int NOT NULL)"))
        conn.execute(text(f"INSERT INTO {ROWS_TABLE} SELECT g, 0 FROM generate_series(1, 20000) g"))
    migration = start(root, ["upgrade", "head"], env)
    wait_for(engine, f"SELECT ({DONE_ROWS}) >= 50")
    signalled = time.monotonic()
    for _ in range(signals):
        migration.send_signal(signal.SIGTERM)
    _, stderr = migration.communicate(timeout=60)
    seconds = time.monotonic() - signalled

    assert migration.returncode == 128 + signal.SIGTERM, stderr
    if signals == 1:
        line = error_line(stderr)
        assert f"interrupted by SIGTERM while running revision {BACKFILL}" in line, line
        assert f"the version stays at {HEAD}" in line, line
    else:  # the second exits at once, unless the first was handled before it came
        done_first = f"interrupted by SIGTERM while running revision {BACKFILL}" in stderr
        assert done_first or "interrupted again by SIGTERM: exiting now" in stderr, stderr
    wait_for(engine, NO_ADVISORY_LOCK, timeout=30)
    with engine.connect() as conn:
        done = conn.execute(text(DONE_ROWS)).scalar()
    time.sleep(0.5)
    with engine.connect() as conn:
        assert conn.execute(text(DONE_ROWS)).scalar() == done  # nothing runs on
    assert 50 <= done < 20000
    assert versions(engine) == [HEAD]  # neither the backfill nor the revision after it
    assert "w" not in columns(engine, ROWS_TABLE)
    assert [r for r in log_rows(engine) if r[1] in (BACKFILL, AFTER)] == []
    figure(
        f"SIGTERM x{signals} during a backfill of one-row batches",
        f"process exited {seconds:.2f} s after the signal, {done} of 20000 batches done",
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_waiting_for_the_lock_exits_128_plus_its_number(
    repo, database_url, engine, signum
):
    from dbtools.apply.lock import MIGRATION_LOCK_KEY

    env = cli_env(database_url)
    assert run(repo, ["upgrade", HEAD], env).returncode == 0
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        holder.commit()
        migration = start(repo, ["upgrade", "head"], env)
        wait_for(
            engine,
            # The run polls pg_try_advisory_lock and commits after each try: between two
            # tries its session's last statement is that COMMIT.
            "SELECT count(*) > 1 FROM pg_locks WHERE locktype = 'advisory'"
            " OR EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name ="
            " 'schema-migrations' AND (query LIKE '%pg_try_advisory_lock%' OR query = 'COMMIT'))",
        )
        migration.send_signal(signum)
        _, stderr = migration.communicate(timeout=60)
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
        holder.commit()

    assert migration.returncode == 128 + signum, stderr
    line = error_line(stderr)
    name = signal.Signals(signum).name
    assert f"interrupted by {name} during `make upgrade` while no revision was running" in line
    assert versions(engine) == [HEAD]
    assert columns(engine, PROBE) == []
