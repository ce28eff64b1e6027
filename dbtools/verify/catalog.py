"""What a database holds in the schemas being verified, read from the system catalogs.

The result is plain data, keyed by object kind and schema-qualified name, so the
expected and the live database compare key by key. Only SELECTs on the catalogs: a
role that can connect and read (`pg_read_all_data`) can run every query here.

Left out on purpose: objects that belong to an extension (the extension owns them),
NOT NULL constraints as rows of `pg_constraint` (PostgreSQL 18 lists them there; the
column's nullability says the same on every version), indexes that back a constraint
(the constraint stands for them), sequences that implement an identity column (the
column's identity stands for them), and the bookkeeping tables (their structure is
Alembic's and env.py's, their rows are history; only their owners are checked).
"""

from typing import Any

from sqlalchemy import Connection, text

from dbtools.core.bookkeeping import bookkeeping

# (schema or None for "any verified schema", name) of every bookkeeping table.

# kind -> qualified name -> attributes
Catalog = dict[str, dict[str, dict[str, Any]]]

_NOT_EXTENSION = """NOT EXISTS (SELECT 1 FROM pg_depend e
    WHERE e.classid = {cls}::regclass AND e.objid = {oid} AND e.deptype = 'e')"""

_TABLES = f"""
SELECT n.nspname, c.relname, obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND {_NOT_EXTENSION.format(cls="'pg_class'", oid="c.oid")}
"""

_COLUMNS = """
SELECT n.nspname, c.relname, a.attname, a.attnum,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS expression, a.attidentity AS identity,
       a.attgenerated AS generated, col_description(c.oid, a.attnum) AS comment
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped
"""

_CONSTRAINTS = """
SELECT n.nspname, t.relname, k.conname, k.contype::text AS type,
       pg_get_constraintdef(k.oid, true) AS definition, k.convalidated AS validated
FROM pg_constraint k
JOIN pg_class t ON t.oid = k.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = ANY(:schemas) AND k.contype <> 'n' AND NOT t.relispartition
"""

_INDEXES = """
SELECT n.nspname, t.relname, c.relname AS index, pg_get_indexdef(i.indexrelid) AS definition,
       i.indisvalid AS valid
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(:schemas) AND t.relkind IN ('r', 'p', 'm') AND NOT t.relispartition
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                  AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
"""

_ENUMS = f"""
SELECT n.nspname, t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels,
       obj_description(t.oid, 'pg_type') AS comment
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = ANY(:schemas) AND {_NOT_EXTENSION.format(cls="'pg_type'", oid="t.oid")}
GROUP BY n.nspname, t.typname, t.oid
"""

_SEQUENCES = f"""
SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL) AS type, s.seqstart AS start,
       s.seqincrement AS increment, s.seqmin AS min, s.seqmax AS max, s.seqcache AS cache,
       s.seqcycle AS cycle, owner_n.nspname || '.' || owner_t.relname AS owned_by
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_depend o ON o.classid = 'pg_class'::regclass AND o.objid = c.oid
  AND o.refclassid = 'pg_class'::regclass AND o.deptype = 'a'
LEFT JOIN pg_class owner_t ON owner_t.oid = o.refobjid
LEFT JOIN pg_namespace owner_n ON owner_n.oid = owner_t.relnamespace
WHERE n.nspname = ANY(:schemas)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'i')
  AND {_NOT_EXTENSION.format(cls="'pg_class'", oid="c.oid")}
"""

_VIEWS = f"""
SELECT n.nspname, c.relname, c.relkind::text AS kind,
       pg_get_viewdef(c.oid, true) AS definition, obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('v', 'm')
  AND {_NOT_EXTENSION.format(cls="'pg_class'", oid="c.oid")}
"""

_FUNCTIONS = f"""
SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid) AS arguments,
       p.prokind::text AS kind, pg_get_functiondef(p.oid) AS definition,
       obj_description(p.oid, 'pg_proc') AS comment
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY(:schemas) AND p.prokind IN ('f', 'p')
  AND {_NOT_EXTENSION.format(cls="'pg_proc'", oid="p.oid")}
"""

