"""Checks keyword arguments from a config file against the type hints of the constructor they are for.

Config values arrive as YAML or JSON: a quoted ``"false"`` is a string, and Python takes a non-empty string as true,
so ``retain_uids: "false"`` would keep every UID. :func:`check_arguments` refuses such a value before any file is
read, naming the stage, the setting and the type it needs. Its messages name types only, never a value (a value
may be a secret).
"""

from __future__ import annotations

import numbers
import os
import types
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["check_arguments"]


def check_arguments(section: str, target: Callable, arguments: Mapping[str, Any], fixed: Collection[str] = ()) -> None:
    """Raise on a setting ``target`` does not take, or a value its type hint does not allow.

    Args:
        section: the config section the arguments come from, for the messages (``"redact"``; ``""``: the top level).
        target: the constructor or function the arguments are for.
        arguments: the keyword arguments from the config.
        fixed: parameters of ``target`` that the caller sets itself, so a config may not.

    Raises:
        TypeError: ``arguments`` is not a mapping, names a parameter ``target`` lacks, or holds a value of the
            wrong type.
    """
    where = f"{section}: " if section else ""
    if not isinstance(arguments, Mapping):
        raise TypeError(f"{where}expected a mapping of settings, not {_type_name(arguments)}")
    hints = {name: hint for name, hint in typing.get_type_hints(target).items() if name not in (*fixed, "return")}
    for name, value in arguments.items():
        if name in fixed:
            raise TypeError(f"{where}{name} is set by the pipeline, not by a config")
        if name not in hints:
            raise TypeError(f"{where}unknown setting {name!r}; expected one of {sorted(hints)}")
        if not _matches(value, hints[name]):
            raise TypeError(f"{where}{name} must be {_describe(hints[name])}, not {_type_name(value)}")


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the type ``hint`` (unions, optionals, sequences and mappings of plain types)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if hint is bool:
        return isinstance(value, (bool, np.bool_))
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if isinstance(hint, type) and issubclass(hint, os.PathLike):
        return isinstance(value, os.PathLike)
    if origin in (Sequence, Collection, list, tuple):
        item = args[0] if args else Any
        # any collection but text and mappings: the stages take list(value) (a numpy array of fill values, a set)
        is_sequence = isinstance(value, Collection) and not isinstance(value, (str, bytes, Mapping))
        return is_sequence and all(_matches(v, item) for v in value)
    if origin in (dict, Mapping):
        key, item = args or (Any, Any)
        return isinstance(value, Mapping) and all(_matches(k, key) and _matches(v, item) for k, v in value.items())
    if value is None:
        return hint is type(None)
    target = origin or hint
    return not isinstance(target, type) or isinstance(value, target)


def _describe(hint: Any) -> str:
    """A hint as words: ``str, Path or None``, ``a list of str or Path``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        names = [_describe(arg) for arg in args]
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    if origin is typing.Literal:
        return " or ".join(repr(arg) for arg in args)
    if origin in (Sequence, Collection, list, tuple):
        return f"a list of {_describe(args[0]).replace(' or ', '/')}" if args else "a list"
    if origin in (dict, Mapping):
        if not args or Any in args:
            return "a mapping"
        key, item = (_describe(arg).replace(" or ", "/") for arg in args)
        return f"a mapping of {key} to {item}"
    if hint is type(None):
        return "None"
    return getattr(origin or hint, "__name__", str(hint))


def _type_name(value: Any) -> str:
    """The name of a value's type (``None``, ``str``, ``a list of int``), never the value."""
    if isinstance(value, Mapping):
        return f"a mapping of {_type_names(value.keys())} to {_type_names(value.values())}"
    if isinstance(value, (list, tuple)):
        return f"a list of {_type_names(value)}"
    return "None" if value is None else type(value).__name__


def _type_names(values: Collection) -> str:
    return "/".join(sorted({"None" if v is None else type(v).__name__ for v in values})) or "nothing"
