"""Registry of data-set adapters by name: ``@register_adapter("kvasir_seg")`` on an Adapter class."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.base import Adapter
from common.registry import Registry

ADAPTERS: Registry[type[Adapter]] = Registry("adapter", Adapter)


def register_adapter(name: str) -> Callable[[type[Adapter]], type[Adapter]]:
    """Class decorator registering an :class:`Adapter` subclass under ``name`` (unique)."""
    return ADAPTERS.register(name)


def available_adapters() -> list[str]:
    """Sorted names of all registered adapters."""
    return ADAPTERS.names()


def get_adapter(name: str, path: str | Path | None = None, **options: Any) -> Adapter:
    """The adapter ``name`` on ``path`` with ``options``; an unknown name is an InputError listing the known ones."""
    return ADAPTERS.get(name)(path, **options)
