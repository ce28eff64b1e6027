"""The target schema: `Base`, its metadata and one model per table.

Importing this package registers every table on `metadata` and does nothing else: no
engine, no connection, no `.env` read.
"""

from schema.base import Base
from schema.session import make_engine, make_sessionmaker, normalise_url, session_scope
from schema.startup import (
    RevisionState,
    RevisionStatus,
    SchemaRevisionError,
    check_revision,
    head_revision,
    require_revision,
)
from schema.user import User

# The package's own version (what `pip show schema-models` reports); see
# docs/consuming.md for when it changes. HEAD_REVISION says which migrations it matches.
__version__ = "0.1.0"

metadata = Base.metadata


def __getattr__(name: str) -> str:
    # HEAD_REVISION is read on first use (see schema/startup.py for why not at import).
    if name == "HEAD_REVISION":
        return head_revision()
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
