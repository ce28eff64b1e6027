"""The declarative `Base` every model inherits from.

The naming convention gives every index and constraint a predictable name, so that
autogenerate, revisions and the database agree on names without anyone typing them
(it is the first convention in Alembic's naming documentation).
"""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of all models; its metadata is the target schema of the migrations."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
