"""`make squash TO=<revision>`: fold the released revisions up to TO into one baseline.

The baseline is an ordinary Alembic revision that keeps TO's revision id and has no
parent (`down_revision = None`), so every database at TO or later simply continues: its
`alembic_version` names a revision this checkout still has, and nothing runs again. Its
upgrade is the schema the replaced chain builds on an empty database, as `pg_dump` writes
it from a scratch database migrated to TO (statement by statement, split by PostgreSQL's
own parser); its downgrade is what `pg_dump --clean` drops. Before anything is kept, both
routes are built on scratch databases and their catalogs compared (`dbtools.core.catalog`):
a baseline that would build anything else is refused and the files are restored.

The baseline records what it replaces (`replaces`: revision id -> the SHA-256 of each
file it was released as) and the commit that still has those files (`squashed_from`), so the
migration log's checksums stay consistent (`dbtools.apply.audit`) and a database at a
replaced revision is told, in one line, to upgrade to TO with that commit first
(`dbtools.apply.checkout`).

"Released": TO is in the chain, the chain up to it is one line, every file it folds is
committed in git, unchanged since, and, where the repository keeps the release marker
(`migrations/RELEASED`), listed in it. The squash rewrites the marker: the folded lines go
except TO's (the files databases at TO ran stay accepted), and the baseline is released.
"""

import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pglast
from alembic import command
from alembic.script import Script, ScriptDirectory
from pglast import ast
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from dbtools import devserver
from dbtools.apply.audit import checksum
from dbtools.core import catalog, libpq, settings
from dbtools.core.bookkeeping import LOG_SCHEMA, bookkeeping
from dbtools.core.chain import script_directory
from dbtools.core.errors import UserError
from dbtools.core.options import RunOptions, run_config
from dbtools.core.paths import REPO_ROOT, VERSIONS
from dbtools.core.scratch import scratch_database
from dbtools.core.settings import DEFAULT_LOCK_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT, Timeouts
from dbtools.review import lint
from dbtools.review.check import generate_artefacts

BASELINE_SLUG = "baseline"
MARKER = Path("migrations/RELEASED")  # the release marker, where the repository keeps one
LINE_LENGTH = 100  # pyproject.toml's ruff line-length
LONG_LINES = "# The statements below are pg_dump's, verbatim, however long their lines are."
WAIVER_REASON = (
    "a baseline builds an empty database from released, reviewed revisions: no table "
    "exists before it and no client uses one yet"
)
# SQLAlchemy's own pattern for a bind parameter in `text()` (sqlalchemy.sql.elements).
_BIND = re.compile(r"(?<![:\w\x5c]):(\w+)(?!:)")


@dataclass(frozen=True)
class Squashed:
    """What a squash did: the baseline written, the files it replaced."""

    target: str
    baseline: Path
    replaced: list[str]
    commit: str
    written: list[Path]  # the generated artefacts rewritten or removed


def summary(done: Squashed) -> str:
    """What `make squash` prints."""
    return (
        f"squashed {len(done.replaced)} revisions into {done.baseline} (revision "
        f"{done.target}, catalog compared with the chain it replaces); databases at "
        f"{done.target} or later upgrade on from it; {len(done.written)} generated file(s) "
        "rewritten: review and commit them"
    )


def squash(env: settings.Env, to: str) -> Squashed:
    """Fold the released revisions up to `to` into one baseline revision; return what was done."""
    if not to:
        raise UserError("make squash needs TO=<revision>: the last released revision to fold")
    script = script_directory()
    chain = released_chain(script, to)
    commit = require_committed([Path(s.path) for s in chain])
    marked = require_marked(chain)
    server = devserver.database_url(env)
    with scratch_database(server) as connection:
        expected = built(connection, chain[-1].revision)
        upgrade = dump_statements(connection.engine.url, env, clean=False)
        cleaned = dump_statements(connection.engine.url, env, clean=True)
    downgrade = [s for s in cleaned if s not in upgrade]
    baseline = baseline_path(chain[-1])
    source = baseline_source(chain, commit, upgrade, downgrade, lint_findings(upgrade), marked)
    originals = {Path(s.path): Path(s.path).read_bytes() for s in chain}
    for path in originals:
        path.unlink()
    baseline.write_text(source)
    try:
        _format(baseline)
        with scratch_database(server) as connection:
            problems = catalog.differences(expected, built(connection, chain[-1].revision))
    except BaseException:
        _restore(baseline, originals)
        raise
    if problems:
        _restore(baseline, originals)
        raise UserError(
            f"the baseline would not build the catalog the chain up to {chain[-1].revision} "
            f"builds ({problems[0]}; {len(problems)} difference(s)); nothing was changed"
        )
    if marked:
        remark(chain, baseline)
    return Squashed(
        target=chain[-1].revision,
        baseline=baseline.relative_to(REPO_ROOT),
        replaced=[s.revision for s in chain],
        commit=commit,
        written=_regenerate(env),
    )


