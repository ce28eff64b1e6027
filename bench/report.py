"""BENCHMARKS.md from the figures of one run: the machine, each figure, the goals.

The prose lives in the Markdown template `report.md.mako` beside this file; here are the
goals, the judgement of each, and the formatting of figures the template uses.
"""

import re
from pathlib import Path
from typing import Any

from mako.template import Template

TEMPLATE = Path(__file__).with_name("report.md.mako")

STALL_GOAL_MS = 50.0
CHAIN_GOAL_RATIO = 2.0
CHAIN_GOAL_AT = 200
NOOP_GOAL_RATIO = 1.15
VERIFY_GOAL_RATIO = 3.0  # a repeated verify, new process, against pg_dump --schema-only
TEST_GOAL_SECONDS = 90.0
TEST_GROWTH_GOAL = 1.3  # `make test` with 100 more released revisions, against shipped
CHECK_GROWTH_GOAL = 1.5  # `make check` with 200 more released revisions, against shipped
LINEAR_R2 = 0.99
LINEAR_DRIFT = 1.5  # per-revision cost may grow this much from the shortest to the longest


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:,.0f} ms"


def num(value: float | None, unit: str = "ms", digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f} {unit}"


def spread(s: dict[str, Any], fmt: Any = ms) -> str:
    """`median (min to max)`, or the one value when there was one run."""
    if not s or s.get("median") is None:
        return "n/a"
    if s["n"] == 1:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])} to {fmt(s['max'])})"


def minutes(results: dict[str, Any]) -> str:
    """How long the figures of this run took, as the report says it."""
    measured = results["settings"]["only"]
    total = sum(v for k, v in results.get("seconds", {}).items() if k in measured)
    if not total:
        return "an unrecorded time"  # results written before the run recorded it
    return f"{total / 60:.0f} minutes" if total >= 90 else f"{total:.0f} seconds"


def mark(met: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "not measured"}[met]


Goal = tuple[str, str, bool | None, str]


def load_at(results: dict[str, Any], figure: str) -> str:
    """The machine's load average (1, 5, 15 min) when `figure` started, as the report shows it."""
    load = results.get("loadavg", {}).get(figure)
    return " / ".join(f"{x:.2f}" for x in load) if load else "n/a"


def goals(results: dict[str, Any]) -> list[Goal]:
    """(goal, what was measured, met, load average then) for each goal of the issues."""
    return [(*row, load_at(results, figure)) for figure, row in judged(results)]


def judged(results: dict[str, Any]) -> list[tuple[str, tuple[str, str, bool | None]]]:
    """(figure, (goal, what was measured, met)) for each goal."""
    rows: list[tuple[str, tuple[str, str, bool | None]]] = []
    stall = results.get("stall")
    for kind, what in (("shipped", "shipped revision"), ("safe", "safe form")):
        if not stall:
            break
        judged = [s for s in stall["scenarios"] if "goal_met" in s and s["kind"] == kind]
        worst = max((s["writer"]["stall_ms"]["max"] or 0.0 for s in judged), default=None)
        rows.append(("stall", (
            f"no {what} stalls writers > {STALL_GOAL_MS:.0f} ms at {stall['rows']:,} rows",
            f"worst writer stall of a {what} on busy tables of its own: "
            f"{num(worst)} (max over runs)",
            all(s["goal_met"] for s in judged) if judged else None,
        )))  # fmt: skip
    chain = results.get("chain")
    if chain:
        at = next((p for p in chain["points"] if p["revisions"] == CHAIN_GOAL_AT), None)
        rows.append(("chain", (
            f"chain within {CHAIN_GOAL_RATIO:.0f}x of psql at {CHAIN_GOAL_AT} revisions",
            f"{at['ratio']:.2f}x" if at else f"no {CHAIN_GOAL_AT}-revision chain in this mode",
            at["ratio"] <= CHAIN_GOAL_RATIO if at else None,
        )))  # fmt: skip
        linear, why = is_linear(chain)
        rows.append(("chain", ("chain cost grows linearly", why, linear)))
    noop = results.get("noop")
    if noop:
        rows.append(("noop", (
            f"no-op run within {NOOP_GOAL_RATIO}x of starting Python and importing the libraries",
            f"{noop['ratio']:.2f}x",
            noop["ratio"] <= NOOP_GOAL_RATIO,
        )))  # fmt: skip
    verify = results.get("verify")
    if verify:
        rows.append(("verify", (
            f"repeated `make verify` within {VERIFY_GOAL_RATIO:.0f}x of `pg_dump --schema-only`",
            f"{verify['repeated_ratio']:.2f}x"
            + ("" if verify.get("repeated_cached") else " (the cache did not answer)"),
            verify["repeated_ratio"] <= VERIFY_GOAL_RATIO,
        )))  # fmt: skip
    make_test = results.get("testcost", {}).get("make_test", {})
    if make_test:
        measured = None if make_test.get("skipped") else make_test.get("median")
        rows.append(("testcost", (
            f"`make test` under {TEST_GOAL_SECONDS:.0f} s wall on this machine",
            "not run in this mode" if measured is None else seconds(measured),
            None if measured is None else measured < TEST_GOAL_SECONDS and make_test["passed"],
        )))  # fmt: skip
    history = results.get("history")
    if history:
        rows.append(("history", growth_goal(history["test"], "test", TEST_GROWTH_GOAL, history)))
        rows.append(("history", growth_goal(history["check"], "check", CHECK_GROWTH_GOAL, history)))
    return rows


