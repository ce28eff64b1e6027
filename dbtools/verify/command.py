"""The verify job: the differences between a database and the schema of its revision.

`make verify` and the `MIGRATION_VERIFY=1 make upgrade` gate (in `dbtools/cli.py`) call
`verify()` and print the outcome it returns.

Settings (environment first, then `.env`): VERIFY_FORMAT (`text` or `json`),
VERIFY_SCRATCH_URL (the server that keeps the templates; the embedded development server
when unset), VERIFY_SCHEMAS (schemas to verify besides those the models use, comma-separated).
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import URL

import schema
from dbtools import devserver
from dbtools.core import catalog, settings
from dbtools.core.bookkeeping import bookkeeping
from dbtools.core.errors import UserError
from dbtools.core.secrets import mask_secret, masked
from dbtools.verify import cache, expected, live, normalise, report
from dbtools.verify.compare import differences, owner_differences

FORMATS = report.FORMATS


@dataclass(frozen=True)
class Options:
    format: str
    scratch_url: URL | None
    extra_schemas: tuple[str, ...]


def options(env: settings.Env) -> Options:
    fmt = report.output_format(env)
    raw = env.get("VERIFY_SCRATCH_URL", "").strip()
    try:
        scratch = schema.normalise_url(raw) if raw else None
    except ValueError as exc:
        shown = mask_secret(str(exc), raw).replace("DATABASE_URL", "VERIFY_SCRATCH_URL")
        raise UserError(shown) from None
    extra = tuple(s.strip() for s in env.get("VERIFY_SCHEMAS", "").split(",") if s.strip())
    return Options(format=fmt, scratch_url=scratch, extra_schemas=extra)


def schemas(opts: Options, template: Connection) -> list[str]:
    """The schemas the chain made (those of the template: every schema the models use),
    plus those VERIFY_SCHEMAS names."""
    return sorted(set(catalog.user_schemas(template)) | set(opts.extra_schemas))


# Before the verified schemas are known: where the version table is looked up.
_BOOKKEEPING_PATH = ["public"]


def verify(url: URL, opts: Options, env: settings.Env | None = None) -> report.Outcome:
    """Compare the database at `url` with the schema of the revision it records."""
    with live.session(url) as connection:
        with live.snapshot(connection, _BOOKKEEPING_PATH):
            live.refuse_if_migrating(connection)
            revisions = live.recorded_revisions(connection)
        scratch = opts.scratch_url or devserver.ensure_running(env)
        template = expected.ensure_template(scratch, revisions)
        with live.session(scratch.set(database=template), read_only=False) as expected_db:
            with live.snapshot(expected_db, _BOOKKEEPING_PATH):
                names = schemas(opts, expected_db)
            with live.snapshot(expected_db, names):
                want = catalog.read(expected_db, names)
            with live.snapshot(connection, names):
                got, owners, role = live.read_live(connection, revisions, names)
            outcome = report.Outcome(masked(url), revisions, names, template, [])
            if env is not None:
                _remember(env, connection, outcome, want)
            with live.snapshot(expected_db, names):
                normalise.settle(expected_db, want, got)
    found = differences(want, got, role) + owner_differences(owners, role)
    return report.Outcome(masked(url), revisions, names, template, found)


def _remember(
    env: settings.Env, connection: Connection, outcome: report.Outcome, want: catalog.Catalog
) -> None:
    """Keep the expected catalog for a repeated verify (`dbtools/verify/cache.py`), with
    what the full path resolved to reach and read this database; never fails the verify."""
    key = cache.key(env)
    if key is None:
        return
    dbapi = connection.connection.dbapi_connection
    if dbapi is None:
        return
    names = bookkeeping()
    context: dict[str, Any] = {
        "database": outcome.database,
        "dsn": dbapi.get_dsn_parameters(),  # libpq's own account; never the password
        "bookkeeping": {
            "version_table": names.version_table,
            "version_schema": names.version_schema,
            "log_schema": names.log_schema,
            "log_table": names.log_table,
            "qualified_version": names.qualified_version,
        },
        "lock_key": live.lock_key(),
    }
    record = {
        "revisions": list(outcome.revisions),
        "schemas": outcome.schemas,
        "search_path": live.search_path(outcome.schemas),
        "template": outcome.template,
        "server_version": dbapi.server_version // 10000,
        "expected": want,
    }
    try:
        cache.store(key, cache.as_json(context), cache.revisions_key(outcome.revisions), record)
    except (OSError, TypeError, ValueError):
        return  # no cache: the next verify takes the full path again
