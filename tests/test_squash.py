"""`make squash TO=<revision>` on a grown copy of the repository.

A copy grows by three released revisions of its own (a table, a column and a seeded row,
another column), committed in git. Databases are migrated with the long chain: one to the
squash point, one to the revision before it. After the squash, the database at the squash
point and a fresh database both reach the same head and the same catalog, the one at the
squash point running nothing again; the older one gets one line naming the release to
upgrade through, and stays as it was.
"""

import hashlib
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

import schema
from dbtools.core.bookkeeping import QUALIFIED_LOG, bookkeeping
from dbtools.core.catalog import describe, differences
from tests.harness import clean_env, last_error, make
from tests.own_models import revision_id
from tests.pg import fresh_database, url_string
from tests.repo_copy import copy_repo, write_revision
from tests.team import _free

TABLE = _free("squashed_things", set(schema.metadata.tables))


def read(url: URL, sql: str) -> list[tuple]:
    engine = schema.make_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def catalog(url: URL) -> dict:
    engine = schema.make_engine(url)
    try:
        with engine.connect() as connection:
            return describe(connection)
    finally:
        engine.dispose()


def version(url: URL) -> list[str]:
    return [
        row[0] for row in read(url, f"SELECT version_num FROM {bookkeeping().qualified_version}")
    ]


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout


