"""Operations of this repository that revisions call through `op`.

Importing this package registers them all on Alembic's `Operations` (env.py does):
`op.waive_lint`, `op.create_index_concurrently`, `op.drop_index_concurrently`,
`op.add_foreign_key_not_valid`,
`op.add_check_not_valid`, `op.validate_constraint`, `op.set_not_null_safely`,
`op.add_unique_using_index`, `op.backfill_in_batches`, `op.change_enum_values`, `op.rename_column`.
Each is declared the same way (dbtools/operations/declare.py) and has its `reverse()`
where one exists, so autogenerate writes downgrades in the safe forms too.
"""

from dbtools.operations import backfill, constraints, enums, indexes, renames, waivers

__all__ = ["backfill", "constraints", "enums", "indexes", "renames", "waivers"]
