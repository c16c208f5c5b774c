"""Option checks of the methods, in one style: ``option 'name' must be ...; got value``.

The registry checks each option's type against its constructor annotation (bool, int, float, str) and prefixes
every message with the method's name (``method 'jocor': option 'weighting' must be one of ...``); a constructor
checks ranges and choices with these helpers, which raise :class:`OptionError`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence


class OptionError(ValueError):
    """A method option with a bad value; the registry turns it into an InputError naming the method."""


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise OptionError(f"option {name!r} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def check_range(name: str, value: float, low: float = -math.inf, high: float = math.inf, *,
                low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float if it lies in the interval from ``low`` to ``high`` (closed unless said open)."""
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not math.isfinite(value) or too_low or too_high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise OptionError(f"option {name!r} must be in {interval}; got {value!r}")
    return float(value)


def known_options(cls: type) -> list[str]:
    """Sorted keyword options of ``cls``'s constructors (its own and its bases')."""
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None and klass is not object:
            names.update(parameter.name for parameter in inspect.signature(init).parameters.values()
                         if parameter.kind is inspect.Parameter.KEYWORD_ONLY
                         or parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names.discard("self")
    return sorted(names)


def check_at_least(name: str, value: int, minimum: int) -> int:
    """``value`` if it is an integer of at least ``minimum``."""
    if value < minimum:
        raise OptionError(f"option {name!r} must be >= {minimum}; got {value!r}")
    return int(value)
