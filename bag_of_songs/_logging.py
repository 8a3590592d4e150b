"""The package's log records: one handler that writes them clear of progress bars, and the
``log=`` callables of the public functions, which it still serves.

Every module logs to its own logger (``logging.getLogger(__name__)``, under ``bag_of_songs``):
a skipped or unreadable input, and anything else the user must see, at ``WARNING``; stage and
progress lines at ``INFO``. With no logging configured (a notebook, a script), Python's
last-resort handler prints the warnings on stderr and the progress lines stay quiet; the
command line shows both (:func:`bag_of_songs.cli.output._library_log_lines`); anyone else
attaches a handler to the ``bag_of_songs`` logger.

:class:`BarSafeHandler` is the one place where a line and a progress bar on stderr are kept
apart (tqdm's ``external_write_mode``). :func:`forward_records` is how a public function's
deprecated ``log=`` callable receives the package's records for the duration of one call.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator

__all__ = ["PACKAGE_LOGGER", "BarSafeHandler", "forward_records"]

#: The logger every module's logger sits under (attach a handler here to see the records).
PACKAGE_LOGGER = "bag_of_songs"


@contextlib.contextmanager
def _bars_cleared() -> Iterator[None]:
    """Progress bars on stderr cleared while a line is written, then drawn again."""
    try:
        from tqdm import tqdm  # deferred: only when there is something to write
    except ImportError:  # pragma: no cover - tqdm is a dependency
        yield
        return
    with tqdm.external_write_mode(file=sys.stderr):
        yield


class BarSafeHandler(logging.Handler):
    """A record's message given to ``write`` (one call per record), progress bars cleared
    around it so the two never mix on stderr.

    Parameters
    ----------
    write : callable
        Receives each formatted message (a ``str``); :meth:`write_record` may choose another
        per record.
    level : int
        The lowest level handled.
    """

    def __init__(self, write: Callable[[str], None], level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._write = write

    def write_record(self, record: logging.LogRecord, msg: str) -> None:
        """Write one formatted record (a subclass may route it by ``record.levelno``)."""
        self._write(msg)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = self.format(record)
        except Exception:  # logging's own convention: report the record, never raise
            self.handleError(record)
            return
        with _bars_cleared():
            self.write_record(record, msg)


@contextlib.contextmanager
def forward_records(log: Callable[[str], None] | None) -> Iterator[None]:
    """While the block runs, ``log`` receives the message of every record of the package's
    loggers from ``INFO`` up (nothing happens when ``log`` is None).

    The public functions that still take ``log=`` (deprecated: attach a handler to the
    ``bag_of_songs`` logger instead) wrap their work in this. While ``log`` is attached,
    Python's last-resort handler stays silent, so no line is shown twice.

    Examples
    --------
    >>> lines = []
    >>> with forward_records(lines.append):
    ...     logging.getLogger("bag_of_songs.data").info("train: 3 clips")
    >>> lines
    ['train: 3 clips']
    """
    if log is None:
        yield
        return
    logger = logging.getLogger(PACKAGE_LOGGER)
    handler = BarSafeHandler(log, level=logging.INFO)
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
