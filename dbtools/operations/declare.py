"""The one way this repository declares an operation: a dataclass, registered as `op.<name>`.

    @operation("refresh_view")
    @dataclass(eq=False)
    class RefreshViewOp(MigrateOperation):
        view_name: str
        concurrently: bool = field(default=True, kw_only=True)

        def reverse(self) -> MigrateOperation: ...  # where the operation has one

The dataclass writes the constructor; `operation` writes the classmethod Alembic's
`Operations.register_operation` needs (`op.refresh_view(*args, **kw)` invokes
`RefreshViewOp(*args, **kw)`) and registers it; `Operations.implementation_for` then
says what it runs, as usual. A class with a field named `kw`
(a dict) receives there every keyword argument it has no field for, as Alembic's own
`create_index(..., postgresql_where=...)` does. `eq=False` keeps Alembic's identity
semantics for operations (they are compared and hashed as objects).
"""

from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

from alembic.operations import MigrateOperation, Operations

Op = TypeVar("Op", bound=type[MigrateOperation])

EXTRA = "kw"  # the field that collects keyword arguments the class has no field for


def operation(name: str) -> Callable[[Op], Op]:
    """Register the decorated dataclass as `op.<name>(...)`."""

    def register(op_class: Op) -> Op:
        known = {f.name for f in fields(op_class)}  # type: ignore[arg-type]

        def invoke(cls: Any, operations: Operations, *args: Any, **kw: Any) -> Any:
            if EXTRA in known:
                extra = {k: kw.pop(k) for k in list(kw) if k not in known}
                kw[EXTRA] = {**kw.get(EXTRA, {}), **extra}
            return operations.invoke(cls(*args, **kw))

        invoke.__name__ = invoke.__qualname__ = name
        invoke.__doc__ = f"`op.{name}(...)`: invokes `{op_class.__name__}` with these arguments."
        setattr(op_class, name, classmethod(invoke))
        return Operations.register_operation(name)(op_class)

    return register
