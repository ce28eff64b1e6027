"""Every difference between the expected catalog and the live one, each with its fix.

A difference has a kind (what differs, e.g. `index-invalid`), the object (schema-qualified),
what was expected and what was found (short readable values; None when absent), and the
SQL that restores the expected state. They come out in the order their fixes can run:
types and sequences before the tables that use them, tables before their columns,
constraints and indexes; then what is extra, dropped in the reverse order.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from dbtools.core.catalog import Catalog
from dbtools.verify import fixes


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


# The order objects are created in: a type before the table that uses it, a table before
# its columns, constraints and indexes. What is extra is dropped in the reverse order.
_ORDER = ("enum", "sequence", "table", "column", "constraint", "index", "view", "function")


def differences(expected: Catalog, actual: Catalog) -> list[Difference]:
    found: list[Difference] = []
    for kind in _ORDER:
        found += list(_missing_or_changed(kind, expected, actual))
    for kind in reversed(_ORDER):
        found += list(_extras(kind, expected, actual))
    return found


def _missing_or_changed(kind: str, expected: Catalog, actual: Catalog) -> Iterator[Difference]:
    want_all, got_all = expected[kind], actual[kind]
    for key in sorted(want_all.keys() - got_all.keys()):
        # A missing table's CREATE TABLE carries its columns; its constraints and indexes
        # follow, each with its own fix.
        if not (kind == "column" and _whole_table(want_all[key], expected, actual)):
            yield _missing(kind, key, want_all[key], expected)
    for key in sorted(want_all.keys() & got_all.keys()):
        yield from _changed(kind, key, want_all[key], got_all[key], actual)


def _extras(kind: str, expected: Catalog, actual: Catalog) -> Iterator[Difference]:
    want_all, got_all = expected[kind], actual[kind]
    for key in sorted(got_all.keys() - want_all.keys()):
        # DROP TABLE takes an extra table's columns, constraints, indexes and serial
        # sequences with it.
        if not _whole_table(got_all[key], actual, expected):
            yield _extra(kind, key, got_all[key])


def _whole_table(obj: Attrs, has: Catalog, lacks: Catalog) -> bool:
    """Whether `obj` belongs to a table that only one side has."""
    table = obj.get("table")
    return table is not None and table in has["table"] and table not in lacks["table"]


def _missing(kind: str, key: str, want: Attrs, expected: Catalog) -> Difference:
    if kind == "table":
        columns = {k: c for k, c in expected["column"].items() if c["table"] == key}
        fix = fixes.create_table(key, columns, want["comment"])
        shown = f"table with columns {', '.join(fixes.column_name(k) for k in columns)}"
    else:
        fix = _CREATE[kind](key, want)
        shown = _summary(kind, want)
    return Difference(f"{kind}-missing", key, shown, None, fix)


def _extra(kind: str, key: str, got: Attrs) -> Difference:
    fix = fixes.drop_table(key) if kind == "table" else _DROP[kind](key, got)
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
        return "table"
    if kind == "sequence":
        return f"sequence {obj['type']}"
    if kind == "view":
        return "materialized view" if obj["materialized"] else "view"
    return "procedure" if obj["procedure"] else "function"


def _changed(kind: str, key: str, want: Attrs, got: Attrs, actual: Catalog) -> Iterator[Difference]:
    if kind == "enum" and want["labels"] != got["labels"]:
        users = [k for k, c in actual["column"].items() if _of_type(c["type"], key)]
        fix = fixes.enum_labels(key, want["labels"], got["labels"], sorted(users))
        yield Difference(
            "enum-values", key, ", ".join(want["labels"]), ", ".join(got["labels"]), fix
        )
    if kind == "index" and not got["valid"]:
        # An INVALID index is always a difference, whatever its definition.
        fix = fixes.rebuild_index(key, want, got)
        yield Difference("index-invalid", key, "valid", "INVALID", fix)
    for attribute, diff_kind, fix_for in _ATTRIBUTES.get(kind, []):
        if want[attribute] != got[attribute] and not _skipped(kind, attribute, want, got):
            yield Difference(
                diff_kind,
                key,
                _shown(kind, attribute, want[attribute]),
                _shown(kind, attribute, got[attribute]),
                fix_for(key, want, got),
            )
    if "comment" in want and want["comment"] != got["comment"]:
        fix = fixes.comment(kind, key, want, want["comment"])
        yield Difference("comment", f"{kind} {key}", want["comment"], got["comment"], fix)


def _skipped(kind: str, attribute: str, want: Attrs, got: Attrs) -> bool:
    # A generated column's expression is compared once, as `generated`; a constraint whose
    # definition differs is replaced, which settles its validated state too.
    if kind == "column" and attribute == "default":
        return want["generated"] != got["generated"]
    if kind == "constraint" and attribute == "validated":
        return want["definition"] != got["definition"]
    return False


def _of_type(type_: str, enum_key: str) -> bool:
    schema, _, name = enum_key.partition(".")
    bare = type_.removesuffix("[]")
    return bare in (name, f"{schema}.{name}", fixes.qualified(enum_key))


_IDENTITY = {"": "none", "a": "GENERATED ALWAYS", "d": "GENERATED BY DEFAULT"}


def _shown(kind: str, attribute: str, value: Any) -> str | None:
    if kind == "sequence":
        return f"{attribute} {value}"
    if attribute == "identity":
        return _IDENTITY.get(value, value)
    if attribute == "not_null":
        return "NOT NULL" if value else "nullable"
    if attribute == "validated":
        return "validated" if value else "NOT VALID"
    return None if value is None else str(value)


_CREATE: dict[str, Callable[[str, Attrs], str]] = {
    "column": fixes.add_column,
    "constraint": fixes.add_constraint,
    "index": fixes.create_index,
    "enum": fixes.create_enum,
    "sequence": fixes.create_sequence,
    "view": fixes.create_view,
    "function": fixes.create_function,
}
_DROP: dict[str, Callable[[str, Attrs], str]] = {
    "column": fixes.drop_column,
    "constraint": fixes.drop_constraint,
    "index": fixes.drop_index,
    "enum": fixes.drop_enum,
    "sequence": fixes.drop_sequence,
    "view": fixes.drop_view,
    "function": fixes.drop_function,
}
_ATTRIBUTES: dict[str, list[tuple[str, str, _Fix]]] = {
    "column": [
        ("type", "column-type", lambda k, w, _g: fixes.column_type(k, w)),
        ("not_null", "column-nullable", lambda k, w, _g: fixes.column_not_null(k, w)),
        ("default", "column-default", lambda k, w, _g: fixes.column_default(k, w)),
        ("identity", "column-identity", fixes.column_identity),
        ("generated", "column-generated", lambda k, w, _g: fixes.column_generated(k, w)),
    ],
    "constraint": [
        ("definition", "constraint-definition", fixes.replace_constraint),
        ("validated", "constraint-not-validated", fixes.validate_constraint),
    ],
    "index": [("definition", "index-definition", fixes.replace_index)],
    "sequence": [
        (a, "sequence-definition", fixes.alter_sequence)
        for a in ("type", "start", "increment", "min", "max", "cache", "cycle")
    ],
    "view": [("definition", "view-definition", fixes.replace_view)],
    "function": [("definition", "function-definition", fixes.replace_function)],
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
