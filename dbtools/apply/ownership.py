"""The run trusts only bookkeeping it owns.

A role with nothing but CREATE on the database could make the `migration_audit` schema
(or `alembic_version`) before the first run, then put a trigger on the log that runs as
the deploying role, or rewrite checksums to block deploys or hide an edited revision.
So before a run applies anything, the version table, the log's schema, everything in it,
and what is attached to them (triggers and their functions, rules, policies) must belong
to the migrating role or a role it is a member of (`pg_has_role(owner, 'MEMBER')`).
"""

from dataclasses import dataclass

from sqlalchemy import Connection, text

from dbtools.core.bookkeeping import LOG_SCHEMA
from dbtools.core.errors import UserError

# The relations that are bookkeeping: the version table Alembic uses (found through the
# search_path, as Alembic finds it) and every relation in the log's schema.
_BOOKKEEPING = """
WITH relations AS (
    SELECT c.oid, c.relowner FROM pg_class c WHERE c.oid = to_regclass(:version_table)
    UNION
    SELECT c.oid, c.relowner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = :schema
), objects AS (
    SELECT 'schema' AS kind, quote_ident(n.nspname) AS name, n.nspowner AS owner
    FROM pg_namespace n WHERE n.nspname = :schema
    UNION ALL
    SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'S' THEN 'sequence' WHEN 'i' THEN 'index'
                WHEN 'v' THEN 'view' ELSE 'relation' END,
           c.oid::regclass::text, c.relowner
    FROM relations r JOIN pg_class c ON c.oid = r.oid
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text, p.proowner
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :schema
    UNION ALL
    SELECT 'trigger', format('%I on %s (function %s)', t.tgname, t.tgrelid::regclass,
                             t.tgfoid::regprocedure), p.proowner
    FROM pg_trigger t JOIN relations r ON r.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE NOT t.tgisinternal
    UNION ALL
    SELECT 'rule', format('%I on %s', w.rulename, w.ev_class::regclass), r.relowner
    FROM pg_rewrite w JOIN relations r ON r.oid = w.ev_class WHERE w.rulename <> '_RETURN'
    UNION ALL
    SELECT 'policy', format('%I on %s', p.polname, p.polrelid::regclass), r.relowner
    FROM pg_policy p JOIN relations r ON r.oid = p.polrelid
)
SELECT kind, name, pg_get_userbyid(owner) FROM objects
WHERE NOT pg_has_role(owner, 'MEMBER')
ORDER BY kind = 'schema' DESC, kind, name
"""


@dataclass(frozen=True)
class Foreign:
    """A bookkeeping object the migrating role does not own."""

    kind: str
    name: str
    owner: str


def foreign_objects(
    connection: Connection, version_table: str = "alembic_version"
) -> list[Foreign]:
    """The bookkeeping objects on `connection` that another role owns (reads only)."""
    rows = connection.execute(
        text(_BOOKKEEPING), {"version_table": version_table, "schema": LOG_SCHEMA}
    )
    return [Foreign(*row) for row in rows]


def refusal(foreign: list[Foreign]) -> UserError:
    """One line naming the first foreign object, its owner, and what to do."""
    first = foreign[0]
    more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
    return UserError(
        f"{first.kind} {first.name} belongs to role {first.owner}, not to the migrating role "
        f"or a role it is a member of{more}: the run trusts only bookkeeping it owns; "
        "nothing was applied. Check who made it; drop it or give it to the migrating role "
        "(ALTER ... OWNER TO), then run again"
    )
