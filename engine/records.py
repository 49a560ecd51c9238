"""`record`: podeploy's immutable value classes (facts, rules, locations, decisions, ...).

To the type checker a record is a frozen dataclass: mypy --strict, run in CI, rejects any
assignment to a field of one. At run time it is a slotted dataclass whose `__init__` the
dataclasses module writes, and whose comparisons, hash and repr are the dataclass ones made from
shared functions over the class's fields (operator.attrgetter) rather than compiled for each
class. Python 3.11 compiles every method it generates for every dataclass on each start: for
podeploy's 32 classes on the way to an answer that was about 11 ms, a third of what podeploy adds
to the libraries it needs (measured with benchmarks/run.py, section a); frozen's `__setattr__`
and `__delattr__` are left out for the same reason.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar, dataclass_transform, overload

C = TypeVar("C", bound=type)


def _repr(self: Any) -> str:
    """The dataclass repr."""
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
    return f"{type(self).__qualname__}({shown})"


def _values(names: list[str]) -> Callable[[Any], Any]:
    """The compared fields of a record as one value (a tuple; the value itself for one field)."""
    if not names:
        return lambda self: ()
    if len(names) == 1:  # attrgetter would give the bare value: keep a tuple, as dataclass compares
        (name,) = names
        return lambda self: (getattr(self, name),)
    return operator.attrgetter(*names)


def _comparisons(cls: Any, *, order: bool) -> None:
    """Equality, a hash and (when asked) ordering over the fields, as dataclass generates them."""
    compared = _values([f.name for f in fields(cls) if f.compare])

    def __eq__(self: Any, other: Any) -> Any:
        if other is self:  # the common case in sets and dicts of records
            return True
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    cls.__eq__ = __eq__
    if "__hash__" not in cls.__dict__ or cls.__dict__["__hash__"] is None:  # a class's own hash stays
        hashed = _values([f.name for f in fields(cls) if (f.compare if f.hash is None else f.hash)])
        cls.__hash__ = lambda self: hash(hashed(self))
    if not order:
        return
    for name, test in (("__lt__", operator.lt), ("__le__", operator.le), ("__gt__", operator.gt),
                       ("__ge__", operator.ge)):
        setattr(cls, name, _ordering(compared, test))


def _ordering(compared: Callable[[Any], Any], test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    def compare(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return test(compared(self), compared(other))
        return NotImplemented

    return compare


@overload
def record(cls: C, /) -> C: ...
@overload
def record(*, order: bool = False) -> Callable[[C], C]: ...
@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: Any = None, /, *, order: bool = False) -> Any:
    def make(c: Any) -> Any:
        own = {name for name in ("__repr__", "__eq__", "__hash__") if name in c.__dict__}
        if "__eq__" in own:
            raise TypeError(f"record {c.__name__} defines __eq__: records compare their fields")
        made = dataclass(c, slots=True, repr=False, eq=False)
        if "__repr__" not in own:
            made.__repr__ = _repr
        _comparisons(made, order=order)
        return made

    return make if cls is None else make(cls)
