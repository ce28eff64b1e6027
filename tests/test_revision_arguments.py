"""Every revision argument Alembic accepts works the same here, online and offline.

The run's plan comes from the command and Alembic's own resolution of the argument
(`dbtools/apply/progress.py`), never from parsing it: relative steps from where the
database is (`+N`, `-N`), relative to a revision (`<rev>+N`, `<rev>-N`), `head`, `heads`,
`base` and unique prefixes. A wrong argument is refused before the migration lock is
taken, so it fails at once even while another run holds the lock.
"""

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

import schema
from dbtools.apply.lock import MIGRATION_LOCK_KEY
from dbtools.core.paths import REPO_ROOT
from tests.chain import REVISIONS
from tests.pg import versions
from tests.repo_copy import copy_repo, write_revision
from tests.runs import cli_env, error_line, run

pytestmark = pytest.mark.skipif(len(REVISIONS) < 2, reason="needs a chain of two revisions")

SECOND = REVISIONS[1] if len(REVISIONS) > 1 else ""


def shortest_prefix(revision: str) -> str:
    """The shortest prefix of `revision` no other revision shares."""
    others = [r for r in REVISIONS if r != revision]
    return next(
        revision[:n]
        for n in range(4, len(revision))
        if not any(o.startswith(revision[:n]) for o in others)
    )


def dbtools(args: list[str], url: URL, **extra: str):
    done = run(REPO_ROOT, args, cli_env(url, **extra))
    assert done.returncode == 0, done.stderr
    return done


# (what the database is at first, the command, where it must be afterwards)
CASES = {
    "upgrade +1 from empty": ([], ["upgrade", "+1"], [REVISIONS[0]]),
    "upgrade <first>+1 from empty": ([], ["upgrade", f"{REVISIONS[0]}+1"], [SECOND]),
    "upgrade <first>+1 from first": ([REVISIONS[0]], ["upgrade", f"{REVISIONS[0]}+1"], [SECOND]),
    "upgrade a unique prefix": ([], ["upgrade", shortest_prefix(SECOND)], [SECOND]),
    "upgrade heads": ([], ["upgrade", "heads"], [REVISIONS[-1]]),
    "downgrade -1 from second": ([SECOND], ["downgrade", "-1"], [REVISIONS[0]]),
    "downgrade <second>-1 from second": ([SECOND], ["downgrade", f"{SECOND}-1"], [REVISIONS[0]]),
    "downgrade base": ([SECOND], ["downgrade", "base"], []),
}


@pytest.mark.parametrize("start, args, expected", CASES.values(), ids=CASES.keys())
def test_a_revision_argument_means_what_alembic_says(database_url: URL, start, args, expected):
    if start:
        dbtools(["upgrade", start[0]], database_url)
    done = dbtools(args, database_url, ALLOW_DATA_LOSS="1")
    assert versions(database_url) == expected
    for revision in set(expected) - set(start):
        assert f"-> {revision}" in done.stderr  # Alembic's own line for each step run


def test_offline_sql_takes_relative_arguments_too():
    done = run(
        REPO_ROOT,
        ["sql", "--from", REVISIONS[0], "--to", f"{REVISIONS[0]}+1"],
        cli_env("postgresql://nobody@127.0.0.1:9/none"),
    )
    assert done.returncode == 0, done.stderr
    assert "INSERT INTO" not in done.stdout  # the first revision is not applied again
    assert f"version_num='{SECOND}'" in done.stdout.replace(" ", "")
    assert f"-> {SECOND}" in done.stdout


@pytest.mark.parametrize("args", [["upgrade", "nosuchrev"], ["downgrade", "nosuchrev"]])
def test_a_wrong_argument_is_refused_before_the_migration_lock(database_url: URL, args):
    dbtools(["upgrade", SECOND], database_url)
    holder = schema.make_engine(database_url)
    try:
        with holder.connect() as held:
            held.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            held.commit()
            env = cli_env(database_url, ALLOW_DATA_LOSS="1")
            done = run(REPO_ROOT, args, env, timeout=60)
    finally:
        holder.dispose()
    assert done.returncode == 1
    assert "Waiting for another migration run" not in done.stderr
    assert error_line(done.stderr).startswith("error: unknown revision 'nosuchrev'")
    assert versions(database_url) == [SECOND]


def test_a_branch_label_names_its_revision_online_and_offline(tmp_path, database_url: URL):
    repo = copy_repo(tmp_path)
    labelled = uuid.uuid4().hex[:12]
    path = write_revision(repo, labelled, REVISIONS[-1], "A labelled revision (test only).", "pass")
    path.write_text(path.read_text().replace("branch_labels = None", "branch_labels = ('probe',)"))
    done = run(repo, ["upgrade", "probe@head"], cli_env(database_url))
    assert done.returncode == 0, done.stderr
    assert versions(database_url) == [labelled]
    offline = run(repo, ["sql", "--to", "probe@head"], cli_env("postgresql://nobody@127.0.0.1:9/x"))
    assert offline.returncode == 0, offline.stderr
    assert f"-> {labelled}" in offline.stdout


def test_upgrading_past_head_is_one_line_and_runs_nothing(database_url: URL):
    steps = len(REVISIONS) + 1
    done = run(REPO_ROOT, ["upgrade", f"+{steps}"], cli_env(database_url))
    assert done.returncode == 1
    assert error_line(done.stderr).startswith(f"error: cannot upgrade {steps} step(s) from ")
    engine = schema.make_engine(database_url)
    try:
        with engine.connect() as conn:  # nothing ran: not even the version table was made
            assert (
                conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar() is None
            )
    finally:
        engine.dispose()
