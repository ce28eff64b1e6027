"""The no-op run: upgrading a database already at head, the commonest run in a deploy.

Its floor is what any Python tool doing this job pays before it does anything: starting
the same interpreter and importing the same libraries. A bare interpreter start is shown
too, so the import share of the floor is visible.
"""

from pathlib import Path
from typing import Any

from bench.chain import version_of
from bench.common import Server, Settings, clean_env, python, repeat, timed
from dbtools.core.paths import REPO_ROOT

FLOOR_IMPORTS = "import alembic, sqlalchemy, psycopg2, dotenv"
REPO_IMPORTS = FLOOR_IMPORTS + ", schema, dbtools.cli"


def commands(server: Server, database: str) -> dict[str, tuple[list[str | Path], dict[str, str]]]:
    """What is timed, by name: the command line and its environment."""
    alembic_cli = Path(python()).with_name("alembic")
    env = server.env_for(database)
    return {
        "dbtools_upgrade": ([python(), "-m", "dbtools", "upgrade"], env),
        "alembic_upgrade": ([alembic_cli, "upgrade", "head"], env),
        "floor_imports": ([python(), "-c", FLOOR_IMPORTS], clean_env()),
        # Not a floor: the repository's own modules on top, to split imports from work.
        "imports_with_repo": ([python(), "-c", REPO_IMPORTS], clean_env()),
        "floor_interpreter": ([python(), "-c", "pass"], clean_env()),
    }


def measure(server: Server, settings: Settings, head: str) -> dict[str, Any]:
    database = server.create("noop_at_head")
    try:
        # The first upgrade brings the database to head; every timed one then does nothing.
        timed([python(), "-m", "dbtools", "upgrade"], cwd=REPO_ROOT, env=server.env_for(database))
        results: dict[str, Any] = {}
        for name, (cmd, env) in commands(server, database).items():
            results[name] = repeat(
                settings.runs, lambda c=cmd, e=env: timed(c, cwd=REPO_ROOT, env=e), warmup=True
            )
        results["version_after"] = version_of(server, database)
        results["head"] = head
    finally:
        server.drop(database)
    floor = results["floor_imports"]["median"]
    results["ratio"] = results["dbtools_upgrade"]["median"] / floor
    results["alembic_ratio"] = results["alembic_upgrade"]["median"] / floor
    return results