_OWNERS = """
SELECT 'schema' AS kind, n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner
FROM pg_namespace n WHERE n.nspname = :log_schema
UNION ALL
SELECT 'table', n.nspname || '.' || c.relname, pg_get_userbyid(c.relowner)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND (
  (n.nspname = :log_schema AND c.relname = :log_table)
  OR c.oid = to_regclass(:version_table))
"""


def read(connection: Connection, schemas: list[str]) -> Catalog:
    """Everything `make verify` compares, in `schemas`, on `connection`'s database."""
    names = bookkeeping()

    def rows(sql: str) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in connection.execute(text(sql), {"schemas": schemas})]

    catalog: Catalog = {
        "table": {},
        "column": {},
        "constraint": {},
        "index": {},
        "enum": {},
        "sequence": {},
        "view": {},
        "function": {},
    }
    for r in rows(_TABLES):
        if not names.is_bookkeeping("table", r["relname"], r["nspname"]):
            catalog["table"][f"{r['nspname']}.{r['relname']}"] = {"comment": r["comment"]}
    for r in rows(_COLUMNS):
        if not names.is_bookkeeping("table", r["relname"], r["nspname"]):
            catalog["column"][f"{r['nspname']}.{r['relname']}.{r['attname']}"] = _column(r)
    for r in rows(_CONSTRAINTS):
        if not names.is_bookkeeping("table", r["relname"], r["nspname"]):
            catalog["constraint"][f"{r['nspname']}.{r['relname']}.{r['conname']}"] = _constraint(r)
    for r in rows(_INDEXES):
        if not names.is_bookkeeping("table", r["relname"], r["nspname"]):
            table = f"{r['nspname']}.{r['relname']}"
            catalog["index"][f"{r['nspname']}.{r['index']}"] = {
                "table": table,
                "definition": r["definition"],
                "valid": r["valid"],
            }
    for r in rows(_ENUMS):
        catalog["enum"][f"{r['nspname']}.{r['typname']}"] = {
            "labels": list(r["labels"]),
            "comment": r["comment"],
        }
    for r in rows(_SEQUENCES):
        attrs = {k: r[k] for k in ("type", "start", "increment", "min", "max", "cache", "cycle")}
        attrs["table"] = r["owned_by"]  # a serial column's table, which drops it too
        catalog["sequence"][f"{r['nspname']}.{r['relname']}"] = attrs
    for r in rows(_VIEWS):
        catalog["view"][f"{r['nspname']}.{r['relname']}"] = {
            "materialized": r["kind"] == "m",
            "definition": r["definition"],
            "comment": r["comment"],
        }
    for r in rows(_FUNCTIONS):
        catalog["function"][f"{r['nspname']}.{r['proname']}({r['arguments']})"] = {
            "procedure": r["kind"] == "p",
            "definition": r["definition"],
            "comment": r["comment"],
        }
    return catalog


def _column(r: dict[str, Any]) -> dict[str, Any]:
    generated = r["generated"] or ""
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
    }


def _constraint(r: dict[str, Any]) -> dict[str, Any]:
    # The validated state is its own attribute; the definition reads the same either way.
    definition = r["definition"].removesuffix(" NOT VALID")
    return {
        "table": f"{r['nspname']}.{r['relname']}",
        "type": r["type"],
        "definition": definition,
        "validated": r["validated"],
    }


def bookkeeping_owners(connection: Connection) -> dict[str, str]:
    """`'table public.alembic_version' -> owner`, for each bookkeeping object present."""
    names = bookkeeping()
    params = {
        "log_schema": names.log_schema,
        "log_table": names.log_table,
        "version_table": names.qualified_version,
    }
    result = connection.execute(text(_OWNERS), params)
    return {f"{kind} {name}": owner for kind, name, owner in result}


_TABLE_OWNERS = """
SELECT pg_get_userbyid(c.relowner) AS owner, count(*) AS tables
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p')
  AND c.oid IS DISTINCT FROM to_regclass(:version_table)
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1
"""


def migrating_role(connection: Connection, schemas: list[str]) -> str | None:
    """The role the migrations ran as: the owner of (most of) the schemas' tables."""
    params = {"schemas": schemas, "version_table": bookkeeping().qualified_version}
    row = connection.execute(text(_TABLE_OWNERS), params).first()
    return row.owner if row else None
