"""The linters `make lint` and `make check` run: ruff and import-linter on the Python,
Squawk on the SQL.

Each returns its findings as lines `path:line:column: message`, so both commands can
print one list. Squawk reads the SQL each revision renders now (not only what was last
committed, so a revision written by hand is linted before `make generate`), with the
configuration in `.squawk.toml`.

Waivers (`op.waive_lint`, dbtools/operations/waivers.py) are applied here rather than by Squawk's
own ignore comment, which covers only the line right below it: a waiver covers the
first statement after it, within its revision, that breaks the waived rule, wherever in
that statement the finding is (a column of a multi-line `CREATE TABLE`) and whatever
statements come between (the `CREATE TYPE` an enum column emits before its table).
"""

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grimp
from alembic.util import CommandError

from dbtools.core.chain import revisions
from dbtools.core.errors import UserError
from dbtools.core.paths import REPO_ROOT
from dbtools.operations.waivers import IGNORE_PREFIX
from dbtools.review.revision_sql import render, sql_path
from dbtools.review.statements import Statement, statements

BIN = Path(sys.executable).parent
RENDERED_NOW = "as the revision renders now; `make generate` writes it"


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH: lint-imports finds the packages it checks on the path, not in the cwd.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)


@dataclass(frozen=True)
class SqlSource:
    path: str  # the committed file's path
    shown: str  # what a finding names: the path, or the path as rendered now
    text: str


@dataclass(frozen=True)
class Finding:
    row: int  # counted from 0, as Squawk counts
    column: int
    rule: str
    message: str

    def line(self, shown: str) -> str:
        # Shifted to count from 1, as editors and ruff do.
        return f"{shown}:{self.row + 1}:{self.column + 1}: warning: {self.rule} {self.message}"


def sql_sources() -> tuple[list[SqlSource], list[str]]:
    """Each revision's upgrade SQL as it renders now, and the committed file as well
    when it differs (a DBA reads that one); plus a line for any that cannot render."""
    sources, problems = [], []
    for script in revisions():
        path = sql_path(script, "upgrade")
        try:
            text = render(script, "upgrade")
        except (UserError, CommandError) as exc:
            problems.append(f"{path}: cannot render {script.revision}: {exc}")
            continue
        committed = REPO_ROOT / path
        if committed.exists() and committed.read_text() == text:
            sources.append(SqlSource(str(path), str(path), text))
            continue
        # The rendering first: the committed file's findings are compared with it.
        sources.append(SqlSource(str(path), f"{path} ({RENDERED_NOW})", text))
        if committed.exists():
            sources.append(SqlSource(str(path), str(path), committed.read_text()))
    return sources, problems


def squawk() -> list[str]:
    """Squawk's findings on every revision's upgrade SQL, waivers applied, and the
    waivers that waive nothing."""
    sources, lines = sql_sources()
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


def run_squawk(sources: list[SqlSource]) -> dict[str, list[Finding]] | list[str]:
    """Findings per source, with every waiver comment blanked so Squawk reports all.
    One Squawk process for all files; a failure of Squawk itself is a list of lines."""
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
        done = _run([str(BIN / "squawk"), "--config", ".squawk.toml", "--reporter", "gcc", *files])
    findings: dict[str, list[Finding]] = {}
    for line in done.stdout.splitlines():
        path, finding = parse_gcc(line)
        if finding is not None and path in files:
            findings.setdefault(files[path], []).append(finding)
    errors = [f"squawk: {line}" for line in done.stderr.splitlines() if line.strip()]
    if errors or (done.returncode != 0 and not findings):
        return errors or [f"squawk exited with status {done.returncode}"]
    return findings


def blank_waivers(text: str) -> str:
    """Squawk must see what each waiver would silence: its ignore comments go."""
    return "\n".join("--" if line.startswith(IGNORE_PREFIX) else line for line in text.splitlines())


def parse_gcc(line: str) -> tuple[str, Finding | None]:
    """`path:row:col: warning: rule message` (Squawk's gcc reporter, counted from 0)."""
    parts = line.split(":", 3)
    if len(parts) != 4 or not (parts[1].isdigit() and parts[2].isdigit()):
        return "", None
    path, row, column, rest = parts
    words = rest.strip().removeprefix("warning:").strip().split(" ", 1)
    message = words[1] if len(words) > 1 else ""
    return path, Finding(int(row), int(column), words[0], message)


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
    unused = []
    for row, rules in sorted(waivers_in(lines).items()):
        following = statements_after(spans, row)
        for rule in rules:
            covered = first_breaking(following, findings, rule)
            if covered is None:
                unused.append(unused_waiver(source.shown, row, rule, following))
                continue
            waived |= {f for f in findings if f.rule == rule and covered.holds(f.row)}
    kept = sorted((f for f in findings if f not in waived), key=lambda f: (f.row, f.column))
    return [f.line(source.shown) for f in kept] + unused


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
