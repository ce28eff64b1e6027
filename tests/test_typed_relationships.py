"""Typed relationships between one-module-per-table models import each other under
`if TYPE_CHECKING:` (the standard idiom): the layering contract allows it, and the models
go through `make revision` and `make check`. A real import cycle is reported as every
import on it, each with its file and line (never "(and 7 more)")."""

from tests.harness import clean_env, make
from tests.own_models import add_module, free_table, revision
from tests.pg import url_string
from tests.repo_copy import copy_repo

AUTHORS, BOOKS = free_table("authors"), free_table("books")

AUTHOR = f'''"""The `{AUTHORS}` table."""

from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Identity
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schema.base import Base

if TYPE_CHECKING:
    from schema.{BOOKS} import Book


class Author(Base):
    __tablename__ = "{AUTHORS}"
    __table_args__ = {{"comment": "Authors."}}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, comment="Key.")
    books: Mapped[list["Book"]] = relationship(back_populates="author")
'''

BOOK = f'''"""The `{BOOKS}` table."""

from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, ForeignKey, Identity
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schema.base import Base

if TYPE_CHECKING:
    from schema.{AUTHORS} import Author


class Book(Base):
    __tablename__ = "{BOOKS}"
    __table_args__ = {{"comment": "Books."}}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, comment="Key.")
    author_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("{AUTHORS}.id"), index=True, comment="Who wrote it."
    )
    author: Mapped["Author"] = relationship(back_populates="books")
'''

PAIRS = 7  # more than import-linter's report shows (five per package)


def test_type_checking_imports_pass_and_every_cycle_import_is_listed(tmp_path, database_url):
    root = copy_repo(tmp_path)
    env = clean_env(DATABASE_URL=url_string(database_url))
    add_module(root, AUTHORS, ["Author"], AUTHOR)
    add_module(root, BOOKS, ["Book"], BOOK)
    revision(root, env, "Authors and books", "Two new tables: nothing existing is locked.")
    checked = make(root, "check", env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    for i in range(PAIRS):
        (root / "schema" / f"loop_a{i}.py").write_text(
            f"from schema import loop_b{i}\n\n_ = loop_b{i}\n"
        )
        (root / "schema" / f"loop_b{i}.py").write_text(
            f'"""b"""\n\nfrom schema import loop_a{i}\n\n_ = loop_a{i}\n'
        )
    linted = make(root, "lint", env)
    assert linted.returncode != 0
    assert "more)" not in linted.stdout + linted.stderr
    for i in range(PAIRS):
        assert (
            f"schema/loop_a{i}.py:1: imports schema.loop_b{i}, which makes a cycle" in linted.stdout
        )
        assert (
            f"schema/loop_b{i}.py:3: imports schema.loop_a{i}, which makes a cycle" in linted.stdout
        )
    assert f"schema/{AUTHORS}.py" not in linted.stdout
    assert f"schema/{BOOKS}.py" not in linted.stdout
