"""Registry of methods by name, as timm's ``register_model``: ``@register_method("ce")`` on a Method class."""

from __future__ import annotations

from collections.abc import Callable

from common.errors import InputError
from methods.base import Method

_METHODS: dict[str, type[Method]] = {}


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


def build_method(name: str, **options: object) -> Method:
    """Instantiate the method ``name`` with its config options; an unknown option or bad value is an InputError."""
    cls = get_method(name)
    try:
        return cls(**options)
    except (TypeError, ValueError) as error:
        raise InputError(f"method {name!r}: {error}") from None
