"""The run trusts only bookkeeping and schemas it owns.

A role with nothing but CREATE on the database could make the `migration_audit` schema
(or `alembic_version`) before the first run, then put a trigger on the log that runs as
the deploying role, or rewrite checksums to block deploys or hide an edited revision.
So before a run applies anything, the version table, the log's schema, everything in it,
and what is attached to them (triggers and their functions, rules, policies) must belong
to the migrating role or a role it is a member of (`pg_has_role(owner, 'MEMBER')`).
So must the schemas the run writes into (the pinned search path's and the version
table's), and no other role may have CREATE on them: a table or function another role
put there would be what an unqualified name in a revision means.
"""

from dataclasses import dataclass

from sqlalchemy import Connection, text

from dbtools.core.bookkeeping import Bookkeeping
from dbtools.core.errors import UserError

# The relations that are bookkeeping: the version table Alembic uses (schema-qualified,
# as Alembic is configured to use it) and every relation in the log's schema.
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
), found AS (
SELECT kind, name, pg_get_userbyid(owner) AS who, 'owns' AS how FROM objects
WHERE NOT pg_has_role(owner, 'MEMBER')
UNION ALL
-- The schemas the run writes into (the search path's, and the version table's): owned by
-- the migrating role, and no other role (nor PUBLIC) may create in them.
SELECT 'schema', quote_ident(n.nspname), pg_get_userbyid(n.nspowner), 'owns'
FROM pg_namespace n
WHERE n.nspname = ANY(:written) AND n.nspname <> :schema
  AND NOT pg_has_role(n.nspowner, 'MEMBER')
UNION ALL
SELECT 'schema', quote_ident(n.nspname),
       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, 'creates'
FROM pg_namespace n
CROSS JOIN LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
WHERE (n.nspname = ANY(:written) OR n.nspname = :schema) AND a.privilege_type = 'CREATE'
  AND (a.grantee = 0 OR NOT pg_has_role(a.grantee, 'MEMBER'))
)
SELECT kind, name, who, how FROM found
ORDER BY how = 'owns' DESC, kind = 'schema' DESC, kind, name, who
"""


@dataclass(frozen=True)
class Foreign:
    """A bookkeeping object the migrating role does not own."""

    kind: str
    name: str
    owner: str  # the role that owns it, or that may create in it
    how: str = "owns"  # "owns", or "creates" (CREATE on a schema the run writes into)


def foreign_objects(
    connection: Connection, names: Bookkeeping, written: tuple[str, ...] = ()
) -> list[Foreign]:
    """What on `connection` another role owns, or may create in (reads only): the
    bookkeeping, and the schemas in `written` (those the run writes into)."""
    schemas = list(dict.fromkeys([*written, names.version_schema]))
    rows = connection.execute(
        text(_BOOKKEEPING),
        {
            "version_table": names.qualified_version,
            "schema": names.log_schema,
            "written": schemas,
        },
    )
    return [Foreign(*row) for row in rows]


def refusal(foreign: list[Foreign]) -> UserError:
    """One line naming the first foreign object, its owner, and what to do."""
    first = foreign[0]
    more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
    if first.how == "creates":
        return UserError(
            f"role {first.owner} may create objects in {first.kind} {first.name}, which the run "
            f"writes into{more}: another role could put a table or function there that the "
            f"migrations would use; nothing was applied. REVOKE CREATE ON SCHEMA {first.name} "
            f"FROM {first.owner}, then run again"
        )
    return UserError(
        f"{first.kind} {first.name} belongs to role {first.owner}, not to the migrating role "
        f"or a role it is a member of{more}: the run trusts only bookkeeping and schemas it "
        "owns; nothing was applied. Check who made it; drop it or give it to the migrating "
        "role (ALTER ... OWNER TO), then run again"
    )
