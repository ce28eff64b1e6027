"""Test support: roles as on a managed service, each checked by password (pw_*).

`deployer` owns a fresh database and migrates it; tests add other roles (an intruder,
a read-only reader) beside it. Everything made here is dropped afterwards.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import URL

from tests.pg import admin_engine

# Every character the design names, and `$` (taken literally from .env too).
PASSWORD = "d3p p@ss:%/#ü$x"


@dataclass
class Roles:
    server_url: URL
    database: str
    deployer: str
    others: list[str] = field(default_factory=list)

    def url(self, role: str | None = None, password: str = PASSWORD) -> URL:
        """The database's URL as `role` (default: the deployer), with its password."""
        return self.server_url.set(
            database=self.database, username=role or self.deployer, password=password
        )

    def admin_url(self) -> URL:
        """The database's URL as the server's superuser."""
        return self.server_url.set(database=self.database)

    def add(self, prefix: str, options: str = "") -> str:
        """A further login role with PASSWORD, and CONNECT on the database."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.sql(f"CREATE ROLE {name} LOGIN PASSWORD '{PASSWORD}' {options}", server=True)
        self.others.append(name)
        return name

    def sql(self, *statements: str, role: str | None = None, server: bool = False) -> None:
        """Run `statements` on the database (or the server) as superuser, or as `role`."""
        url = self.server_url if server else self.admin_url()
        engine = admin_engine(url)
        try:
            with engine.connect() as conn:
                if role:
                    conn.execute(text(f"SET ROLE {role}"))
                for statement in statements:
                    conn.execute(text(statement))
        finally:
            engine.dispose()


@contextmanager
def deployer_database(server_url: URL) -> Iterator[Roles]:
    """A database owned by a NOSUPERUSER role that must give PASSWORD."""
    deployer = f"pw_deployer_{uuid.uuid4().hex[:8]}"
    roles = Roles(server_url, f"own_{uuid.uuid4().hex[:8]}", deployer)
    roles.sql(
        f"CREATE ROLE {deployer} LOGIN PASSWORD '{PASSWORD}' NOSUPERUSER NOCREATEDB NOCREATEROLE",
        f'CREATE DATABASE "{roles.database}" OWNER {deployer}',
        server=True,
    )
    roles.sql(f"ALTER SCHEMA public OWNER TO {deployer}")
    try:
        yield roles
    finally:
        roles.sql(f'DROP DATABASE IF EXISTS "{roles.database}" WITH (FORCE)', server=True)
        for role in [*roles.others, deployer]:
            roles.sql(f"DROP ROLE IF EXISTS {role}", server=True)