def released_chain(script: ScriptDirectory, to: str) -> list[Script]:
    """The revisions from base up to `to`, oldest first; refused unless it is one line."""
    target = _revision(script, to)
    chain: list[Script] = []
    current: Script | None = target
    while current is not None:
        parent = current.down_revision
        if isinstance(parent, tuple | list):
            raise UserError(
                f"revision {current.revision} merges {', '.join(parent)}: make squash folds "
                "one line of revisions only"
            )
        chain.append(current)
        current = script.get_revision(parent) if parent else None
    chain.reverse()
    if len(chain) < 2:
        raise UserError(
            f"nothing to squash: revision {target.revision} is already the first revision"
        )
    folded = {s.revision for s in chain}
    for other in script.walk_revisions():
        if other.revision in folded:
            continue
        parents = _parents(other) & (folded - {target.revision})
        if parents:
            raise UserError(
                f"revision {other.revision} branches off {sorted(parents)[0]}, which the "
                f"squash to {target.revision} would fold: squash to an earlier revision"
            )
    return chain


def _parents(script: Script) -> set[str]:
    parent = script.down_revision
    if parent is None:
        return set()
    return {parent} if isinstance(parent, str) else set(parent)


def _revision(script: ScriptDirectory, to: str) -> Script:
    try:
        found: Any = script.get_revision(to)
    except Exception:
        found = None
    if found is None or found.revision != to:
        raise UserError(
            f"TO={to} names no revision of this checkout: give a full revision id "
            "(`make history` lists them)"
        )
    return found


def require_committed(paths: list[Path]) -> str:
    """The commit at HEAD, when every one of `paths` is committed there unchanged."""
    names = [str(p.relative_to(REPO_ROOT)) for p in paths]
    head = _git(["rev-parse", "--verify", "HEAD"])
    tracked = _git(["ls-files", "--", *names])
    dirty = _git(["status", "--porcelain", "--", *names])
    untracked = sorted(set(names) - set(tracked.splitlines()))
    if head is None or tracked is None or dirty is None:
        raise UserError(
            "make squash folds only released revisions, committed in git, and this checkout "
            "is not a git repository"
        )
    if untracked or dirty:
        shown = untracked[0] if untracked else dirty.split(maxsplit=1)[1]
        raise UserError(
            f"make squash folds only released revisions, and {shown} is not committed as it "
            "is: commit it first, or squash to an earlier revision"
        )
    return head.strip()


def _marker_lines() -> list[str] | None:
    path = REPO_ROOT / MARKER
    return path.read_text().splitlines(keepends=True) if path.exists() else None


def _marked(lines: list[str]) -> dict[str, set[str]]:
    """revision -> the checksums the release marker accepts for its file."""
    found: dict[str, set[str]] = {}
    for raw in lines:
        fields = raw.partition("#")[0].split()
        if len(fields) == 3:
            found.setdefault(fields[0], set()).add(fields[1])
    return found


def require_marked(chain: list[Script]) -> dict[str, set[str]]:
    """Where the release marker (`migrations/RELEASED`) exists, every folded revision must
    be listed in it; the checksums it accepts for each (empty without a marker)."""
    lines = _marker_lines()
    if lines is None:
        return {}
    marked = _marked(lines)
    missing = [s.revision for s in chain if s.revision not in marked]
    if missing:
        raise UserError(
            f"make squash folds only released revisions, and {missing[0]} is not in "
            f"{MARKER}: release it first (`make release`), or squash to an earlier revision"
        )
    return marked


def remark(chain: list[Script], baseline: Path) -> None:
    """The marker after the squash: the folded revisions' lines go, except the squash
    point's (the files databases at it ran stay accepted), and the baseline is released."""
    folded = {s.revision for s in chain[:-1]}
    kept = [raw for raw in _marker_lines() or [] if _listed(raw) not in folded]
    if kept and not kept[-1].endswith("\n"):
        kept[-1] += "\n"
    kept.append(
        f"{chain[-1].revision} {checksum(baseline)} {baseline.name}  "
        f"# baseline: make squash folded {len(chain)} revisions\n"
    )
    (REPO_ROOT / MARKER).write_text("".join(kept))


def _listed(raw: str) -> str | None:
    """The revision a marker line lists (None for a comment or a blank line)."""
    fields = raw.partition("#")[0].split()
    return fields[0] if fields else None


