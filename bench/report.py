"""BENCHMARKS.md from the figures of one run: the machine, each figure, the goals."""

from typing import Any

STALL_GOAL_MS = 50.0
CHAIN_GOAL_RATIO = 2.0
CHAIN_GOAL_AT = 200
NOOP_GOAL_RATIO = 1.2
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


def mark(met: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "not measured"}[met]


def goals(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(goal, what was measured, met) for each goal of the issue."""
    rows: list[tuple[str, str, bool | None]] = []
    stall = results.get("stall")
    for kind, what in (("shipped", "shipped revision"), ("safe", "safe form")):
        if not stall:
            break
        judged = [s for s in stall["scenarios"] if "goal_met" in s and s["kind"] == kind]
        worst = max((s["writer"]["stall_ms"]["max"] or 0.0 for s in judged), default=None)
        rows.append((
            f"no {what} stalls writers > {STALL_GOAL_MS:.0f} ms at {stall['rows']:,} rows",
            f"worst writer stall of a {what} on a busy users table: "
            f"{num(worst)} (max over runs)",
            all(s["goal_met"] for s in judged) if judged else None,
        ))  # fmt: skip
    chain = results.get("chain")
    if chain:
        at = next((p for p in chain["points"] if p["revisions"] == CHAIN_GOAL_AT), None)
        rows.append((
            f"chain within {CHAIN_GOAL_RATIO:.0f}x of psql at {CHAIN_GOAL_AT} revisions",
            f"{at['ratio']:.2f}x" if at else f"no {CHAIN_GOAL_AT}-revision chain in this mode",
            at["ratio"] <= CHAIN_GOAL_RATIO if at else None,
        ))  # fmt: skip
        linear, why = is_linear(chain)
        rows.append(("chain cost grows linearly", why, linear))
    noop = results.get("noop")
    if noop:
        rows.append((
            f"no-op run within {NOOP_GOAL_RATIO}x of starting Python and importing the libraries",
            f"{noop['ratio']:.2f}x",
            noop["ratio"] <= NOOP_GOAL_RATIO,
        ))  # fmt: skip
    return rows


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
    parts = [
        header(results),
        machine(results["machine"]),
        goal_table(results),
    ]
    if "stall" in results:
        parts.append(stall_section(results["stall"], charts.get("stall")))
    if "chain" in results:
        parts.append(chain_section(results["chain"], results.get("noop"), charts.get("chain")))
    if "noop" in results:
        parts.append(noop_section(results["noop"]))
    if "testcost" in results:
        parts.append(testcost_section(results["testcost"]))
    parts.append(method())
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"


def header(results: dict[str, Any]) -> str:
    s = results["settings"]
    banner = (
        "\n\n> **Quick mode**: figures from a small table and few runs, to show the harness "
        "runs; they do not judge the goals. `make bench` writes the real ones."
        if s["mode"] == "quick"
        else ""
    )
    target = "bench-quick" if s["mode"] == "quick" else "bench"
    return f"""# Benchmarks{banner}

Written by `make {target}` on {results["finished"]}; do not edit by hand.
`make bench` reruns everything (about 20 minutes on 2 cores); `make bench-quick` is the
small version (under two minutes) whose figures only show that the harness runs. Every
figure is measured against its floor in the same run, on a throwaway PostgreSQL server
from the embedded package. Medians of several runs, with min to max in brackets.
Benchmarks report; they assert nothing. Raw figures:
[results.json](docs/bench/results.json)."""


def machine(m: dict[str, Any]) -> str:
    return f"""## Machine

| | |
| --- | --- |
| CPUs | {m["cpus"]} ({m["cpu_model"]}) |
| Load average when the run started | {m["loadavg"]} |
| PostgreSQL | {m["postgres"]} (embedded package, default settings, Unix socket) |
| Python | {m["python"]} |
| System | {m["system"]} |"""


def goal_table(results: dict[str, Any]) -> str:
    lines = ["## Goals", "", "| goal | measured | status |", "| --- | --- | --- |"]
    quick = " (quick mode: indicative only)" if results["settings"]["mode"] == "quick" else ""
    lines += [f"| {g} | {what} | {mark(met)}{quick} |" for g, what, met in goals(results)]
    return "\n".join(lines)


def stall_section(stall: dict[str, Any], chart: str | None) -> str:
    lines = [
        "## 1. Production stall",
        "",
        f"A `users` table of **{stall['rows']:,} rows**; pgbench writers ({stall['clients']} "
        f"connections, {stall['writer_rate']} transactions/s: update by key + insert) and readers "
        f"({stall['clients']} connections, {stall['reader_rate']}/s: select by key) run for "
        f"{stall['load_seconds']} s; the revision is applied through Alembic (the same env.py, "
        "lock and timeouts as `make upgrade REV=...`) after "
        f"{stall['revision_at']:g} s. Latency counts from "
        "each transaction's scheduled start, so time spent queued behind a lock is included. "
        "*Stall* is the longest latency of a transaction that overlapped the revision or was "
        "scheduled within 250 ms after it ended (so the queue a lock leaves behind counts, and "
        "a revision of a few milliseconds is still sampled); the baseline is the longest "
        "before it. p99 *during* covers the same transactions. *Duration* is the whole "
        "Alembic call: advisory lock, timeouts, the DDL and its commit.",
        "",
        "| revision | duration | writer stall | writer max before (baseline) | writer p99 "
        "before / during / after | reader stall | reader p99 before / during / after | "
        f"≤ {stall['goal_ms']:.0f} ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in stall["scenarios"]:
        w, r = s["writer"], s["reader"]
        goal = mark(s["goal_met"]) if "goal_met" in s else (
            "n/a (no users table before it)" if not s["applicable"] else "shown for contrast"
        )  # fmt: skip
        where = "" if s["applicable"] else " *(load on a stand-in table)*"
        lines.append(
            f"| `{s['name']}` {s['title']}{where} "
            f"| {spread(s['revision_seconds'])} | {spread(w['stall_ms'], num)} "
            f"| {spread(w['max_before_ms'], num)} | {p99s(w)} | {spread(r['stall_ms'], num)} "
            f"| {p99s(r)} | {goal} |"
        )
    lines += [
        "",
        "The first shipped revision creates `users`, so no busy `users` exists before it: it is "
        f"run against the same load on a stand-in table (`bench_other`, {stall['rows']:,} rows, "
        "same shape) to show it leaves other tables alone; the 50 ms goal does not apply. The "
        "variants are not shipped: they are written into a temporary copy of the repository; "
        "each safe form `make revision` writes on an existing table is held to the 50 ms goal, "
        "beside the plain form Alembic writes by default, shown for contrast.",
    ]
    failed = sum(
        s[who]["failed"]["max"] or 0 for s in stall["scenarios"] for who in ("writer", "reader")
    )
    if failed:
        lines += ["", f"pgbench reported {failed:.0f} failed transactions in the worst runs."]
    for s in stall["scenarios"]:
        for error in s["load_errors"]:
            lines += ["", f"Load error during `{s['name']}` (some clients stopped): `{error}`"]
    if chart:
        lines += ["", f"![Writer latency over time]({chart})"]
    return "\n".join(lines)


def p99s(side: dict[str, Any]) -> str:
    def med(key: str) -> str:
        return num(side[key]["median"], "", 1).strip()

    return f"{med('p99_before_ms')} / {med('p99_during_ms')} / {med('p99_after_ms')} ms"


def chain_section(chain: dict[str, Any], noop: dict[str, Any] | None, chart: str | None) -> str:
    lines = [
        "## 2. Chain cost against its floor",
        "",
        "From an empty database to head: `python -m dbtools upgrade` (what `make upgrade` runs: "
        "`alembic upgrade head` in a new process, advisory lock, one transaction per revision) "
        "against `psql -v ON_ERROR_STOP=1 -f` on the offline SQL of the same chain "
        "(`python -m dbtools sql`), each on a fresh database of the same server. Synthetic "
        "chains extend the shipped one with revisions that each create a small table, in a "
        "temporary copy of the repository. Both routes are checked to reach head with the same "
        "catalog.",
        "",
        "| revisions | alembic | psql (floor) | ratio | same schema |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in chain["points"]:
        shipped = " (shipped)" if p["revisions"] == chain["shipped_revisions"] else ""
        lines.append(
            f"| {p['revisions']}{shipped} | {spread(p['alembic'])} | {spread(p['psql'])} "
            f"| {p['ratio']:.2f}x | {'yes' if p['same_schema'] and p['reached_head'] else 'NO'} |"
        )
    a, q = chain["alembic_growth"], chain["psql_growth"]
    lines += [
        "",
        f"Cost per revision (slope of a least-squares line): alembic **{a['slope'] * 1000:.2f} ms**"
        f" + {a['intercept']:.2f} s fixed (r² {a['r2']:.4f}); psql **{q['slope'] * 1000:.2f} ms** "
        f"+ {q['intercept']:.2f} s fixed (r² {q['r2']:.4f}); per-revision ratio "
        f"{a['slope'] / q['slope']:.2f}x."
        if q["slope"] > 0
        else "",
        "",
        "| chain lengths | alembic per added revision | psql per added revision |",
        "| --- | --- | --- |",
    ]
    for sa, sq in zip(a["steps"], q["steps"], strict=True):
        lines.append(
            f"| {sa['from']} → {sa['to']} | {sa['per_revision'] * 1000:.2f} ms "
            f"| {sq['per_revision'] * 1000:.2f} ms |"
        )
    if noop:
        floor = noop["floor_imports"]["median"]
        lines += [
            "",
            f"What limits the ratio: alembic's fixed cost is a new Python process importing "
            f"SQLAlchemy, Alembic and psycopg2 (the no-op floor below, {ms(floor)}), which psql "
            "does not pay; it dominates short chains. The per-revision cost is the other part: "
            "Alembic loads each revision module and runs each in its own transaction with the "
            "timeouts set.",
        ]
        at = next((p for p in chain["points"] if p["revisions"] == CHAIN_GOAL_AT), None)
        if at:
            work = at["alembic"]["median"] - floor
            lines[-1] += (
                f" Without the process start and imports, alembic's {CHAIN_GOAL_AT}-revision "
                f"run would take {ms(work)}, {work / at['psql']['median']:.2f}x psql."
            )
    if chart:
        lines += ["", f"![Chain cost against number of revisions]({chart})"]
    return "\n".join(lines)


def noop_section(noop: dict[str, Any]) -> str:
    floor = noop["floor_imports"]["median"]
    rows = [
        ("`python -m dbtools upgrade` (what `make upgrade` runs)", "dbtools_upgrade"),
        ("`.venv/bin/alembic upgrade head`", "alembic_upgrade"),
        (f'floor: `python -c "{"import alembic, sqlalchemy, psycopg2, dotenv"}"`', "floor_imports"),
        ("bare interpreter: `python -c pass`", "floor_interpreter"),
        ("not a floor: the floor's imports plus `schema, dbtools.cli`", "imports_with_repo"),
    ]
    lines = [
        "## 3. The no-op run",
        "",
        "A database already at head, upgraded again: the commonest run in a deploy pipeline. "
        "Each command is a new process with the same interpreter; a discarded first run warms "
        f"the caches. The database stayed at `{noop['version_after']}` (head: `{noop['head']}`).",
        "",
        "| command | wall time | ratio to floor |",
        "| --- | --- | --- |",
    ]
    for label, key in rows:
        lines.append(f"| {label} | {spread(noop[key])} | {noop[key]['median'] / floor:.2f}x |")
    total = noop["dbtools_upgrade"]["median"]
    repo = noop["imports_with_repo"]["median"]
    lines += [
        "",
        f"Above the floor, the no-op run spends {ms(total - floor)}: {ms(repo - floor)} importing "
        "the repository's own modules (`schema` pulls in `sqlalchemy.orm` for the models, "
        "which the floor does not load), and "
        f"{ms(total - repo)} working: reading `.env`, loading the revision scripts, connecting, "
        "taking the advisory lock and reading the version table. Importing `schema` (and so "
        "`sqlalchemy.orm`) only where autogenerate needs the models would bring the no-op to "
        f"about {(total - (repo - floor)) / floor:.2f}x the floor.",
    ]
    return "\n".join(lines)


def testcost_section(tc: dict[str, Any]) -> str:
    prep, mt = tc["prepare"], tc["make_test"]
    lines = [
        "## 4. Test cost",
        "",
        "One migrated test database, from nothing to usable at head (each checked to be at head):",
        "",
        "| route | wall time |",
        "| --- | --- |",
        f"| CREATE DATABASE + `alembic upgrade head` in-process (as the migration tests do) "
        f"| {spread(prep['chain'])} |",
        f"| CREATE DATABASE ... TEMPLATE of a database at head (WAL_LOG, the default) "
        f"| {spread(prep['template_wal_log'])} |",
        "| CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY "
        f"| {spread(prep['template_file_copy'])} |",
        "| `schema.testing.clone_database` (what services' tests use; template from `schema.sql`)"
        f" | {spread(prep['schema_testing'])} |",
        "| once per server: `schema.testing.ensure_template` builds that template "
        f"| {spread(prep['schema_testing_template_build'])} |",
        "",
        f"Running the chain costs {prep['ratio']:.2f}x a template clone at this chain length.",
        "",
    ]
    if mt.get("skipped"):
        lines.append("`make test`: not run in this mode (the full `make bench` runs it).")
    else:
        status = "passed" if mt["passed"] else "FAILED in at least one run"
        lines.append(
            f"`make test` (the whole suite, starting its own server): {spread(mt, seconds)}, "
            f"{mt['n']} runs, {status} ({mt['summary']})."
        )
    return "\n".join(lines)


def seconds(value: float) -> str:
    return f"{value:,.1f} s"


def method() -> str:
    return """## How it is measured

- One throwaway PostgreSQL server (the embedded package, started by the benchmark, deleted
  afterwards); every measurement uses databases of its own on it, never the development
  server in `.pgdata` and never the repository's migrations folder.
- Wall times are of whole commands as a pipeline runs them (new process each time) unless a
  row says in-process.
- Nothing here asserts a timing. `tests/test_bench.py` runs a tiny version of the harness
  to show it still works; it checks the report's structure and the databases, not speed.
- Code: `bench/` (`stall.py`, `chain.py`, `noop.py`, `testcost.py`, `report.py`,
  `charts.py`); `python -m bench --help` lists the knobs (rows, runs, chain lengths)."""
