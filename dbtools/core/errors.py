"""The error contract: a failure a user can cause ends as one line, never with a password.

`UserError` is the exception for failures a user can cause and fix; `describe()` turns any
exception into the one line the command line (and `make bench`) prints.
"""

import sys
from typing import TYPE_CHECKING

from dbtools.core.secrets import mask_secret

if TYPE_CHECKING:  # SQLAlchemy and Alembic load when an error is described, not at import
    from sqlalchemy.engine import URL
    from sqlalchemy.exc import OperationalError


class UserError(Exception):
    """A failure with a one-line message that tells the user what to do.

    The command line prints `str(error)` alone, without a traceback.
    """


def describe(exc: BaseException, *urls: "URL | str | None") -> str:
    """One line for `exc`, with any form of the passwords `urls` carry masked out."""
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

    if isinstance(exc, UserError | CommandError):
        text = str(exc)
    elif isinstance(exc, OperationalError) and _is_connect_error(exc):
        text = f"cannot connect to the database: {exc.orig}"
    elif isinstance(exc, DBAPIError) and exc.orig is not None:
        text = f"database error: {exc.orig}"
    elif isinstance(exc, SQLAlchemyError):
        text = f"database error: {exc}"
    else:
        text = f"{exc.__class__.__name__}: {exc}"
    # Masked before the whitespace is folded, or a password with two spaces would not be
    # found.
    return " ".join(mask_secret(text, *urls).split())


def _is_connect_error(exc: "OperationalError") -> bool:
    # psycopg2 reports every failure to open a connection this way (refused, timeout,
    # authentication, unknown database).
    return str(exc.orig).startswith("connection to server") or exc.statement is None


def fail(message: str) -> int:
    """Print the one error line; the exit status to return."""
    print(f"error: {message}", file=sys.stderr)
    return 1
