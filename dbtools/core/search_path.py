"""Every session the tooling opens pins its own `search_path` to the models' schemas.

PostgreSQL's default is `"$user", public`: a role that may CREATE in the database can
make a schema named after the deploying role and capture every unqualified name (a table
a revision updates, the version table). So each session sets `search_path` when it
connects (libpq `options=-c search_path=...`; `PGOPTIONS` for psql), and a run handed a
connection sets it on that session before its first revision (`set_sql()`).

The schemas are named here rather than read from the models, so the apply path never
imports the ORM; `tests/test_search_path.py` fails when a model uses a schema this list
lacks. The bookkeeping is schema-qualified wherever it is read or written, whatever the
path says (`dbtools/core/bookkeeping.py`).
"""

from collections.abc import Mapping

from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL
from sqlalchemy.sql.elements import quoted_name

# The schemas the models' tables live in (`schema.metadata`), the default one first.
MODEL_SCHEMAS = ("public",)

_PREPARER = postgresql.dialect().identifier_preparer


def value() -> str:
    """`public` (or `public, "other"`): the setting's value, never `"$user"`."""
    return ", ".join(_PREPARER.quote(quoted_name(s, None)) for s in MODEL_SCHEMAS)


def set_sql() -> str:
    return f"SET search_path = {value()}"


def libpq_options(existing: str = "") -> str:
    """libpq's `options` with the search path added to what the URL already asks."""
    pinned = "-c search_path=" + value().replace(" ", "")
    return f"{existing} {pinned}".strip()


def connect_args(url: URL) -> dict[str, str]:
    """`connect_args` for an engine on `url` whose sessions start with the path pinned."""
    existing = url.query.get("options", "")
    return {"options": libpq_options(existing if isinstance(existing, str) else "")}


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment of a child libpq program (psql): PGOPTIONS pins the path."""
    return {**env, "PGOPTIONS": libpq_options(env.get("PGOPTIONS", ""))}
