"""The rest of the bad-input probe: each failure is one line that tells the user what to do.

A database at a revision this checkout lacks; a URL that cannot be read unambiguously;
passwords as query parameters; `?connect_timeout=` in the URL; the lock holder named for
any role. Each checks the exit status, the one line, no traceback, no part of a password,
and the database afterwards.
"""

import socket
import threading
import time
import uuid
from urllib.parse import quote

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from dbtools.core.paths import REPO_ROOT
from tests.pg import url_string
from tests.repo_copy import copy_repo, write_revision
from tests.roles import PASSWORD, deployer_database
from tests.runs import cli_env, engine_for, error_line, run, state, versions

QUERY_SECRET = "Qs3cr%t&p@ss wörd"


@pytest.mark.parametrize("args", [["upgrade"], ["downgrade"], ["current"]], ids=" ".join)
def test_a_database_at_a_revision_this_checkout_lacks(args, database_url, engine):
    env = cli_env(database_url)
    assert run(REPO_ROOT, ["upgrade", "head"], env).returncode == 0
    unknown = uuid.uuid4().hex[:12]  # applied from a branch this checkout does not have
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": unknown})
    before = state(engine)

    result = run(REPO_ROOT, args, env)

    assert result.returncode == 1
    assert error_line(result.stderr) == (
        f"error: the database is at revision {unknown}, which this checkout does not have (no "
        "file in migrations/versions defines it; it was applied from another branch or a newer "
        "commit): switch to the branch or pull the commit that has it and run again, or "
        "downgrade from there to a revision this checkout has; nothing was run"
    )
    assert state(engine) == before


@pytest.mark.parametrize(
    "userinfo",
    ["u:Se@cr#et word%41", "u:Se@cr@et", "u@x:Secr3t@Zq9x"],
    ids=["at-hash-space", "two-at", "at-in-user"],
)
def test_a_url_that_cannot_be_read_unambiguously_is_refused_without_its_secret(userinfo):
    result = run(REPO_ROOT, ["upgrade"], cli_env(f"postgresql://{userinfo}@db.example/app"))

    assert result.returncode == 1
    line = error_line(result.stderr, password=None)
    assert line.startswith("error: DATABASE_URL cannot be read unambiguously"), line
    neutral = run(REPO_ROOT, ["upgrade"], cli_env("postgresql://u:Xx@Yy@db.example/app"))
    assert neutral.stderr == result.stderr, "the message must not depend on the secret"


@pytest.mark.parametrize("key", ["password", "sslpassword"])
def test_password_query_parameters_are_masked(key, database_url, engine):
    url = url_string(database_url) + f"&{key}={quote(QUERY_SECRET, safe='')}"
    env = cli_env(url)

    ok = run(REPO_ROOT, ["upgrade", "head"], env)
    failed = run(REPO_ROOT, ["upgrade", "head"], {**env, "MIGRATION_LOCK_TIMEOUT": "soon"})

    assert ok.returncode == 0, ok.stderr
    assert f"{key}=***" in ok.stderr
    assert failed.returncode == 1
    error_line(failed.stderr, password=QUERY_SECRET)
    for output in (ok.stdout + ok.stderr, failed.stdout + failed.stderr):
        for fragment in (QUERY_SECRET[i : i + 4] for i in range(len(QUERY_SECRET) - 3)):
            assert fragment not in output and quote(fragment) not in output
    assert versions(engine)


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers (a server hung on start-up)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_connect_timeout_in_the_url_is_honoured(silent_server):
    url = f"postgresql://u:{quote(PASSWORD, safe='')}@127.0.0.1:{silent_server}/db"
    url += "?connect_timeout=1"
    started = time.monotonic()

    result = run(REPO_ROOT, ["upgrade"], cli_env(url))

    elapsed = time.monotonic() - started
    assert result.returncode == 1
    line = error_line(result.stderr, PASSWORD)
    assert "cannot connect to the database" in line and "timeout expired" in line, line
    # The default connect timeout is 5 s; a URL's own value must replace it.
    assert elapsed < 4.5, f"took {elapsed:.1f}s: ?connect_timeout=1 was not honoured"


def test_the_lock_holder_is_named_readably_for_any_role(tmp_path, server_url):
    with deployer_database(server_url) as roles:
        other = roles.add("pw_other")
        roles.sql(
            "CREATE TABLE held_by_other (id int)",
            f"GRANT SELECT ON held_by_other TO {other}",
            role=roles.deployer,
        )
        repo = copy_repo(tmp_path)
        head = ScriptDirectory.from_config(Config(str(repo / "alembic.ini"))).get_current_head()
        write_revision(
            repo,
            uuid.uuid4().hex[:12],
            head,
            "Lock the held table.",
            'op.execute("LOCK TABLE held_by_other")',
        )
        env = cli_env(roles.url(), MIGRATION_LOCK_TIMEOUT="1s")
        assert run(repo, ["upgrade", head], env).returncode == 0
        engine = engine_for(roles.admin_url())
        before = state(engine)
        holder = engine_for(roles.url(other).update_query_dict({"application_name": "psql"}))
        with holder.connect() as conn:
            conn.execute(text("SELECT count(*) FROM held_by_other"))
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()

            result = run(repo, ["upgrade", "head"], env)

        assert result.returncode == 1
        line = error_line(result.stderr, PASSWORD)
        assert f"table held_by_other (held by pid {pid} (role {other}, application 'psql'))" in line
        assert "?" not in line.split("held by")[1] and "None" not in line, line
        assert state(engine) == before
        holder.dispose()
        engine.dispose()
