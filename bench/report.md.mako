<%doc>
  BENCHMARKS.md: the prose of the report. Section headings are written ${H2} (two hashes):
  in a Mako template a line that starts with two hashes is a comment. bench/report.py hands in `r` (the raw figures of
  one run), `charts` (relative links to the PNGs) and the formatting helpers; everything a
  reader sees is written here, in Markdown.
</%doc>\
<% s = r["settings"] %>\
# Benchmarks
% if s["mode"] == "quick":

> **Quick mode**: figures from a small table and few runs, to show the harness runs; they do not judge the goals. `make bench` writes the real ones.
% endif

Written by `make ${"bench-quick" if s["mode"] == "quick" else "bench"}` on ${r["finished"]}; do not edit by hand.
% if r.get("kept"):
This run measured ${", ".join(s["only"])}; the other figures (${", ".join(r["kept"])}) are kept from the run of ${", ".join(sorted({r["measured_at"][k] for k in r["kept"]}))} (`python -m bench --only ... --keep docs/bench/results.json`), each with the load it was measured at.
% endif
This run took ${minutes(r)} on ${r["machine"]["cpus"]} cores. `make bench` reruns everything; `make bench-quick` is the
small version (under two minutes) whose figures only show that the harness runs. Every
figure is measured against its floor in the same run, on a throwaway PostgreSQL server
from the embedded package. Medians of several runs, with min to max in brackets.
Benchmarks report; they assert nothing. Raw figures:
[results.json](docs/bench/results.json).

${H2} Machine

| | |
| --- | --- |
<% m = r["machine"] %>\
| CPUs | ${m["cpus"]} (${m["cpu_model"]}) |
| Load average when the run started | ${m["loadavg"]} |
| PostgreSQL | ${m["postgres"]} (embedded package, default settings, Unix socket) |
| Python | ${m["python"]} |
| System | ${m["system"]} |

${H2} Goals

| goal | measured | status | load average (1 / 5 / 15 min) as it started |
| --- | --- | --- | --- |
% for goal, what, met, load in goals:
| ${goal} | ${what} | ${mark(met)}${" (quick mode: indicative only)" if s["mode"] == "quick" else ""} | ${load} |
% endfor
% if "stall" in r:
<% st = r["stall"] %>

${H2} 1. Production stall

Each revision is measured against a busy table of its own: the tables it touches, found from what PostgreSQL reports (the relations its statements lock, on a scratch database at the revision before it, read from `pg_locks` before that transaction is rolled back), each filled with **${f"{st['rows']:,}"} rows** generated from its catalog (named in each row below); pgbench writers (${st["clients"]} connections, ${st["writer_rate"]} transactions/s: update by key + insert) and readers (${st["clients"]} connections, ${st["reader_rate"]}/s: select by key) run for ${st["load_seconds"]} s; the revision is applied through Alembic (the same env.py, lock and timeouts as `make upgrade REV=...`) after ${f"{st['revision_at']:g}"} s. Latency counts from each transaction's scheduled start, so time spent queued behind a lock is included. *Stall* is the longest latency of a transaction that overlapped the revision or was scheduled within 250 ms after it ended (so the queue a lock leaves behind counts, and a revision of a few milliseconds is still sampled); the baseline is the longest before it. p99 *during* covers the same transactions. *Duration* is the whole Alembic call: advisory lock, timeouts, the DDL and its commit. The last column is what the revision's observed lock trace (`dbtools/review/trace.py`, the same one `make check` gates on) says of its upgrade, and whether the measured writer stall agrees (blocks writes ⇔ a writer stall over ${f"{st['goal_ms']:.0f}"} ms).

| revision | duration | writer stall | writer max before (baseline) | writer p99 before / during / after | reader stall | reader p99 before / during / after | ≤ ${f"{st['goal_ms']:.0f}"} ms | lock trace (and whether the stall agrees) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
% for row in stall_rows:
| ${row} |
% endfor

A revision that touches no table that existed before it (the first one creates its tables) has nothing busy to stall: it is run against the same load on a stand-in table (`bench_other`, ${f"{st['rows']:,}"} rows) to show it leaves other tables alone; the 50 ms goal does not apply. The variants are not shipped: they are written into a temporary copy of the repository, on a table of the benchmark's own that a revision after the head creates; each safe form `make revision` writes on an existing table is held to the 50 ms goal, beside the plain form Alembic writes by default, shown for contrast.
% for miss in st.get("not_measured", []):

**Not measured:** `${miss["name"]}`: ${miss["reason"]} (no busy table could be made for it, so no figure is claimed).
% endfor
% if stall_failed:

pgbench reported ${f"{stall_failed:.0f}"} failed transactions in the worst runs.
% endif
% for name, error in stall_errors:

