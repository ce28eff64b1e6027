"""Test support: what a team adds to a copy of the repository, written as a team would.

A model module (a table with a foreign key to the test's own `people` table of
tests/own_table.py, an enum, a named CHECK, a server default, an index), registered in
`schema/models.py` with that table's module; the revision for both comes from `make
revision`, and its docstring is then written by hand, as the template asks. Nothing here
names the example table.
"""

from pathlib import Path

from sqlalchemy import Enum

import schema
from tests import own_table
from tests.own_models import add_module


def _free(stem: str, taken: set[str]) -> str:
    return next(n for n in (stem, *(f"{stem}_{i}" for i in range(2, 100))) if n not in taken)


# Names no model has taken yet: the repository may have grown an `orders` table itself.
TABLE = _free("orders", set(schema.metadata.tables))
ENUM = _free(
    "order_status",
    {
        c.type.name
        for t in schema.metadata.tables.values()
        for c in t.columns
        if isinstance(c.type, Enum)
    },
)
CLASS = "".join(part.title() for part in TABLE.split("_"))
MODULE = TABLE  # schema/<MODULE>.py
ENUM_VALUES = ["pending", "paid"]
CHECK = f"ck_{TABLE}_quantity_positive"
PARENT = own_table.TABLE  # what the foreign key references
INDEX = f"ix_{TABLE}_person_id"
FOREIGN_KEY = f"fk_{TABLE}_person_id_{PARENT}"

MODEL = f'''"""The `{TABLE}` table: what people ordered."""

import enum

from sqlalchemy import BigInteger, CheckConstraint, Enum, ForeignKey, Identity, text
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class {CLASS}Status(enum.Enum):
    pending = "pending"
    paid = "paid"


class {CLASS}(Base):
    __tablename__ = "{TABLE}"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        {{"comment": "What people ordered."}},
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(always=False), primary_key=True, comment="Surrogate key."
    )
    person_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("{PARENT}.id", ondelete="CASCADE"), index=True, comment="Who."
    )
    status: Mapped[{CLASS}Status] = mapped_column(
        Enum({CLASS}Status, name="{ENUM}"),
        server_default="pending",
        comment="Where the order stands.",
    )
    quantity: Mapped[int] = mapped_column(
        BigInteger, server_default=text("1"), comment="How many."
    )
'''

DOCSTRING = (
    "New, empty tables and an enum type: nothing that exists is locked, so it is safe\n"
    "while services run. The downgrade drops the tables and the type."
)


def add_model(root: Path) -> None:
    """Write the model modules (the parent table's and this one) and register them in the
    package, as the README says."""
    own_table.add_model(root)
    add_module(root, MODULE, [CLASS], MODEL)
