"""Custom Alembic operations that revisions call (`op.create_index_concurrently`, ...)."""