Load error during `${name}` (some clients stopped): `${error}`
% endfor
% if "stall" in charts:

![Writer latency over time](${charts["stall"]})
% endif
% endif
% if "chain" in r:
<% ch = r["chain"]; a = ch["alembic_growth"]; q = ch["psql_growth"] %>

${H2} 2. Chain cost against its floor

From an empty database to head: `python -m dbtools upgrade` (what `make upgrade` runs: `alembic upgrade head` in a new process, advisory lock, one transaction per revision) against `psql -v ON_ERROR_STOP=1 -f` on the offline SQL of the same chain (`python -m dbtools sql`), each on a fresh database of the same server. Synthetic chains extend the shipped one with revisions that each create a small table, in a temporary copy of the repository. Both routes are checked to reach head with the same catalog.

| revisions | alembic | psql (floor) | ratio | same schema |
| --- | --- | --- | --- | --- |
% for p in ch["points"]:
| ${p["revisions"]}${" (shipped)" if p["revisions"] == ch["shipped_revisions"] else ""} | ${spread(p["alembic"])} | ${spread(p["psql"])} | ${f"{p['ratio']:.2f}"}x | ${"yes" if p["same_schema"] and p["reached_head"] else "NO"} |
% endfor
% if q["slope"] > 0:

Cost per revision (slope of a least-squares line): alembic **${f"{a['slope'] * 1000:.2f}"} ms** + ${f"{a['intercept']:.2f}"} s fixed (r² ${f"{a['r2']:.4f}"}); psql **${f"{q['slope'] * 1000:.2f}"} ms** + ${f"{q['intercept']:.2f}"} s fixed (r² ${f"{q['r2']:.4f}"}); per-revision ratio ${f"{a['slope'] / q['slope']:.2f}"}x.
% endif

| chain lengths | alembic per added revision | psql per added revision |
| --- | --- | --- |
% for sa, sq in zip(a["steps"], q["steps"]):
| ${sa["from"]} → ${sa["to"]} | ${f"{sa['per_revision'] * 1000:.2f}"} ms | ${f"{sq['per_revision'] * 1000:.2f}"} ms |
% endfor
% if "noop" in r:

What limits the ratio: alembic's fixed cost is a new Python process importing SQLAlchemy, Alembic and psycopg2 (the no-op floor below, ${ms(r["noop"]["floor_imports"]["median"])}), which psql does not pay; it dominates short chains. The per-revision cost is the other part: Alembic loads each revision module and runs each in its own transaction with the timeouts set, and writes the version row and the log row.${chain_without_floor}
% endif
% if "chain" in charts:

![Chain cost against number of revisions](${charts["chain"]})
% endif
% endif
% if "noop" in r:
<% n = r["noop"]; floor = n["floor_imports"]["median"] %>

${H2} 3. The no-op run

A database already at head, upgraded again: the commonest run in a deploy pipeline. Each command is a new process with the same interpreter; a discarded first run warms the caches. The database stayed at `${n["version_after"]}` (head: `${n["head"]}`).

| command | wall time | ratio to floor |
| --- | --- | --- |
% for label, key in noop_rows:
| ${label} | ${spread(n[key])} | ${f"{n[key]['median'] / floor:.2f}"}x |
% endfor

Above the floor, the no-op run spends ${ms(n["dbtools_upgrade"]["median"] - floor)}: ${ms(n["imports_with_repo"]["median"] - floor)} importing the repository's own modules (the command line and the apply job; `schema` loads its models, and so `sqlalchemy.orm`, only where autogenerate needs them, and a run that only applies revisions hands Alembic no models), and ${ms(n["dbtools_upgrade"]["median"] - n["imports_with_repo"]["median"])} working: reading `.env`, checking that every revision file loads before anything runs (Alembic then loads them again), connecting, taking the advisory lock, checking who owns the bookkeeping and reading the version table. That work, a fixed number of round trips and file loads, is what keeps the ratio above the goal.
% endif
% if "testcost" in r:
<% prep = r["testcost"]["prepare"]; mt = r["testcost"]["make_test"] %>

${H2} 4. Test cost

One migrated test database, from nothing to usable at head (each checked to be at head):

