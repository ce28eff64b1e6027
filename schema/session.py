"""Engines and sessions built from a URL the caller passes in.

Nothing here reads the environment or connects at import: a service decides where its
URL comes from and calls these when it starts.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url

if TYPE_CHECKING:  # the ORM loads only for sessions, not for engines and URLs
    from sqlalchemy.orm import Session, sessionmaker

# psycopg2 is the driver this repository pins; SQLAlchemy 2.1 would pick psycopg 3 for
# a bare postgresql:// URL, so every accepted form is mapped onto psycopg2.
ACCEPTED_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")
DRIVER = "postgresql+psycopg2"
CONNECT_TIMEOUT_SECONDS = 5


# What a host may hold once the URL is split: names, addresses, percent-encoded socket
# directories, several hosts. Anything else means the split went wrong (an unencoded `@`,
# `#` or space in the password) and the "host" may be part of the secret.
_HOST = re.compile(r"^[A-Za-z0-9._~%,:-]*$")  # `:` for IPv6
_ENCODE_HINT = (
    "percent-encode the user name and password (@ as %40, : as %3A, / as %2F, # as %23, "
    "? as %3F, % as %25, space as %20)"
)


class UnsupportedURLError(ValueError):
    """The URL names a database other than PostgreSQL through psycopg2, or cannot be
    read unambiguously."""


def normalise_url(url: str | URL) -> URL:
    """Return `url` as a psycopg2 URL, or raise `UnsupportedURLError`."""
    if isinstance(url, str):
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in ACCEPTED_SCHEMES:
            raise UnsupportedURLError(_unsupported_message(scheme))
        # SQLAlchemy does not know the postgres:// alias; rewrite it before parsing.
        url = DRIVER + url[len(scheme) :]
        try:
            parsed = make_url(url)
        except Exception as exc:  # ArgumentError / ValueError on garbage
            raise UnsupportedURLError(
                f"DATABASE_URL could not be parsed ({exc.__class__.__name__}); {_ENCODE_HINT}"
            ) from None
        _refuse_ambiguous(parsed)
        return parsed
    if url.drivername not in ACCEPTED_SCHEMES:
        raise UnsupportedURLError(_unsupported_message(url.drivername))
    return url.set(drivername=DRIVER)


def _refuse_ambiguous(url: URL) -> None:
    """Refuse a URL whose parts could be read more than one way; never echo them."""
    suspicious = (
        not _HOST.match(url.host or "")
        or "@" in (url.username or "")
        or "@" in (url.database or "")
    )
    if suspicious:
        raise UnsupportedURLError(
            "DATABASE_URL cannot be read unambiguously (more than one '@', or a character "
            f"that ends the user info, in the user name or password): {_ENCODE_HINT}"
        )


def _unsupported_message(scheme: str) -> str:
    shown = f"'{scheme}://'" if scheme else "a URL without a scheme"
    forms = ", ".join(f"{s}://" for s in ACCEPTED_SCHEMES)
    return f"DATABASE_URL must be a PostgreSQL URL ({forms}), got {shown}"


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for `url` that fails within seconds when the server is unreachable."""
    url = normalise_url(url)
    # A connect_timeout the URL names wins over the default (connect_args would win over it).
    default = {} if "connect_timeout" in url.query else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    connect_args = {**default, **kwargs.pop("connect_args", {})}
    return create_engine(url, connect_args=connect_args, **kwargs)


def make_sessionmaker(engine: Engine) -> "sessionmaker[Session]":
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: "sessionmaker[Session]") -> "Iterator[Session]":
    """A session that commits when the block ends and rolls back if it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
