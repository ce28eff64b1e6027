"""Promise 8: every error a user can cause gets one readable line (docs/errors.md).

Each case runs the command line as a user would and checks: a non-zero exit, exactly
one `error:` line and it is the last line, no traceback, no password (every run's URL
carries one), the expected words, and a database exactly as it was (catalog, version
table, migration log). Errors that need a running migration to provoke them (lock
timeout, failing revision, broken file, edited revision, interruption) are tested where
that promise is: test_lock_contention, test_failing_revisions, test_audit,
test_interrupted_run; docs/errors.md names the test of each.
"""

import pytest

from dbtools.core.paths import REPO_ROOT
from tests.chain import HEAD, REVISIONS
from tests.pg import url_string
from tests.repo_copy import copy_repo, write_revision
from tests.runs import SECRET, cli_env, error_line, run, state, with_secret

PW = "s3cr%25t%20p%40ss"  # SECRET, percent-encoded as a user writes it in a URL


@pytest.fixture
def database_url(database_at_release):
    """Every case starts at the released tip: its subject is the error, not the apply."""
    return database_at_release


def on_test_server(**parts):
    """A DATABASE_URL on the test server with `parts` changed (and a password)."""
    return lambda db: url_string(with_secret(db.set(**parts)))


# (id, DATABASE_URL: a string or a function of the test database's URL, None for that URL
#  itself; extra environment; arguments; the words the error line must hold)
CASES = [
    (
        "other-dialect",
        f"mysql://u:{PW}@db.example/app",
        {},
        ["upgrade"],
        "DATABASE_URL must be a PostgreSQL URL (postgresql://, postgres://, "
        "postgresql+psycopg2://), got 'mysql://'",
    ),
    (
        "no-scheme",
        f"u:{PW}@db.example/app",
        {},
        ["upgrade"],
        "DATABASE_URL must be a PostgreSQL URL",
    ),
    (
        "unparseable",
        f"postgresql://u:{PW}@db.example:port/app",
        {},
        ["upgrade"],
        "DATABASE_URL could not be parsed",
    ),
    (
        "unreachable",
        f"postgresql://u:{PW}@127.0.0.1:1/app",
        {},
        ["upgrade"],
        'connection to server at "127.0.0.1", port 1 failed: Connection refused',
    ),
    (
        "unknown-database",
        on_test_server(database="no_such_db"),
        {},
        ["upgrade"],
        'database "no_such_db" does not exist',
    ),
    (
        "unknown-role",
        on_test_server(username="no_such_role"),
        {},
        ["upgrade"],
        'role "no_such_role" does not exist',
    ),
    (
        "unset-in-ci",
        "",
        {"CI": "true"},
        ["upgrade"],
        "DATABASE_URL is not set and CI is true: a pipeline must name its database",
    ),
    (
        "bad-lock-timeout",
        None,
        {"MIGRATION_LOCK_TIMEOUT": "soon"},
        ["upgrade"],
        "MIGRATION_LOCK_TIMEOUT must be a duration such as 500ms, 5s, 10min or 2h, got 'soon'",
    ),
    (
        "bad-statement-timeout",
        None,
        {"MIGRATION_STATEMENT_TIMEOUT": "-1"},
        ["upgrade"],
        "MIGRATION_STATEMENT_TIMEOUT must be a duration",
    ),
    (
        "bad-retries",
        None,
        {"MIGRATION_LOCK_RETRIES": "many"},
        ["upgrade"],
        "MIGRATION_LOCK_RETRIES must be a whole number, got 'many'",
    ),
    (
        "unknown-rev-upgrade",
        None,
        {},
        ["upgrade", "nosuchrev"],
        "unknown revision 'nosuchrev': REV takes a revision id",
    ),
    ("unknown-rev-downgrade", None, {}, ["downgrade", "nosuchrev"], "unknown revision 'nosuchrev'"),
    (
        "below-base",
        None,
        {},
        # One step more than the chain has, however long it grows.
        ["downgrade", f"-{len(REVISIONS) + 1}"],
        f"cannot downgrade {len(REVISIONS) + 1} step(s): that goes below base",
    ),
    (
        "revision-without-message",
        None,
        {},
        ["revision", "-m", " "],
        'a revision needs a message: make revision m="Add the phone column"',
    ),
]


@pytest.mark.parametrize(
    ("url", "extra", "args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_configuration_and_argument_errors(url, extra, args, expected, database_url, engine):
    env = cli_env(database_url)
    assert run(REPO_ROOT, ["upgrade", "head"], env).returncode == 0
    before = state(engine)
    case_env = {**env, **extra}
    if url is not None:
        case_env["DATABASE_URL"] = url(database_url) if callable(url) else url

    result = run(REPO_ROOT, args, case_env)

    assert result.returncode != 0
    line = error_line(result.stderr)
    assert SECRET not in result.stdout
    assert expected in line, line
    assert state(engine) == before


def test_two_heads(tmp_path, database_url, engine):
    repo = copy_repo(tmp_path)
    write_revision(repo, "e5e5e5e5e5e5", HEAD, "One branch.", "pass", "pass")
    write_revision(repo, "f6f6f6f6f6f6", HEAD, "Another branch.", "pass", "pass")
    env = cli_env(database_url)
    before = state(engine)

    result = run(repo, ["upgrade", "head"], env)

    assert result.returncode != 0
    line = error_line(result.stderr)
    assert "the revisions have 2 heads (e5e5e5e5e5e5, f6f6f6f6f6f6)" in line, line
    assert "nothing was applied" in line
    assert state(engine) == before


def test_statement_timeout(tmp_path, database_url, engine):
    repo = copy_repo(tmp_path)
    write_revision(repo, "a7a7a7a7a7a7", HEAD, "Slow.", 'op.execute("SELECT pg_sleep(30)")', "pass")
    env = cli_env(database_url, MIGRATION_STATEMENT_TIMEOUT="500ms")
    assert run(repo, ["upgrade", HEAD], env).returncode == 0
    before = state(engine)

    result = run(repo, ["upgrade", "head"], env)

    assert result.returncode != 0
    line = error_line(result.stderr)
    for part in (
        "revision a7a7a7a7a7a7 (Slow)",
        "MIGRATION_STATEMENT_TIMEOUT=500ms",
        "`SELECT pg_sleep(30)`",
        f"stays at {HEAD}",
    ):
        assert part in line, line
    assert state(engine) == before
