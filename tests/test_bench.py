"""The benchmark harness runs and writes its report; it never touches the repository.

Tiny sizes only: these tests show that `make bench` still works, they measure nothing
and assert no timing.
"""

import json
import subprocess
import sys

import pytest
from sqlalchemy import text

import schema
from bench import report as bench_report
from bench.chain import build_chain, offline_sql, shipped_revisions
from bench.common import Server, repo_copy, url_string, write_revision
from bench.common import clean_env as bench_env
from bench.history import checkout_copy, grow
from bench.stall import fill, load_tables, measured_revisions, variant_table
from bench.touched import database_at, touched_tables, upgrade
from dbtools import devserver
from dbtools.core import released
from dbtools.core.paths import REPO_ROOT
from tests.chain import MODEL_SCHEMAS, TABLES
from tests.pg import catalog, fresh_database, versions
from tests.team import _free

# One worker runs the module, so the tiny bench runs once.
pytestmark = pytest.mark.xdist_group("bench")

SECTIONS = [
    "## Machine",
    "## Goals",
    "## 1. Production stall",
    "## 2. Chain cost against its floor",
    "## 3. The no-op run",
    "## 4. Test cost",
    "## 5. Verify",
    "## 6. History cost",
]
# A synthetic chain a few revisions longer than the shipped one, however long that grows.
LONGER = len(shipped_revisions()) + 4


