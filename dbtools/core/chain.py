"""The chain of revisions in `migrations/versions`, read through Alembic's public API.

This repository keeps the chain linear: one head. When two branches each add a revision
on the same parent, `several_heads()` is the one piece of advice every command gives.
"""

from alembic.script import Script, ScriptDirectory

from dbtools.core.errors import UserError
from dbtools.core.paths import alembic_config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def revisions(script: ScriptDirectory | None = None) -> list[Script]:
    """Every revision, oldest first."""
    script = script or script_directory()
    return list(reversed(list(script.walk_revisions())))


def messages(script: ScriptDirectory | None = None) -> dict[str, str]:
    """Each revision id and the first paragraph of its docstring (its message)."""
    script = script or script_directory()
    return {s.revision: " ".join((s.doc or "").split()) for s in script.walk_revisions()}


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
