"""Chain cost: `alembic upgrade` from empty against `psql` running the same offline SQL.

Both run against fresh databases of the same server, as a pipeline would: a new process
each time. The shipped chain is measured as it is; synthetic chains are the shipped one
plus small revisions (each creates a table) written into a temporary copy of the
repository, never into the repository itself.
"""

import itertools
import time
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory

import schema
from bench.common import (
    Server,
    Settings,
    python,
    repo_copy,
    run,
    stats,
    timed,
    write_revision,
)
from dbtools.core.catalog import describe, differences
from dbtools.core.paths import REPO_ROOT

_CREATE_TABLE = """    op.create_table(
        "bench_t{index}",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("note", sa.Text(), nullable=True, comment="Anything."),
    )"""


def shipped_revisions(root: Path = REPO_ROOT) -> list[Any]:
    """The revisions of the chain at `root`, from first to head."""
    script = ScriptDirectory.from_config(Config(str(root / "alembic.ini")))
    return list(reversed(list(script.walk_revisions())))


def synthetic_id(index: int) -> str:
    return f"bench{index:07d}"


def build_chain(copy: Path, total: int) -> str:
    """Extend the chain in `copy` to `total` revisions; return the new head's id."""
    shipped = shipped_revisions(copy)
    down = shipped[-1].revision
    for index in range(1, total - len(shipped) + 1):
        rev = synthetic_id(index)
        write_revision(
            copy, f"9999_bench_{index:04d}-{rev}_synthetic_table.py", rev, down,
            doc=f"Synthetic revision {index}: create bench_t{index}",
            upgrade=_CREATE_TABLE.format(index=index),
            downgrade=f'    op.drop_table("bench_t{index}")',
        )  # fmt: skip
        down = rev
    return down


def offline_sql(copy: Path, dest: Path) -> Path:
    """`python -m dbtools sql` (empty to head) of the chain in `copy`, written to `dest`."""
    dest.write_text(run([python(), "-m", "dbtools", "sql"], cwd=copy).stdout)
    return dest


def version_of(server: Server, database: str) -> str:
    rows = server.execute("SELECT version_num FROM alembic_version", database)
    return ",".join(r[0] for r in rows)


def catalog(server: Server, database: str) -> dict[str, Any]:
    engine = schema.make_engine(server.url_for(database))
    try:
        with engine.connect() as conn:
            return describe(conn)
    finally:
        engine.dispose()


def one_run(server: Server, copy: Path, sql: Path, head: str, compare: bool) -> dict[str, Any]:
    """Time both routes once on fresh databases; check both reached `head`.

    With `compare`, also the differences between the two catalogs (there should be none).
    """
    via_alembic = server.create(f"chain_alembic_{head}")
    via_psql = server.create(f"chain_psql_{head}")
    try:
        alembic_s = timed(
            [python(), "-m", "dbtools", "upgrade", "head"],
            cwd=copy,
            env=server.env_for(via_alembic),
        )
        psql_s = timed_psql(server, via_psql, sql)
        outcome = {"alembic": alembic_s, "psql": psql_s}
        outcome["versions"] = [version_of(server, via_alembic), version_of(server, via_psql)]
        if compare:
            outcome["differences"] = differences(
                catalog(server, via_alembic), catalog(server, via_psql)
            )
        return outcome
    finally:
        server.drop(via_alembic)
        server.drop(via_psql)


def timed_psql(server: Server, database: str, sql: Path) -> float:
    start = time.perf_counter()
    server.psql_file(database, sql)
    return time.perf_counter() - start


def measure_chain(server: Server, copy: Path, head: str, total: int, runs: int) -> dict[str, Any]:
    sql = offline_sql(copy, copy / "upgrade.sql")
    one_run(server, copy, sql, head, compare=False)  # discarded: writes the bytecode cache
    outcomes = [one_run(server, copy, sql, head, compare=(i == 0)) for i in range(runs)]
    alembic_s = stats([o["alembic"] for o in outcomes])
    psql_s = stats([o["psql"] for o in outcomes])
    return {
        "revisions": total,
        "alembic": alembic_s,
        "psql": psql_s,
        "ratio": alembic_s["median"] / psql_s["median"],
        "reached_head": all(o["versions"] == [head, head] for o in outcomes),
        "same_schema": outcomes[0]["differences"] == [],
        "differences": outcomes[0]["differences"][:5],
        "sql_bytes": sql.stat().st_size,
    }


def linear_fit(xs: list[float], ys: list[float]) -> dict[str, float]:
    """Least squares y = slope * x + intercept, with r² (1.0 when the line is exact)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx if sxx else 0.0
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys, strict=True))
    return {"slope": slope, "intercept": intercept, "r2": 1 - ss_res / ss_tot if ss_tot else 1.0}


def growth(points: list[dict[str, Any]], tool: str) -> dict[str, Any]:
    """Per-revision cost: the slope of the fit, and between each pair of chain lengths."""
    xs = [float(p["revisions"]) for p in points]
    ys = [p[tool]["median"] for p in points]
    fit = linear_fit(xs, ys) if len(points) > 1 else {"slope": 0.0, "intercept": ys[0], "r2": 1.0}
    steps = [
        {
            "from": a["revisions"],
            "to": b["revisions"],
            "per_revision": (b[tool]["median"] - a[tool]["median"])
            / (b["revisions"] - a["revisions"]),
        }
        for a, b in itertools.pairwise(points)
    ]
    return {**fit, "steps": steps}


def measure(server: Server, settings: Settings, workdir: Path) -> dict[str, Any]:
    """Every chain length, shipped first; the figures the report and chart need."""
    shipped = len(shipped_revisions())
    points = []
    for total in (shipped, *settings.chain_lengths):
        copy = repo_copy(workdir / f"chain_{total}")
        head = build_chain(copy, total)
        points.append(measure_chain(server, copy, head, total, settings.chain_runs))
    return {
        "shipped_revisions": shipped,
        "points": points,
        "alembic_growth": growth(points, "alembic"),
        "psql_growth": growth(points, "psql"),
    }
