"""How every svae-tts process logs: one line per record, ``LEVEL logger.name: message``.

Set up once per process, by the CLI and by each worker process the demo starts, so a stage's log
reads the same whichever process wrote it.
"""

from __future__ import annotations

import logging

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def setup_logging(level: int = logging.INFO) -> None:
    """The root logger at ``level``, writing :data:`LOG_FORMAT` to stderr (a no-op when the process
    already has handlers, as :func:`logging.basicConfig` is)."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
