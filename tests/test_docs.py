"""The README and docs/ tell the truth: what they name exists, what they quote is printed.

Four checks over `README.md` and every page in `docs/`: each repository path written in
backticks exists; each `make <target>` is a target of the Makefile; each setting of the
README's table is read by the code; and each message quoted in `docs/errors.md` names a
test that exists and reads like what the code (or the test that provokes it) says.
"""

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from dbtools.core.paths import REPO_ROOT

PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
# A path is checked when it starts at the repository root (a bare `env.py` in a sentence
# about migrations/ is read in its context, not here).
_ROOTS = ("dbtools/", "migrations/", "docs/", "tests/", "schema/", "bench/", ".github/", ".ci/")
_PATH = re.compile(r"`((?:[\w.-]+/)+[\w.-]*)`")
_DOTTED = re.compile(r"`((?:dbtools|schema|bench|tests)(?:\.\w+)+)`")
_CODE = re.compile(r"`([^`\n]+)`")
_MAKE = re.compile(r"^(?:[A-Z_]+=\S* )*make (?:-\w+ )*([a-z][a-z-]*)")


def named_paths(page: Path) -> list[str]:
    text = page.read_text()
    found = [m for m in _PATH.findall(text) if "<" not in m and "*" not in m]
    return [p for p in found if p.startswith(_ROOTS)]


def exists(path: str, page: Path) -> bool:
    """A path relative to the repository root or, for links written so, to the page."""
    path = path.rstrip("/")
    return (REPO_ROOT / path).exists() or (page.parent / path).exists()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_path_a_page_names_exists(page):
    missing = [p for p in named_paths(page) if not exists(p, page)]
    assert not missing, f"{page.name} names paths that do not exist: {missing}"


def resolves(dotted: str) -> bool:
    """`dbtools.apply.run` or `schema.make_engine`: a module, or a name defined in one."""
    if (REPO_ROOT / dotted).is_file():
        return True  # `schema.sql`: a file, not a module
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        base = REPO_ROOT.joinpath(*parts[:cut])
        module = base.with_suffix(".py") if not base.is_dir() else base / "__init__.py"
        if module.exists():
            rest = parts[cut:]
            return not rest or (len(rest) == 1 and rest[0] in defined_names(module))
    return False


@cache
def defined_names(module: Path) -> set[str]:
    tree = ast.parse(module.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # `__all__` entries a module-level __getattr__ serves
    return names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_module_a_page_names_exists(page):
    dotted = [d for d in _DOTTED.findall(page.read_text()) if not d.endswith(".py")]
    missing = [d for d in dotted if not resolves(d)]
    assert not missing, f"{page.name} names modules or functions that do not exist: {missing}"


def makefile_targets() -> set[str]:
    text = (REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, re.M))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_make_target_a_page_names_exists(page):
    targets = makefile_targets()
    spans = _CODE.findall(page.read_text())
    named = {m.group(1) for span in spans if (m := _MAKE.match(span))}
    assert not named - targets, f"{page.name} names make targets that do not exist"


def settings_table() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    table = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", table, re.M)


def code_text() -> str:
    files = [*REPO_ROOT.glob("dbtools/**/*.py"), *REPO_ROOT.glob("tests/*.py")]
    return "\n".join(p.read_text() for p in files) + (REPO_ROOT / "Makefile").read_text()


def test_every_setting_the_readme_lists_is_read_by_the_code():
    names = settings_table()
    assert "DATABASE_URL" in names  # the table itself was found
    code = code_text()
    unread = [n for n in names if n not in code]
    assert not unread, f"README lists settings nothing reads: {unread}"


# -- docs/errors.md ------------------------------------------------------------------------

ERRORS = REPO_ROOT / "docs" / "errors.md"
_TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(?:\[([\w-]+)\])?")
_PARAM_REF = re.compile(r"`\.\.\.\[([\w-]+)\]`")


