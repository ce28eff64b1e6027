"""The suite's servers survive another pytest session starting on the same machine.

The cause of the lost test servers (two `make test` at once): run as root, the embedded
servers run as `pgserver` and reach their data through pytest's shared
`/tmp/pytest-of-root`; every pytest session that starts without `--basetemp` chmods it
back to 0700, and the next checkpoint of every other session's server (DROP DATABASE
forces one) PANICs with "Permission denied". Here another session starts the way a
second `make test` (or a nested suite) would, then this session's server must still
checkpoint, create and drop a database. (Not run as root, the chmod is harmless anyway.)
"""

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.harness import clean_env
from tests.pg import (
    NON_DURABLE,
    RAM_DISK,
    RAM_DISK_ROOM,
    admin_engine,
    given_test_server,
    ram_disk_has_room,
    server_data_parent,
    suite_server,
)


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
    if given_test_server() is not None:
        pytest.skip("TEST_DATABASE_URL: a server the suite did not start keeps its settings")
    engine = admin_engine(server_url)
    try:
        with engine.connect() as conn:
            shown = {name: conn.execute(text(f"SHOW {name}")).scalar_one() for name in NON_DURABLE}
    finally:
        engine.dispose()
    assert shown == NON_DURABLE


def test_the_suite_s_own_server_keeps_its_data_in_memory_when_the_machine_has_room(server_url):
    if given_test_server() is not None:
        pytest.skip(
            "TEST_DATABASE_URL: a server the suite did not start keeps its data where it is"
        )
    if not ram_disk_has_room():
        pytest.skip(f"{RAM_DISK} is missing or has less than {RAM_DISK_ROOM} bytes free")
    engine = admin_engine(server_url)
    try:
        with engine.connect() as conn:
            data_directory = Path(conn.execute(text("SHOW data_directory")).scalar_one())
    finally:
        engine.dispose()
    assert data_directory.is_relative_to(RAM_DISK)


def test_the_server_s_data_goes_to_the_disk_when_the_memory_file_system_is_missing_or_full(
    tmp_path,
):
    disk = tmp_path / "disk"
    ram = tmp_path / "ram"
    assert server_data_parent(disk, ram_disk=ram, room=0) == disk  # missing
    ram.mkdir()
    assert server_data_parent(disk, ram_disk=ram, room=2**62) == disk  # full
    chosen = server_data_parent(disk, ram_disk=ram, room=0)
    assert chosen.parent == ram and chosen.is_dir() and not any(chosen.iterdir())
    assert server_data_parent(disk, ram_disk=ram, room=0) != chosen  # one of its own each time


def test_a_server_named_by_test_database_url_gets_no_data_directory(tmp_path, monkeypatch):
    """TEST_DATABASE_URL's server keeps its data where it is: the suite makes no
    directory for it, in memory or on disk (it made an empty one in /dev/shm before)."""
    monkeypatch.setenv("TEST_DATABASE_URL", "postgresql://someone@elsewhere:5432/postgres")
    ram = tmp_path / "ram"
    ram.mkdir()
    removed: list[Path] = []

    def no_fallback() -> Path:
        pytest.fail("asked for a directory on disk")

    url = suite_server(no_fallback, removed.append, ram_disk=ram, room=0)

    assert (url.host, url.port, url.database) == ("elsewhere", 5432, "postgres")
    assert list(ram.iterdir()) == [] and removed == []
