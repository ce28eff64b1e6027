"""Models in a second PostgreSQL schema, end to end: `make revision` writes `CREATE SCHEMA`
and the table in it, `make check` is clean right after (no table "missing" forever),
`make upgrade` builds it, `make verify` matches, and schema.sql and docs/schema.md show it.
"""

from sqlalchemy import text

import schema
from tests.harness import clean_env, make
from tests.own_models import add_module, drift_lines, free_table, revision
from tests.pg import url_string
from tests.repo_copy import copy_repo, dbtools

TAKEN = {t.schema for t in schema.metadata.tables.values()}
AUDIT = next(n for n in ("audit", *(f"audit_{i}" for i in range(2, 99))) if n not in TAKEN)
EVENTS = free_table("events")
CLS = "".join(p.title() for p in EVENTS.split("_"))

MODEL = f'''"""The `{AUDIT}.{EVENTS}` table: what happened, kept apart from the rest."""

from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import Base


class {CLS}(Base):
    __tablename__ = "{EVENTS}"
    __table_args__ = (
        CheckConstraint("kind <> ''", name="kind_not_empty"),
        Index("ix_{EVENTS}_kind", "kind"),
        {{"schema": "{AUDIT}", "comment": "What happened."}},
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(), primary_key=True, comment="Surrogate key."
    )
    kind: Mapped[str] = mapped_column(String, comment="What kind of event.")
'''


def test_a_model_in_another_schema_goes_end_to_end(tmp_path, server_url, database_url):
    root = copy_repo(tmp_path)
    env = clean_env(
        DATABASE_URL=url_string(database_url), VERIFY_SCRATCH_URL=url_string(server_url)
    )
    add_module(root, EVENTS, [CLS], MODEL)
    path = revision(root, env, f"Create {AUDIT}.{EVENTS}", "A new schema and table.")
    source = path.read_text()
    upgrade = source.split("def upgrade", 1)[1].split("def downgrade", 1)[0]
    assert f'op.execute("CREATE SCHEMA IF NOT EXISTS {AUDIT}")' in upgrade
    assert upgrade.index("CREATE SCHEMA") < upgrade.index("create_table")
    assert f'op.execute("DROP SCHEMA {AUDIT}")' in source.split("def downgrade", 1)[1]

    checked = make(root, "check", env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    again = make(root, "revision", env, m="nothing more")
    assert again.returncode != 0 and "already match" in again.stderr

    assert dbtools(root, ["upgrade"], env).returncode == 0
    engine = schema.make_engine(database_url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind IN ('r', 'i') "
                    "ORDER BY 1"
                ),
                {"s": AUDIT},
            ).scalars()
            assert list(found) == sorted([EVENTS, f"pk_{EVENTS}", f"ix_{EVENTS}_kind"])
    finally:
        engine.dispose()
    verified = make(root, "verify", env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"CREATE SCHEMA {AUDIT};" in (root / "schema.sql").read_text()
    assert f"CREATE TABLE {AUDIT}.{EVENTS}" in (root / "schema.sql").read_text()
    assert EVENTS in (root / "docs" / "schema.md").read_text()

    downgraded = dbtools(root, ["downgrade"], env)
    assert downgraded.returncode == 0, downgraded.stderr
    assert drift_lines(make(root, "check", env).stdout) == []
