"""What a database holds in a set of schemas, read from the system catalogs.

The one catalog reader: `make verify` compares the expected and the live database with
it, and every test or benchmark that compares two routes (Alembic online, the offline SQL
through psql, `schema.sql`, a template clone) compares two of its descriptions. The result
is plain data, keyed by object kind and schema-qualified name, so two databases compare
key by key. Only SELECTs on the catalogs: a
role that can connect and read (`pg_read_all_data`) can run every query here.

Left out on purpose: objects that belong to an extension (the extension owns them),
NOT NULL constraints as rows of `pg_constraint` (PostgreSQL 18 lists them there; the
column's nullability says the same on every version), indexes that back a constraint
(the constraint stands for them), sequences that implement an identity column (the
column's identity stands for them), and the bookkeeping tables (their structure is
Alembic's and env.py's, their rows are history; only their owners are checked).

Every function takes a SQLAlchemy `Connection` or a plain DBAPI (psycopg2) connection:
the queries are written in psycopg2's own parameter style and run as they are, so a
repeated `make verify` reads the live database through this reader without loading
SQLAlchemy. `names` (the bookkeeping's names) defaults to what `alembic.ini` sets.
"""

from typing import Any

from dbtools.core.bookkeeping import LOG_SCHEMA, Bookkeeping, bookkeeping

# A SQLAlchemy Connection, or a DBAPI connection (psycopg2) with `cursor()`.
Source = Any

# kind -> qualified name -> attributes
Catalog = dict[str, dict[str, dict[str, Any]]]

_NOT_EXTENSION = """NOT EXISTS (SELECT 1 FROM pg_depend e
    WHERE e.classid = {cls}::regclass AND e.objid = {oid} AND e.deptype = 'e')"""

ROLE = "<migrating role>"  # what the migrating role's name reads as, on either side


def _acl(acl: str, kind: str, owner: str) -> str:
    """SQL for an ACL as sorted `grantee=PRIVILEGE[*]` texts (`*`: with grant option).

    A NULL ACL means the default one (`acldefault`); `kind` is acldefault's letter, or
    None for columns (whose default is no grant at all).
    """
    source = f"coalesce({acl}, acldefault('{kind}', {owner}))" if kind else acl
    return f"""ARRAY(SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                ELSE pg_get_userbyid(a.grantee) END || '=' || a.privilege_type
                || CASE WHEN a.is_grantable THEN '*' ELSE '' END
              FROM aclexplode({source}) a ORDER BY 1)"""


_TABLES = f"""
SELECT n.nspname, c.relname, obj_description(c.oid, 'pg_class') AS comment,
       c.relpersistence::text AS persistence, pg_get_partkeydef(c.oid) AS partition_key,
       (SELECT pn.nspname || '.' || p.relname FROM pg_inherits i
        JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
        WHERE i.inhrelid = c.oid AND c.relispartition) AS partition_of,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS bound,
       ARRAY(SELECT pn.nspname || '.' || p.relname FROM pg_inherits i
             JOIN pg_class p ON p.oid = i.inhparent
             JOIN pg_namespace pn ON pn.oid = p.relnamespace
             WHERE i.inhrelid = c.oid AND NOT c.relispartition ORDER BY i.inhseqno) AS inherits,
       ARRAY(SELECT o FROM unnest(c.reloptions) o ORDER BY 1) AS options,
       c.relrowsecurity AS rls, c.relforcerowsecurity AS rls_forced,
       CASE c.relreplident WHEN 'i' THEN 'USING INDEX ' || (
         SELECT quote_ident(x.relname) FROM pg_index ri JOIN pg_class x ON x.oid = ri.indexrelid
         WHERE ri.indrelid = c.oid AND ri.indisreplident)
         ELSE c.relreplident::text END AS replica_identity,
       am.amname AS access_method, pg_get_userbyid(c.relowner) AS owner,
       {_acl("c.relacl", "r", "c.relowner")} AS privileges
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_am am ON am.oid = c.relam
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p')
  AND {_NOT_EXTENSION.format(cls="'pg_class'", oid="c.oid")}
"""

