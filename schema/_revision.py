"""The revisions this package was built for; written by `make generate`, do not edit.

REVISIONS lists every revision from the first to the head, in the order they apply,
so the start-up check can tell a database behind the head from one ahead of it.
"""

HEAD_REVISION = "409207e4393e"

REVISIONS: tuple[str, ...] = (
    "78593f8e1fa5",  # Create the users table.
    "409207e4393e",  # Add the age column to users.
)
