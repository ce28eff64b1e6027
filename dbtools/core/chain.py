"""The chain of revisions in `migrations/versions`, read through Alembic's public API.

This repository keeps the chain linear: one head. When two branches each add a revision
on the same parent, `several_heads()` is the one piece of advice every command gives.
"""

import hashlib
from functools import lru_cache
from pathlib import Path

from alembic.script import Script, ScriptDirectory

from dbtools.core.errors import UserError
from dbtools.core.paths import alembic_config


def script_directory() -> ScriptDirectory:
    """Alembic's view of the chain. One run asks for it many times (`make check`: heads,
    released, docstrings, rendering, lint, trace), and each new one executes every
    revision file again; so while no revision file changed, the one already read is
    returned. Which files there are and what they hold is read each time (a digest of
    their bytes), so a revision written, edited or deleted meanwhile is a new chain."""
    config = alembic_config()
    fresh = ScriptDirectory.from_config(config)  # cheap: its files are read when walked
    locations = fresh.version_locations or [str(Path(fresh.dir) / "versions")]
    return _read_once(_contents([Path(str(config.config_file_name))], locations))


def _contents(files: list[Path], locations: list[str]) -> str:
    """A digest of `files` and every Python file under `locations`: names and bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for path in [*files, *(p for loc in locations for p in sorted(Path(loc).rglob("*.py")))]:
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=1)
def _read_once(_contents: str) -> ScriptDirectory:
    """The chain for these contents of alembic.ini and the revision files (the newest only)."""
    return ScriptDirectory.from_config(alembic_config())


def revisions(script: ScriptDirectory | None = None) -> list[Script]:
    """Every revision, oldest first."""
    return list(reversed(_walked(script or script_directory())))


def by_id(script: ScriptDirectory | None = None) -> dict[str, Script]:
    """Every revision by its id."""
    return {s.revision: s for s in _walked(script or script_directory())}


@lru_cache(maxsize=4)
def _walked(script: ScriptDirectory) -> tuple[Script, ...]:
    """Alembic's walk from the heads to the base, once per chain read (a walk costs
    about as much as reading the files)."""
    return tuple(script.walk_revisions())


def messages(script: ScriptDirectory | None = None) -> dict[str, str]:
    """Each revision id and the first paragraph of its docstring (its message)."""
    walked = _walked(script or script_directory())
    return {s.revision: " ".join((s.doc or "").split()) for s in walked}


def several_heads(heads: list[str]) -> str:
    """What to do when two revisions name the same parent (two branches met)."""
    named = ", ".join(sorted(heads))
    return (
        f"the revisions have {len(heads)} heads ({named}): two revisions name the same parent; "
        "this repository keeps one line of revisions, so set the newer one's down_revision "
        "to the other head, then run `make generate`"
    )


def single_head(script: ScriptDirectory | None = None) -> str:
    """The head revision; a UserError with the advice above when there are several."""
    script = script or script_directory()
    heads = script.get_heads()
    if len(heads) != 1:
        raise UserError(several_heads(heads))
    return heads[0]