def error_rows() -> list[tuple[str, str, list[tuple[str, str, str | None]]]]:
    """(cause, message, [(test file, test function, parameter id)]) for each table row.

    A row whose test reads `...[id]` names another case of the test named above it.
    """
    rows = []
    previous: list[tuple[str, str, str | None]] = []
    for line in ERRORS.read_text().splitlines():
        if not line.startswith("| ") or line.startswith(("| cause", "| ---")):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        # The quote runs from `error: to the backtick before any remark in parentheses.
        message = re.search(r"`error: (.*?)`(?: \(|$)", cells[1])
        if message is None:
            continue
        refs = [(f, t, p or None) for f, t, p in _TEST_REF.findall(cells[-1])]
        if not refs and previous:  # `...[id]`: another case of the test named above
            refs = [(previous[0][0], previous[0][1], p) for p in _PARAM_REF.findall(cells[-1])]
        if refs:
            previous = refs
        if not refs and "not provoked by a test" not in cells[-1]:
            refs = [("", "", None)]  # a row that names no test: reported below
        rows.append((cells[0], message.group(1), refs))
    return rows


def strings_in(path: Path) -> list[str]:
    """Every string literal of a Python file; an f-string's literal parts joined."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.JoinedStr):
            found.append("".join(v.value for v in node.values if isinstance(v, ast.Constant)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append(node.value)
    return found


def trigrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9_]+", text.lower())
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


@cache
def code_trigrams() -> frozenset[tuple[str, ...]]:
    files = [*REPO_ROOT.glob("dbtools/**/*.py"), *REPO_ROOT.glob("schema/**/*.py")]
    return frozenset(g for f in files for s in strings_in(f) for g in trigrams(s))


def test_errors_page_has_rows():
    assert len(error_rows()) > 20


@pytest.mark.parametrize("cause,message,refs", error_rows(), ids=lambda v: None)
def test_each_quoted_error_names_a_test_that_exists(cause, message, refs):
    for file, function, param in refs:
        assert file, f"{cause!r}: name the test that provokes it, or say it is not provoked"
        source = (REPO_ROOT / file).read_text() if (REPO_ROOT / file).exists() else ""
        assert f"def {function}(" in source, f"{cause!r}: {file}::{function} does not exist"
        assert param is None or f'"{param}"' in source, f"{file} has no case {param!r}"


@pytest.mark.parametrize("cause,message,refs", error_rows(), ids=lambda v: None)
def test_each_quoted_error_reads_like_what_is_printed(cause, message, refs):
    """Most of the message's wording (runs of three words, `<...>` parts left out) is in
    the code's string literals or in the test that provokes it: a reworded message, or a
    quote of one the code no longer prints, fails here."""
    quoted = trigrams(re.sub(r"<[^>]*>", " ", message))
    known = set(code_trigrams())
    for file, _function, _param in refs:
        if file and (REPO_ROOT / file).exists():
            known |= {g for s in strings_in(REPO_ROOT / file) for g in trigrams(s)}
    unknown = sorted(" ".join(g) for g in quoted - known)
    assert len(quoted - known) <= max(3, len(quoted) / 2), f"{cause!r}: not printed: {unknown}"


_AUDIT_ROW = re.compile(
    r"^\S+ \S+ +(?:upgrade|downgrade) +([0-9a-f]{12}) +\S+ +\d+ +([0-9a-f]{12}) ", re.M
)


def test_audit_samples_in_the_docs_carry_the_checksums_of_the_files():
    """A `make audit` sample quoted in the docs shows each revision file's real checksum."""
    import hashlib

    files = {
        p.name.split("-", 1)[1].split("_", 1)[0]: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (REPO_ROOT / "migrations" / "versions").glob("*.py")
    }
    for page in PAGES:
        for revision, checksum in _AUDIT_ROW.findall(page.read_text()):
            if revision in files:
                assert files[revision].startswith(checksum), f"{page.name}: {revision}"
