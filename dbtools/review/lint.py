"""The linters `make lint` and `make check` run: ruff and import-linter on the Python,
Squawk on the SQL, actionlint on the CI workflows in `.github/workflows/`.

Each returns its findings as lines `path:line:column: message`, so both commands can
print one list. Squawk reads the SQL each revision renders now, upgrade and downgrade
(not only what was last committed, so a revision written by hand is linted before
`make generate`), with the configuration in `.squawk.toml`; downgrades leave out the
rules about dropping (`DOWNGRADE_EXCLUDED`: removing what the upgrade added is their
purpose). Each finding carries Squawk's own help text and, where dbtools/review/fixes.py
knows it, the safe form written with the statement's own names. A revision whose
fingerprint holds and that Squawk found clean under the same configuration
(dbtools/review/fingerprints.py) is not linted again.

Where the text and the observation disagree, the observation wins: a finding of a rule
about locks (`LOCK_RULES`) on a statement whose committed lock trace
(`migrations/sql/*.trace.json`, dbtools/review/trace.py) shows it took no write-blocking
lock on a table in use is overruled, and `overruled()` lists it with the reason; one the
trace confirms says so, and one whose lock the trace saw held only briefly says that.

Waivers (`op.waive_lint`, dbtools/operations/waivers.py) are applied here rather than by Squawk's
own ignore comment, which covers only the line right below it: a waiver covers one
statement, the first after it, within its revision, that breaks the waived rule and that
no other waiver of that rule covers (two waivers in a row cover two statements; one more
than there are statements waives nothing, and says so), wherever in
that statement the finding is (a column of a multi-line `CREATE TABLE`) and whatever
statements come between (the `CREATE TYPE` an enum column emits before its table).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grimp
from alembic.script import Script
from alembic.util import CommandError

from dbtools.core.chain import revisions
from dbtools.core.errors import UserError
from dbtools.core.paths import REPO_ROOT
from dbtools.operations.waivers import IGNORE_PREFIX
from dbtools.review.fingerprints import Fingerprints
from dbtools.review.fixes import safe_form
from dbtools.review.locks import blocks_writes
from dbtools.review.revision_sql import DIRECTIONS, render, sql_path
from dbtools.review.revision_trace import SUFFIX, trace_path
from dbtools.review.statements import Statement, statements
from dbtools.review.trace_gate import is_trace_rule

BIN = Path(sys.executable).parent
RENDERED_NOW = "as the revision renders now; `make generate` writes it"

# Not applied to downgrades: a downgrade exists to remove what its upgrade added.
DOWNGRADE_EXCLUDED = (
    "ban-drop-column",
    "ban-drop-table",
    "ban-drop-constraint",
    "ban-drop-not-null",
    "ban-drop-default",
    "ban-drop-type",
    "ban-drop-view",
    "ban-drop-function",
    "ban-drop-sequence",
    "ban-drop-domain",
    "ban-drop-schema",
    "ban-drop-extension",
)

# Squawk's rules about what a statement locks, scans or rewrites: the trace observes it.
LOCK_RULES = frozenset(
    {
        "require-concurrent-index-creation",
        "require-concurrent-index-deletion",
        "adding-field-with-default",
        "changing-column-type",
        "adding-not-nullable-field",
        "constraint-missing-not-valid",
        "adding-foreign-key-constraint",
        "disallowed-unique-constraint",
        "require-concurrent-reindex",
    }
)


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH: lint-imports finds the packages it checks on the path, not in the cwd.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)


@dataclass(frozen=True)
class SqlSource:
    path: str  # the committed file's path
    shown: str  # what a finding names: the path, or the path as rendered now
    text: str
    direction: str = "upgrade"
    trace: str = ""  # the revision's committed lock trace


@dataclass(frozen=True)
class Finding:
    row: int  # counted from 0, as Squawk counts
    column: int
    rule: str
    message: str
    help: str = ""  # Squawk's own help text
    fix: str = ""  # the safe form, with the statement's names
    note: str = ""  # what the lock trace says about it

    def line(self, shown: str) -> str:
        # Shifted to count from 1, as editors and ruff do.
        line = f"{shown}:{self.row + 1}:{self.column + 1}: warning: {self.rule} {self.message}"
        for label, text in (("help", self.help), ("safe form", self.fix), ("trace", self.note)):
            if text:
                line += f" [{label}: {text}]"
        return line


def sql_sources(
    scripts: list[Script] | None = None, fingerprints: Fingerprints | None = None
) -> tuple[list[SqlSource], list[str]]:
    """Each revision's SQL, both ways, as it renders now, and the committed file as well
    when it differs (a DBA reads that one); plus a line for any that cannot render.
    Files unchanged since Squawk found them clean are left out, and a committed file
    whose fingerprint holds is used as it is, without rendering."""
    fingerprints = fingerprints or Fingerprints.now()
    sources, problems = [], []
    for script in revisions() if scripts is None else scripts:
        for direction in DIRECTIONS:
            path = sql_path(script, direction)
            trace = str(trace_path(script))
            committed = REPO_ROOT / path
            if fingerprints.linted_clean(path, Path(script.path)):
                continue
            if fingerprints.holds(path, Path(script.path)):
                text = committed.read_text()
                sources.append(SqlSource(str(path), str(path), text, direction, trace))
                continue
            try:
                text = render(script, direction)
            except (UserError, CommandError) as exc:
                problems.append(f"{path}: cannot render {script.revision}: {exc}")
                continue
            if committed.exists() and committed.read_text() == text:
                sources.append(SqlSource(str(path), str(path), text, direction, trace))
                continue
            # The rendering first: the committed file's findings are compared with it.
            shown = f"{path} ({RENDERED_NOW})"
            sources.append(SqlSource(str(path), shown, text, direction, trace))
            if committed.exists():
                old = committed.read_text()
                sources.append(SqlSource(str(path), str(path), old, direction, trace))
    return sources, problems


def squawk(scripts: list[Script] | None = None) -> list[str]:
    """Squawk's findings on every revision's SQL (or those of `scripts`), waivers and
    the lock traces applied, and the waivers that waive nothing."""
    return [line for line in squawk_lines(scripts) if not line.startswith(OVERRULED)]


def overruled(scripts: list[Script] | None = None) -> list[str]:
    """The findings the lock traces overruled, each with what the trace observed."""
    return [
        line.removeprefix(OVERRULED) for line in squawk_lines(scripts) if line.startswith(OVERRULED)
    ]


OVERRULED = "overruled: "


def squawk_lines(
    scripts: list[Script] | None = None, fingerprints: Fingerprints | None = None
) -> list[str]:
    sources, lines = sql_sources(scripts, fingerprints)
    found = run_squawk(sources)
    if isinstance(found, list):
        return lines + found
    seen: set[tuple[str, str]] = set()  # (rule, statement line) found as rendered now
    for source in sources:
        findings = found.get(source.shown, [])
        text_lines = source.text.splitlines()
        if source.shown.startswith(source.path + " "):  # rendered now, not committed
            seen = {(f.rule, text_lines[f.row]) for f in findings if f.row < len(text_lines)}
        else:
            # A stale committed file: only what the fresh rendering does not already say.
            findings = [f for f in findings if (f.rule, text_lines[f.row]) not in seen]
        lines += apply_waivers(source, findings)
    return lines


def clean_files(files: list[tuple[Path, Path]], fingerprints: Fingerprints) -> set[Path]:
    """The committed SQL files among `files` (sql, revision file) in which Squawk finds
    nothing once waivers and the lock traces are applied: known from `fingerprints`, or
    linted now."""
    clean = set()
    sources = []
    for sql, revision_file in files:
        if sql.name.endswith(SUFFIX):
            continue
        if fingerprints.linted_clean(sql, revision_file):
            clean.add(sql)
            continue
        direction = "downgrade" if sql.name.endswith(".downgrade.sql") else "upgrade"
        trace = str(sql.with_name(sql.name.removesuffix(f".{direction}.sql") + SUFFIX))
        text = (REPO_ROOT / sql).read_text()
        sources.append(SqlSource(str(sql), str(sql), text, direction, trace))
    found = run_squawk(sources)
    if isinstance(found, list):  # Squawk itself failed: nothing new is known clean
        return clean
    for source in sources:
        if not [
            line
            for line in apply_waivers(source, found.get(source.shown, []))
            if not line.startswith(OVERRULED)
        ]:
            clean.add(Path(source.path))
    return clean


def run_squawk(sources: list[SqlSource]) -> dict[str, list[Finding]] | list[str]:
    """Findings per source, with every waiver comment blanked so Squawk reports all.
    One Squawk process per direction; a failure of Squawk itself is a list of lines."""
    findings: dict[str, list[Finding]] = {}
    for direction in DIRECTIONS:
        chosen = [s for s in sources if s.direction == direction]
        # --exclude replaces the configuration's excluded_rules: both are passed.
        excluded = (
            (*configured_exclusions(), *DOWNGRADE_EXCLUDED) if direction == "downgrade" else ()
        )
        found = _squawk_once(chosen, excluded)
        if isinstance(found, list):
            return found
        findings.update(found)
    return findings


def configured_exclusions() -> list[str]:
    """The rules `.squawk.toml` switches off for every file."""
    with (REPO_ROOT / ".squawk.toml").open("rb") as config:
        return list(tomllib.load(config).get("excluded_rules", []))


def _squawk_once(
    sources: list[SqlSource], excluded: tuple[str, ...]
) -> dict[str, list[Finding]] | list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        files: dict[str, str] = {}
        for index, source in enumerate(sources):
            # The committed name, so `.squawk.toml`'s path patterns apply as to the file.
            name = Path(source.path).name
            target = Path(tmp) / str(index) / name
            target.parent.mkdir()
            target.write_text(blank_waivers(source.text))
            files[str(target)] = source.shown
        if not files:
            return {}
        args = [str(BIN / "squawk"), "--config", ".squawk.toml", "--reporter", "json"]
        args += [f"--exclude={','.join(excluded)}"] if excluded else []
        done = _run([*args, *files])
    findings: dict[str, list[Finding]] = {}
    for path, finding in parse_json(done.stdout):
        if path in files:
            findings.setdefault(files[path], []).append(finding)
    errors = [f"squawk: {line}" for line in done.stderr.splitlines() if line.strip()]
    if errors or (done.returncode != 0 and not findings):
        return errors or [f"squawk exited with status {done.returncode}"]
    return findings


def parse_json(output: str) -> list[tuple[str, Finding]]:
    """Squawk's JSON reporter: a list of findings (rows and columns counted from 0)."""
    try:
        reported = json.loads(output) if output.strip() else []
    except json.JSONDecodeError:
        return []
    return [
        (
            item["file"],
            Finding(
                int(item["line"]),
                int(item["column"]),
                item["rule_name"],
                " ".join(str(item.get("message") or "").split()),
                " ".join(str(item.get("help") or "").split()),
            ),
        )
        for item in reported
    ]


