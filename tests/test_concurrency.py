"""Promise 1: pipelines started together serialise on the migration lock.

Eight runs (`make upgrade`, `python -m dbtools upgrade` and Alembic's own CLI, mixed)
start at once on an empty database: all exit 0, each revision is applied once (the
migration log has one row per revision), the version table holds the single head. An
upgrade and a downgrade racing each other end in one of the two serial outcomes.
"""

import subprocess
import time

import pytest
from sqlalchemy import Engine, text

from dbtools.apply.lock import MIGRATION_LOCK_KEY
from dbtools.core.paths import REPO_ROOT
from tests.chain import HEAD, REVISIONS, TABLES, in_model_schemas, model_columns, upgrades
from tests.harness import columns as tables_and_columns
from tests.harness import command, start
from tests.repo_copy import copy_repo, write_revision
from tests.runs import cli_env, log_rows, run, versions

# Timings matter here: these modules share one worker, never running beside each other.
pytestmark = pytest.mark.xdist_group("timing")

PARALLEL_RUNS = 8
WAITING = "Waiting for another migration run"
TOOLS = ("make", "alembic", "dbtools", "alembic")  # make upgrade runs `python -m dbtools`


def at_head() -> dict[str, set[str]]:
    """Each table of the models (in every schema they use) with the columns head gives it."""
    return {table: set(model_columns(table)) for table in TABLES}


def test_eight_parallel_upgrades_apply_each_revision_once(
    tmp_path, database_url, engine: Engine, figure
):
    env = cli_env(database_url, MIGRATION_LOCK_TIMEOUT="5s")
    logs = [tmp_path / f"run{i}.log" for i in range(PARALLEL_RUNS)]
    # The test holds the migration lock until every run has said it is waiting for it,
    # so all eight are queued on the lock at the same moment.
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        started = time.monotonic()
        runs = [
            subprocess.Popen(
                command(["upgrade", "head"], TOOLS[i % len(TOOLS)]),
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log.open("w"),
            )
            for i, log in enumerate(logs)
        ]
        deadline = time.monotonic() + 120
        while not all(WAITING in log.read_text() for log in logs):
            assert time.monotonic() < deadline, [log.read_text()[-300:] for log in logs]
            time.sleep(0.1)
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
        holder.commit()
    results = [
        (p.wait(timeout=300), "", log.read_text()) for p, log in zip(runs, logs, strict=True)
    ]
    elapsed = time.monotonic() - started

    assert [rc for rc, _, _ in results] == [0] * PARALLEL_RUNS, [err for _, _, err in results]
    waited = sum(WAITING in err for _, _, err in results)
    assert waited == PARALLEL_RUNS
    assert versions(engine) == [HEAD]
    assert log_rows(engine) == upgrades()
    assert in_model_schemas(tables_and_columns(engine)) == at_head()
    figure(
        "parallel upgrades",
        f"{PARALLEL_RUNS}/{PARALLEL_RUNS} exited 0 in {elapsed:.1f} s; "
        f"{waited} waited for the lock; each revision applied once",
    )


SLOW_DOWN, SLOW_UP = "a1b2c3d4e5f6", "f6e5d4c3b2a1"
SLEEP = 'op.execute("SELECT pg_sleep(2)")'


def test_upgrade_and_downgrade_racing_serialise(tmp_path, database_url, engine: Engine, figure):
    # Both revisions sleep two seconds each way, so whichever run takes the lock first holds
    # it long enough that the other surely arrives while it is held.
    repo = copy_repo(tmp_path)
    write_revision(repo, SLOW_DOWN, HEAD, "Slow both ways.", SLEEP, SLEEP)
    write_revision(repo, SLOW_UP, SLOW_DOWN, "Slow both ways, too.", SLEEP, SLEEP)
    env = cli_env(database_url)
    assert run(repo, ["upgrade", SLOW_DOWN], env).returncode == 0
    setup_rows = len(log_rows(engine))

    up = start(repo, ["upgrade", "head"], env)
    down = start(repo, ["downgrade", "base"], env)
    up_out, down_out = up.communicate(timeout=120), down.communicate(timeout=120)

    assert (up.returncode, down.returncode) == (0, 0), (up_out, down_out)
    waited = [
        name
        for name, (_, err) in (("upgrade", up_out), ("downgrade", down_out))
        if "Waiting for another migration run" in err
    ]
    assert len(waited) == 1
    rows = log_rows(engine)[setup_rows:]
    chain = [*REVISIONS, SLOW_DOWN]
    upgrade_first = [("upgrade", SLOW_UP)] + [("downgrade", r) for r in [SLOW_UP, *chain[::-1]]]
    downgrade_first = [("downgrade", r) for r in chain[::-1]] + [
        ("upgrade", r) for r in [*chain, SLOW_UP]
    ]
    assert rows in (upgrade_first, downgrade_first)
    if rows == upgrade_first:
        assert versions(engine) == []
        assert tables_and_columns(engine) == {}
    else:
        assert versions(engine) == [SLOW_UP]
        assert in_model_schemas(tables_and_columns(engine)) == at_head()
    figure("upgrade vs downgrade race", f"serialised: the {waited[0]} waited; both exited 0")


def test_current_neither_waits_for_a_run_nor_writes(database_url, engine: Engine):
    """Only commands that change the database take the lock and write the log."""
    with engine.connect() as other_run:
        other_run.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        result = run(REPO_ROOT, ["current"], cli_env(database_url), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Waiting for another migration run" not in result.stderr
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_regnamespace('migration_audit')")).scalar() is None
    assert versions(engine) == []
