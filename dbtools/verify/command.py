"""The verify job: the differences between a database and the schema of its revision.

`make verify` and the `MIGRATION_VERIFY=1 make upgrade` gate (in `dbtools/cli.py`) call
`verify()` and print the outcome it returns.

Settings (environment first, then `.env`): VERIFY_FORMAT (`text` or `json`),
VERIFY_SCRATCH_URL (the server that keeps the templates; the embedded development server
when unset), VERIFY_SCHEMAS (schemas to verify besides those the models use, comma-separated).
"""

from dataclasses import dataclass

from sqlalchemy.engine import URL

import schema
from dbtools import devserver
from dbtools.apply.checkout import require_known
from dbtools.core import settings
from dbtools.core.bookkeeping import bookkeeping
from dbtools.core.chain import script_directory
from dbtools.core.errors import UserError
from dbtools.core.secrets import mask_secret, masked
from dbtools.verify import catalog, expected, live, report
from dbtools.verify.compare import Difference, differences, owner_differences

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


def schemas(opts: Options) -> list[str]:
    """The models' schemas, plus those VERIFY_SCHEMAS names."""
    used = {table.schema or "public" for table in schema.metadata.tables.values()}
    return sorted(used | set(opts.extra_schemas))


def verify(url: URL, opts: Options, env: settings.Env | None = None) -> report.Outcome:
    """Compare the database at `url` with the schema of the revision it records."""
    with live.reading(url) as connection:
        live.refuse_if_migrating(connection)
        revisions = live.recorded_revisions(connection)
    require_known(revisions, script_directory())
    scratch = opts.scratch_url or devserver.ensure_running(env)
    template = expected.ensure_template(scratch, revisions)
    names = schemas(opts)
    with live.reading(scratch.set(database=template)) as connection:
        want = catalog.read(connection, names)
    found = _compare_live(url, revisions, names, want)
    return report.Outcome(masked(url), revisions, names, template, found)


def _compare_live(
    url: URL, revisions: tuple[str, ...], names: list[str], want: catalog.Catalog
) -> list[Difference]:
    """Read the live catalog in one snapshot, between two looks at the migration lock."""
    with live.reading(url) as connection:
        live.refuse_if_migrating(connection)
        if live.recorded_revisions(connection) != revisions:
            raise live.MigrationRunning(
                "a migration ran while verifying (the recorded revision changed); "
                "nothing was compared: verify again"
            )
        got = catalog.read(connection, names)
        owners = catalog.bookkeeping_owners(connection)
        role = catalog.migrating_role(connection, names) or owners.get(
            f"table {bookkeeping().qualified_version}"
        )
        live.refuse_if_migrating(connection)
    return differences(want, got) + owner_differences(owners, role)
