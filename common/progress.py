"""Progress lines for long loops: files done, rate, time left, at most one line every few seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

ItemT = TypeVar("ItemT")

#: Seconds between two progress lines.
PROGRESS_EVERY_SECONDS = 10.0


def with_progress(items: Iterable[ItemT], total: int, what: str, log: Callable[[str], None] | None = None,
                  every: float = PROGRESS_EVERY_SECONDS, clock: Callable[[], float] = time.monotonic,
                  ) -> Iterator[ItemT]:
    """Yield ``items``, logging ``"{what}: {done}/{total} files, {rate}/s, about {left} s left"`` every ``every``
    seconds and once at the end (``log`` defaults to the ``progress`` logger at INFO)."""
    emit = log or logging.getLogger("progress").info
    start = last = clock()
    for done, item in enumerate(items, start=1):
        yield item
        now = clock()
        if now - last >= every or done == total:
            elapsed = max(now - start, 1e-9)
            rate = done / elapsed
            left = (total - done) / rate if rate > 0 else float("nan")
            emit(f"{what}: {done}/{total} files, {rate:.1f}/s, about {left:.0f} s left")
            last = now
