"""The embedded server is reachable whatever PGPORT or PGHOST say in the environment.

libpq (and the server itself) read PGPORT and PGHOST when a URL does not say. With
nonsense in both, a command in a copy of the repository starts the development server
and migrates; later commands, with the variables or without them, reach the same
server and see the same revision; `make psql` opens it too.
"""

from tests.chain import HEAD
from tests.pg import run_cli
from tests.repo_copy import copy_repo

NONSENSE = {"PGPORT": "6543", "PGHOST": "/nonexistent/socket/dir", "DATABASE_URL": ""}


def test_the_dev_server_is_reached_whatever_pgport_and_pghost_say(tmp_path):
    repo = copy_repo(tmp_path)
    try:
        upgrade = run_cli(["upgrade"], NONSENSE, cwd=repo)
        assert upgrade.returncode == 0, upgrade.stderr
        # Without the variables, and with them, the same server and data.
        for env in ({"DATABASE_URL": ""}, NONSENSE):
            current = run_cli(["current"], env, cwd=repo)
            assert current.returncode == 0, current.stderr
            assert current.stdout.strip() == f"{HEAD} (head)"
        psql = run_cli(
            ["psql"], NONSENSE, cwd=repo, stdin="SELECT version_num FROM alembic_version;"
        )
        assert psql.returncode == 0, psql.stderr
        assert HEAD in psql.stdout
    finally:
        stop = run_cli(["db-stop"], {"DATABASE_URL": ""}, cwd=repo)
    assert stop.returncode == 0, stop.stderr
    assert "stopped" in stop.stdout
