"""Engines and sessions built from a URL the caller passes in.

Nothing here reads the environment or connects at import: a service decides where its
URL comes from and calls these when it starts.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

# psycopg2 is the driver this repository pins; SQLAlchemy 2.1 would pick psycopg 3 for
# a bare postgresql:// URL, so every accepted form is mapped onto psycopg2.
ACCEPTED_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")
DRIVER = "postgresql+psycopg2"
CONNECT_TIMEOUT_SECONDS = 5


class UnsupportedURLError(ValueError):
    """The URL names a database other than PostgreSQL through psycopg2."""


def normalise_url(url: str | URL) -> URL:
    """Return `url` as a psycopg2 URL, or raise `UnsupportedURLError`."""
    if isinstance(url, str):
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in ACCEPTED_SCHEMES:
            raise UnsupportedURLError(_unsupported_message(scheme))
        # SQLAlchemy does not know the postgres:// alias; rewrite it before parsing.
        url = DRIVER + url[len(scheme) :]
        try:
            return make_url(url)
        except Exception as exc:  # ArgumentError / ValueError on garbage
            raise UnsupportedURLError(
                f"DATABASE_URL could not be parsed ({exc.__class__.__name__})"
            ) from None
    if url.drivername not in ACCEPTED_SCHEMES:
        raise UnsupportedURLError(_unsupported_message(url.drivername))
    return url.set(drivername=DRIVER)


def _unsupported_message(scheme: str) -> str:
    shown = f"'{scheme}://'" if scheme else "a URL without a scheme"
    forms = ", ".join(f"{s}://" for s in ACCEPTED_SCHEMES)
    return f"DATABASE_URL must be a PostgreSQL URL ({forms}), got {shown}"


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for `url` that fails within seconds when the server is unreachable."""
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, **kwargs.pop("connect_args", {})}
    return create_engine(normalise_url(url), connect_args=connect_args, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
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
