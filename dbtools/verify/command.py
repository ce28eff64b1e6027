"""The verify job: the differences between a database and the schema of its revision.

`make verify` and the `MIGRATION_VERIFY=1 make upgrade` gate (in `dbtools/cli.py`) call
`verify()` and print the outcome it returns.

Settings (environment first, then `.env`): VERIFY_FORMAT (`text` or `json`),
VERIFY_SCRATCH_URL (the server that keeps the templates; the embedded development server
when unset), VERIFY_SCHEMAS (schemas to verify besides those the models use, comma-separated).
"""

from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

import schema
from dbtools import devserver
from dbtools.core import catalog, settings
from dbtools.core.bookkeeping import bookkeeping
from dbtools.core.errors import UserError
from dbtools.core.secrets import mask_secret, masked
from dbtools.verify import expected, live, normalise, report
from dbtools.verify.compare import differences, owner_differences

FORMATS = ("text", "json")


@dataclass(frozen=True)
class Options:
    format: str
    scratch_url: URL | None
    extra_schemas: tuple[str, ...]


def options(env: settings.Env) -> Options:
    fmt = env.get("VERIFY_FORMAT", "").strip().lower() or "text"
    if fmt not in FORMATS:
        raise UserError(f"VERIFY_FORMAT must be text or json, got {fmt!r}")
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
            got, owners, role = _read_live(connection, revisions, names)
            with live.snapshot(expected_db, names):
                normalise.settle(expected_db, want, got)
    found = differences(want, got, role) + owner_differences(owners, role)
    return report.Outcome(masked(url), revisions, names, template, found)


def _read_live(
    connection: Connection, revisions: tuple[str, ...], names: list[str]
) -> tuple[catalog.Catalog, dict[str, str], str]:
    """The live catalog, the bookkeeping's owners and the migrating role, in one snapshot
    between two looks at the migration lock."""
    with live.snapshot(connection, names):
        live.refuse_if_migrating(connection)
        if live.recorded_revisions(connection) != revisions:
            raise live.MigrationRunning(
                "a migration ran while verifying (the recorded revision changed); "
                "nothing was compared: verify again"
            )
        owners = catalog.bookkeeping_owners(connection)
        role = (
            catalog.migrating_role(connection, names)
            or owners.get(f"table {bookkeeping().qualified_version}")
            or connection.execute(text("SELECT current_user")).scalar_one()
        )
        got = catalog.read(connection, names, role)
        live.refuse_if_migrating(connection)
    return got, owners, role
