"""Every revision file loads and names a parent that exists, checked before any run.

Alembic imports all of `versions/` before it connects; a file with a syntax error or a
missing parent then surfaces as a bare SyntaxError or KeyError, without the file's name.
Checking first turns that into one line naming the file, before anything is applied.
"""

import importlib.util
from pathlib import Path

from dbtools.core.errors import UserError
from dbtools.core.paths import REPO_ROOT, VERSIONS


def check_revision_files(versions: Path = VERSIONS) -> None:
    """Raise UserError naming the first revision file that does not load or link."""
    parents: dict[str, tuple[Path, list[str]]] = {}
    for path in sorted(versions.glob("*.py")):
        module = _load(path)
        revision = getattr(module, "revision", None)
        if not isinstance(revision, str):
            raise UserError(f"{_shown(path)} defines no `revision` id; nothing was applied")
        down = getattr(module, "down_revision", None)
        parents[revision] = (path, [down] if isinstance(down, str) else list(down or []))
    for revision, (path, downs) in parents.items():
        for down in downs:
            if down not in parents:
                raise UserError(
                    f"{_shown(path)} (revision {revision}) names the parent revision {down}, "
                    "which no file in migrations/versions defines; nothing was applied"
                )


def _load(path: Path) -> object:
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