def blank_waivers(text: str) -> str:
    """Squawk must see what each waiver would silence: its ignore comments go."""
    return "\n".join("--" if line.startswith(IGNORE_PREFIX) else line for line in text.splitlines())


def waivers_in(lines: list[str]) -> dict[int, list[str]]:
    """The rules each waiver comment names, by its line (counted from 0)."""
    return {
        row: [rule.strip() for rule in line.removeprefix(IGNORE_PREFIX).split(",")]
        for row, line in enumerate(lines)
        if line.startswith(IGNORE_PREFIX)
    }


def apply_waivers(source: SqlSource, findings: list[Finding]) -> list[str]:
    """The findings no waiver covers, and one line for each waiver that covers nothing."""
    lines = source.text.splitlines()
    spans = statements(lines)
    waived: set[Finding] = set()
    taken: set[tuple[str, int]] = set()  # (rule, statement's first line) a waiver covers
    unused = []
    for row, rules in sorted(waivers_in(lines).items()):
        following = statements_after(spans, row)
        for rule in rules:
            if is_trace_rule(rule):
                continue  # the lock trace's own rule: its gate applies it (trace_gate.py)
            # One statement per waiver: a second waiver of the rule covers the next
            # statement that breaks it, never the one the first already covers.
            free = [s for s in following if (rule, s.first) not in taken]
            covered = first_breaking(free, findings, rule)
            if covered is None:
                unused.append(unused_waiver(source.shown, row, rule, following))
                continue
            taken.add((rule, covered.first))
            waived |= {f for f in findings if f.rule == rule and covered.holds(f.row)}
    kept = sorted((f for f in findings if f not in waived), key=lambda f: (f.row, f.column))
    verdicts = TraceVerdicts(source)
    out = []
    for finding in kept:
        span = next((s for s in spans if s.holds(finding.row)), None)
        sql = " ".join(lines[span.first : span.last + 1]) if span else ""
        finding = replace(finding, fix=safe_form(finding.rule, sql) or "") if sql else finding
        verdict = verdicts.judge(finding, sql)
        if verdict is None:
            out.append(finding.line(source.shown))
        elif verdict.startswith(OVERRULED):
            out.append(
                OVERRULED
                + replace(finding, note=verdict.removeprefix(OVERRULED)).line(source.shown)
            )
        else:
            out.append(replace(finding, note=verdict).line(source.shown))
    return out + unused