def grown_copy(tmp_path: Path, server_url: URL) -> tuple[Path, list[str]]:
    """A git-committed copy with three more revisions; their ids, oldest first."""
    root = copy_repo(tmp_path)
    head = (root / "migrations" / "HEAD").read_text().strip()
    ids = [uuid.uuid4().hex[:12] for _ in range(3)]
    bodies = [
        (
            f"""op.create_table("{TABLE}", sa.Column("id", sa.BigInteger(), primary_key=True),
            sa.Column("label", sa.Text(), nullable=False), comment="Things.")""",
            f'op.drop_table("{TABLE}")',
        ),
        (
            # A colon that reads like a bind parameter, and a row the chain seeds.
            f"""op.add_column("{TABLE}", sa.Column("note", sa.Text(), comment="see :label"))
op.execute("INSERT INTO {TABLE} (id, label, note) VALUES (1, 'seed', 'at: 10:30')")""",
            f'op.drop_column("{TABLE}", "note")',
        ),
        (
            f'op.add_column("{TABLE}", sa.Column("extra", sa.Text()))',
            f'op.drop_column("{TABLE}", "extra")',
        ),
    ]
    parent = head
    for rev, (up, down) in zip(ids, bodies, strict=True):
        write_revision(root, rev, parent, f"Step {rev} of the squashed things.", up, down)
        parent = rev
    done = make(root, "generate", clean_env(DATABASE_URL=url_string(server_url)))
    assert done.returncode == 0, done.stdout + done.stderr
    release(root)
    (root / ".gitignore").write_text(".venv\n.pgdata/\n__pycache__/\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "released")
    return root, ids


def release(root: Path) -> None:
    """Mark every revision not marked yet as released, as `make release` writes the marker
    (`<revision> <sha256> <file name>`), creating it where the copy has none."""
    marker = root / "migrations" / "RELEASED"
    text_ = marker.read_text() if marker.exists() else "# Released revisions.\n"
    already = marked(root) if marker.exists() else {}
    for path in sorted((root / "migrations" / "versions").glob("*.py")):
        rev = revision_id(path)
        if rev not in already:
            text_ += f"{rev} {hashlib.sha256(path.read_bytes()).hexdigest()} {path.name}\n"
    marker.write_text(text_)


def marked(root: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for raw in (root / "migrations" / "RELEASED").read_text().splitlines():
        fields = raw.partition("#")[0].split()
        if fields:
            found.setdefault(fields[0], set()).add(fields[1])
    return found


def test_squash_keeps_databases_at_the_squash_point_and_fresh_ones_on_one_chain(
    tmp_path, server_url
):
    root, (older, squash_point, after) = grown_copy(tmp_path, server_url)
    env = clean_env(DATABASE_URL=url_string(server_url))
    with (
        fresh_database(server_url) as at_point,
        fresh_database(server_url) as behind,
        fresh_database(server_url) as fresh,
    ):
        for url, rev in ((at_point, squash_point), (behind, older)):
            done = make(root, "upgrade", clean_env(DATABASE_URL=url_string(url)), REV=rev)
            assert done.returncode == 0, done.stdout + done.stderr
        long_chain = catalog(at_point)
        released_commit = git(root, "rev-parse", "HEAD").strip()
        point_file = next((root / "migrations" / "versions").glob(f"*{squash_point}*.py"))
        point_checksum = hashlib.sha256(point_file.read_bytes()).hexdigest()

        squashed = make(root, "squash", env, TO=squash_point)
        assert squashed.returncode == 0, squashed.stdout + squashed.stderr
        versions = root / "migrations" / "versions"
        names = sorted(p.name for p in versions.glob("*.py"))
        assert not [n for n in names if older in n]  # the folded files are gone
        [baseline] = [p for p in versions.glob("*.py") if squash_point in p.name]
        source = baseline.read_text()
        assert f'revision: str = "{squash_point}"' in source
        assert "down_revision: str | Sequence[str] | None = None" in source
        assert released_commit in source
        assert (root / "migrations" / "sql" / f"{baseline.stem}.upgrade.sql").exists()
        assert not list((root / "migrations" / "sql").glob(f"*{older}*"))
        # The release marker: the folded lines gone, the squash point's file still accepted,
        # the baseline released.
        after_squash = marked(root)
        assert older not in after_squash
        baseline_checksum = hashlib.sha256(baseline.read_bytes()).hexdigest()
        assert after_squash[squash_point] == {point_checksum, baseline_checksum}
        # Everything generated is fresh, and the baseline passes lint as written.
        assert "up to date" in make(root, "generate", env).stdout
        linted = make(root, "lint", env)
        assert linted.returncode == 0, linted.stdout + linted.stderr

        # The database at the squash point runs only what comes after it.
        log_before = read(at_point, f"SELECT count(*) FROM {QUALIFIED_LOG}")[0][0]
        for url in (at_point, fresh):
            done = make(root, "upgrade", clean_env(DATABASE_URL=url_string(url)))
            assert done.returncode == 0, done.stdout + done.stderr
            assert version(url) == [after]
        ran = read(
            at_point,
            f"SELECT revision, direction FROM {QUALIFIED_LOG} ORDER BY id OFFSET {log_before}",
        )
        assert ran == [(after, "upgrade")]
        audit = make(root, "audit", clean_env(DATABASE_URL=url_string(at_point)))
        assert audit.returncode == 0 and squash_point in audit.stdout
        assert "edited since" not in audit.stdout  # the folded checksums still count
        assert differences(catalog(at_point), catalog(fresh)) == []
        # The baseline builds what the long chain built, rows included.
        fresh_to_point = catalog(fresh)
        assert read(fresh, f"SELECT id, label, note FROM {TABLE}") == [(1, "seed", "at: 10:30")]
        assert read(at_point, f"SELECT id, label, note FROM {TABLE}") == [(1, "seed", "at: 10:30")]
        assert any(key.split(".", 1)[1] == TABLE for key in long_chain["table"])
        assert fresh_to_point["column"] == catalog(at_point)["column"]

        # A database older than the squash point: one line, nothing run.
        refused = make(root, "upgrade", clean_env(DATABASE_URL=url_string(behind)))
        assert refused.returncode != 0
        line = last_error(refused)
        assert line.startswith("error: ") and older in line and squash_point in line
        assert released_commit[:12] in line
        assert [x for x in refused.stderr.splitlines() if x.startswith("error: ")] == [line]
        assert version(behind) == [older]


def test_squash_refuses_a_revision_not_committed(tmp_path, server_url):
    root, (_older, squash_point, _after) = grown_copy(tmp_path, server_url)
    [path] = (root / "migrations" / "versions").glob(f"*{squash_point}*.py")
    path.write_text(path.read_text() + "\n# edited after release\n")
    done = make(root, "squash", clean_env(DATABASE_URL=url_string(server_url)), TO=squash_point)
    assert done.returncode != 0
    assert "not committed" in last_error(done)
    assert path.exists()
    assert sorted(git(root, "status", "--porcelain").split()) == ["M", str(path.relative_to(root))]


@pytest.mark.parametrize("to", ["", "0000notarevision"])
def test_squash_needs_a_revision_of_the_chain(tmp_path, to):
    root = copy_repo(tmp_path)
    done = make(root, "squash", clean_env(), TO=to)
    assert done.returncode != 0
    assert last_error(done).startswith("error: ") and "TO=" in last_error(done)


def test_squash_refuses_to_fold_a_revision_another_branches_off(tmp_path, server_url):
    root, (older, squash_point, _after) = grown_copy(tmp_path, server_url)
    rev = uuid.uuid4().hex[:12]
    write_revision(root, rev, older, "A branch off a revision the squash would fold.", "pass")
    done = make(root, "squash", clean_env(DATABASE_URL=url_string(server_url)), TO=squash_point)
    assert done.returncode != 0
    line = last_error(done)
    assert line.startswith("error: ") and f"revision {rev} branches off {older}" in line
    assert list((root / "migrations" / "versions").glob(f"*{older}*.py"))  # nothing folded


def test_squash_refuses_a_revision_the_marker_does_not_release(tmp_path, server_url):
    root, (older, squash_point, _after) = grown_copy(tmp_path, server_url)
    marker = root / "migrations" / "RELEASED"
    kept = [line for line in marker.read_text().splitlines(True) if older not in line]
    marker.write_text("".join(kept))
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "unrelease")
    done = make(root, "squash", clean_env(DATABASE_URL=url_string(server_url)), TO=squash_point)
    assert done.returncode != 0
    assert f"{older} is not in migrations/RELEASED" in last_error(done)
    assert list((root / "migrations" / "versions").glob(f"*{older}*.py"))
