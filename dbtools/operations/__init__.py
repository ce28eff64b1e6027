"""Operations of this repository that revisions call through `op`.

Importing this package registers them all on Alembic's `Operations` (env.py does):
`op.waive_lint`, `op.create_index_concurrently`, `op.add_foreign_key_not_valid`,
`op.add_check_not_valid`, `op.validate_constraint`, `op.set_not_null_safely`,
`op.add_unique_using_index`, `op.backfill_in_batches`.
"""

from dbtools.operations import backfill, constraints, indexes, waivers

__all__ = ["backfill", "constraints", "indexes", "waivers"]
