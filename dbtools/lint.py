"""The linters `make lint` and `make check` run: ruff on the Python, Squawk on the SQL.

Each returns its findings as lines `path:line:column: message`, so both commands can
print one list. Squawk reads the committed per-revision SQL (`make generate` writes it)
with the configuration in `.squawk.toml`.
"""

import subprocess
import sys
from pathlib import Path

from dbtools.config import REPO_ROOT
from dbtools.revision_sql import SQL_DIR
from dbtools.waivers import IGNORE_PREFIX

BIN = Path(sys.executable).parent


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, check=False)


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
