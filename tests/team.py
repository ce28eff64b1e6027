"""Test support: what a team adds to a copy of the repository, written as a team would.

A second model module (a table with a foreign key to users, an enum, a named CHECK, a
server default, an index), registered in `schema/__init__.py`; the revision for it comes
from `make revision`, and its docstring is then written by hand, as the template asks.
"""

import re
from pathlib import Path

from tests.repo_copy import make

TABLE = "orders"
ENUM = "order_status"
ENUM_VALUES = ["pending", "paid"]
CHECK = "ck_orders_quantity_positive"
INDEX = "ix_orders_user_id"
FOREIGN_KEY = "fk_orders_user_id_users"

MODEL = '''"""The `orders` table: what people ordered."""

import enum

from sqlalchemy import BigInteger, CheckConstraint, Enum, ForeignKey, Identity, text
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class OrderStatus(enum.Enum):
    pending = "pending"
    paid = "paid"


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        {"comment": "What people ordered."},
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(always=False), primary_key=True, comment="Surrogate key."
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True, comment="Who."
    )
    status: Mapped[OrderStatus] = mapped_column(
        Enum(OrderStatus, name="order_status"),
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
    """Write schema/order.py and register it in the package, as the README says."""
    (root / "schema" / "order.py").write_text(MODEL)
    init = root / "schema" / "__init__.py"
    source = init.read_text().replace(
        "from schema.user import User\n",
        "from schema.order import Order\nfrom schema.user import User\n",
    )
    init.write_text(source.replace('    "User",\n', '    "Order",\n    "User",\n'))


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