_COLUMNS = f"""
SELECT n.nspname, c.relname, a.attname,
       row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) AS attnum,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS expression, a.attidentity AS identity,
       a.attgenerated AS generated, col_description(c.oid, a.attnum) AS comment,
       CASE WHEN a.attcollation <> t.typcollation
         THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END AS collation,
       CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END AS storage,
       a.attcompression::text AS compression,
       nullif(a.attstattarget, -1) AS statistics,
       ARRAY(SELECT o FROM unnest(a.attoptions) o ORDER BY 1) AS options,
       {_acl("a.attacl", "", "c.relowner")} AS privileges,
       (SELECT ARRAY[s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache]::text[]
               || s.seqcycle::text
        FROM pg_depend dd JOIN pg_sequence s ON s.seqrelid = dd.objid
        WHERE dd.classid = 'pg_class'::regclass AND dd.refclassid = 'pg_class'::regclass
          AND dd.refobjid = c.oid AND dd.refobjsubid = a.attnum
          AND dd.deptype = 'i') AS identity_sequence,
       (SELECT quote_ident(sn.nspname) || '.' || quote_ident(sc.relname)
        FROM pg_depend dd JOIN pg_class sc ON sc.oid = dd.objid
        JOIN pg_namespace sn ON sn.oid = sc.relnamespace
        WHERE dd.classid = 'pg_class'::regclass AND dd.refclassid = 'pg_class'::regclass
          AND dd.refobjid = c.oid AND dd.refobjsubid = a.attnum
          AND dd.deptype = 'i') AS identity_sequence_name,
       (SELECT {_acl("sc.relacl", "s", "sc.relowner")}
        FROM pg_depend dd JOIN pg_class sc ON sc.oid = dd.objid
        WHERE dd.classid = 'pg_class'::regclass AND dd.refclassid = 'pg_class'::regclass
          AND dd.refobjid = c.oid AND dd.refobjsubid = a.attnum
          AND dd.deptype = 'i') AS identity_privileges
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped
"""

_CONSTRAINTS = """
SELECT n.nspname, t.relname, k.conname, k.contype::text AS type,
       pg_get_constraintdef(k.oid, true) AS definition, k.convalidated AS validated,
       obj_description(k.oid, 'pg_constraint') AS comment,
       (SELECT rn.nspname || '.' || r.relname FROM pg_class r
        JOIN pg_namespace rn ON rn.oid = r.relnamespace WHERE r.oid = k.confrelid) AS refers_to
FROM pg_constraint k
JOIN pg_class t ON t.oid = k.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND k.contype NOT IN ('n', 't') AND NOT t.relispartition
"""

_INDEXES = """
SELECT n.nspname, t.relname, c.relname AS index, pg_get_indexdef(i.indexrelid) AS definition,
       i.indisvalid AS valid, i.indisclustered AS clustered,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND t.relkind IN ('r', 'p', 'm') AND NOT t.relispartition
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                  AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
"""

_TYPE_COMMON = f"""obj_description(t.oid, 'pg_type') AS comment,
       pg_get_userbyid(t.typowner) AS owner, {_acl("t.typacl", "T", "t.typowner")} AS privileges
"""

_ENUMS = f"""
SELECT n.nspname, t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels,
       {_TYPE_COMMON}
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = ANY(%(schemas)s) AND {_NOT_EXTENSION.format(cls="'pg_type'", oid="t.oid")}
GROUP BY n.nspname, t.typname, t.oid
"""

_DOMAINS = f"""
SELECT n.nspname, t.typname, format_type(t.typbasetype, t.typtypmod) AS type,
       t.typnotnull AS not_null, pg_get_expr(t.typdefaultbin, 0) AS default,
       CASE WHEN t.typcollation <> b.typcollation
         THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END AS collation,
       ARRAY(SELECT quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid, true)
             FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c'
             ORDER BY k.conname) AS checks,
       {_TYPE_COMMON}
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_type b ON b.oid = t.typbasetype
LEFT JOIN pg_collation co ON co.oid = t.typcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
WHERE n.nspname = ANY(%(schemas)s) AND t.typtype = 'd'
  AND {_NOT_EXTENSION.format(cls="'pg_type'", oid="t.oid")}
"""

_COMPOSITES = f"""
SELECT n.nspname, t.typname,
       ARRAY(SELECT quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
             FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
               AND NOT a.attisdropped ORDER BY a.attnum) AS attributes,
       {_TYPE_COMMON}
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_class r ON r.oid = t.typrelid
WHERE n.nspname = ANY(%(schemas)s) AND t.typtype = 'c' AND r.relkind = 'c'
  AND {_NOT_EXTENSION.format(cls="'pg_type'", oid="t.oid")}
"""

