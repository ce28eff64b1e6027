"""The suite's servers survive another pytest session starting on the same machine.

The cause of the lost test servers (two `make test` at once): run as root, the embedded
servers run as `pgserver` and reach their data through pytest's shared
`/tmp/pytest-of-root`; every pytest session that starts without `--basetemp` chmods it
back to 0700, and the next checkpoint of every other session's server (DROP DATABASE
forces one) PANICs with "Permission denied". Here another session starts the way a
second `make test` (or a nested suite) would, then this session's server must still
checkpoint, create and drop a database. (Not run as root, the chmod is harmless anyway.)
"""

import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from tests.harness import clean_env
from tests.pg import NON_DURABLE, admin_engine


def test_another_session_starting_leaves_this_sessions_server_running(server_url, tmp_path):
    (tmp_path / "test_nothing.py").write_text("def test_nothing(tmp_path):\n    pass\n")
    other = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode == 0, other.stdout + other.stderr

    engine = admin_engine(server_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))
            conn.execute(text("CREATE DATABASE isolation_probe"))
            conn.execute(text("DROP DATABASE isolation_probe WITH (FORCE)"))
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_the_suite_s_own_server_does_not_wait_for_the_disk(server_url):
    """The throwaway test server runs with PostgreSQL's non-durable settings (its data is
    deleted at the end of the session); `make db`'s server is started without them."""
    if os.environ.get("TEST_DATABASE_URL", "").strip():
        pytest.skip("TEST_DATABASE_URL: a server the suite did not start keeps its settings")
    engine = admin_engine(server_url)
    try:
        with engine.connect() as conn:
            shown = {name: conn.execute(text(f"SHOW {name}")).scalar_one() for name in NON_DURABLE}
    finally:
        engine.dispose()
    assert shown == NON_DURABLE