def growth_goal(
    figure: dict[str, Any], target: str, goal: float, history: dict[str, Any]
) -> tuple[str, str, bool | None]:
    """`make <target>` with more released revisions within `goal` times the shipped chain.

    Judged only when both runs passed, and for `make test` only on the whole suite."""
    wanted = {"test": 100, "check": 200}[target]
    shipped, grown = figure["shipped"], figure["grown"]
    what = (
        f"{figure['ratio']:.2f}x: {seconds(grown['median'])} with {figure['extra_revisions']} "
        f"more against {seconds(shipped['median'])} at {figure['revisions']}"
    )
    if not (shipped["passed"] and grown["passed"]):
        return (f"`make {target}` grows at most {goal}x", what + " (a run failed)", False)
    partial = target == "test" and history.get("test_selection")
    if figure["extra_revisions"] < wanted or partial:
        return (
            f"`make {target}` with {wanted} more released revisions at most {goal}x",
            what + " (not the goal's size in this mode)",
            None,
        )
    return (
        f"`make {target}` with {wanted} more released revisions at most {goal}x",
        what,
        figure["ratio"] <= goal,
    )


def is_linear(chain: dict[str, Any]) -> tuple[bool | None, str]:
    fit = chain["alembic_growth"]
    steps = fit["steps"]
    if len(steps) < 2:
        return None, "too few chain lengths"
    first, last = steps[0]["per_revision"], steps[-1]["per_revision"]
    drift = last / first if first > 0 else float("inf")
    met = fit["r2"] >= LINEAR_R2 and drift <= LINEAR_DRIFT
    return met, (
        f"alembic fit r² = {fit['r2']:.4f}; cost per revision {first * 1000:.2f} ms "
        f"({steps[0]['from']}→{steps[0]['to']}) vs {last * 1000:.2f} ms "
        f"({steps[-1]['from']}→{steps[-1]['to']})"
    )


def render(results: dict[str, Any], charts: dict[str, str]) -> str:
    """The report's Markdown: the template filled with this run's figures."""
    stall = results.get("stall", {"scenarios": []})
    text = Template(filename=str(TEMPLATE)).render(
        H2="##",
        r=results,
        charts=charts,
        goals=goals(results),
        stall_rows=[stall_row(s) for s in stall["scenarios"]],
        stall_failed=sum(
            s[who]["failed"]["max"] or 0 for s in stall["scenarios"] for who in ("writer", "reader")
        ),
        stall_errors=[(s["name"], e) for s in stall["scenarios"] for e in s["load_errors"]],
        chain_without_floor=chain_without_floor(results),
        noop_rows=NOOP_ROWS,
        ms=ms,
        spread=spread,
        mark=mark,
        minutes=minutes,
        seconds=seconds,
    )
    lines = "\n".join(line.rstrip() for line in text.strip().splitlines())
    return re.sub(r"\n{3,}", "\n\n", lines) + "\n"


def stall_row(s: dict[str, Any]) -> str:
    """One scenario of the stall table, its cells joined by ` | `."""
    w, r = s["writer"], s["reader"]
    if "goal_met" in s:
        goal = mark(s["goal_met"])
    else:
        goal = (
            "n/a (touches no table that existed)" if not s["applicable"] else "shown for contrast"
        )
    where = "a stand-in table" if not s["applicable"] else ", ".join(f"`{t}`" for t in s["tables"])
    cells = [
        f"`{s['name']}` {s['title']} *(load on {where})*",
        spread(s["revision_seconds"]),
        spread(w["stall_ms"], num),
        spread(w["max_before_ms"], num),
        p99s(w),
        spread(r["stall_ms"], num),
        p99s(r),
        goal,
        predicted(s),
    ]
    return " | ".join(cells)


def predicted(s: dict[str, Any]) -> str:
    """What the lock trace said of the revision, and whether the stall bore it out: a
    trace that blocks writes should stall writers > 50 ms, one that does not should not."""
    verdict = s.get("trace_blocks_writes")
    if verdict is None:
        return "not traced"
    stalled = (s["writer"]["stall_ms"]["max"] or 0.0) > STALL_GOAL_MS
    said = "blocks writes" if verdict else "no write-blocking lock"
    return f"{said}: {'agrees' if verdict == stalled else 'DISAGREES'}"


def chain_without_floor(results: dict[str, Any]) -> str:
    """What alembic's longest measured chain costs beyond the process start and imports."""
    chain, noop = results.get("chain"), results.get("noop")
    at = next((p for p in (chain or {}).get("points", []) if p["revisions"] == CHAIN_GOAL_AT), None)
    if not (at and noop):
        return ""
    work = at["alembic"]["median"] - noop["floor_imports"]["median"]
    return (
        f" Without the process start and imports, alembic's {CHAIN_GOAL_AT}-revision run "
        f"would take {ms(work)}, {work / at['psql']['median']:.2f}x psql."
    )


NOOP_ROWS = [
    ("`python -m dbtools upgrade` (what `make upgrade` runs)", "dbtools_upgrade"),
    ("`.venv/bin/alembic upgrade head`", "alembic_upgrade"),
    ('floor: `python -c "import alembic, sqlalchemy, psycopg2, dotenv"`', "floor_imports"),
    ("bare interpreter: `python -c pass`", "floor_interpreter"),
    ("not a floor: the floor's imports plus `schema, dbtools.cli`", "imports_with_repo"),
]


def p99s(side: dict[str, Any]) -> str:
    def med(key: str) -> str:
        return num(side[key]["median"], "", 1).strip()

    return f"{med('p99_before_ms')} / {med('p99_during_ms')} / {med('p99_after_ms')} ms"


def seconds(value: float) -> str:
    return f"{value:,.1f} s"
