"""Render and lint only what changed: migrations/sql/FINGERPRINTS, and freshness kept exact.

`make generate` records what each committed SQL file was rendered from; `make check`,
`make lint` and `make generate` then render (and lint) only the revisions whose line no
longer holds. Each command says on stderr how many it renders and lints, which is what
these tests read. Everything that changes a file happens in a copy of the repository.
"""

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import schema
from dbtools.core.paths import REPO_ROOT
from dbtools.review import fingerprints
from dbtools.review.revision_sql import files
from tests.chain import HEAD, free_table
from tests.harness import clean_env, make
from tests.pg import url_string
from tests.repo_copy import copy_repo, write_revision

NEW = "f1a9e0000001"
SQL_FILES = len(files())


def scope(stderr: str) -> tuple[int, int]:
    """(SQL files rendered, upgrade files linted) from the run's line on stderr."""
    line = next(line for line in stderr.splitlines() if line.startswith("rendering "))
    words = line.split()
    return int(words[1]), int(words[8])


def covered(path: str, inputs: tuple[str, ...]) -> bool:
    return any(path == name or path.startswith(name.rstrip("/") + "/") for name in inputs)


RENDER_EVERY_REVISION = """
import json, sys
before = set(sys.modules)
from dbtools.review.revision_sql import render
from dbtools.core.chain import revisions
for script in revisions():
    render(script, "upgrade")
    render(script, "downgrade")
print(json.dumps(sorted(
    (name, getattr(module, "__file__", None) or "")
    for name, module in sys.modules.items() if name not in before
)))
"""


def test_every_module_a_render_imports_is_a_renderer_input():
    done = subprocess.run(
        [sys.executable, "-c", RENDER_EVERY_REVISION],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    )
    loaded = json.loads(done.stdout)
    models = {"schema/models.py"} | {
        str(Path(sys.modules[m.class_.__module__].__file__).relative_to(REPO_ROOT))
        for m in schema.Base.registry.mappers
    }
    ours = [
        str(Path(file).relative_to(REPO_ROOT))
        for _, file in loaded
        if file and Path(file).is_relative_to(REPO_ROOT) and ".venv" not in Path(file).parts
    ]
    # Alembic loads env.py and the revisions without naming them in sys.modules; what
    # env.py imports is there.
    assert "dbtools.operations" in {name for name, _ in loaded}
    revision_files = [p for p in ours if p.startswith("migrations/")]
    missing = [
        p
        for p in ours
        if p not in models
        and p not in revision_files
        and not covered(p, fingerprints.RENDERER_INPUTS)
    ]
    assert missing == [], "add these to RENDERER_INPUTS in dbtools/review/fingerprints.py"
    # The libraries a render loads are pinned in requirements.txt, which is an input.
    pinned = {
        line.split("==")[0].lower()
        for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line
    }
    distributions = metadata.packages_distributions()
    third_party = {
        dist.lower()
        for name, file in loaded
        if file and ".venv" in Path(file).parts
        for dist in distributions.get(name.split(".")[0], [])
    }
    assert third_party and third_party <= pinned | set(fingerprints.UNPINNED_LOADED)


