"""`make verify` against a plain `pg_dump --schema-only` of the same database.

The first verify of a revision builds its template database (the chain applied once on
the scratch server) and caches the expected catalog (`.cache/verify/`); a repeated verify
reads the live catalog with psycopg2 and compares it with the cached one, without loading
SQLAlchemy or Alembic. Both are whole commands in a new process, as a pipeline runs them;
the in-process verify shows the full path's comparison without the interpreter start
and imports. `pg_dump --schema-only` reads one catalog and prints it: the floor of
"reading a schema".
"""

import time
from collections.abc import Callable
from typing import Any

from bench.chain import version_of
from bench.common import Server, Settings, python, repeat, stats, timed, url_string
from dbtools.core import settings as dbtools_settings
from dbtools.core.paths import REPO_ROOT
from dbtools.verify import cache
from dbtools.verify import command as verify_command
from dbtools.verify.expected import drop_templates


def measure(server: Server, settings: Settings, head: str) -> dict[str, Any]:
    database = server.create("bench_verify")
    env = verify_env(server, database)
    verify = [python(), "-m", "dbtools", "verify"]
    try:
        timed([python(), "-m", "dbtools", "upgrade"], cwd=REPO_ROOT, env=env)
        dump = [server.bin / "pg_dump", "--schema-only", *server.libpq(database), "-f", "/dev/null"]

        def first() -> float:
            drop_templates(server.url)  # so every run builds its template again
            forget(env)  # ... and reads it: no cached expected catalog either
            return timed(verify, cwd=REPO_ROOT, env=env)

        results: dict[str, Any] = {
            "pg_dump": repeat(settings.runs, lambda: timed(dump), warmup=True),
            "first": repeat(settings.runs, first),
            # The first runs left the template and the cache in place: these only read.
            "repeated": repeat(settings.runs, lambda: timed(verify, cwd=REPO_ROOT, env=env)),
            "repeated_in_process": repeat(
                settings.runs, lambda: in_process(server, database), warmup=True
            ),
        }
        results["version"] = version_of(server, database)
        results["head"] = head
        results["repeated_cached"] = cached(env)
    finally:
        drop_templates(server.url)
        forget(env)
        server.drop(database)
    floor = results["pg_dump"]["median"]
    for name in ("first", "repeated", "repeated_in_process"):
        results[f"{name}_ratio"] = results[name]["median"] / floor
    return results


def _key(env: dict[str, str]) -> cache.Json | None:
    """The cache key of a verify run with `env` (and the repository's `.env` under it)."""
    return cache.key({**dbtools_settings.read_dotenv(REPO_ROOT / ".env"), **env})


def verify_env(server: Server, database: str) -> dict[str, str]:
    """The environment of a timed verify: `database`, and templates on the same server
    (Python keeps the bytecode of what it imports, as for every child of the bench)."""
    return {**server.env_for(database), "VERIFY_SCRATCH_URL": url_string(server.url)}


def cached(env: dict[str, str]) -> bool:
    """Whether the cache holds an entry for a verify run with `env` (the repeated runs
    were answered from it, not by the full path)."""
    key = _key(env)
    return key is not None and cache.load(key) is not None


def forget(env: dict[str, str]) -> None:
    """The cache entry of a verify run with `env` removed: the next one is a first."""
    key = _key(env)
    if key is not None:
        cache.forget(key)


def in_process(server: Server, database: str) -> float:
    """One verify by the full path without starting Python (no cache: it is handed no
    settings): the comparison's own cost."""
    opts = verify_command.Options(format="text", scratch_url=server.url, extra_schemas=())
    start = time.perf_counter()
    outcome = verify_command.verify(server.url_for(database), opts)
    elapsed = time.perf_counter() - start
    if outcome.differences:
        raise AssertionError(f"the benchmark database drifted: {outcome.differences[0]}")
    return elapsed


# The imports a repeated verify cannot do without: the interpreter, psycopg2 and
# python-dotenv (the settings); the full path's floor adds SQLAlchemy.
_IMPORT_FLOOR = "import psycopg2, dotenv"
_FULL_IMPORT_FLOOR = "import sqlalchemy.engine, psycopg2, dotenv"


def startup_ratio(server: Server, settings: Settings) -> dict[str, Any]:
    """A repeated `python -m dbtools verify` (a new process, answered from the cache the
    first verify wrote) against `pg_dump --schema-only` of the same database, in turn in
    the same run; and where the time goes: the interpreter with only psycopg2 and
    python-dotenv imported (with SQLAlchemy too: the full path's floor), and one
    in-process verify by the full path.

    Returns medians in seconds and `ratio` (repeated verify / pg_dump), `floor_ratio`
    (the imports alone / pg_dump: the part of the ratio no change to verify can remove),
    `full_floor_ratio`, and `cached` (the repeated runs had a cache entry to answer from).
    """
    database = server.create("bench_verify_startup")
    env = verify_env(server, database)
    verify = [python(), "-m", "dbtools", "verify"]
    try:
        timed([python(), "-m", "dbtools", "upgrade"], cwd=REPO_ROOT, env=env)
        timed(verify, cwd=REPO_ROOT, env=env)  # builds the template and the cache entry
        dump = [server.bin / "pg_dump", "--schema-only", *server.libpq(database), "-f", "/dev/null"]
        paired = in_turn(
            settings.runs,
            lambda: timed(dump),
            lambda: timed(verify, cwd=REPO_ROOT, env=env),
        )
        results: dict[str, Any] = {
            "pg_dump": paired[0],
            "repeated": paired[1],
            "cached": cached(env),
            "imports_floor": repeat(
                settings.runs, lambda: timed([python(), "-c", _IMPORT_FLOOR]), warmup=True
            ),
            "full_imports_floor": repeat(
                settings.runs, lambda: timed([python(), "-c", _FULL_IMPORT_FLOOR]), warmup=True
            ),
            "in_process": repeat(settings.runs, lambda: in_process(server, database), warmup=True),
        }
    finally:
        server.drop(database)
        forget(env)
    floor = results["pg_dump"]["median"]
    results["ratio"] = results["repeated"]["median"] / floor
    results["floor_ratio"] = results["imports_floor"]["median"] / floor
    results["full_floor_ratio"] = results["full_imports_floor"]["median"] / floor
    return results


def in_turn(
    runs: int, first: Callable[[], float], second: Callable[[], float]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`first` and `second` timed in turn (A B A B ..., after one warm-up each), so a
    machine whose speed drifts slows both alike; the statistics of each."""
    first(), second()
    a, b = [], []
    for _ in range(runs):
        a.append(first())
        b.append(second())
    return stats(a), stats(b)