def repository_files() -> set[str]:
    return {str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "migrations").rglob("*.py")}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`python -m bench --quick` at the smallest sizes, into a temporary folder."""
    out = tmp_path_factory.mktemp("bench")
    before = repository_files()
    args = ["--quick", "--rows", "2000", "--runs", "1", "--chains", str(LONGER), "--before", "0.5"]
    args += ["--after", "0.5", "--out", str(out / "BENCHMARKS.md"), "--assets", str(out / "a")]
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Under a loaded machine (the whole suite on 2 cores) it needs more than 5 min.
        _, stderr = bench.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        # Terminated, not killed: a killed bench never stops its server.
        bench.terminate()
        _, stderr = bench.communicate(timeout=120)
        pytest.fail(f"the tiny bench took over 420 s: {stderr.strip().splitlines()[-1:]}")
    assert bench.returncode == 0, stderr
    return {
        "out": out,
        "report": (out / "BENCHMARKS.md").read_text(),
        "results": json.loads((out / "a" / "results.json").read_text()),
        "files_before": before,
        "files_after": repository_files(),
    }


def test_report_has_every_figure_goal_and_chart(tiny_run):
    report = tiny_run["report"]
    positions = [report.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions)
    for revision in measured_revisions(shipped_revisions(), set(released.read()), every=False):
        assert f"`{revision.revision}`" in report
    for chart in ("stall.png", "chain.png"):
        assert f"(a/{chart})" in report
        assert (tiny_run["out"] / "a" / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| chain within 2x of psql at 200 revisions |" in report
    assert "| repeated `make verify` within 3x of `pg_dump --schema-only` |" in report
    assert "not measured" in report  # no 200-revision chain at this size
    assert "| load average (1 / 5 / 15 min) as it started |" in report
    for goal in ("`make test` with 100 more", "`make check` with 200 more"):
        [row] = [line for line in report.splitlines() if line.startswith(f"| {goal}")]
        assert "not the goal's size in this mode" in row  # a quick run judges nothing


def test_every_measured_database_reached_its_target(tiny_run):
    results = tiny_run["results"]
    head = shipped_revisions()[-1].revision
    scenarios = results["stall"]["scenarios"]
    # A quick run measures the first revision, the head and the unreleased ones: as many
    # scenarios at the hundredth revision as at the second.
    shipped = shipped_revisions()
    unreleased = {rev.revision for rev in shipped} - set(released.read())
    measured = [s["name"] for s in scenarios if s["kind"] == "shipped"]
    assert set(measured) == {shipped[0].revision, head} | unreleased
    assert all(s["reached_target"] for s in scenarios)
    assert all("timeline" not in s for s in scenarios)  # kept out of the JSON
    # The first revision creates its tables: none of them is under load before it.
    assert scenarios[0]["applicable"] is False
    # Each scenario carries its lock trace's verdict, the one the report sets beside the
    # measured stall: every plain variant blocks writes, no safe form does.
    verdicts = {s["kind"]: set() for s in scenarios}
    for s in scenarios:
        verdicts[s["kind"]].add(s["trace_blocks_writes"])
    assert verdicts["plain"] == {True} and verdicts["safe"] == {False}, verdicts
    # The variants load the table of the benchmark's own they revise, whatever the chain's
    # tables are: the one the lock trace found them on.
    variants = [s for s in scenarios if s["kind"] != "shipped"]
    assert variants and {tuple(s["tables"]) for s in variants} == {(f"public.{variant_table()}",)}
    assert [p["revisions"] for p in results["chain"]["points"]] == [
        len(shipped_revisions()),
        LONGER,
    ]
    assert all(p["reached_head"] and p["same_schema"] for p in results["chain"]["points"])
    assert results["noop"]["version_after"] == head
    routes = ("chain", "template_wal_log", "template_file_copy", "schema_testing")
    assert all(results["testcost"]["prepare"][r]["at_head"] for r in routes)
    assert results["testcost"]["make_test"] == {"skipped": True}
    assert results["verify"]["version"] == head
    assert results["verify"]["first"]["n"] == results["verify"]["repeated"]["n"] == 1
    # The history figure grew a copy and ran both commands on both copies, each passing.
    for target in ("check", "test"):
        figure = results["history"][target]
        assert figure["extra_revisions"] > 0
        assert figure["shipped"]["passed"] and figure["grown"]["passed"]
    assert set(results["loadavg"]) == set(results["settings"]["only"])


def test_the_repository_is_left_as_it_was(tiny_run):
    assert tiny_run["files_after"] == tiny_run["files_before"]
    assert not list((REPO_ROOT / "migrations" / "versions").glob("*bench*"))


def test_a_synthetic_chain_in_a_copy_builds_one_table_per_revision(tmp_path, server_url):
    copy = repo_copy(tmp_path / "copy")
    head = build_chain(copy, LONGER)
    sql = offline_sql(copy, tmp_path / "upgrade.sql")
    server = Server(url=server_url, bin=devserver.bin_dir(devserver.DEFAULT_VERSION))

    with fresh_database(server_url) as url:
        server.psql_file(url.database, sql)
        # Within the models' schemas: a chain may keep tables in schemas of its own.
        tables = [
            key.split(".", 1)[1]
            for key in catalog(url)["table"]
            if key.split(".")[0] in MODEL_SCHEMAS
        ]
        version = versions(url)

    assert version == [head]
    synthetic = LONGER - len(shipped_revisions())
    assert sorted(tables) == sorted([*TABLES, *(f"bench_t{i}" for i in range(1, synthetic + 1))])


def test_a_bad_option_is_one_line_and_no_server(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "stall,speed", "--out", str(tmp_path / "B.md")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: unknown figure(s) ['speed']; choose from stall, chain, noop, testcost, verify, "
        "history"
    ]
    assert not (tmp_path / "B.md").exists()


def test_the_stall_load_follows_the_tables_a_revision_touches(tmp_path, server_url):
    copy = repo_copy(tmp_path / "copy")
    head = shipped_revisions()[-1].revision
    table = _free("bench_loaded", set(schema.metadata.tables))
    create = (
        f'    op.create_table("{table}", sa.Column("id", sa.BigInteger(), sa.Identity(), '
        'primary_key=True), sa.Column("label", sa.Text(), nullable=False), '
        'sa.Column("n", sa.SmallInteger(), nullable=False))'
    )
    write_revision(copy, "9999_a.py", "bench_make", head, "Make a table", create)
    index = f'    op.create_index("ix_{table}_label", "{table}", ["label"])'
    write_revision(copy, "9999_b.py", "bench_index", "bench_make", "Index it", index)
    server = Server(url=server_url, bin=devserver.bin_dir(devserver.DEFAULT_VERSION))

    # What PostgreSQL reports the revision locks: the table it indexes, nothing else;
    # a revision that only creates a table touches none that existed.
    at_head = database_at(server, copy, head, "probe_at_head")
    at_make = database_at(server, copy, "bench_make", "probe_at_make")
    try:
        assert touched_tables(server, copy, at_make, "bench_index") == [f"public.{table}"]
        assert touched_tables(server, copy, at_head, "bench_make") == []
    finally:
        server.drop(at_head)
        server.drop(at_make)

    with fresh_database(server_url) as url:
        engine = schema.make_engine(url)
        try:
            with engine.connect() as conn:
                upgrade(copy, conn, "bench_make")
                conn.commit()
            fill(server, url.database, (f"public.{table}",), 40_000)
            [loaded] = load_tables(server, url.database, [f"public.{table}"])
            scripts = []
            for who, script in (("writer", loaded.writer), ("reader", loaded.reader)):
                path = tmp_path / f"{who}.sql"
                path.write_text(script(40_000))
                scripts += ["-f", str(path)]
            bench_run = subprocess.run(
                [
                    str(server.bin / "pgbench"),
                    "-n",
                    *scripts,
                    "-t",
                    "20",
                    *server.libpq(url.database),
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert bench_run.returncode == 0, bench_run.stderr
            with engine.connect() as conn:
                count, small = conn.execute(text(f'SELECT count(*), max(n) FROM "{table}"')).one()
        finally:
            engine.dispose()
    assert 40_000 < count <= 40_020  # the fill, and the writers' inserts
    assert small < 32_768  # a smallint column got values it holds


def test_the_history_copies_are_git_repositories_with_every_file(tmp_path):
    """The history figure runs `make test` in its copies, and the suite reads git (the
    review's base branch, squash's "committed", the bench's own copies): a copy that is
    not a repository failed its suite and timed a failing run."""
    copy = checkout_copy(tmp_path / "copy")

    def listed(root):
        done = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"],
            cwd=root, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return set(done.stdout.splitlines())

    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=copy, capture_output=True, text=True, check=True
    )
    assert status.stdout == ""  # everything committed, the .venv link ignored
    # Every file the work tree has (one deleted but not yet committed is not copied).
    assert listed(copy) == {name for name in listed(REPO_ROOT) if (REPO_ROOT / name).is_file()}


def test_a_grown_history_copy_holds_its_revisions_released_and_committed(tmp_path, server_url):
    """The history figure is about released revisions: the suite tests each unreleased
    revision in full, so a copy grown with its revisions unreleased measured the wrong
    thing (3x, not the goal's 1.3x)."""
    copy = checkout_copy(tmp_path / "copy")
    env = {"DATABASE_URL": url_string(server_url)}
    grow(copy, 2, env)
    head = grow(copy, 1, env)  # grown again, as a bench run in a grown repository does

    chain = [rev.revision for rev in shipped_revisions(copy)]
    assert chain[-1] == head and len(chain) == len(shipped_revisions()) + 3
    assert len(set(chain)) == len(chain)
    assert set(released.read(copy / "migrations" / "RELEASED")) == set(chain)
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=copy, capture_output=True, text=True, check=True
    )
    assert status.stdout == ""  # the grown revisions and their SQL are committed


def test_a_terminated_bench_stops_its_server_and_leaves_nothing_behind(tmp_path):
    """A bench ended by SIGTERM (a timeout) stops its server and deletes its data, as one
    ended by Ctrl-C does: killed by the default handler, its server outlived it."""
    out = tmp_path / "out"
    args = ["--quick", "--only", "noop", "--out", str(out / "B.md"), "--assets", str(out / "a")]
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO_ROOT,
        env={**bench_env(), "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The first figure's line comes once its server is up.
    assert bench.stderr is not None and "noop" in bench.stderr.readline()
    assert list(tmp_path.glob("bench-*/data/postmaster.pid"))  # the server is running
    bench.terminate()
    _, stderr = bench.communicate(timeout=120)

    assert bench.returncode == 1, stderr
    assert stderr.strip().splitlines()[-1] == "error: interrupted; nothing was written"
    assert list(tmp_path.glob("bench-*")) == []  # the work folder, with the server's data
    running = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in running  # no postgres of that data folder is left
    assert not (out / "B.md").exists() and not (out / "a" / "results.json").exists()


def test_a_child_of_the_bench_gets_no_option_of_the_make_or_pytest_that_started_it(monkeypatch):
    # `make test PYTEST_ADDOPTS=tests/test_bench.py` puts it in MAKEFLAGS; a copy's
    # `make test` would then run the bench's own test again, which runs the bench again.
    monkeypatch.setenv("MAKEFLAGS", "s -- PYTEST_ADDOPTS=tests/test_bench.py")
    monkeypatch.setenv("MAKELEVEL", "1")
    monkeypatch.setenv("PYTEST_ADDOPTS", "tests/test_bench.py")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:secret@h/db")

    env = bench_env(PYTEST_ADDOPTS="tests/test_layout.py")

    assert not {"MAKEFLAGS", "MAKELEVEL", "DATABASE_URL"} & set(env)
    assert env["PYTEST_ADDOPTS"] == "tests/test_layout.py"


def test_figures_kept_from_an_earlier_run_carry_its_load_and_date_and_are_not_remeasured():
    from bench.__main__ import kept

    earlier = {
        "finished": "2026-01-01 10:00 UTC",
        "chain": {"ratio": 2.4},
        "noop": {"ratio": 1.3},
        "loadavg": {"chain": [0.3, 0.3, 0.7], "noop": [0.8, 0.4, 0.7]},
        "seconds": {"chain": 600.0, "noop": 30.0},
    }
    now = {
        "settings": {"only": ["noop"]},
        "noop": {"ratio": 1.2},
        "loadavg": {"noop": [2.0, 2.0, 2.0]},
        "seconds": {"noop": 31.0},
        "measured_at": {"noop": "2026-02-02 10:00 UTC"},
    }
    merged = kept(now, earlier)

    assert merged["noop"] == {"ratio": 1.2} and merged["loadavg"]["noop"] == [2.0, 2.0, 2.0]
    assert merged["chain"] == {"ratio": 2.4} and merged["loadavg"]["chain"] == [0.3, 0.3, 0.7]
    assert merged["measured_at"] == {
        "noop": "2026-02-02 10:00 UTC",
        "chain": "2026-01-01 10:00 UTC",
    }
    assert merged["kept"] == ["chain"]
    assert bench_report.minutes(merged) == "31 seconds"  # this run's figures alone


def test_a_quick_stall_run_measures_as_many_revisions_at_the_hundredth_as_at_the_second():
    from types import SimpleNamespace

    chain = [SimpleNamespace(revision=f"r{i:03d}") for i in range(1, 103)]
    released_ids = {rev.revision for rev in chain[:-1]}  # all but the head

    quick = measured_revisions(chain, released_ids, every=False)
    assert [rev.revision for rev in quick] == ["r001", "r102"]
    unreleased = measured_revisions(chain, released_ids - {"r050"}, every=False)
    assert [rev.revision for rev in unreleased] == ["r001", "r050", "r102"]
    assert measured_revisions(chain, released_ids, every=True) == chain
