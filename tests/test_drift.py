"""Drift sees everything the models say, and `make revision` writes it.

A copy of the repository grows the team's `orders` table and its parent, the test's own
table (tests/team.py); then their models change in every way the drift check must see: an
enum value, a renamed CHECK, a server default, a foreign-key action, a comment, a column
renamed. `make check` names each in one line, with SQL rather than Python reprs; `make
revision` writes a revision that applies, leaves the catalog as the models say, and
downgrades.
"""

import pytest
from sqlalchemy import text

import schema
from tests import own_models, own_table, team
from tests.harness import clean_env, make
from tests.pg import url_string
from tests.repo_copy import copy_repo, dbtools

# The column renamed is the `age` of the test's own table, the orders' parent.
P, AGE = own_table.TABLE, "age_years"
T, ENUM = team.TABLE, team.ENUM
CHANGES = [
    ('    paid = "paid"\n', '    paid = "paid"\n    shipped = "shipped"\n'),
    ('name="quantity_positive"', 'name="quantity_at_least_one"'),
    ('server_default=text("1")', 'server_default=text("2")'),
    ('ondelete="CASCADE"', 'ondelete="SET NULL"'),
    ('comment="Where the order stands."', 'comment="Where it is."'),
]
FIX = 'add a revision with `make revision m="..."` or fix the models'
EXPECTED = [
    f"column {T}.status: comment 'Where the order stands.' in the migrations, "
    "'Where it is.' in the models",
    f"column {T}.quantity: default 1 in the migrations, 2 in the models",
    f"constraint ck_{T}_quantity_positive on {T}: in the migrations but not in the models",
    f"constraint ck_{T}_quantity_at_least_one on {T}: in the models but no revision creates it",
    f"column {P}.{AGE}: in the models but no revision creates it",
    f"column {P}.age: in the migrations but not in the models",
    f"constraint {team.FOREIGN_KEY} on {T}: changed, ON DELETE CASCADE in the "
    "migrations, ON DELETE SET NULL in the models",
    f"enum type {ENUM}: values pending, paid in the migrations, pending, paid, shipped "
    "in the models",
]
RENAME_HINT = (
    f"column {P}.age -> {P}.{AGE}: looks like a rename; write "
    f'op.alter_column("{P}", "age", new_column_name="{AGE}") instead of dropping and adding'
)


@pytest.fixture
def grown(tmp_path, server_url):
    """A copy whose chain has the team's orders revision, docstring written."""
    root = copy_repo(tmp_path)
    env = clean_env(DATABASE_URL=url_string(server_url))
    team.add_model(root)
    assert make(root, "format", env).returncode == 0
    own_models.write_docstring(
        own_models.make_revision(root, env, "Create the orders table"), team.DOCSTRING
    )
    assert make(root, "check", env).returncode == 0
    return root, env


def change_models(root) -> None:
    path = root / "schema" / f"{team.MODULE}.py"
    source = path.read_text()
    for old, new in CHANGES:
        assert old in source, old
        source = source.replace(old, new)
    path.write_text(source)
    own_models.edit(
        root / "schema" / f"{own_table.MODULE}.py", "    age: Mapped", f"    {AGE}: Mapped"
    )


def catalog_facts(url) -> dict:
    sql = {
        "values": "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
        f"WHERE t.typname = '{ENUM}' ORDER BY e.enumsortorder",
        "checks": "SELECT conname FROM pg_constraint WHERE contype = 'c' "
        f"AND conrelid = '{T}'::regclass ORDER BY conname",
        "on_delete": f"SELECT confdeltype FROM pg_constraint WHERE conname = '{team.FOREIGN_KEY}'",
        "default": "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
        "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
        f"WHERE d.adrelid = '{T}'::regclass AND a.attname = 'quantity'",
        "comment": f"SELECT col_description('{T}'::regclass, 3)",
        "parent": "SELECT column_name FROM information_schema.columns "
        f"WHERE table_name = '{P}' ORDER BY column_name",
    }
    engine = schema.make_engine(url)
    try:
        with engine.connect() as conn:
            return {k: list(conn.execute(text(q)).scalars()) for k, q in sql.items()}
    finally:
        engine.dispose()


def test_drift_names_every_change_and_the_revision_makes_it(grown, database_url):
    root, env = grown
    target = clean_env(DATABASE_URL=url_string(database_url))
    assert dbtools(root, ["upgrade"], target).returncode == 0
    before = catalog_facts(database_url)
    change_models(root)

    checked = make(root, "check", env)
    assert checked.returncode != 0
    drift = [line for line in checked.stdout.splitlines() if line.startswith("  - drift: ")]
    assert sorted(drift) == sorted(f"  - drift: {line}: {FIX}" for line in [*EXPECTED, RENAME_HINT])
    assert "object at 0x" not in checked.stdout and "DefaultClause" not in checked.stdout

    before_files = {p.name for p in (root / "migrations" / "versions").glob("*.py")}
    made = make(root, "revision", env, m="Orders change")
    assert made.returncode == 0, made.stderr
    assert RENAME_HINT in made.stderr  # said while the revision is written, too
    [path] = own_models.new_revisions(root, before_files)
    source = path.read_text()
    assert f"op.execute(\"ALTER TYPE {ENUM} ADD VALUE 'shipped' AFTER 'paid'\")" in source
    own_models.write_docstring(path, "Orders change; the rename is written as drop and add here.")
    # No drift left; what remains is the linter's say on dropping and re-adding
    # constraints on a live table, which is the DBA's call (a waiver or safer forms).
    again = make(root, "check", env)
    assert not [line for line in again.stdout.splitlines() if " - drift: " in line]
    assert " ban-drop-column " in again.stdout
    assert "require-enum-value-ordering" not in again.stdout  # ADD VALUE ... AFTER passes

    assert dbtools(root, ["upgrade"], target).returncode == 0
    after = catalog_facts(database_url)
    assert after["values"] == ["pending", "paid", "shipped"]
    assert after["checks"] == [f"ck_{T}_quantity_at_least_one"]
    assert after["on_delete"] == ["n"]  # SET NULL
    assert after["default"] == ["2"]
    assert after["comment"] == ["Where it is."]
    assert AGE in after["parent"] and "age" not in after["parent"]

    # Its downgrade drops an index concurrently, outside a transaction: no data goes,
    # so it needs no ALLOW_DATA_LOSS=1.
    downgraded = dbtools(root, ["downgrade"], target)
    assert downgraded.returncode == 0, downgraded.stderr
    assert catalog_facts(database_url) == before
