"""The linters `make lint` and `make check` run: ruff on the Python, Squawk on the SQL.

Each returns its findings as lines `path:line:column: message`, so both commands can
print one list. Squawk reads the committed per-revision SQL (`make generate` writes it)
with the configuration in `.squawk.toml`.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

from dbtools.core.paths import REPO_ROOT
from dbtools.operations.waivers import IGNORE_PREFIX
from dbtools.review.revision_sql import SQL_DIR

BIN = Path(sys.executable).parent


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH: lint-imports finds the packages it checks on the path, not in the cwd.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)


def squawk() -> list[str]:
    """Squawk's findings on the rendered SQL, one `file:line:col: warning: rule ...` each.

    Squawk counts lines and columns from 0; they are shifted to count from 1, as editors
    and ruff do.
    """
    done = _run(
        [
            str(BIN / "squawk"),
            "--config",
            ".squawk.toml",
            "--reporter",
            "gcc",
            "--no-error-on-unmatched-pattern",
            f"{SQL_DIR}/*.sql",
        ]
    )
    findings = [_one_based(line) for line in done.stdout.splitlines() if ": warning: " in line]
    findings += [f"squawk: {line}" for line in done.stderr.splitlines() if line.strip()]
    if done.returncode != 0 and not findings:
        findings.append(f"squawk exited with status {done.returncode}")
    for path in sorted((REPO_ROOT / SQL_DIR).glob("*.upgrade.sql")):
        findings += unused_waivers(path.relative_to(REPO_ROOT))
    return findings


def unused_waivers(path: Path) -> list[str]:
    """Waivers whose next statement does not break the waived rule.

    Squawk itself only reports ignore comments naming unknown rules. Linting the file
    again with its ignore comments blanked shows what each one really silences.
    """
    lines = (REPO_ROOT / path).read_text().splitlines()
    waivers = {
        row: [rule.strip() for rule in line.removeprefix(IGNORE_PREFIX).split(",")]
        for row, line in enumerate(lines)
        if line.startswith(IGNORE_PREFIX)
    }
    if not waivers:
        return []
    blanked = "\n".join("--" if row in waivers else line for row, line in enumerate(lines))
    done = subprocess.run(
        [
            str(BIN / "squawk"),
            "--config",
            ".squawk.toml",
            "--reporter=gcc",
            f"--stdin-filepath={path}",
        ],
        cwd=REPO_ROOT,
        input=blanked + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    fired = set()
    for line in done.stdout.splitlines():
        parts = line.split(":", 4)
        if len(parts) == 5 and parts[1].isdigit():
            fired.add((int(parts[1]), parts[4].split()[0]))  # row counted from 0
    return [
        f"{path}:{row + 1}: waiver of {rule} waives nothing (the next statement does not "
        "break it): remove that op.waive_lint(...) from the revision"
        for row, rules in sorted(waivers.items())
        for rule in rules
        if (row + 1, rule) not in fired
    ]


def _one_based(line: str) -> str:
    path, row, column, rest = line.split(":", 3)
    if not (row.isdigit() and column.isdigit()):
        return line
    return f"{path}:{int(row) + 1}:{int(column) + 1}:{rest}"


def ruff() -> list[str]:
    """Ruff's lint findings and the files its formatter would change."""
    ruff_bin = str(BIN / "ruff")
    checked = _run([ruff_bin, "check", "--output-format", "concise", "--quiet", "."])
    formatted = _run([ruff_bin, "format", "--check", "."])
    findings = [line for line in checked.stdout.splitlines() if line.strip()]
    findings += [
        f"{line.removeprefix('Would reformat: ')}: not formatted (run `.venv/bin/ruff format .`)"
        for line in formatted.stdout.splitlines()
        if line.startswith("Would reformat")
    ]
    for done in (checked, formatted):
        if done.returncode != 0 and not findings:
            findings.append(f"ruff: {done.stderr.strip() or 'exit status ' + str(done.returncode)}")
    return findings


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
    return found or [f"lint-imports: {(done.stdout + done.stderr).strip().splitlines()[-1]}"]


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