| route | wall time |
| --- | --- |
| CREATE DATABASE + `alembic upgrade head` in-process (as the migration tests do) | ${spread(prep["chain"])} |
| CREATE DATABASE ... TEMPLATE of a database at head (WAL_LOG, the default) | ${spread(prep["template_wal_log"])} |
| CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY | ${spread(prep["template_file_copy"])} |
| `schema.testing.clone_database` (what services' tests use; template from `schema.sql`) | ${spread(prep["schema_testing"])} |
| once per server: `schema.testing.ensure_template` builds that template | ${spread(prep["schema_testing_template_build"])} |

Running the chain costs ${f"{prep['ratio']:.2f}"}x a template clone at this chain length.

% if mt.get("skipped"):
`make test`: not run in this mode (the full `make bench` runs it).
% else:
`make test` (the whole suite in parallel, a worker per core, each starting its own server): ${spread(mt, seconds)}, ${mt["n"]} runs, ${"passed" if mt["passed"] else "FAILED in at least one run"} (${mt["summary"]}).
% endif
% endif
% if "verify" in r:
<% v = r["verify"] %>

${H2} 5. Verify

`make verify` on a database at head (it stayed at `${v["version"]}`; head: `${v["head"]}`), against a plain `pg_dump --schema-only` of the same database. The first verify of a revision applies the chain once to a template database on the scratch server (dropped before each of these runs); a repeated one reads the two catalogs and compares them.

| command | wall time | ratio to pg_dump |
| --- | --- | --- |
| `pg_dump --schema-only` of the same database (floor) | ${spread(v["pg_dump"])} | 1.00x |
| first `python -m dbtools verify` (builds the template) | ${spread(v["first"])} | ${f"{v['first_ratio']:.2f}"}x |
| repeated `python -m dbtools verify` (answered from the cache) | ${spread(v["repeated"])} | ${f"{v['repeated_ratio']:.2f}"}x |
| repeated verify in-process (no interpreter start) | ${spread(v["repeated_in_process"])} | ${f"{v['repeated_in_process_ratio']:.2f}"}x |

A repeated verify answers from the cache of the expected catalog the first one wrote (`.cache/verify/`, docs/verifying.md): ${"it did" if v.get("repeated_cached") else "it did NOT (the cache had no entry: the row measures the full path)"}; it reads the live catalog over psycopg2 alone, loading neither SQLAlchemy nor Alembic, so its whole-command time is mostly the interpreter starting. The in-process row is the full path's comparison without that start: connecting twice, reading two catalogs, comparing.
% endif
% if "history" in r:
<% h = r["history"] %>

${H2} 6. History cost

The same repository in its second year: a copy of its files as they are, and a copy grown by synthetic released revisions (each creates a small table in a schema of its own, `bench_history`, which the models do not use, so the grown copy has no drift; their committed SQL written by `make generate`, then marked released by `make release` and committed, as a team's released history is), timed one after the other in this run. Each `make check` figure is the median of its runs; the first run on a server also builds the kept database of the released chain (docs/reviewing.md), so it is shown apart.${(" The suite was limited to `" + h["test_selection"] + "` in this mode: the `make test` figure only shows the harness runs.") if h["test_selection"] else ""}

| command | shipped chain | grown | ratio | first run, shipped / grown | passed | load average before / after |
| --- | --- | --- | --- | --- | --- | --- |
% for target in ("test", "check"):
<% f = h[target] %>\
| `make ${target}` (${f["revisions"]} → ${f["revisions"] + f["extra_revisions"]} revisions) | ${spread(f["shipped"], seconds)} | ${spread(f["grown"], seconds)} | ${f"{f['ratio']:.2f}"}x | ${seconds(f["shipped"]["samples"][0])} / ${seconds(f["grown"]["samples"][0])} | ${"yes" if f["shipped"]["passed"] and f["grown"]["passed"] else "NO: " + (f["grown"]["last_line"] if not f["grown"]["passed"] else f["shipped"]["last_line"])} | ${" / ".join(f"{x:.2f}" for x in f["loadavg"])} → ${" / ".join(f"{x:.2f}" for x in f["loadavg_after"])} |
% endfor
% endif

${H2} How it is measured

- One throwaway PostgreSQL server (the embedded package, started by the benchmark, deleted
  afterwards); every measurement uses databases of its own on it, never the development
  server in `.pgdata` and never the repository's migrations folder.
- Wall times are of whole commands as a pipeline runs them (new process each time) unless a
  row says in-process. Each command keeps Python's bytecode cache, as in a user's shell: a
  discarded first run writes it (a shell that sets `PYTHONDONTWRITEBYTECODE`, as this
  machine's does, would make every timed run compile the repository's modules and revision
  files from source, while the floors' libraries keep the bytecode pip wrote).
- Nothing here asserts a timing. `tests/test_bench.py` runs a tiny version of the harness
  to show it still works; it checks the report's structure and the databases, not speed.
- Code: `bench/` (`stall.py` with `touched.py` and `load.py`, `chain.py`, `noop.py`, `testcost.py`, `verify.py`, `history.py`,
  `report.py` with its template `report.md.mako`, `charts.py`); `python -m bench --help`
  lists the knobs (rows, runs, chain lengths).