_SEQUENCES = f"""
SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL) AS type, s.seqstart AS start,
       s.seqincrement AS increment, s.seqmin AS min, s.seqmax AS max, s.seqcache AS cache,
       s.seqcycle AS cycle, owner_n.nspname || '.' || owner_t.relname AS owned_by,
       c.relpersistence::text AS persistence, obj_description(c.oid, 'pg_class') AS comment,
       pg_get_userbyid(c.relowner) AS owner,
       {_acl("c.relacl", "s", "c.relowner")} AS privileges
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_depend o ON o.classid = 'pg_class'::regclass AND o.objid = c.oid
  AND o.refclassid = 'pg_class'::regclass AND o.deptype = 'a'
LEFT JOIN pg_class owner_t ON owner_t.oid = o.refobjid
LEFT JOIN pg_namespace owner_n ON owner_n.oid = owner_t.relnamespace
WHERE n.nspname = ANY(%(schemas)s)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'i')
  AND {_NOT_EXTENSION.format(cls="'pg_class'", oid="c.oid")}
"""

_VIEWS = f"""
SELECT n.nspname, c.relname, c.relkind::text AS kind,
       pg_get_viewdef(c.oid, true) AS definition, obj_description(c.oid, 'pg_class') AS comment,
       ARRAY(SELECT o FROM unnest(c.reloptions) o ORDER BY 1) AS options,
       pg_get_userbyid(c.relowner) AS owner, {_acl("c.relacl", "r", "c.relowner")} AS privileges
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('v', 'm')
  AND {_NOT_EXTENSION.format(cls="'pg_class'", oid="c.oid")}
"""

_FUNCTIONS = f"""
SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid) AS arguments,
       p.prokind::text AS kind, pg_get_functiondef(p.oid) AS definition,
       obj_description(p.oid, 'pg_proc') AS comment, pg_get_userbyid(p.proowner) AS owner,
       {_acl("p.proacl", "f", "p.proowner")} AS privileges
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY(%(schemas)s) AND p.prokind IN ('f', 'p')
  AND {_NOT_EXTENSION.format(cls="'pg_proc'", oid="p.oid")}
"""

_TRIGGERS = """
SELECT n.nspname, t.relname, g.tgname, pg_get_triggerdef(g.oid, true) AS definition,
       g.tgenabled::text AS enabled, obj_description(g.oid, 'pg_trigger') AS comment
FROM pg_trigger g
JOIN pg_class t ON t.oid = g.tgrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND NOT g.tgisinternal AND g.tgparentid = 0
"""

_RULES = """
SELECT n.nspname, t.relname, r.rulename, pg_get_ruledef(r.oid, true) AS definition,
       r.ev_enabled::text AS enabled, obj_description(r.oid, 'pg_rewrite') AS comment
FROM pg_rewrite r
JOIN pg_class t ON t.oid = r.ev_class
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND r.rulename <> '_RETURN'
"""

_POLICIES = """
SELECT n.nspname, t.relname, p.polname, p.polpermissive AS permissive,
       p.polcmd::text AS command,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r) END
             FROM unnest(p.polroles) r ORDER BY 1) AS roles,
       pg_get_expr(p.polqual, p.polrelid) AS using,
       pg_get_expr(p.polwithcheck, p.polrelid) AS with_check,
       obj_description(p.oid, 'pg_policy') AS comment
FROM pg_policy p
JOIN pg_class t ON t.oid = p.polrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = ANY(%(schemas)s)
"""

_STATISTICS = """
SELECT n.nspname, s.stxname, pg_get_statisticsobjdef(s.oid) AS definition,
       obj_description(s.oid, 'pg_statistic_ext') AS comment,
       pg_get_userbyid(s.stxowner) AS owner
FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace
WHERE n.nspname = ANY(%(schemas)s)
"""

_SCHEMAS = f"""
SELECT n.nspname, pg_get_userbyid(n.nspowner) AS owner,
       obj_description(n.oid, 'pg_namespace') AS comment,
       {_acl("n.nspacl", "n", "n.nspowner")} AS privileges
FROM pg_namespace n WHERE n.nspname = ANY(%(schemas)s)
"""

_EXTENSIONS = """
SELECT x.extname, n.nspname AS schema
FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
"""

