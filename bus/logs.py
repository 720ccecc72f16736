"""How every basis process logs: one line per record on stderr, the same format everywhere."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""The names a ``--log-level`` option accepts (any case)."""


def log_to_stderr(level: int | str) -> None:
    """Send the process's log records at ``level`` and above to stderr in :data:`LOG_FORMAT`."""
    logging.basicConfig(stream=sys.stderr, level=level, format=LOG_FORMAT)