class TraceVerdicts:
    """What the source's committed lock trace says about each statement of a direction."""

    def __init__(self, source: SqlSource) -> None:
        # Normalised SQL: whether the gate flags it, and its write-blocking locks on
        # tables in use (held briefly, when the gate does not flag it).
        self.statements: dict[str, tuple[bool, list[str]]] = {}
        path = REPO_ROOT / source.trace if source.trace else None
        if path is None or not path.exists():
            return
        try:
            direction = json.loads(path.read_text())[source.direction]
        except (json.JSONDecodeError, KeyError):
            return
        flagged = {f["statement"] for f in direction.get("findings", []) if f["rule"] != "unused"}
        in_use = set(direction.get("tables_in_use", []))
        for number, statement in enumerate(direction.get("statements", []), start=1):
            blocking = [
                f"{lock['mode']} on {lock['relation']}"
                for lock in statement["locks"]
                if lock["relation"] in in_use and blocks_writes(lock["mode"])
            ]
            self.statements[_normalised(statement["sql"])] = (number in flagged, blocking)

    def judge(self, finding: Finding, sql: str) -> str | None:
        """None: the trace has nothing to say; else the note (overruled ones prefixed)."""
        if finding.rule not in LOCK_RULES:
            return None
        seen = self.statements.get(_normalised(sql))
        if seen is None:
            return None
        flagged, blocking = seen
        if flagged:
            return "the lock trace agrees"
        if blocking:  # brief, but services wait for it: the text's warning stands
            return f"the lock trace saw {', '.join(blocking)}, held briefly (no scan or rewrite)"
        return (
            f"{OVERRULED}the lock trace observed no write-blocking lock on a table in use: "
            "the trace wins"
        )


