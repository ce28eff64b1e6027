"""The one place for how the models are compared with a database.

`env.py` gives these options to autogenerate (`make revision`, `alembic check`), and the
drift check of `make check` compares with the same ones, so the two never disagree.
"""

from typing import Any

from alembic.config import Config
from alembic.util import CommandError

import schema
from dbtools.core.bookkeeping import is_bookkeeping


def compare_options() -> dict[str, Any]:
    """What to compare: the models, column types, server defaults; not the bookkeeping."""
    return {
        "target_metadata": schema.metadata,
        "compare_type": True,
        "compare_server_default": True,
        "include_name": skip_bookkeeping,
    }


def skip_bookkeeping(name: str | None, type_: str, _parents: Any) -> bool:
    """Autogenerate ignores the migration log: it belongs to env.py, not to the models."""
    return not (type_ in ("schema", "table") and is_bookkeeping(name))


def refuse_empty_revision(config: Config) -> Any:
    """A `process_revision_directives` hook: no revision file when the models match.

    Only while a revision is being written: `alembic check` runs the same hook, and
    must report "no changes" rather than fail.
    """

    def hook(_context: Any, _revision: Any, directives: list[Any]) -> None:
        if not writing_revision(config):
            return
        if directives and directives[0].upgrade_ops.is_empty():
            raise CommandError("the models and the migrations already match: no revision written")

    return hook


def writing_revision(config: Config) -> bool:
    """Whether this run writes a revision file (`make revision`, `alembic revision`)."""
    if config.attributes.get("writing_revision"):
        return True
    return bool(getattr(config.cmd_opts, "autogenerate", False))