def _git(args: list[str]) -> str | None:
    done = subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout if done.returncode == 0 else None


def built(connection: Connection, revision: str) -> dict[str, Any]:
    """Migrate the empty database on `connection` to `revision`; its catalog."""
    options = RunOptions(env={}, connection=connection, configure_logging=False)
    command.upgrade(run_config(options), revision)
    connection.commit()
    return catalog.describe(connection)


def dump_statements(url: URL, env: settings.Env, *, clean: bool) -> list[str]:
    """The schema and rows of the database at `url` (bookkeeping left out), as pg_dump
    writes them, one SQL statement each; session settings dropped."""
    binary = devserver.bin_dir(devserver.postgres_version(env)) / "pg_dump"
    options = [
        "--no-owner",
        "--no-privileges",
        "--inserts",
        f"--exclude-table=*.{bookkeeping().version_table}",
        f"--exclude-schema={LOG_SCHEMA}",
    ]
    if clean:
        options += ["--clean", "--if-exists"]
    # No connection string on the command line `ps` shows (dbtools/core/libpq.py).
    with libpq.environment(url.set(drivername="postgresql")) as child_env:
        done = subprocess.run(
            [str(binary), *options], capture_output=True, text=True, env=child_env, check=False
        )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise UserError(f"pg_dump failed while squashing: {last}")
    return statements(done.stdout)


def statements(dump: str) -> list[str]:
    """pg_dump's script as statements, without psql meta-commands, comments or the
    session settings it begins with (they belong to pg_dump's own session)."""
    sql = "\n".join(line for line in dump.splitlines() if not line.startswith("\\"))
    kept = []
    for statement in pglast.split(sql):
        text = "\n".join(
            line for line in statement.strip().splitlines() if not line.startswith("--")
        ).strip()
        if text and not _session_setting(text):
            kept.append(text)
    return kept


def _session_setting(sql: str) -> bool:
    """`SET ...` or `SELECT pg_catalog.set_config(...)`, read by the parser."""
    [raw] = pglast.parse_sql(sql)
    node = raw.stmt
    if isinstance(node, ast.VariableSetStmt):
        return True
    if isinstance(node, ast.SelectStmt) and node.targetList and len(node.targetList) == 1:
        value = node.targetList[0].val
        if isinstance(value, ast.FuncCall):
            return value.funcname[-1].sval == "set_config"
    return False


def lint_findings(upgrade: list[str]) -> dict[int, list[str]]:
    """The linter's rules each statement breaks, by its position in `upgrade`: Squawk run
    on the statements as the baseline's committed SQL will frame them."""
    lines = ["BEGIN;", "", *Timeouts(DEFAULT_LOCK_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT).sql(), ""]
    spans = []
    for statement in upgrade:
        first = len(lines)
        lines += f"{statement};".splitlines()
        spans.append(range(first, len(lines)))
        lines.append("")
    lines.append("COMMIT;")
    name = f"{BASELINE_SLUG}.upgrade.sql"
    found = lint.run_squawk([lint.SqlSource(name, name, "\n".join(lines) + "\n")])
    if isinstance(found, list):
        raise UserError(f"cannot lint the baseline: {found[0]}")
    rules: dict[int, list[str]] = {}
    for finding in found.get(name, []):
        index = next((i for i, span in enumerate(spans) if finding.row in span), None)
        if index is not None and finding.rule not in rules.setdefault(index, []):
            rules[index].append(finding.rule)
    return {i: sorted(r) for i, r in sorted(rules.items()) if r}


def baseline_path(target: Script) -> Path:
    """Named like the revision it takes the place of, so `ls` keeps the order."""
    stamp = Path(target.path).stem.split("-", 1)[0]
    return VERSIONS / f"{stamp}-{target.revision}_{BASELINE_SLUG}.py"


