"""Every difference between the expected catalog and the live one, each with its fix.

A difference has a kind (what differs, e.g. `index-invalid`), the object (schema-qualified),
what was expected and what was found (short readable values; None when absent), and the
SQL that restores the expected state. They come out in the order their fixes can run, so
the script of all the fixes runs in one transaction (`psql -1`) and converges:

1. what is extra and hangs on something else, dropped first (default privileges, triggers,
   rules, policies, statistics, views, indexes, foreign keys, other constraints, columns,
   tables);
2. what is missing or changed, created in dependency order: schemas, extensions, types,
   sequences, functions, tables (a parent before its partitions), columns, the rows of a
   table rebuilt for its partitioning, keys before the foreign keys that need them,
   checks, indexes, views, triggers, rules, policies, statistics, default privileges;
3. what is extra and other things hang on, dropped last: functions, sequences, types,
   extensions, and schemas after everything they held.

Owners read as `catalog.ROLE` on both sides (the role each database was migrated by); a
fix that sets an owner or grants to it names `role`, the live database's migrating role.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from dbtools.core.catalog import KINDS, ROLE, Catalog
from dbtools.verify import fixes
from dbtools.verify.placeholders import placeholder


@dataclass(frozen=True)
class Difference:
    kind: str
    object: str
    expected: str | None
    actual: str | None
    fix: str


Attrs = dict[str, Any]
# fix(key, expected attributes, actual attributes) -> SQL
_Fix = Callable[[str, Attrs, Attrs], str]

# Extras dropped before anything is created, in this order (what depends on others first).
_DROP_FIRST = (
    "default_privileges",
    "trigger",
    "rule",
    "policy",
    "statistics",
    "view",
    "index",
    "constraint",
    "column",
    "table",
)
# Missing or changed, created or altered in this order.
_CREATE = KINDS  # the reader lists the kinds in the order they are created
# Extras dropped after everything else: what the rest may still use until then.
_DROP_LAST = ("function", "sequence", "composite", "domain", "enum", "extension", "schema")
# The kinds of constraint that others need (a foreign key needs its referenced key).
_KEYS = ("p", "u", "x")


def differences(expected: Catalog, actual: Catalog, role: str) -> list[Difference]:
    """What differs, in the order the fixes run; `role` is the live migrating role."""
    rebuilt = _rebuilt_tables(expected, actual)
    actual = _without(actual, rebuilt)
    found: list[Difference] = []
    for kind in _DROP_FIRST:
        found += _extras(kind, expected, actual)
    found += [_rebuild(table, expected) for table in rebuilt]
    for kind in _CREATE:
        found += _missing_or_changed(kind, expected, actual, rebuilt)
    for kind in _DROP_LAST:
        found += _extras(kind, expected, actual)
    return [_named(d, role) for d in found]


def _named(d: Difference, role: str) -> Difference:
    """The fix names the live migrating role where the catalogs say `ROLE`."""
    fix = d.fix.replace(fixes.ident(ROLE), fixes.ident(role))
    return Difference(d.kind, d.object, d.expected, d.actual, fix)


# Tables whose partitioning changed cannot be altered into shape: they are rebuilt.


def _partitioning(t: Attrs) -> tuple[Any, ...]:
    return (t["partition_key"], t["partition_of"], t["bound"])


def _rebuilt_tables(expected: Catalog, actual: Catalog) -> list[str]:
    both = expected["table"].keys() & actual["table"].keys()
    return sorted(
        k for k in both if _partitioning(expected["table"][k]) != _partitioning(actual["table"][k])
    )


def _without(actual: Catalog, rebuilt: list[str]) -> Catalog:
    """`actual` as it is once the rebuilt tables are dropped (with what hangs on them)."""
    if not rebuilt:
        return actual
    gone = set(rebuilt)
    gone |= {k for k, t in actual["table"].items() if t["partition_of"] in gone}
    result: Catalog = {}
    for kind, objects in actual.items():
        result[kind] = {
            k: v
            for k, v in objects.items()
            if not (kind == "table" and k in gone)
            and v.get("table") not in gone
            and v.get("refers_to") not in gone
        }
    return result


def _holding(table: str) -> str:
    return "verify_rows_" + table.replace(".", "_")[:48]


def _rebuild(table: str, expected: Catalog) -> Difference:
    want = expected["table"][table]
    return Difference(
        "table-partitioning",
        table,
        _partitioning_shown(want),
        "differently partitioned",
        "-- its rows are kept in a temporary table and put back once it is rebuilt\n"
        + fixes.save_rows(table, _holding(table)),
    )


def _partitioning_shown(t: Attrs) -> str:
    if t["partition_key"]:
        return f"partitioned by {t['partition_key']}"
    if t["partition_of"]:
        return f"partition of {t['partition_of']} {t['bound']}"
    return "not partitioned"


# Missing and changed objects


def _missing_or_changed(
    kind: str, expected: Catalog, actual: Catalog, rebuilt: list[str]
) -> Iterator[Difference]:
    want_all, got_all = expected[kind], actual[kind]
    missing = sorted(
        want_all.keys() - got_all.keys(), key=lambda k: _creation_order(kind, k, want_all)
    )
    for key in missing:
        # A missing table's CREATE TABLE carries its columns; its constraints and indexes
        # follow, each with its own fix.
        if not (kind == "column" and _whole_table(want_all[key], expected, actual)):
            yield _missing(kind, key, want_all[key], expected)
    if kind == "column":
        yield from _restored_rows(rebuilt, expected)
    for key in sorted(
        want_all.keys() & got_all.keys(), key=lambda k: _creation_order(kind, k, want_all)
    ):
        yield from _changed(kind, key, want_all[key], got_all[key], expected, actual)


def _creation_order(kind: str, key: str, objects: dict[str, Attrs]) -> tuple[Any, ...]:
    if kind == "table":  # a parent before its partitions and children
        return (bool(objects[key]["partition_of"] or objects[key]["inherits"]), key)
    if kind == "constraint":  # keys, then checks and the rest, then the foreign keys
        t = objects[key]["type"]
        return (0 if t in _KEYS else 2 if t == "f" else 1, key)
    return (0, key)


def _restored_rows(rebuilt: list[str], expected: Catalog) -> Iterator[Difference]:
    for table in rebuilt:
        columns = [
            fixes.column_name(k)
            for k, c in sorted(expected["column"].items(), key=lambda kv: kv[1]["position"])
            if c["table"] == table and not c["generated"] and c["identity"] != "a"
        ]
        if expected["table"][table]["partition_of"]:  # a partition: through its parent
            columns = [
                fixes.column_name(k)
                for k, c in expected["column"].items()
                if c["table"] == expected["table"][table]["partition_of"]
            ]
        yield Difference(
            "table-rows",
            table,
            "its rows",
            "kept aside",
            fixes.restore_rows(table, _holding(table), columns),
        )


def _extras(kind: str, expected: Catalog, actual: Catalog) -> list[Difference]:
    want_all, got_all = expected[kind], actual[kind]
    extra = got_all.keys() - want_all.keys()
    order = sorted(extra, key=lambda k: _creation_order(kind, k, got_all), reverse=True)
    # DROP TABLE takes an extra table's columns, constraints, indexes, triggers, policies,
    # serial sequences and partitions with it.
    return [
        _extra(kind, key, got_all[key])
        for key in order
        if not _whole_table(got_all[key], actual, expected)
        and not (kind == "table" and got_all[key]["partition_of"] in extra)
    ]


def _whole_table(obj: Attrs, has: Catalog, lacks: Catalog) -> bool:
    """Whether `obj` belongs to a table that only one side has."""
    table = obj.get("table")
    return table is not None and table in has["table"] and table not in lacks["table"]


def _missing(kind: str, key: str, want: Attrs, expected: Catalog) -> Difference:
    if kind == "table":
        columns = {k: c for k, c in expected["column"].items() if c["table"] == key}
        fix = fixes.create_table(key, columns, want)
        shown = f"table with columns {', '.join(fixes.column_name(k) for k in columns)}"
        if want["partition_of"]:
            shown = f"partition of {want['partition_of']}"
        fix += _after_create(kind, key, want, _EMPTY[kind])
    elif kind == "column":
        fix = fixes.add_column(key, want, placeholder(want["type"], expected))
        shown = _summary(kind, want)
        fix += _after_create(kind, key, want, _EMPTY[kind])
    elif kind == "default_privileges":
        fix = fixes.default_privileges(want, want["privileges"], [])
        shown = ", ".join(want["privileges"])
    else:
        fix = _CREATE_FIX[kind](key, want)
        shown = _summary(kind, want)
        fix += _after_create(kind, key, want, _EMPTY.get(kind, {}))
    return Difference(f"{kind}-missing", key, shown, None, fix)


# What a plain CREATE leaves at PostgreSQL's defaults; set after it when expected differs.
# The owner is whoever runs the script: always set (None is never what is expected).
_EMPTY: dict[str, Attrs] = {
    "table": {
        "options": [],
        "rls": False,
        "rls_forced": False,
        "replica_identity": "d",
        "owner": None,
        "access_method": "heap",
    },
    "column": {"storage": None, "compression": "", "statistics": None, "options": []},
    "sequence": {"owner": None},
    "view": {"options": [], "owner": None},
    "function": {"owner": None},
    "enum": {"owner": None},
    "domain": {"owner": None},
    "composite": {"owner": None},
    "schema": {"owner": None},
    "statistics": {"owner": None},
    "index": {"clustered": False},
}


# Kinds whose CREATE fix does not carry the comment itself.
_CREATED_WITHOUT_COMMENT = ("index", "constraint", "sequence", "enum")


def _after_create(kind: str, key: str, want: Attrs, defaults: Attrs) -> str:
    """What CREATE does not say: owner, options, storage, RLS ... where expected differs."""
    statements = []
    for attribute, _diff_kind, fix_for in _ATTRIBUTES.get(kind, []):
        if attribute in defaults and want.get(attribute) != defaults[attribute]:
            if kind == "table" and attribute == "access_method" and want["partition_key"]:
                continue
            statements.append(fix_for(key, want, defaults))
    if kind in _CREATED_WITHOUT_COMMENT and want.get("comment") is not None:
        statements.append(fixes.comment(kind, key, want, want["comment"]))
    if "privileges" in want and kind not in ("column",):
        statements.append(_privileges(kind, key, want, _default_privileges(kind, want)))
    elif kind == "column" and want["privileges"]:
        statements.append(_privileges(kind, key, want, {"privileges": []}))
    return "".join("\n" + s for s in statements if s)


def _default_privileges(kind: str, want: Attrs) -> Attrs:
    """The privileges a new object has (its owner's, plus PUBLIC's for some kinds)."""
    owner_all = {
        "table": _TABLE_PRIVILEGES,
        "view": _TABLE_PRIVILEGES,
        "sequence": ("SELECT", "UPDATE", "USAGE"),
        "function": ("EXECUTE",),
        "enum": ("USAGE",),
        "domain": ("USAGE",),
        "composite": ("USAGE",),
        "schema": ("CREATE", "USAGE"),
    }[kind]
    owner = want.get("owner") or ROLE
    granted = [f"{owner}={p}" for p in owner_all if p in _privileges_known(want)]
    if kind in ("function", "enum", "domain", "composite"):
        granted.append("PUBLIC=" + owner_all[0])
    return {"privileges": sorted(granted)}


_TABLE_PRIVILEGES = (
    "DELETE",
    "INSERT",
    "MAINTAIN",
    "REFERENCES",
    "SELECT",
    "TRIGGER",
    "TRUNCATE",
    "UPDATE",
)


def _privileges_known(want: Attrs) -> set[str]:
    """The privilege names this server knows (MAINTAIN only from PostgreSQL 17)."""
    names = {g.rpartition("=")[2].rstrip("*") for g in want["privileges"]}
    return set(_TABLE_PRIVILEGES) - ({"MAINTAIN"} - names) | {"USAGE", "EXECUTE", "CREATE"}


def _extra(kind: str, key: str, got: Attrs) -> Difference:
    if kind == "default_privileges":
        fix = fixes.default_privileges(got, [], got["privileges"])
        return Difference(f"{kind}-extra", key, None, ", ".join(got["privileges"]), fix)
    fix = fixes.drop_table(key) if kind == "table" else _DROP_FIX[kind](key, got)
    return Difference(f"{kind}-extra", key, None, _summary(kind, got), fix)


def _summary(kind: str, obj: Attrs) -> str:
    """A short readable value for an object that exists on one side only."""
    if kind == "column":
        return fixes.column_definition("", obj).removeprefix('""').strip()
    if kind == "constraint":
        return obj["definition"] + ("" if obj["validated"] else " NOT VALID")
    if kind == "index":
        return obj["definition"] + ("" if obj["valid"] else " (INVALID)")
    if kind == "enum":
        return f"enum ({', '.join(obj['labels'])})"
    if kind == "table":
        return "partitioned table" if obj["partition_key"] else "table"
    if kind == "sequence":
        return f"sequence {obj['type']}"
    if kind == "view":
        return "materialized view" if obj["materialized"] else "view"
    if kind == "function":
        return "procedure" if obj["procedure"] else "function"
    if kind in ("trigger", "rule", "statistics"):
        return obj["definition"]
    if kind == "policy":
        return fixes.create_policy("x.x", obj).split(" AS ", 1)[1].split(";")[0]
    if kind == "domain":
        return f"domain over {obj['type']}"
    if kind == "composite":
        return f"type ({', '.join(obj['attributes'])})"
    if kind == "extension":
        return f"extension in schema {obj['schema']}"
    return kind


def _changed(
    kind: str, key: str, want: Attrs, got: Attrs, expected: Catalog, actual: Catalog
) -> Iterator[Difference]:
    if kind == "enum" and want["labels"] != got["labels"]:
        users = [
            (k, c["type"].endswith("[]"), expected["column"].get(k, {}).get("default"))
            for k, c in sorted(actual["column"].items())
            if _of_type(c["type"], key)
        ]
        fix = fixes.enum_labels(key, want["labels"], got["labels"], users)
        yield Difference(
            "enum-values", key, ", ".join(want["labels"]), ", ".join(got["labels"]), fix
        )
    if kind == "index" and not got["valid"]:
        # An INVALID index is always a difference, whatever its definition; the fix drops
        # it and builds the expected one.
        fix = fixes.rebuild_index(key, want, got)
        yield Difference("index-invalid", key, "valid", "INVALID", fix)
    if kind == "default_privileges" and want["privileges"] != got["privileges"]:
        fix = fixes.default_privileges(want, want["privileges"], got["privileges"])
        shown = ", ".join(want["privileges"]), ", ".join(got["privileges"])
        yield Difference("default-privileges", key, *shown, fix)
    for attribute, diff_kind, fix_for in _ATTRIBUTES.get(kind, []):
        if want.get(attribute) != got.get(attribute) and not _skipped(kind, attribute, want, got):
            yield Difference(
                diff_kind,
                key,
                _shown(kind, attribute, want[attribute]),
                _shown(kind, attribute, got[attribute]),
                fix_for(key, want, got),
            )
    if "privileges" in want and want["privileges"] != got["privileges"]:
        yield Difference(
            "privileges",
            f"{kind} {key}",
            ", ".join(want["privileges"]) or "none",
            ", ".join(got["privileges"]) or "none",
            _privileges(kind, key, want, got),
        )
    if "comment" in want and want["comment"] != got["comment"]:
        fix = fixes.comment(kind, key, want, want["comment"])
        yield Difference("comment", f"{kind} {key}", want["comment"], got["comment"], fix)


def _skipped(kind: str, attribute: str, want: Attrs, got: Attrs) -> bool:
    # A generated column's expression is compared once, as `generated`; a constraint whose
    # definition differs is replaced, which settles its validated state too; an INVALID
    # index is rebuilt from its expected definition; a column whose type changes gets its
    # collation with the same statement.
    if kind == "column" and attribute == "default":
        return want["generated"] != got["generated"]
    if kind == "column" and attribute == "collation":
        return want["type"] != got["type"]
    if kind == "constraint" and attribute == "validated":
        return want["definition"] != got["definition"]
    if kind == "index" and attribute == "definition":
        return not got["valid"]
    if kind in ("trigger", "rule") and attribute == "enabled":
        return want["definition"] != got["definition"]
    if kind == "column" and attribute in ("identity_options", "identity_privileges"):
        return want["identity"] != got["identity"]
    if kind == "policy":  # one fix (drop and create) for whatever differs
        earlier = _POLICY[: _POLICY.index(attribute)]
        return any(want[a] != got[a] for a in earlier)
    return False


_POLICY = ("permissive", "command", "roles", "using", "with_check")


def _of_type(type_: str, enum_key: str) -> bool:
    schema, _, name = enum_key.partition(".")
    bare = type_.removesuffix("[]")
    return bare in (name, f"{schema}.{name}", fixes.qualified(enum_key))


_IDENTITY = {"": "none", "a": "GENERATED ALWAYS", "d": "GENERATED BY DEFAULT"}


def _shown(kind: str, attribute: str, value: Any) -> str | None:
    if kind == "sequence" and attribute in ("type", "start", "increment", "min", "max"):
        return f"{attribute} {value}"
    if attribute == "identity":
        return _IDENTITY.get(value, value)
    if attribute == "not_null":
        return "NOT NULL" if value else "nullable"
    if attribute == "validated":
        return "validated" if value else "NOT VALID"
    if attribute == "persistence":
        return {"u": "UNLOGGED", "p": "LOGGED", "t": "TEMPORARY"}.get(value, value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return None if value is None else str(value)


# Targets of ALTER, GRANT and COMMENT per kind


def _target(kind: str, key: str, obj: Attrs) -> tuple[str, str]:
    """(the word ALTER and GRANT use, the object's name as SQL)."""
    if kind == "function":
        word, ref = fixes.function_ref(key, obj).split(" ", 1)
        return word, ref
    if kind == "view":
        return ("MATERIALIZED VIEW" if obj["materialized"] else "VIEW"), fixes.qualified(key)
    if kind == "schema":
        return "SCHEMA", fixes.ident(key)
    if kind in ("enum", "composite"):
        return "TYPE", fixes.qualified(key)
    return kind.upper(), fixes.qualified(key)


def _privileges(kind: str, key: str, want: Attrs, got: Attrs) -> str:
    if kind == "column":
        table = f"TABLE {fixes.qualified(want['table'])}"
        columns = f" ({fixes.ident(fixes.column_name(key))})"
        return fixes.privileges(table, want["privileges"], got["privileges"], columns)
    word, ref = _target(kind, key, want)
    if kind in ("view", "table"):
        word = "TABLE"  # GRANT ... ON TABLE covers views and materialized views
    if kind in ("domain",):
        word = "DOMAIN"
    return fixes.privileges(f"{word} {ref}", want["privileges"], got["privileges"])


def _owner(kind: str) -> _Fix:
    def fix(key: str, want: Attrs, _got: Attrs) -> str:
        word, ref = _target(kind, key, want)
        return fixes.set_owner(word, ref, want["owner"])

    return fix


def _options(kind: str) -> _Fix:
    def fix(key: str, want: Attrs, got: Attrs) -> str:
        word, ref = _target(kind, key, want)
        return fixes.options(word, ref, want["options"], got["options"])

    return fix


def _persistence(kind: str) -> _Fix:
    def fix(key: str, want: Attrs, _got: Attrs) -> str:
        word, ref = _target(kind, key, want)
        return fixes.persistence(word, ref, want["persistence"])

    return fix


_CREATE_FIX: dict[str, Callable[[str, Attrs], str]] = {
    "constraint": fixes.add_constraint,
    "index": fixes.create_index,
    "enum": fixes.create_enum,
    "sequence": fixes.create_sequence,
    "view": fixes.create_view,
    "function": fixes.create_function,
    "trigger": fixes.create_trigger,
    "rule": fixes.create_rule,
    "policy": fixes.create_policy,
    "statistics": fixes.create_statistics,
    "schema": fixes.create_schema,
    "extension": fixes.create_extension,
    "domain": fixes.create_domain,
    "composite": fixes.create_composite,
}
_DROP_FIX: dict[str, Callable[[str, Attrs], str]] = {
    "column": fixes.drop_column,
    "constraint": fixes.drop_constraint,
    "index": fixes.drop_index,
    "enum": fixes.drop_enum,
    "sequence": fixes.drop_sequence,
    "view": fixes.drop_view,
    "function": fixes.drop_function,
    "trigger": fixes.drop_trigger,
    "rule": fixes.drop_rule,
    "policy": fixes.drop_policy,
    "statistics": fixes.drop_statistics,
    "schema": fixes.drop_schema,
    "extension": fixes.drop_extension,
    "domain": fixes.drop_domain,
    "composite": fixes.drop_composite,
}
_ATTRIBUTES: dict[str, list[tuple[str, str, _Fix]]] = {
    "schema": [("owner", "owner", _owner("schema"))],
    "extension": [("schema", "extension-schema", lambda k, w, _g: fixes.extension_schema(k, w))],
    "table": [
        ("persistence", "table-persistence", _persistence("table")),
        ("options", "table-options", _options("table")),
        ("rls", "table-row-security", lambda k, w, _g: fixes.row_security(k, w)),
        ("rls_forced", "table-row-security", lambda k, w, _g: fixes.row_security(k, w)),
        (
            "replica_identity",
            "table-replica-identity",
            lambda k, w, _g: fixes.replica_identity(k, w["replica_identity"]),
        ),
        (
            "access_method",
            "table-access-method",
            lambda k, w, _g: fixes.alter_table(k, f"SET ACCESS METHOD {w['access_method']}"),
        ),
        (
            "inherits",
            "table-inherits",
            lambda k, w, g: fixes.inherits(k, w["inherits"], g["inherits"]),
        ),
        ("owner", "owner", _owner("table")),
    ],
    "column": [
        ("type", "column-type", fixes.column_type),
        ("collation", "column-collation", fixes.column_type),
        ("not_null", "column-nullable", lambda k, w, _g: fixes.column_not_null(k, w)),
        ("default", "column-default", lambda k, w, _g: fixes.column_default(k, w)),
        ("identity", "column-identity", fixes.column_identity),
        ("generated", "column-generated", lambda k, w, _g: fixes.column_generated(k, w)),
        ("storage", "column-storage", lambda k, w, _g: fixes.column_storage(k, w)),
        ("compression", "column-compression", lambda k, w, _g: fixes.column_compression(k, w)),
        ("statistics", "column-statistics", lambda k, w, _g: fixes.column_statistics(k, w)),
        ("options", "column-options", fixes.column_options),
        (
            "identity_options",
            "column-identity-options",
            lambda k, w, _g: fixes.identity_options(k, w),
        ),
        (
            "identity_privileges",
            "privileges",
            lambda _k, w, g: fixes.privileges(
                f"SEQUENCE {g['identity_sequence']}",
                w["identity_privileges"],
                g["identity_privileges"],
            ),
        ),
    ],
    "constraint": [
        ("definition", "constraint-definition", fixes.replace_constraint),
        ("validated", "constraint-not-validated", fixes.validate_constraint),
    ],
    "index": [
        ("definition", "index-definition", fixes.replace_index),
        ("clustered", "index-clustered", lambda k, w, _g: fixes.cluster_on(k, w)),
    ],
    "enum": [("owner", "owner", _owner("enum"))],
    "domain": [
        ("type", "domain-type", fixes.domain_rebuild),
        ("collation", "domain-type", fixes.domain_rebuild),
        ("default", "domain-default", lambda k, w, _g: fixes.domain_default(k, w)),
        ("not_null", "domain-nullable", lambda k, w, _g: fixes.domain_not_null(k, w)),
        ("checks", "domain-checks", fixes.domain_checks),
        ("owner", "owner", _owner("domain")),
    ],
    "composite": [
        ("attributes", "type-definition", fixes.replace_composite),
        ("owner", "owner", _owner("composite")),
    ],
    "sequence": [
        *(
            (a, "sequence-definition", fixes.alter_sequence)
            for a in ("type", "start", "increment", "min", "max", "cache", "cycle")
        ),
        ("persistence", "sequence-persistence", _persistence("sequence")),
        ("owner", "owner", _owner("sequence")),
    ],
    "view": [
        ("definition", "view-definition", fixes.replace_view),
        ("options", "view-options", _options("view")),
        ("owner", "owner", _owner("view")),
    ],
    "function": [
        ("definition", "function-definition", fixes.replace_function),
        ("owner", "owner", _owner("function")),
    ],
    "trigger": [
        (
            "definition",
            "trigger-definition",
            lambda k, w, g: fixes.drop_trigger(k, g) + "\n" + fixes.create_trigger(k, w),
        ),
        ("enabled", "trigger-enabled", lambda k, w, _g: fixes.trigger_enabled(k, w)),
    ],
    "rule": [
        (
            "definition",
            "rule-definition",
            lambda k, w, g: fixes.drop_rule(k, g) + "\n" + fixes.create_rule(k, w),
        ),
        ("enabled", "rule-enabled", lambda k, w, _g: fixes.rule_enabled(k, w)),
    ],
    "policy": [
        (
            attribute,
            "policy-definition",
            lambda k, w, g: fixes.drop_policy(k, g) + "\n" + fixes.create_policy(k, w),
        )
        for attribute in _POLICY
    ],
    "statistics": [
        (
            "definition",
            "statistics-definition",
            lambda k, w, g: fixes.drop_statistics(k, g) + "\n" + fixes.create_statistics(k, w),
        ),
        ("owner", "owner", _owner("statistics")),
    ],
}


def owner_differences(owners: dict[str, str], role: str | None) -> list[Difference]:
    """Bookkeeping objects not owned by `role`, the role the migrations ran as."""
    if role is None:
        return []
    return [
        Difference("owner", target, role, found, fixes.owner(target, role))
        for target, found in sorted(owners.items())
        if found != role
    ]
