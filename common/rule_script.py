"""Run a workflow script's entry point with the rule's log and a one-line error for bad input."""

from __future__ import annotations

import errno
import logging
import sys
from collections.abc import Callable
from typing import Any

from common.errors import InputError


def run_rule(main: Callable[[Any], None], snakemake: Any) -> None:
    """Call ``main(snakemake)`` with logging sent to the rule's log file (warnings and errors also to stderr).

    An :class:`InputError`, or a full disk, is written as one ``error: ...`` line to the log and to stderr, and
    the job exits with status 1 (no traceback); Snakemake then removes the job's incomplete outputs.
    """
    log_path = snakemake.log[0] if len(snakemake.log) else None
    console = logging.StreamHandler(sys.stderr)
    handlers: list[logging.Handler] = [console]
    if log_path:
        console.setLevel(logging.WARNING)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", handlers=handlers,
                        force=True)
    try:
        main(snakemake)
    except InputError as error:
        logging.getLogger("rule").error("error: %s", error)
        sys.exit(1)
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        logging.getLogger("rule").error("error: %s: no space left on the device", error.filename or "output")
        sys.exit(1)
