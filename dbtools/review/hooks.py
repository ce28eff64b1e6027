"""The hooks review code hands to env.py, and the options of Alembic's own CLI.

`make revision`, `make sql`, the committed renderings and `make check` hand these in
through the run's options (`dbtools.core.options`); the apply path never imports them.
Alembic's own command line hands nothing in: for `alembic check`, `alembic revision
--autogenerate` and `alembic upgrade --sql`, `migrations/env.py` asks `alembic_cli_options()`.
"""

from dbtools.core import settings
from dbtools.core.options import Hooks, Request, RunOptions
from dbtools.review.autogen_options import compare_options
from dbtools.review.offline_sql import revision_blocks
from dbtools.review.revision_hooks import process_revision_directives

# Writing a revision: compare with the models, refuse an empty one, write safe forms.
WRITING = Hooks(process_revision_directives=process_revision_directives, compare=compare_options)
EVERYTHING = Hooks(
    process_revision_directives=process_revision_directives,
    compare=compare_options,
    offline_output=revision_blocks,
)


def alembic_cli_options(request: Request | None) -> RunOptions:
    """What Alembic's own CLI runs with: the settings (read here, once) and every hook."""
    return RunOptions(env=settings.load(), hooks=EVERYTHING, request=request)
