"""The suite does not depend on the example: in a copy without `users`, it passes whole.

A team adopting the template deletes the example table the way the README says (its model
module, its line in `schema/models.py`, every revision and its SQL, its lines in
`migrations/RELEASED`), then adds tables of its own through `make revision`. This test
does that in a copy, with two tables that use ordinary constructs a suite must respect in
its synthetic data (a NOT NULL column without a default, a CHECK, an enum, a money column,
a foreign key), and runs the copy's whole suite, which must pass.

It runs the whole suite again, so it is not part of `make test`: `make
test-without-example` runs it, and CI runs that target after `make test`. Two files are
left out of the inner run, and only those: `tests/test_example_users.py` (tests of the
example, deleted with it) and `tests/test_docs.py` (the truth of this repository's docs,
which describe the example; a team that deletes it rewrites those lines, and the check
runs on the repository itself in `make test`).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbtools.core.paths import REPO_ROOT
from tests.harness import clean_env, make
from tests.own_models import add_module, exported, free_table, make_revision, write_docstring
from tests.pg import url_string

SWITCH = "DBTOOLS_TEST_WITHOUT_EXAMPLE"
EXAMPLE_MODULE = "schema/user.py"
LEFT_OUT = ("tests/test_example_users.py", "tests/test_docs.py")

pytestmark = pytest.mark.skipif(
    os.environ.get(SWITCH) != "1",
    reason=f"runs the whole suite again: `make test-without-example` ({SWITCH}=1)",
)

ACCOUNTS = free_table("accounts")
INVOICES = free_table("invoices")

ACCOUNTS_MODEL = f'''"""The `{ACCOUNTS}` table: who is billed."""

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Enum, Identity, String, func
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class AccountState(enum.Enum):
    open = "open"
    closed = "closed"


class Account(Base):
    __tablename__ = "{ACCOUNTS}"
    __table_args__ = (
        CheckConstraint("char_length(handle) BETWEEN 3 AND 40", name="handle_length"),
        {{"comment": "Who is billed."}},
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(always=False), primary_key=True, comment="Surrogate key."
    )
    handle: Mapped[str] = mapped_column(String(40), unique=True, comment="Chosen name.")
    state: Mapped[AccountState] = mapped_column(
        Enum(AccountState, name="account_state"), server_default="open", comment="Open or not."
    )
    opened_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), comment="When it opened."
    )
'''

INVOICES_MODEL = f'''"""The `{INVOICES}` table: what an account owes."""

from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Numeric, Text
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class Invoice(Base):
    __tablename__ = "{INVOICES}"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        {{"comment": "What an account owes."}},
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(always=False), primary_key=True, comment="Surrogate key."
    )
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("{ACCOUNTS}.id", ondelete="CASCADE"), index=True, comment="Whose."
    )
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), comment="How much, in euros.")
    note: Mapped[str | None] = mapped_column(Text, comment="Free text.")
'''

DOCSTRING = (
    "A new, empty table: nothing that exists is locked, so it is safe while services run.\n"
    "The downgrade drops the table and everything in it."
)


def tracked_copy(tmp_path: Path) -> Path:
    """The working tree as a fresh clone has it (tracked and new files, committed in a
    repository of its own), sharing `.venv`."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    root = tmp_path / "repo"
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)  # times kept: make sees .venv up to date
    (root / ".venv").symlink_to(REPO_ROOT / ".venv")
    git(root, "init", "-q")  # a clone is a repository (the bench's history figure reads it)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "as cloned")
    return root


def git(root: Path, *args: str) -> None:
    identity = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.org"}
    identity |= {"GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.org"}
    subprocess.run(["git", *args], cwd=root, env={**os.environ, **identity}, check=True)


def remove_the_example(root: Path) -> None:
    """As the README's "Adopt an existing database" step 1 says (a repository that has
    deleted the example already has nothing of it left to remove)."""
    (root / EXAMPLE_MODULE).unlink(missing_ok=True)
    models = root / "schema" / "models.py"
    source = models.read_text()
    source = re.sub(r"^from schema\.user import User\n", "", source, flags=re.M)
    listed = [name for name in exported(source) if name != "User"]
    source = re.sub(
        r"__all__ = \[[^\]]*\]", "__all__ = [" + ", ".join(map(repr, listed)) + "]", source
    )
    models.write_text(source.replace("'", '"'))
    for folder in ("migrations/versions", "migrations/sql"):
        for path in (root / folder).iterdir():
            if path.is_file():
                path.unlink()
    released = root / "migrations" / "RELEASED"
    lines = released.read_text().splitlines()
    header = lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))]
    released.write_text("\n".join(header) + "\n")  # its comment header, no entries
    for name in LEFT_OUT[:1]:
        (root / name).unlink(missing_ok=True)


def test_the_whole_suite_passes_in_a_copy_without_the_example(tmp_path, server_url):
    root = tracked_copy(tmp_path)
    remove_the_example(root)
    assert "users" not in (root / "schema" / "models.py").read_text()
    env = clean_env(DATABASE_URL=url_string(server_url))  # scratch databases there

    for module, cls, model in (
        (ACCOUNTS, "Account", ACCOUNTS_MODEL),
        (INVOICES, "Invoice", INVOICES_MODEL),
    ):
        add_module(root, module, [cls], model)
        assert make(root, "format", env).returncode == 0
        write_docstring(make_revision(root, env, f"Create the {module} table"), DOCSTRING)
    checked = make(root, "check", env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    versions = sorted((root / "migrations" / "versions").glob("*.py"))
    assert len(versions) == 2, versions

    inner = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            *("-n", os.environ.get("TEST_WORKERS", "auto"), "--dist", "loadgroup"),
            *(f"--ignore={name}" for name in LEFT_OUT),
        ],
        cwd=root,
        # Without the switch (the copy skips this test); its own server, as `make test`.
        env={k: v for k, v in clean_env().items() if k != SWITCH},
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    summary = inner.stdout.strip().splitlines()[-1] if inner.stdout.strip() else inner.stderr
    print(f"the copy's suite without the example: {summary}")
    assert inner.returncode == 0, inner.stdout[-8000:] + inner.stderr[-2000:]
    assert re.search(r"\d+ passed", summary), summary
