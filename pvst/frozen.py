"""Frozen, typed records of configuration sections (the classes are in pvst/params.py).

A record is built from a section the configuration has validated and filled in, so its types
hold without checks here; what is checked is that the keys are exactly the record's fields, so
a record can never silently miss or drop a key. Lists become tuples and mappings read-only, so
nothing downstream can change a parameter that another reader sees.
"""

from __future__ import annotations

import keyword
import types
from collections.abc import Mapping
from dataclasses import fields
from functools import cache
from typing import Any, Self, Union, get_args, get_origin, get_type_hints


def key_of(field_name: str) -> str:
    """The configuration key of a field: `lambda_` holds `lambda` (a Python keyword)."""
    stem = field_name[:-1]
    return stem if field_name.endswith("_") and keyword.iskeyword(stem) else field_name


def field_of(key: str) -> str:
    """The field that holds a configuration key."""
    return f"{key}_" if keyword.iskeyword(key) else key


class Frozen:
    """Base of the section records: `of` builds one from a section, `to_dict` gives it back."""

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Self:
        """The record of a validated, filled-in section (every key present, no other); a
        record of this class is returned as it is."""
        if isinstance(values, cls):
            return values
        if not isinstance(values, Mapping):
            raise TypeError(f"{cls.__name__}: expected a mapping of keys, got {values!r}")
        hints = _hints(cls)
        names = {f.name: key_of(f.name) for f in fields(cls)}  # type: ignore[arg-type]
        missing = [k for k in names.values() if k not in values]
        unknown = sorted(set(values) - set(names.values()))
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"unknown {', '.join(unknown)}"] if unknown else []
        if problems:
            raise ValueError(f"{cls.__name__}: {'; '.join(problems)}")
        return cls(**{n: _build(hints[n], values[k]) for n, k in names.items()})

    def to_dict(self) -> dict[str, Any]:
        """The section as plain JSON-like values (what artifact keys hash)."""
        return {key_of(f.name): _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _build(hint: Any, value: Any) -> Any:
    origin = get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, Frozen):
        return hint.of(value)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        real = [a for a in get_args(hint) if a is not type(None)]
        return _build(real[0], value) if len(real) == 1 else value
    if origin is tuple:
        return tuple(value)
    if origin is Mapping:
        return types.MappingProxyType(dict(value))
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Frozen):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value
