"""Test support: what a team adds to a copy of the repository, written as a team would.

A second model module (a table with a foreign key to users, an enum, a named CHECK, a
server default, an index), registered in `schema/models.py`; the revision for it comes
from `make revision`, and its docstring is then written by hand, as the template asks.
"""

import re
from pathlib import Path

from sqlalchemy import Enum

import schema
from tests.repo_copy import make


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
INDEX = f"ix_{TABLE}_user_id"
FOREIGN_KEY = f"fk_{TABLE}_user_id_users"

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
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True, comment="Who."
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
    "A new, empty table and its enum type: nothing that exists is locked, so it is safe\n"
    "while services run. The downgrade drops the table and the type."
)


def add_model(root: Path) -> None:
    """Write the model module and register it in the package, as the README says."""
    (root / "schema" / f"{MODULE}.py").write_text(MODEL)
    models = root / "schema" / "models.py"
    anchor = "from schema.user import User\n"
    source = models.read_text()
    assert anchor in source
    source = source.replace(anchor, f"from schema.{MODULE} import {CLASS}\n{anchor}")
    models.write_text(source.replace('__all__ = ["Base", ', f'__all__ = ["Base", "{CLASS}", '))


def new_revisions(root: Path, before: set[str]) -> list[Path]:
    return sorted(
        p for p in (root / "migrations" / "versions").glob("*.py") if p.name not in before
    )


def make_revision(root: Path, env: dict[str, str], message: str) -> Path:
    """`make revision m=...`, then the docstring written in place of the placeholder."""
    before = {p.name for p in (root / "migrations" / "versions").glob("*.py")}
    done = make(root, "revision", env, m=message)
    assert done.returncode == 0, done.stdout + done.stderr
    [path] = new_revisions(root, before)
    return path


def write_docstring(path: Path, text: str = DOCSTRING) -> None:
    source = path.read_text()
    written, count = re.subn(r"<Say what changes and why\..*?>", text, source, flags=re.S)
    assert count == 1, source
    path.write_text(written)


def revision_id(path: Path) -> str:
    return path.stem.split("-", 1)[1].split("_", 1)[0]
