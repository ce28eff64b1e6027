"""The target schema: `Base`, its metadata and one model per table.

Importing this package does nothing else: no engine, no connection, no `.env` read. The
models load on first use: `schema.metadata`, `schema.Base` or any model class imports
`schema.models`, which registers every table. So the engine helpers and the start-up
check cost no `sqlalchemy.orm` import where nothing needs the models (a no-op migration
run, a service's health check).
"""

import importlib
from typing import TYPE_CHECKING, Any

from schema.session import make_engine, make_sessionmaker, normalise_url, session_scope
from schema.startup import (
    RevisionState,
    RevisionStatus,
    SchemaRevisionError,
    check_revision,
    head_revision,
    require_revision,
)

if TYPE_CHECKING:  # type checkers see every model typed; at run time they load on first use
    from schema.models import *  # noqa: F403

# The package's own version (what `pip show schema-models` reports); see
# docs/consuming.md for when it changes. HEAD_REVISION says which migrations it matches.
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # HEAD_REVISION is read on first use (see schema/startup.py for why not at import).
    if name == "HEAD_REVISION":
        return head_revision()
    if name.startswith("_"):  # dunder probes (copy, pickle, inspect) never load the models
        raise AttributeError(f"module 'schema' has no attribute {name!r}")
    models = importlib.import_module("schema.models")
    if hasattr(models, name):
        return getattr(models, name)
    raise AttributeError(f"module 'schema' has no attribute {name!r}")


__all__ = [
    "HEAD_REVISION",
    "Base",
    "RevisionState",
    "RevisionStatus",
    "SchemaRevisionError",
    "User",
    "check_revision",
    "head_revision",
    "make_engine",
    "make_sessionmaker",
    "metadata",
    "normalise_url",
    "require_revision",
    "session_scope",
]
