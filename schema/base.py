"""The declarative `Base` every model inherits from, its metadata named by convention."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from schema.naming import NAMING_CONVENTION


class Base(DeclarativeBase):
    """Base class of all models; its metadata is the target schema of the migrations."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
