"""Registry of methods by name, as timm's ``register_model``: ``@register_method("ce")`` on a Method class."""

from __future__ import annotations

import typing
from collections.abc import Callable

from common.errors import InputError
from methods.base import Method

_METHODS: dict[str, type[Method]] = {}
#: Values accepted for a constructor option annotated with each type.
_OPTION_TYPES: dict[object, tuple[type, ...]] = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}


def register_method(name: str) -> Callable[[type[Method]], type[Method]]:
    """Class decorator registering a :class:`Method` subclass under ``name`` (unique)."""

    def decorate(cls: type[Method]) -> type[Method]:
        if name in _METHODS and _METHODS[name] is not cls:
            raise ValueError(f"method name {name!r} is already registered by {_METHODS[name].__name__}")
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise TypeError(f"{cls!r} registered as {name!r} is not a methods.base.Method subclass")
        _METHODS[name] = cls
        cls.registry_name = name
        return cls

    return decorate


def available_methods() -> list[str]:
    """Sorted names of all registered methods."""
    return sorted(_METHODS)


def get_method(name: str) -> type[Method]:
    """The Method class registered as ``name``; an unknown name is an :class:`InputError` listing the known ones."""
    try:
        return _METHODS[name]
    except KeyError:
        raise InputError(f"unknown method {name!r}; known methods: {', '.join(available_methods())}") from None


def _check_option_types(name: str, cls: type[Method], options: dict[str, object]) -> None:
    """InputError naming the first option whose value does not fit its constructor annotation (bool, int, float,
    str; an int is a valid float, a bool is neither)."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except NameError:  # an annotation that cannot be resolved: leave the checks to the constructor
        return
    for key, value in options.items():
        accepted = _OPTION_TYPES.get(hints.get(key))
        if accepted is None:
            continue
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
            raise InputError(f"method {name!r}: option {key!r} must be {hints[key].__name__}, got {value!r}")


def build_method(name: str, **options: object) -> Method:
    """Instantiate the method ``name`` with its config options; an unknown option or bad value is an InputError."""
    cls = get_method(name)
    _check_option_types(name, cls, options)
    try:
        return cls(**options)
    except (TypeError, ValueError) as error:
        raise InputError(f"method {name!r}: {error}") from None
