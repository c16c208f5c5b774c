"""Registry of data-set adapters by name: ``@register_adapter("kvasir_seg")`` on an Adapter class."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.base import Adapter
from common.errors import InputError

_ADAPTERS: dict[str, type[Adapter]] = {}


def register_adapter(name: str) -> Callable[[type[Adapter]], type[Adapter]]:
    """Class decorator registering an :class:`Adapter` subclass under ``name`` (unique)."""

    def decorate(cls: type[Adapter]) -> type[Adapter]:
        if name in _ADAPTERS and _ADAPTERS[name] is not cls:
            raise ValueError(f"adapter name {name!r} is already registered by {_ADAPTERS[name].__name__}")
        if not (isinstance(cls, type) and issubclass(cls, Adapter)):
            raise TypeError(f"{cls!r} registered as {name!r} is not an adapters.base.Adapter subclass")
        _ADAPTERS[name] = cls
        cls.registry_name = name
        return cls

    return decorate


def available_adapters() -> list[str]:
    """Sorted names of all registered adapters."""
    return sorted(_ADAPTERS)


def get_adapter(name: str, path: str | Path | None = None, **options: Any) -> Adapter:
    """The adapter ``name`` on ``path`` with ``options``; an unknown name is an InputError listing the known ones."""
    if name not in _ADAPTERS:
        raise InputError(f"unknown adapter {name!r}; known adapters: {', '.join(available_adapters())}")
    return _ADAPTERS[name](path, **options)
