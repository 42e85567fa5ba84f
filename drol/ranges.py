"""Allowed ranges of config fields, declared once beside each field and used twice: a config dataclass
checks itself when built (`check_ranges` in `__post_init__`), and the workflow's JSON schema gets the
same types and ranges (`json_schema`), so a bad value stops before anything runs.
"""

from __future__ import annotations

import dataclasses
import typing


def bounded(default, *, minimum=None, maximum=None, exclusive_minimum=None, choices=None):
    """A dataclass field with a range: `steps: int = bounded(1000, minimum=1)`."""
    limits = {"minimum": minimum, "maximum": maximum, "exclusiveMinimum": exclusive_minimum, "enum": choices}
    meta = {k: v for k, v in limits.items() if v is not None}
    if isinstance(default, tuple):
        return dataclasses.field(default_factory=lambda: default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _violation(value, meta: dict) -> str | None:
    if "enum" in meta and value not in meta["enum"]:
        return f"one of {', '.join(map(str, meta['enum']))}"
    values = value if isinstance(value, tuple) else (value,)
    if isinstance(value, tuple) and not value:
        return "a non-empty list"
    for v in values:
        if "minimum" in meta and v < meta["minimum"]:
            return f">= {meta['minimum']}"
        if "exclusiveMinimum" in meta and v <= meta["exclusiveMinimum"]:
            return f"> {meta['exclusiveMinimum']}"
        if "maximum" in meta and v > meta["maximum"]:
            return f"<= {meta['maximum']}"
    return None


def check_ranges(config) -> None:
    """Raise ValueError naming the first field of `config` outside its declared range or type."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value, kind = getattr(config, f.name), hints[f.name]
        expected = typing.get_origin(kind) or kind
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
            setattr(config, f.name, value)
        if expected is tuple and isinstance(value, list):
            value = tuple(value)
            setattr(config, f.name, value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ValueError(f"{f.name}={value!r}: expected {getattr(expected, '__name__', expected)}; "
                             f"set {f.name} to a valid value")
        if isinstance(value, tuple) and not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{f.name}={value!r}: expected a list of integers")
        problem = _violation(value, f.metadata)
        if problem:
            raise ValueError(f"{f.name}={value!r} is out of range: it must be {problem}")


def json_schema(cls: type) -> dict[str, dict]:
    """JSON-schema properties of a config dataclass's fields: types and the declared ranges."""
    hints = typing.get_type_hints(cls)
    props = {}
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        limits = dict(f.metadata)
        if typing.get_origin(kind) is tuple:
            item = {"type": "integer", **{k: v for k, v in limits.items() if k != "enum"}}
            props[f.name] = {"type": "array", "items": item, "minItems": 1}
            continue
        json_type = {int: "integer", float: "number", bool: "boolean", str: "string"}[kind]
        props[f.name] = {"type": json_type, **limits}
    return props
