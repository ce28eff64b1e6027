"""`make review`: the new revisions of a pull request, as Markdown and as JSON.

In a git checkout of a grown copy, a feature branch adds a synthetic table and a plain
index on it. Without FROM, the review covers what the base branch `main` lacks; it shows
the message, the docstring, the SQL, the lint finding with the safe form written with the
revision's own names, and the lock trace; the JSON has per revision, per direction, per
statement `sql`, `locks` as `[{relation, mode}]`, `rewrites` and `blocks`.
"""

import json
import subprocess

import pytest

import schema
from dbtools.core.chain import script_directory
from tests.harness import clean_env, last_error, make
from tests.pg import url_string
from tests.repo_copy import copy_repo, write_revision

HEAD = script_directory().get_current_head()
TABLE = next(n for n in ("review_items", "review_items_2") if n not in schema.metadata.tables)
INDEX = f"ix_{TABLE}_qty"


def git(root, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture(scope="module")
def branch(tmp_path_factory, server_url):
    root = copy_repo(tmp_path_factory.mktemp("review"))
    (root / ".gitignore").write_text(".venv\n.pgdata\n__pycache__/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@x", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "base")
    git(root, "checkout", "-qb", "feature")
    write_revision(
        root,
        "bee000000001",
        HEAD,
        f"Create {TABLE}.",
        f'op.create_table("{TABLE}", sa.Column("id", sa.BigInteger(), primary_key=True), '
        'sa.Column("qty", sa.BigInteger(), nullable=True))',
        f'op.drop_table("{TABLE}")',
    )
    write_revision(
        root,
        "bee000000002",
        "bee000000001",
        f"Index {TABLE} by qty.",
        f'op.create_index("{INDEX}", "{TABLE}", ["qty"])',
        f'op.drop_index("{INDEX}", table_name="{TABLE}")',
    )
    env = clean_env(DATABASE_URL=url_string(server_url))
    assert make(root, "generate", env).returncode == 0
    return root, env


def test_the_markdown_review_covers_what_the_base_branch_lacks(branch):
    root, env = branch
    done = make(root, "review", env)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "Covers not on the base branch main" in text
    assert f"## `bee000000002`: Index {TABLE} by qty." in text
    assert f"## `bee000000001`: Create {TABLE}." in text
    assert HEAD not in text.split("Covers", 1)[1].split("\n", 1)[0]  # the base's own are out
    assert f"CREATE INDEX {INDEX} ON {TABLE} (qty);" in text  # the SQL
    # The lint finding, with Squawk's help and the safe form in the revision's names.
    assert "`require-concurrent-index-creation`" in text
    assert "Help: Use `concurrently` to avoid blocking writes." in text
    assert f'Safe form: `op.create_index_concurrently("{INDEX}", "{TABLE}", ["qty"])`' in text
    # The lock trace: the SHARE lock on the table, what it blocks, the full read.
    row = next(
        line for line in text.splitlines() if line.startswith(f"| 1 | 1 | `CREATE INDEX {INDEX}")
    )
    assert f"SHARE on {TABLE}" in row and "| writes |" in row and f"| {TABLE} |" in row
    assert "`trace-blocks-writes` at statement 1" in text


def test_the_json_review_has_each_statement(branch):
    root, env = branch
    done = make(root, "review", {**env, "REVIEW_FORMAT": "json"}, FROM="bee000000001")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    [revision] = data["revisions"]
    assert revision["revision"] == "bee000000002"
    for direction in ("upgrade", "downgrade"):
        for step in revision[direction]["statements"]:
            assert {"sql", "locks", "rewrites", "blocks"} <= step.keys()
            assert all(set(lock) == {"relation", "mode"} for lock in step["locks"])
    [build] = revision["upgrade"]["statements"]
    assert {"relation": TABLE, "mode": "SHARE"} in build["locks"]
    assert build["blocks"] == ["writes"] or "writes" in build["blocks"]
    assert build["rewrites"] == []
    assert revision["upgrade"]["blocks_writes"] is True
    assert revision["downgrade"]["blocks_writes"] is False


def test_a_wrong_from_or_format_is_one_line(branch):
    root, env = branch
    wrong = make(root, "review", env, FROM="nosuchrev")
    assert wrong.returncode != 0
    assert last_error(wrong) == (
        "error: FROM=nosuchrev names no single revision of the chain; `make history` lists them"
    )
    bad = make(root, "review", {**env, "REVIEW_FORMAT": "xml"})
    assert bad.returncode != 0
    assert last_error(bad) == "error: REVIEW_FORMAT=xml is not one of markdown, json"
