"""History cost: `make check` and `make test` on the shipped chain and on a longer history.

A team's second year: the same repository with N more released revisions. Each figure
runs in copies of the repository (its tracked files as they are in the work tree, the
`.venv` shared): one as shipped, one grown by N synthetic revisions, each creating a small
table in a schema of its own (`bench_history`, which the models do not use, so the grown
copy has no drift and its checks pass as the shipped one's do), with their committed SQL
written by `make generate`, then marked released by `make release` and committed, as a
team's released history is. The two copies are timed in the same run, one after the
other, and the ratio is the figure.

The machine's load average is read when each figure starts, so a figure measured while
other work ran on the same cores says so.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.chain import shipped_revisions
from bench.common import Server, Settings, clean_env, python, run, stats, url_string, write_revision
from dbtools.core.paths import REPO_ROOT

SCHEMA = "bench_history"
_TABLE = f"""    op.create_table(
        "h{{index}}",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("note", sa.Text(), nullable=True, comment="Anything."),
        schema="{SCHEMA}",
        comment="Synthetic history.",
    )"""
_DROP = f'    op.drop_table("h{{index}}", schema="{SCHEMA}")'
# The first synthetic revision makes the schema and its downgrade removes it, so the
# chain's way down to base leaves nothing behind, as a real one must.
_SCHEMA_UP = f'    op.execute("CREATE SCHEMA {SCHEMA}")\n'
_SCHEMA_DOWN = f'\n    op.execute("DROP SCHEMA {SCHEMA}")'


def synthetic_steps(index: int) -> tuple[str, str]:
    """The upgrade and downgrade bodies of synthetic revision `index` (from 1)."""
    upgrade, downgrade = _TABLE.format(index=index), _DROP.format(index=index)
    if index == 1:
        return _SCHEMA_UP + upgrade, downgrade + _SCHEMA_DOWN
    return upgrade, downgrade


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def checkout_copy(dest: Path) -> Path:
    """The repository's files as they are now (tracked, and new ones git does not
    ignore), committed in a git repository of its own as a clone is (the suite reads
    git: the review's base branch, squash's "committed", the bench's own copies), and
    its `.venv` (a symlink)."""
    dest.mkdir(parents=True)
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    (dest / ".venv").symlink_to(REPO_ROOT / ".venv")
    run(["git", "init", "-q", "-b", "main"], cwd=dest, env=clean_env())
    commit(dest, "as cloned")
    return dest


def commit(copy: Path, message: str) -> None:
    """Commit everything in the copy, as the benchmark's own author."""
    identity = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost"}
    identity |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}
    for args in (["add", "-A"], ["commit", "-q", "-m", message]):
        run(["git", *args], cwd=copy, env=clean_env(**identity))


def grow(copy: Path, extra: int, env: dict[str, str]) -> str:
    """`extra` synthetic revisions after the copy's head, their SQL generated, released
    (`make release`) and committed as a team's would be; the head."""
    chain = shipped_revisions(copy)
    down = chain[-1].revision
    # Numbered on from synthetic revisions the copy has already (a copy of a grown one).
    grown = sum(rev.revision.startswith("hist") for rev in chain)
    for index in range(grown + 1, grown + extra + 1):
        rev = f"hist{index:08d}"
        upgrade, downgrade = synthetic_steps(index)
        write_revision(
            copy, f"9999_history_{index:05d}-{rev}_synthetic_table.py", rev, down,
            doc=f"Synthetic released revision {index}: a table in {SCHEMA}",
            upgrade=upgrade, downgrade=downgrade,
        )  # fmt: skip
        down = rev
    for args in (["generate"], ["release"]):
        run([python(), "-m", "dbtools", *args], cwd=copy, env=clean_env(**env))
    commit(copy, f"{extra} revisions, released")
    return down


def timed_make(copy: Path, target: str, runs: int, extra_env: dict[str, str]) -> dict[str, Any]:
    """Wall time of `make -s <target>` in `copy`, `runs` times; whether each passed."""
    samples, passed, last = [], [], ""
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            ["make", "-s", target],
            cwd=copy,
            env=clean_env(**extra_env),
            capture_output=True,
            text=True,
        )
        samples.append(time.perf_counter() - start)
        passed.append(done.returncode == 0)
        last = ((done.stdout + done.stderr).strip().splitlines() or [""])[-1].strip("= ")
    return {**stats(samples), "passed": all(passed), "last_line": last}


class Copies:
    """The copies the figures run in, made once each: as shipped, and per growth."""

    def __init__(self, server: Server, workdir: Path) -> None:
        self.server, self.workdir = server, workdir
        self.made: dict[int, Path] = {}

    def grown_by(self, extra: int) -> Path:
        if extra not in self.made:
            copy = checkout_copy(self.workdir / f"grown_{extra}")
            if extra:
                # Rendering what is generated needs a server (schema.sql): the benchmark's.
                grow(copy, extra, {"DATABASE_URL": url_string(self.server.url)})
            self.made[extra] = copy
        return self.made[extra]


def compare(
    copies: Copies, target: str, extra: int, runs: int, env: dict[str, str]
) -> dict[str, Any]:
    """`make <target>` on the shipped chain and with `extra` more revisions, in one run."""
    shipped, grown = copies.grown_by(0), copies.grown_by(extra)
    result: dict[str, Any] = {"extra_revisions": extra, "loadavg": loadavg()}
    result["shipped"] = timed_make(shipped, target, runs, env)
    result["grown"] = timed_make(grown, target, runs, env)
    result["loadavg_after"] = loadavg()
    result["revisions"] = len(shipped_revisions(shipped))
    result["ratio"] = result["grown"]["median"] / result["shipped"]["median"]
    return result


def measure(server: Server, settings: Settings, workdir: Path) -> dict[str, Any]:
    """Both figures. `make check` makes its scratch databases on the benchmark's server
    (never a development server in a copy); `make test` starts its own, as it does for
    anyone. A quick run limits the suite to `history_test_selection`."""
    check_env = {"DATABASE_URL": url_string(server.url)}
    selection = settings.history_test_selection
    test_env = {"PYTEST_ADDOPTS": selection} if selection else {}
    copies = Copies(server, workdir)
    return {
        "check": compare(
            copies, "check", settings.history_check_extra, settings.history_check_runs, check_env
        ),
        "test": compare(
            copies, "test", settings.history_test_extra, settings.history_test_runs, test_env
        ),
        "test_selection": selection,
    }