# A default ACL holds what it adds to (or takes from) PostgreSQL's built-in default.
_DEFAULT_PRIVILEGES = """
SELECT pg_get_userbyid(d.defaclrole) AS role, n.nspname, d.defaclobjtype::text AS objects,
       ARRAY(SELECT '+' || g FROM unnest(ARRAY(
               SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)
                      END || '=' || a.privilege_type
                      || CASE WHEN a.is_grantable THEN '*' ELSE '' END
               FROM aclexplode(d.defaclacl) a
               EXCEPT SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                             ELSE pg_get_userbyid(a.grantee) END || '=' || a.privilege_type
                             || CASE WHEN a.is_grantable THEN '*' ELSE '' END
               FROM aclexplode(CASE WHEN d.defaclnamespace = 0 THEN acldefault(
                 translate(d.defaclobjtype::text, 'S', 's')::"char", d.defaclrole) END) a)) g
             UNION ALL
             SELECT '-' || g FROM unnest(ARRAY(
               SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)
                      END || '=' || a.privilege_type
                      || CASE WHEN a.is_grantable THEN '*' ELSE '' END
               FROM aclexplode(CASE WHEN d.defaclnamespace = 0 THEN acldefault(
                 translate(d.defaclobjtype::text, 'S', 's')::"char", d.defaclrole) END) a
               EXCEPT SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                             ELSE pg_get_userbyid(a.grantee) END || '=' || a.privilege_type
                             || CASE WHEN a.is_grantable THEN '*' ELSE '' END
               FROM aclexplode(d.defaclacl) a)) g
             ORDER BY 1) AS privileges
FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
WHERE d.defaclnamespace = 0 OR n.nspname = ANY(%(schemas)s)
"""

# Every kind of object the reader describes, in the order they are created (verify
# restores them in this order).
KINDS = (
    "schema",
    "extension",
    "enum",
    "domain",
    "composite",
    "sequence",
    "function",
    "table",
    "column",
    "constraint",
    "index",
    "view",
    "trigger",
    "rule",
    "policy",
    "statistics",
    "default_privileges",
)


