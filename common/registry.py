"""One registry of named components (as timm's ``register_model``), used for adapters, methods and backbones.

``METHODS = Registry("method", Method)`` then ``@METHODS.register("ce")`` on a class; ``METHODS.get("ce")`` returns
it, and an unknown name is one :class:`InputError` line listing the known names. The workflow checks every name
of a config against these registries when the config is checked, so the schema does not repeat them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from common.errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names to classes (or factories) of one ``kind``; ``base``, when given, is the class every entry subclasses."""

    def __init__(self, kind: str, base: type | None = None) -> None:
        self.kind = kind
        self.base = base
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering its target under ``name``; a name taken by another entry is a ValueError."""

        def decorate(entry: T) -> T:
            if name in self._entries and self._entries[name] is not entry:
                raise ValueError(f"{self.kind} name {name!r} is already registered by {self._entries[name]!r}")
            if self.base is not None and not (isinstance(entry, type) and issubclass(entry, self.base)):
                raise TypeError(f"{entry!r} registered as {self.kind} {name!r} is not a {self.base.__qualname__} "
                                "subclass")
            self._entries[name] = entry
            if isinstance(entry, type):
                entry.registry_name = name
            return entry

        return decorate

    def names(self) -> list[str]:
        """Sorted registered names."""
        return sorted(self._entries)

    def get(self, name: str) -> T:
        """The entry registered as ``name``; an unknown name is an InputError listing the known ones."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise InputError(f"unknown {self.kind} {name!r}; known {self.kind}s: {', '.join(self.names())}") from None

    def check(self, name: object, key: str) -> None:
        """InputError naming config ``key`` when ``name`` is not registered (the config check's one line)."""
        if not isinstance(name, str) or name not in self._entries:
            raise InputError(f"config key {key}: unknown {self.kind} {name!r}; known {self.kind}s: "
                             f"{', '.join(self.names())}")

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
