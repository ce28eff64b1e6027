"""Alembic's entry point. The environment itself is `dbtools/apply/environment.py`.

Callers in this repository hand their options in (`dbtools.core.options`). Alembic's own
command line hands nothing: for the commands that compare with the models or render SQL
(`alembic check`, `alembic revision --autogenerate`, `alembic upgrade --sql`), the review
hooks are imported here, in that branch only, so applying never loads review code.
"""

from alembic import context

from dbtools.apply import environment
from dbtools.core.options import store

if environment.wants_review_hooks(context.config):
    from dbtools.review.hooks import alembic_cli_options

    store(context.config, alembic_cli_options(environment.alembic_cli_request(context.config)))
environment.run(context)
