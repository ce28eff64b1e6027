"""`make verify` against a plain `pg_dump --schema-only` of the same database.

The first verify of a revision builds its template database (the chain applied once on
the scratch server); a repeated verify only reads the two catalogs. Both are whole
commands in a new process, as a pipeline runs them; the in-process repeated verify shows
what is left without the interpreter start and imports. `pg_dump --schema-only` reads
one catalog and prints it: the floor of "reading a schema".
"""

import time
from typing import Any

from bench.chain import version_of
from bench.common import Server, Settings, python, repeat, timed, url_string
from dbtools.core.paths import REPO_ROOT
from dbtools.verify import command as verify_command
from dbtools.verify.expected import drop_templates


def measure(server: Server, settings: Settings, head: str) -> dict[str, Any]:
    database = server.create("bench_verify")
    env = {**server.env_for(database), "VERIFY_SCRATCH_URL": url_string(server.url)}
    verify = [python(), "-m", "dbtools", "verify"]
    try:
        timed([python(), "-m", "dbtools", "upgrade"], cwd=REPO_ROOT, env=env)
        dump = [server.bin / "pg_dump", "--schema-only", *server.libpq(database), "-f", "/dev/null"]

        def first() -> float:
            drop_templates(server.url)  # so every run builds its template again
            return timed(verify, cwd=REPO_ROOT, env=env)

        results: dict[str, Any] = {
            "pg_dump": repeat(settings.runs, lambda: timed(dump), warmup=True),
            "first": repeat(settings.runs, first),
            # The first runs left the template in place: these only read.
            "repeated": repeat(settings.runs, lambda: timed(verify, cwd=REPO_ROOT, env=env)),
            "repeated_in_process": repeat(
                settings.runs, lambda: in_process(server, database), warmup=True
            ),
        }
        results["version"] = version_of(server, database)
        results["head"] = head
    finally:
        drop_templates(server.url)
        server.drop(database)
    floor = results["pg_dump"]["median"]
    for name in ("first", "repeated", "repeated_in_process"):
        results[f"{name}_ratio"] = results[name]["median"] / floor
    return results


def in_process(server: Server, database: str) -> float:
    """One repeated verify without starting Python: the comparison's own cost."""
    opts = verify_command.Options(format="text", scratch_url=server.url, extra_schemas=())
    start = time.perf_counter()
    outcome = verify_command.verify(server.url_for(database), opts)
    elapsed = time.perf_counter() - start
    if outcome.differences:
        raise AssertionError(f"the benchmark database drifted: {outcome.differences[0]}")
    return elapsed


# The imports a repeated verify cannot do without: the interpreter, SQLAlchemy, psycopg2.
_IMPORT_FLOOR = "import sqlalchemy.engine, psycopg2"


def startup_ratio(server: Server, settings: Settings) -> dict[str, Any]:
    """A repeated `python -m dbtools verify` (a new process, its template already built)
    against `pg_dump --schema-only` of the same database; and where the time goes: the
    interpreter with only SQLAlchemy and psycopg2 imported, and one in-process verify.

    Returns medians in seconds and `ratio` (repeated verify / pg_dump), `floor_ratio`
    (the imports alone / pg_dump): the part of the ratio no change to verify can remove.
    """
    database = server.create("bench_verify_startup")
    env = {**server.env_for(database), "VERIFY_SCRATCH_URL": url_string(server.url)}
    verify = [python(), "-m", "dbtools", "verify"]
    try:
        timed([python(), "-m", "dbtools", "upgrade"], cwd=REPO_ROOT, env=env)
        timed(verify, cwd=REPO_ROOT, env=env)  # builds the template, if it is missing
        dump = [server.bin / "pg_dump", "--schema-only", *server.libpq(database), "-f", "/dev/null"]
        results: dict[str, Any] = {
            "pg_dump": repeat(settings.runs, lambda: timed(dump), warmup=True),
            "repeated": repeat(
                settings.runs, lambda: timed(verify, cwd=REPO_ROOT, env=env), warmup=True
            ),
            "imports_floor": repeat(
                settings.runs, lambda: timed([python(), "-c", _IMPORT_FLOOR]), warmup=True
            ),
            "in_process": repeat(settings.runs, lambda: in_process(server, database), warmup=True),
        }
    finally:
        server.drop(database)
    floor = results["pg_dump"]["median"]
    results["ratio"] = results["repeated"]["median"] / floor
    results["floor_ratio"] = results["imports_floor"]["median"] / floor
    return results