def test_only_what_changed_is_rendered_and_a_stale_file_is_still_caught(tmp_path, server_url):
    root = copy_repo(tmp_path)
    env = clean_env(DATABASE_URL=url_string(server_url))
    # From a known state: the fingerprints as `make generate` writes them for this tree.
    assert make(root, "generate", env).returncode == 0
    revision = write_revision(
        root,
        NEW,
        HEAD,
        "Say one, a statement to fingerprint",
        'op.execute("SELECT 1")',
        'op.execute("SELECT 1")',
    )
    generated = make(root, "generate", env)
    assert generated.returncode == 0, generated.stderr
    assert scope(generated.stderr) == (2, 2)  # the new revision's two files, both linted
    checked = make(root, "check", env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert scope(checked.stderr) == (0, 0)

    # A committed SQL file edited by hand: its line no longer holds, so it is rendered
    # and found stale.
    sql_dir = root / "migrations" / "sql"
    upgrade = next(sql_dir.glob(f"*-{NEW}_*.upgrade.sql"))
    committed = upgrade.read_text()
    assert "SELECT 1;" in committed
    upgrade.write_text(committed.replace("SELECT 1;", "SELECT 3;"))
    checked = make(root, "check", env)
    assert checked.returncode != 0
    assert scope(checked.stderr) == (1, 1)
    assert f"  - stale: {upgrade.relative_to(root)} is stale: run `make generate`" in (
        checked.stdout.splitlines()
    )
    upgrade.write_text(committed)

    # The revision edited: both of its files are rendered and found stale.
    source = revision.read_text()
    revision.write_text(source.replace("SELECT 1", "SELECT 2"))
    checked = make(root, "check", env)
    assert checked.returncode != 0
    assert scope(checked.stderr) == (2, 2)
    stale = [line for line in checked.stdout.splitlines() if line.startswith("  - stale: ")]
    assert len(stale) == 2 and all(NEW in line for line in stale)
    revision.write_text(source)

    # A renderer input changed: every revision is rendered again (and linted, since the
    # lint marks were for the files as the old renderer wrote them); the SQL is the same,
    # so `make generate` rewrites the fingerprints alone.
    env_py = root / "migrations" / "env.py"
    env_py.write_text(env_py.read_text() + "# a comment\n")
    regenerated = make(root, "generate", env)
    assert regenerated.returncode == 0, regenerated.stderr
    assert scope(regenerated.stderr) == (SQL_FILES + 2, SQL_FILES + 2)
    assert regenerated.stdout.splitlines() == [f"wrote {fingerprints.MANIFEST}"]

    # The linter's configuration changed: nothing is rendered, everything is linted.
    squawk_toml = root / ".squawk.toml"
    squawk_toml.write_text(squawk_toml.read_text() + "# a comment\n")
    linted = make(root, "lint", env)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert scope(linted.stderr) == (0, SQL_FILES + 2)


def test_a_revision_unchanged_since_it_was_linted_clean_is_not_linted_again(tmp_path, server_url):
    # The skip is real: a blocking index the recorded line calls clean goes unreported,
    # and is reported as soon as the line no longer holds.
    root = copy_repo(tmp_path)
    env = clean_env(DATABASE_URL=url_string(server_url))  # schema.sql renders on a server
    table = free_table("fingerprinted")
    write_revision(
        root,
        NEW,
        HEAD,
        "Say one, a statement to fingerprint",
        'op.execute("SELECT 1")',
        'op.execute("SELECT 1")',
    )
    assert make(root, "generate", env).returncode == 0
    manifest = root / fingerprints.MANIFEST
    recorded = manifest.read_text()
    # The revision then gains an index built the blocking way, with its SQL, and the
    # recorded line is forged to match: lint trusts it and does not look.
    revision = next((root / "migrations" / "versions").glob(f"*-{NEW}_*.py"))
    upgrade = next((root / "migrations" / "sql").glob(f"*-{NEW}_*.upgrade.sql"))
    old_revision, old_sql = fingerprints.file_sha(revision), fingerprints.file_sha(upgrade)
    revision.write_text(
        revision.read_text().replace(
            "def downgrade", f'# op.create_index("ix_x", "{table}", ["id"])\n\n\ndef downgrade'
        )
    )
    upgrade.write_text(upgrade.read_text() + f"CREATE INDEX ix_x ON {table} (id);\n")
    forged = recorded.replace(old_revision, fingerprints.file_sha(revision)).replace(
        old_sql, fingerprints.file_sha(upgrade)
    )
    manifest.write_text(forged)
    trusted = make(root, "lint", env)
    assert scope(trusted.stderr) == (0, 0)
    assert "require-concurrent-index-creation" not in trusted.stdout
    manifest.write_text(recorded)
    linted = make(root, "lint", env)
    assert linted.returncode != 0
    assert scope(linted.stderr) == (2, 2)  # the revision's two files: its line no longer holds
    assert "require-concurrent-index-creation" in linted.stdout


STALE_AND_DUMPS = """
import json, sys
from dbtools.consume import snapshot
from dbtools.review import generated
dumps = []
real = snapshot.dump_at_head
snapshot.dump_at_head = lambda *args: dumps.append(1) or real(*args)
stale = [str(p) for p in generated.stale({"DATABASE_URL": sys.argv[1]})]
print(json.dumps({"stale": stale, "dumps": len(dumps)}))
"""


def stale_and_dumps(root: Path, server: str) -> dict:
    """What `make check` finds stale in `root`, and how many times it dumped schema.sql."""
    done = subprocess.run(
        [sys.executable, "-c", STALE_AND_DUMPS, server],
        cwd=root, capture_output=True, text=True, env=clean_env(), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_schema_sql_is_dumped_only_when_the_chain_or_the_file_changed(tmp_path, server_url):
    """schema.sql's line in FINGERPRINTS covers the whole chain: while no revision and not
    the file changed, the check knows it is fresh without applying the chain to a scratch
    database and dumping it; an edited file or a new revision is dumped and caught."""
    root = copy_repo(tmp_path)
    server = url_string(server_url)
    # From a known state: the fingerprints as `make generate` writes them for this tree.
    assert make(root, "generate", clean_env(DATABASE_URL=server)).returncode == 0
    assert stale_and_dumps(root, server) == {"stale": [], "dumps": 0}

    snapshot_file = root / "schema.sql"
    committed = snapshot_file.read_text()
    snapshot_file.write_text(committed + "-- edited by hand\n")
    assert stale_and_dumps(root, server) == {"stale": ["schema.sql"], "dumps": 1}

    snapshot_file.write_text(committed)
    table = free_table("fingerprinted")
    write_revision(
        root, NEW, HEAD, f"Create {table}",
        f'op.create_table("{table}", sa.Column("id", sa.BigInteger(), primary_key=True))',
        f'op.drop_table("{table}")',
    )  # fmt: skip
    found = stale_and_dumps(root, server)
    assert found["dumps"] == 1 and "schema.sql" in found["stale"], found
