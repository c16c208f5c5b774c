"""Registry of methods by name, as timm's ``register_model``: ``@register_method("ce")`` on a Method class."""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

from common.errors import InputError
from common.registry import Registry
from methods.base import Method

METHODS: Registry[type[Method]] = Registry("method", Method)
#: Values accepted for a constructor option annotated with each type, and the type's name in messages.
_OPTION_TYPES: dict[object, tuple[tuple[type, ...], str]] = {
    bool: ((bool,), "true or false"), int: ((int,), "an integer"), float: ((int, float), "a number"),
    str: ((str,), "a string"),
}


def register_method(name: str) -> Callable[[type[Method]], type[Method]]:
    """Class decorator registering a :class:`Method` subclass under ``name`` (unique)."""
    return METHODS.register(name)


def available_methods() -> list[str]:
    """Sorted names of all registered methods."""
    return METHODS.names()


def get_method(name: str) -> type[Method]:
    """The Method class registered as ``name``; an unknown name is an :class:`InputError` listing the known ones."""
    return METHODS.get(name)


def _option_hints(cls: type[Method]) -> dict[str, Any]:
    """Constructor annotations of ``cls`` and its bases (options passed on through ``**options``)."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            hints.update(typing.get_type_hints(init))
        except NameError:  # an annotation that cannot be resolved: leave the checks to the constructor
            continue
    return hints


def _check_option_types(cls: type[Method], options: dict[str, object]) -> None:
    """OptionError-style message for the first option whose value does not fit its constructor annotation
    (bool, int, float, str; an int is a valid float, a bool is neither)."""
    hints = _option_hints(cls)
    for key, value in options.items():
        accepted = _OPTION_TYPES.get(hints.get(key))
        if accepted is None:
            continue
        types, description = accepted
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise TypeError(f"option {key!r} must be {description}; got {value!r}")


def build_method(name: str, **options: object) -> Method:
    """Instantiate the method ``name`` with its config options; an unknown option or bad value is one InputError
    line naming the method and the option."""
    cls = get_method(name)
    try:
        _check_option_types(cls, options)
        return cls(**options)
    except (TypeError, ValueError) as error:
        raise InputError(f"method {name!r}: {error}") from None
