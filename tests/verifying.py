"""Test support for `make verify`: the chain, tables picked from the models, runs and states."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, text
from sqlalchemy.engine import URL

import schema
from dbtools.core.paths import REPO_ROOT
from tests.chain import REVISIONS
from tests.pg import url_string
from tests.runs import cli_env, engine_for, run, state


def chain() -> list[str]:
    """Every revision id, oldest first (tests/chain.py reads them)."""
    return list(REVISIONS)


def head() -> str:
    return chain()[-1]


def qualified(table: Table) -> str:
    return f"{table.schema or 'public'}.{table.name}"


def model_table(wanted: str, predicate: Any) -> Table:
    """The first model table (by name) that has what a case needs, or skip the case."""
    for table in sorted(schema.metadata.tables.values(), key=lambda t: t.fullname):
        if predicate(table):
            return table
    pytest.skip(f"no model table has {wanted}")


def verify_env(url: URL, server_url: URL, **extra: str) -> dict[str, str]:
    """The environment of a verify run: the database, and the test server for templates."""
    return cli_env(url, **{"VERIFY_SCRATCH_URL": url_string(server_url), **extra})


def verify(
    url: URL, server_url: URL, root: Path = REPO_ROOT, **extra: str
) -> subprocess.CompletedProcess[str]:
    return run(root, ["verify"], verify_env(url, server_url, **extra))


def verify_json(url: URL, server_url: URL, root: Path = REPO_ROOT, **extra: str) -> dict:
    done = verify(url, server_url, root, VERIFY_FORMAT="json", **extra)
    return json.loads(done.stdout)


def execute(url: URL, *statements: str) -> None:
    """Hand-made changes, as a DBA makes them during an incident (autocommit)."""
    engine = engine_for(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def snapshot(url: URL) -> dict[str, Any]:
    """What verify must leave as it was: catalog, version table, migration log, owners."""
    engine = engine_for(url)
    try:
        found = state(engine)
        with engine.connect() as conn:
            owners = conn.execute(
                text(
                    "SELECT c.relname, pg_get_userbyid(c.relowner), obj_description(c.oid) "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
                    "ORDER BY 1"
                )
            )
            found["objects"] = [tuple(r) for r in owners]
        return found
    finally:
        engine.dispose()


def template_databases(server_url: URL) -> dict[str, int]:
    """The verify templates on the server, with their oids (a rebuilt one gets a new oid)."""
    engine = engine_for(server_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(r"SELECT datname, oid FROM pg_database WHERE datname LIKE 'verify\_%'")
            )
            return {name: int(oid) for name, oid in rows}
    finally:
        engine.dispose()