def rows(connection: Source, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of `sql` (psycopg2's `%(name)s` parameters) as dicts, on either kind of
    connection, inside whatever transaction it is in."""
    if hasattr(connection, "exec_driver_sql"):  # SQLAlchemy: its own transaction handling
        return [dict(r) for r in connection.exec_driver_sql(sql, params).mappings()]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [c.name for c in cursor.description]
        return [dict(zip(columns, r, strict=True)) for r in cursor.fetchall()]


def read(
    connection: Source,
    schemas: list[str],
    role: str | None = None,
    names: Bookkeeping | None = None,
) -> Catalog:
    """Everything `make verify` compares, in `schemas`, on `connection`'s database.

    Owners and grantees named `role` (by default the role the migrations ran as, see
    `migrating_role`) read as `ROLE`, so two databases migrated by different roles compare.
    """
    names = names or bookkeeping()
    role = role or migrating_role(connection, schemas, names) or current_user(connection)

    def rows_of(sql: str) -> list[dict[str, Any]]:
        return [_as_role(r, role) for r in rows(connection, sql, {"schemas": schemas})]

    catalog: Catalog = {kind: {} for kind in KINDS}
    for r in rows_of(_SCHEMAS):
        catalog["schema"][r["nspname"]] = _pick(r, "owner", "comment", "privileges")
    for r in rows_of(_EXTENSIONS):
        catalog["extension"][r["extname"]] = {"schema": r["schema"]}
    for r in rows_of(_TABLES):
        if not names.is_bookkeeping("table", r["relname"], r["nspname"]):
            catalog["table"][f"{r['nspname']}.{r['relname']}"] = _table(r)
    for r in rows_of(_COLUMNS):
        if not names.is_bookkeeping("table", r["relname"], r["nspname"]):
            catalog["column"][f"{r['nspname']}.{r['relname']}.{r['attname']}"] = _column(r)
    for r in rows_of(_CONSTRAINTS):
        if not names.is_bookkeeping("table", r["relname"], r["nspname"]):
            catalog["constraint"][f"{r['nspname']}.{r['relname']}.{r['conname']}"] = _constraint(r)
    for r in rows_of(_INDEXES):
        if not names.is_bookkeeping("table", r["relname"], r["nspname"]):
            catalog["index"][f"{r['nspname']}.{r['index']}"] = {
                "table": f"{r['nspname']}.{r['relname']}",
                **_pick(r, "definition", "valid", "clustered", "comment"),
            }
    for r in rows_of(_ENUMS):
        catalog["enum"][f"{r['nspname']}.{r['typname']}"] = {
            "labels": list(r["labels"]),
            **_pick(r, "comment", "owner", "privileges"),
        }
    for r in rows_of(_DOMAINS):
        catalog["domain"][f"{r['nspname']}.{r['typname']}"] = _pick(
            r,
            "type",
            "not_null",
            "default",
            "collation",
            "checks",
            "comment",
            "owner",
            "privileges",
        )
    for r in rows_of(_COMPOSITES):
        catalog["composite"][f"{r['nspname']}.{r['typname']}"] = _pick(
            r, "attributes", "comment", "owner", "privileges"
        )
    for r in rows_of(_SEQUENCES):
        attrs = _pick(r, *SEQUENCE_OPTIONS, "persistence", "comment", "owner", "privileges")
        attrs["table"] = r["owned_by"]  # a serial column's table, which drops it too
        catalog["sequence"][f"{r['nspname']}.{r['relname']}"] = attrs
    for r in rows_of(_VIEWS):
        catalog["view"][f"{r['nspname']}.{r['relname']}"] = {
            "materialized": r["kind"] == "m",
            **_pick(r, "definition", "comment", "options", "owner", "privileges"),
        }
    for r in rows_of(_FUNCTIONS):
        catalog["function"][f"{r['nspname']}.{r['proname']}({r['arguments']})"] = {
            "procedure": r["kind"] == "p",
            **_pick(r, "definition", "comment", "owner", "privileges"),
        }
    for kind, sql, name in (
        ("trigger", _TRIGGERS, "tgname"),
        ("rule", _RULES, "rulename"),
        ("policy", _POLICIES, "polname"),
    ):
        for r in rows_of(sql):
            attrs = {k: v for k, v in r.items() if k not in ("nspname", "relname", name)}
            key = f"{r['nspname']}.{r['relname']}.{r[name]}"
            catalog[kind][key] = {"table": f"{r['nspname']}.{r['relname']}", **attrs}
    for r in rows_of(_STATISTICS):
        catalog["statistics"][f"{r['nspname']}.{r['stxname']}"] = _pick(
            r, "definition", "comment", "owner"
        )
    for r in rows_of(_DEFAULT_PRIVILEGES):
        key = f"{r['role']} {r['nspname'] or '*'} {r['objects']}"
        if r["privileges"]:  # an entry that restates the built-in default says nothing
            catalog["default_privileges"][key] = _pick(
                r, "role", "nspname", "objects", "privileges"
            )
    return catalog


SEQUENCE_OPTIONS = ("type", "start", "increment", "min", "max", "cache", "cycle")


def _pick(r: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: _plain(r[name]) for name in names}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def current_user(connection: Source) -> str:
    return rows(connection, "SELECT current_user AS name", {})[0]["name"]


def _as_role(r: dict[str, Any], role: str) -> dict[str, Any]:
    """`role` as `ROLE` wherever a row names a role (owners, grantees, policy roles)."""
    for name in ("owner", "role"):
        if r.get(name) == role:
            r[name] = ROLE
    if isinstance(r.get("roles"), list):
        r["roles"] = sorted(ROLE if x == role else x for x in r["roles"])
    for name in ("privileges", "identity_privileges"):
        if isinstance(r.get(name), list):
            r[name] = sorted(_grant_as_role(g, role) for g in r[name])
    return r


def _grant_as_role(grant: str, role: str) -> str:
    sign = grant[0] if grant[:1] in ("+", "-") else ""
    grantee, _, privilege = grant[len(sign) :].rpartition("=")
    return f"{sign}{ROLE if grantee == role else grantee}={privilege}"


def _table(r: dict[str, Any]) -> dict[str, Any]:
    return _pick(
        r,
        "comment",
        "persistence",
        "partition_key",
        "partition_of",
        "bound",
        "inherits",
        "options",
        "rls",
        "rls_forced",
        "replica_identity",
        "access_method",
        "owner",
        "privileges",
    )


def _column(r: dict[str, Any]) -> dict[str, Any]:
    generated = r["generated"] or ""
    sequence = r["identity_sequence"]
    return {
        "table": f"{r['nspname']}.{r['relname']}",
        "position": r["attnum"],  # for CREATE TABLE in a fix; never compared
        "type": r["type"],
        "not_null": r["not_null"],
        # pg_attrdef holds a generated column's expression, not a default.
        "default": None if generated else r["expression"],
        "identity": r["identity"] or "",
        "generated": r["expression"] if generated else None,
        "comment": r["comment"],
        "collation": r["collation"],
        "storage": r["storage"],
        "compression": r["compression"] or "",
        "statistics": r["statistics"],
        "options": list(r["options"]),
        "privileges": list(r["privileges"]),
        # An identity column's sequence: its name (for a fix; never compared by verify)
        # and its privileges, which pg_dump shows as GRANTs on the sequence.
        "identity_sequence": r["identity_sequence_name"],
        "identity_privileges": _plain(r["identity_privileges"]),
        "identity_options": (
            dict(zip(("start", "increment", "min", "max", "cache", "cycle"), sequence, strict=True))
            if sequence
            else None
        ),
    }


def _constraint(r: dict[str, Any]) -> dict[str, Any]:
    # The validated state is its own attribute; the definition reads the same either way.
    definition = r["definition"].removesuffix(" NOT VALID")
    return {
        "table": f"{r['nspname']}.{r['relname']}",
        "type": r["type"],
        "definition": definition,
        "validated": r["validated"],
        "comment": r["comment"],
        "refers_to": r["refers_to"],
    }


_OWNERS = """
SELECT 'schema' AS kind, n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner
FROM pg_namespace n WHERE n.nspname = %(log_schema)s
UNION ALL
SELECT 'table', n.nspname || '.' || c.relname, pg_get_userbyid(c.relowner)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND (
  (n.nspname = %(log_schema)s AND c.relname = %(log_table)s)
  OR c.oid = to_regclass(%(version_table)s))
"""


def bookkeeping_owners(connection: Source, names: Bookkeeping | None = None) -> dict[str, str]:
    """`'table public.alembic_version' -> owner`, for each bookkeeping object present."""
    names = names or bookkeeping()
    params = {
        "log_schema": names.log_schema,
        "log_table": names.log_table,
        "version_table": names.qualified_version,
    }
    return {f"{r['kind']} {r['name']}": r["owner"] for r in rows(connection, _OWNERS, params)}


_TABLE_OWNERS = """
SELECT pg_get_userbyid(c.relowner) AS owner, count(*) AS tables
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p')
  AND c.oid IS DISTINCT FROM to_regclass(%(version_table)s)
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1
"""


def migrating_role(
    connection: Source, schemas: list[str], names: Bookkeeping | None = None
) -> str | None:
    """The role the migrations ran as: the owner of (most of) the schemas' tables."""
    params = {"schemas": schemas, "version_table": (names or bookkeeping()).qualified_version}
    found = rows(connection, _TABLE_OWNERS, params)
    return found[0]["owner"] if found else None


_USER_SCHEMAS = """
SELECT nspname FROM pg_namespace
WHERE nspname NOT IN ('information_schema', %(log_schema)s) AND nspname !~ '^pg_'
ORDER BY 1
"""


def user_schemas(connection: Source) -> list[str]:
    """Every schema but PostgreSQL's own and the migration log's."""
    return [r["nspname"] for r in rows(connection, _USER_SCHEMAS, {"log_schema": LOG_SCHEMA})]


def describe(connection: Source, schemas: list[str] | None = None) -> Catalog:
    """`read` of `schemas`, by default every schema but PostgreSQL's own and the log's."""
    return read(connection, user_schemas(connection) if schemas is None else schemas)


# Attributes that say where a thing is, not what it is: never compared.
_NOT_COMPARED = ("position",)


def differences(expected: Catalog, actual: Catalog) -> list[str]:
    """Readable lines naming what one description has, lacks or holds differently."""
    lines = []
    for kind in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(kind, {}), actual.get(kind, {})
        lines += [f"{kind}: missing {key}" for key in sorted(want.keys() - got.keys())]
        lines += [f"{kind}: unexpected {key}" for key in sorted(got.keys() - want.keys())]
        for key in sorted(want.keys() & got.keys()):
            for attr in sorted(want[key].keys() | got[key].keys()):
                if attr in _NOT_COMPARED:
                    continue
                a, b = want[key].get(attr), got[key].get(attr)
                if a != b:
                    lines.append(f"{kind}: {key} {attr}: expected {a!r}, found {b!r}")
    return lines
