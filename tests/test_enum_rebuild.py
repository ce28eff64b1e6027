"""Removing an enum value that a partial index reads: `make revision` rebuilds the type
around the index, and the revision it writes keeps within ruff's line length (it names the
values and the columns, short arguments ruff wraps; the index definition is read from the
database when the step runs); `make upgrade` applies it and the index stands again."""

from sqlalchemy import text

import schema
from tests.harness import clean_env, make
from tests.own_models import add_module, edit, free_table, revision
from tests.pg import url_string
from tests.repo_copy import copy_repo, dbtools

TICKETS = free_table("tickets_with_a_rather_long_name_for_its_index")
CLS = "Ticket"
STATE = f"{TICKETS}_state"[:63]
INDEX = f"ix_{TICKETS}_open"[:63]
MODEL = f'''"""The `{TICKETS}` table."""

import enum

from sqlalchemy import BigInteger, Enum, Identity, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class TicketState(enum.Enum):
    open = "open"
    waiting = "waiting"
    closed = "closed"


class {CLS}(Base):
    __tablename__ = "{TICKETS}"
    __table_args__ = (
        Index("{INDEX}", "id", postgresql_where=text("state = 'open'")),
        {{"comment": "Tickets."}},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, comment="Key.")
    state: Mapped[TicketState] = mapped_column(
        Enum(TicketState, name="{STATE}"), comment="Where it stands."
    )
'''


def test_a_removed_value_is_written_within_the_line_length(tmp_path, database_url):
    root = copy_repo(tmp_path)
    env = clean_env(DATABASE_URL=url_string(database_url))
    add_module(root, TICKETS, [CLS], MODEL)
    revision(root, env, "Create tickets", "A new table.")
    assert dbtools(root, ["upgrade"], env).returncode == 0

    edit(root / "schema" / f"{TICKETS}.py", '    waiting = "waiting"\n', "")
    path = revision(root, env, "No more waiting tickets", "The type is rebuilt.")
    source = path.read_text()
    assert "op.change_enum_values(" in source
    assert max(len(line) for line in source.splitlines()) <= 100
    checked = make(root, "check", env)
    assert "E501" not in checked.stdout, checked.stdout

    upgraded = dbtools(root, ["upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    engine = schema.make_engine(database_url)
    try:
        with engine.connect() as conn:
            labels = conn.execute(
                text(
                    "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
                    "WHERE t.typname = :n ORDER BY e.enumsortorder"
                ),
                {"n": STATE},
            ).scalars()
            assert list(labels) == ["open", "closed"]
            valid = conn.execute(
                text("SELECT indisvalid FROM pg_index WHERE indexrelid = CAST(:i AS regclass)"),
                {"i": INDEX},
            ).scalar_one()
            assert valid
    finally:
        engine.dispose()
