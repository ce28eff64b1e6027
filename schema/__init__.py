"""The target schema: `Base`, its metadata and one model per table.

Importing this package registers every table on `metadata` and does nothing else: no
engine, no connection, no `.env` read.
"""

from schema.base import Base
from schema.session import make_engine, make_sessionmaker, normalise_url, session_scope
from schema.user import User

metadata = Base.metadata

__all__ = [
    "Base",
    "User",
    "make_engine",
    "make_sessionmaker",
    "metadata",
    "normalise_url",
    "session_scope",
]
