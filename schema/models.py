"""Every model, in one place: importing this module registers every table on `metadata`.

A new model module gets its import line here. `schema` loads this module the first time
anything model-shaped is asked of it (`schema.metadata`, `schema.Base`, a model class), so
a process that only needs the engine helpers or the start-up check never imports
`sqlalchemy.orm`.
"""

from schema.base import Base
from schema.user import User

metadata = Base.metadata

__all__ = ["Base", "User", "metadata"]