def baseline_source(
    chain: list[Script],
    commit: str,
    upgrade: list[str],
    downgrade: list[str],
    waived: dict[int, list[str]],
    marked: dict[str, set[str]],
) -> str:
    """The baseline revision file's text."""
    target = chain[-1]
    replaces = _replaced_checksums(chain, marked)
    created = datetime.now(UTC).isoformat(sep=" ")
    lines = [
        f'"""Baseline: the {len(replaces)} released revisions up to {target.revision} in one.',
        "",
        f"Written by `make squash TO={target.revision}` from commit {commit[:12]}. On an empty",
        "database it builds the schema (and the rows) those revisions built, as pg_dump wrote",
        f"them from a database migrated to {target.revision}; `make squash` compared the two",
        "catalogs before keeping it. Every table is new, so nothing that exists is locked. A",
        f"database at {target.revision} or later continues from here without running it again",
        "(this revision keeps that id); one at a replaced revision upgrades to",
        f"{target.revision} with commit {commit[:12]} first. The downgrade drops everything the",
        "upgrade creates, and the data in it.",
        "",
        f"Revision ID: {target.revision}",
        "Revises:",
        f"Create Date: {created}",
        '"""',
        "",
        "from collections.abc import Sequence",
        "",
        "import sqlalchemy as sa",
        "from alembic import op",
        "",
        f"revision: str = {target.revision!r}",
        "down_revision: str | Sequence[str] | None = None",
        "branch_labels: str | Sequence[str] | None = None",
        "depends_on: str | Sequence[str] | None = None",
        "",
        "# The released revisions this baseline replaces, oldest first, each with the SHA-256",
        "# of every file it was released as (what the migration log of a database that ran",
        "# it recorded).",
        "replaces: dict[str, list[str]] = {",
        *(f"    {rev!r}: {digests!r}," for rev, digests in replaces.items()),
        "}",
        "# The commit that still has them: a database at one of them upgrades there first.",
        f"squashed_from: str = {commit!r}",
        "",
        "UPGRADE: tuple[str, ...] = (",
        *(f"    {_literal(s)}," for s in upgrade),
        ")",
        "",
        "DOWNGRADE: tuple[str, ...] = (",
        *(f"    {_literal(s)}," for s in downgrade),
        ")",
        "",
        "# What the linter says of some statements above (by position), and why it does not",
        "# apply: each was reviewed when the revision it comes from was released.",
        "WAIVED: dict[int, list[str]] = {",
        *(f"    {index}: {rules!r}," for index, rules in waived.items()),
        "}",
        "WAIVER_REASON = (",
        *(f"    {part!r}" for part in _halves(WAIVER_REASON)),
        ")",
        "",
        "",
        "def upgrade() -> None:",
        "    for index, statement in enumerate(UPGRADE):",
        "        if index in WAIVED:",
        "            op.waive_lint(WAIVED[index], reason=WAIVER_REASON)",
        "        op.execute(sa.text(statement))",
        "",
        "",
        "def downgrade() -> None:",
        "    for statement in DOWNGRADE:",
        "        op.execute(sa.text(statement))",
        "",
    ]
    return "\n".join(lines)


def _replaced_checksums(chain: list[Script], marked: dict[str, set[str]]) -> dict[str, list[str]]:
    """Each folded revision's checksums: its file's, those the release marker accepts,
    and what a folded baseline had replaced."""
    found: dict[str, list[str]] = {}
    for script in chain:
        for revision, digests in (getattr(script.module, "replaces", None) or {}).items():
            found[revision] = sorted({*found.get(revision, []), *_as_list(digests)})
        digests = {checksum(script.path), *marked.get(script.revision, set())}
        found[script.revision] = sorted({*found.get(script.revision, []), *digests})
    return found


def _as_list(digests: str | list[str]) -> list[str]:
    return [digests] if isinstance(digests, str) else list(digests)


def _halves(text: str) -> list[str]:
    middle = text.index(" ", len(text) // 2) + 1
    return [text[:middle], text[middle:]]


def _literal(statement: str) -> str:
    """A Python literal of `statement`, safe for `sa.text()`: a colon that would read as
    a bind parameter is escaped, as SQLAlchemy documents."""
    escaped = _BIND.sub(lambda m: "\\" + m.group(0), statement)
    if '"""' in escaped or "\\" in escaped or escaped.endswith('"'):
        return repr(escaped)
    return f'"""{escaped}"""' if "\n" in escaped else repr(escaped)


def _regenerate(env: settings.Env) -> list[Path]:
    """The baseline's committed SQL (and trace) written, the replaced revisions' removed,
    their fingerprints recorded (`make generate`)."""
    done = generate_artefacts(env)
    return [*done.written, *done.removed]


def _format(path: Path) -> None:
    """Formatted as Alembic's hook formats revisions; pg_dump's long lines allowed."""
    ruff = Path(sys.executable).parent / "ruff"
    if ruff.exists():
        subprocess.run([str(ruff), "format", "--quiet", str(path)], check=False)
    source = path.read_text()
    if any(len(line) > LINE_LENGTH for line in source.splitlines()):
        docstring_end = source.index('"""', 3) + 4
        path.write_text(
            f"{source[:docstring_end]}\n{LONG_LINES}\n# ruff: noqa: E501\n{source[docstring_end:]}"
        )


def _restore(baseline: Path, originals: dict[Path, bytes]) -> None:
    baseline.unlink(missing_ok=True)
    for path, content in originals.items():
        path.write_bytes(content)