def lock_rules_flagging(sql: str) -> list[str]:
    """Squawk's rules about locks that flag this one statement (for a trace finding to
    say whether the text showed it too)."""
    found = run_squawk([SqlSource("statement.upgrade.sql", "statement", sql.rstrip(";") + ";\n")])
    if isinstance(found, list):
        return []
    return sorted({f.rule for f in found.get("statement", []) if f.rule in LOCK_RULES})


def _normalised(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";").strip()


def statements_after(spans: list[Statement], row: int) -> list[Statement]:
    """The statements after a waiver, up to the end of its revision's steps."""
    following = []
    for span in spans:
        if span.first <= row:
            continue
        if span.records_the_version:
            break
        following.append(span)
    return following


def first_breaking(
    following: list[Statement], findings: list[Finding], rule: str
) -> Statement | None:
    for span in following:
        if any(f.rule == rule and span.holds(f.row) for f in findings):
            return span
    return None


def unused_waiver(shown: str, row: int, rule: str, following: list[Statement]) -> str:
    # Named by the statement below it, which is what the author sees in the revision.
    below = next((s.opening for s in following if not s.opening.startswith("SET ")), None)
    sits_on = f"`{below}`" if below else "the end of the revision"
    return (
        f"{shown}:{row + 1}: waiver of {rule} waives nothing: no statement after it in its "
        f"revision breaks that rule (it sits on {sits_on}); remove that op.waive_lint(...) "
        "or move it before the statement it is meant for"
    )


def ruff() -> list[str]:
    """Ruff's lint findings and the files its formatter would change, each with its
    file and line."""
    ruff_bin = str(BIN / "ruff")
    checked = _run([ruff_bin, "check", "--output-format", "concise", "--quiet", "."])
    formatted = _run([ruff_bin, "format", "--check", "--output-format", "concise", "."])
    findings = [line for line in checked.stdout.splitlines() if line.strip()]
    findings += [
        f"{path}: not formatted (run `make format`)"
        for path in unformatted(formatted.stdout.splitlines())
    ]
    for done in (checked, formatted):
        if done.returncode != 0 and not findings:
            findings.append(f"ruff: {done.stderr.strip() or 'exit status ' + str(done.returncode)}")
    return findings


def unformatted(lines: list[str]) -> list[str]:
    """`path:1:1: unformatted: File would be reformatted` (concise), `Would reformat:
    path` (older ruff), or `unformatted: ... --> path:1:1` (newer full output)."""
    paths = []
    for line in lines:
        if ": unformatted: " in line:
            paths.append(line.split(": unformatted: ", 1)[0])
        elif line.startswith("Would reformat: "):
            paths.append(line.removeprefix("Would reformat: ") + ":1:1")
        elif line.strip().startswith("--> "):
            paths.append(line.strip().removeprefix("--> "))
    return paths


