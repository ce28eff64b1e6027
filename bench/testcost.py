"""Test cost: the whole suite, and one migrated test database made two ways.

A test that needs a database at head either runs the chain on a new database (what the
migration tests do, in-process, as pytest-alembic does) or clones a database already at
head with `CREATE DATABASE ... TEMPLATE`: by hand, or through `schema.testing` (what
services' tests use: a template built once from `schema.sql`). Each is timed from "no
database" to "a database at head a test can use".
"""

import subprocess
import time
from collections.abc import Callable
from typing import Any

from alembic import command

import schema
from bench.chain import version_of
from bench.common import Server, Settings, clean_env, repeat, stats
from dbtools.core.options import RunOptions, run_config
from dbtools.core.paths import REPO_ROOT
from schema import testing

_counter = iter(range(1_000_000))


def migrate_in_process(server: Server, database: str) -> None:
    """`alembic upgrade head` on a connection handed to env.py, as the migration tests do."""
    engine = schema.make_engine(server.url_for(database))
    try:
        with engine.connect() as connection:
            options = RunOptions(env={}, connection=connection, configure_logging=False)
            command.upgrade(run_config(options), "head")
    finally:
        engine.dispose()


def by_chain(server: Server) -> str:
    name = server.create(f"tc_chain_{next(_counter)}")
    migrate_in_process(server, name)
    return name


def by_template(server: Server, template: str, strategy: str | None) -> Callable[[], str]:
    return lambda: server.create(f"tc_tpl_{next(_counter)}", template=template, strategy=strategy)


def prepare_timings(server: Server, settings: Settings, head: str) -> dict[str, Any]:
    """Seconds to a usable database at head, per route; each result checked, then dropped."""
    template = by_chain(server)
    routes: dict[str, Callable[[], str]] = {
        "chain": lambda: by_chain(server),
        "template_wal_log": by_template(server, template, None),
        "template_file_copy": by_template(server, template, "FILE_COPY"),
        "schema_testing": lambda: str(testing.clone_database(server.url).database),
    }
    results: dict[str, Any] = {}
    start = time.perf_counter()
    shipped_template = testing.ensure_template(server.url).database
    results["schema_testing_template_build"] = stats([time.perf_counter() - start])
    try:
        for name, make in routes.items():
            made: list[str] = []

            def once(make: Callable[[], str] = make, made: list[str] = made) -> float:
                start = time.perf_counter()
                made.append(make())
                return time.perf_counter() - start

            results[name] = repeat(settings.runs, once, warmup=True)
            results[name]["at_head"] = all(version_of(server, db) == head for db in made)
            for db in made:
                server.drop(db)
    finally:
        server.drop(template)
        server.drop(str(shipped_template))
    results["ratio"] = results["chain"]["median"] / results["template_wal_log"]["median"]
    return results


def make_test(settings: Settings) -> dict[str, Any]:
    """Wall time of `make test` in the repository; skipped when test_runs is 0."""
    if settings.test_runs <= 0:
        return {"skipped": True}
    samples, passed, summary = [], [], ""

    for _ in range(settings.test_runs):
        start = time.perf_counter()
        result = subprocess.run(
            ["make", "-s", "test"], cwd=REPO_ROOT, env=clean_env(), capture_output=True, text=True
        )
        samples.append(time.perf_counter() - start)
        passed.append(result.returncode == 0)
        summary = (result.stdout.strip().splitlines() or [""])[-1].strip("= ")
    return {"skipped": False, **stats(samples), "passed": all(passed), "summary": summary}


def measure(server: Server, settings: Settings, head: str) -> dict[str, Any]:
    return {"prepare": prepare_timings(server, settings, head), "make_test": make_test(settings)}
