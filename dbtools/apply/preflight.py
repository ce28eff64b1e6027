"""Every revision file loads, has an id of its own and names parents that exist, in a chain
without cycles, checked before any run.

Alembic imports all of `versions/` before it connects; a file with a syntax error or a
missing parent then surfaces as a bare SyntaxError or KeyError, without the file's name;
a revision that names itself (or a descendant) as its parent, or two files with one id,
surface as "the database is at a revision this checkout does not have" or "edited after
it was applied"; `sys.exit()` at import ends the command silently. Checking first turns
each into one line naming the files, before anything is applied.
"""

import importlib.util
from pathlib import Path

from dbtools.core.errors import UserError
from dbtools.core.paths import REPO_ROOT, VERSIONS


def check_revision_files(versions: Path = VERSIONS) -> None:
    """Raise UserError naming the first revision file that does not load or link."""
    parents: dict[str, tuple[Path, list[str]]] = {}
    for path in sorted(versions.glob("*.py")):
        module = load_check(path)
        revision = getattr(module, "revision", None)
        if not isinstance(revision, str):
            raise UserError(f"{_shown(path)} defines no `revision` id; nothing was applied")
        if revision in parents:
            raise UserError(
                f"{_shown(parents[revision][0])} and {_shown(path)} both define revision "
                f"{revision}: give one of them an id of its own (`alembic revision` makes "
                "one); nothing was applied"
            )
        down = getattr(module, "down_revision", None)
        parents[revision] = (path, [down] if isinstance(down, str) else list(down or []))
    for revision, (path, downs) in parents.items():
        for down in downs:
            if down not in parents:
                raise UserError(
                    f"{_shown(path)} (revision {revision}) names the parent revision {down}, "
                    "which no file in migrations/versions defines; nothing was applied"
                )
    _refuse_cycles(parents)


def _refuse_cycles(parents: dict[str, tuple[Path, list[str]]]) -> None:
    """A revision that is its own ancestor: the files of the cycle, in order."""
    done: set[str] = set()
    for start in parents:
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            revision, index = stack.pop()
            if index == 0:
                if revision in done:
                    continue
                if revision in on_path:
                    cycle = [*path[path.index(revision) :], revision]
                    files = " -> ".join(f"{r} ({_shown(parents[r][0])})" for r in cycle)
                    raise UserError(
                        f"the revisions form a cycle, each naming the next as its parent: "
                        f"{files}; fix down_revision in these files; nothing was applied"
                    )
                path.append(revision)
                on_path.add(revision)
            downs = parents[revision][1]
            if index < len(downs):
                stack.append((revision, index + 1))
                stack.append((downs[index], 0))
            else:
                path.pop()
                on_path.discard(revision)
                done.add(revision)


def load_check(path: Path) -> object:
    """The module `path` defines, imported; a UserError naming the file if it does not load."""
    spec = importlib.util.spec_from_file_location(f"_revision_check_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise UserError(
            f"{_shown(path)} does not load: SyntaxError: {exc.msg} (line {exc.lineno}); "
            "nothing was applied"
        ) from None
    except SystemExit as exc:
        raise UserError(
            f"{_shown(path)} calls sys.exit({exc.code!r}) when it is imported: a revision "
            "must only define its functions; nothing was applied"
        ) from None
    except Exception as exc:
        raise UserError(
            f"{_shown(path)} does not load: {type(exc).__name__}: {exc}; nothing was applied"
        ) from None
    return module


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