WORKFLOWS = Path(".github/workflows")


def actionlint() -> list[str]:
    """actionlint's findings on the GitHub workflows, `path:line:col: message` each."""
    workflows = sorted(
        str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / WORKFLOWS).glob("*.y*ml")
    )
    if not workflows:
        return []
    done = _run([str(BIN / "actionlint"), "-no-color", "-oneline", *workflows])
    found = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 and not found:
        found.append(f"actionlint: {done.stderr.strip() or 'exit status ' + str(done.returncode)}")
    return found


def layers() -> list[str]:
    """Broken import-linter contracts (pyproject.toml): layering and cycles of dbtools/."""
    done = _run([str(BIN / "lint-imports"), "--no-cache"])
    if done.returncode == 0:
        return []
    report = done.stdout.partition("Broken contracts")[2]
    # Each offending chain of imports is a "- a -> b (l.3)" line, continued by indented
    # lines; its last link is the import that breaks the contract.
    last_links: list[str] = []
    for line in report.splitlines():
        if line.startswith("- "):
            last_links.append(line[2:].strip())
        elif last_links and line.startswith("    ") and " -> " in line:
            last_links[-1] = line.strip()
    found = sorted({_located(link) for link in last_links if _IMPORT.match(link)})
    found += _cycles(report)
    return found or [f"lint-imports: {(done.stdout + done.stderr).strip().splitlines()[-1]}"]


def _cycles(report: str) -> list[str]:
    """Every import that takes part in a cycle between sibling modules, with its file and
    line (import-linter's own report stops after five per package: "(and 7 more)").
    Imports under `if TYPE_CHECKING:` never run and are left out, as the contract does."""
    if "No cycles are allowed in" not in report:
        return []
    roots = ["dbtools", "schema", "bench"]
    graph = grimp.build_graph(*roots, exclude_type_checking_imports=True, cache_dir=None)
    found = []
    for package in sorted(p for root in roots for p in {root, *graph.find_descendants(root)}):
        for importer, imported in sibling_cycle_edges(graph, package):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                path = Path(*detail["importer"].split("."))
                path = (
                    path.with_suffix(".py")
                    if (REPO_ROOT / path.with_suffix(".py")).exists()
                    else path / "__init__.py"
                )
                found.append(
                    f"{path}:{detail['line_number']}: imports {detail['imported']}, which "
                    "makes a cycle (an import needed only for type hints goes under "
                    "`if TYPE_CHECKING:`)"
                )
    return sorted(set(found))


def module_path(module: str) -> Path:
    path = Path(*module.split("."))
    return path.with_suffix(".py") if (REPO_ROOT / f"{path}.py").exists() else path / "__init__.py"


def sibling_cycle_edges(graph: Any, package: str) -> list[tuple[str, str]]:
    """The imports between children of `package` that lie on a cycle of children."""
    children = sorted(graph.find_children(package))
    members = {c: {c, *graph.find_descendants(c)} for c in children}
    owner = {m: c for c, ms in members.items() for m in ms}
    edges: dict[str, set[str]] = {c: set() for c in children}
    imports = []
    for child, modules in members.items():
        for module in modules:
            for imported in graph.find_modules_directly_imported_by(module):
                target = owner.get(imported)
                if target is not None and target != child:
                    edges[child].add(target)
                    imports.append((module, imported, child, target))
    return [(m, i) for m, i, a, b in imports if reaches(edges, b, a)]


def reaches(edges: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, ()))
    return False


_IMPORT = re.compile(r"^([\w.]+) -> ([\w.]+) \(l\.(\d+)")


def _located(link: str) -> str:
    """`dbtools.core.x -> dbtools.cli (l.3)` as `dbtools/core/x.py:3: imports dbtools.cli`."""
    importer, imported, lineno = _IMPORT.match(link).groups()  # type: ignore[union-attr]
    path = Path(*importer.split(".")).with_suffix(".py")
    if not (REPO_ROOT / path).exists():
        path = Path(*importer.split("."), "__init__.py")
    return (
        f"{path}:{lineno}: imports {imported}, which breaks the layering or makes a cycle "
        "(docs/architecture.md shows the layers)"
    )
