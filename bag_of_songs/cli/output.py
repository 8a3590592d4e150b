"""What the command line writes besides results: progress and error lines on stderr, file
names on one line.

Progress lines go through :func:`_log` (``--quiet`` turns off the progress bars, not these lines),
errors and interruptions through :func:`_error` (always shown). :func:`_set_quiet` is how
``main`` turns ``--quiet`` on or off for every command. While a command runs,
:func:`_library_log_lines` shows the records of the package's loggers (``bag_of_songs.*``) the
same way, clear of progress bars (:class:`bag_of_songs._logging.BarSafeHandler`); outside the
command line (a notebook) only the warnings show, through Python's last-resort handler.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from .._logging import PACKAGE_LOGGER, BarSafeHandler

#: Exit status of a command that ends with ``error: ...`` (bad input, out of memory...).
EXIT_ERROR = 2

#: Set by main() from --quiet, for the commands that draw progress bars.
_QUIET = False


def _log(msg: str) -> None:
    """A progress line on stderr: one per stage or model, shown with --quiet too (which only
    turns the progress bars off)."""
    print(msg, file=sys.stderr, flush=True)


def _error(msg: str) -> None:
    """An error or interruption line on stderr (always shown)."""
    print(msg, file=sys.stderr, flush=True)


_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _quote_name(name: str | os.PathLike) -> str:
    """A file name on one line, escaped as by ``ls --quoting-style=escape``.

    A backslash becomes ``\\\\`` (not on Windows, where it separates folders), a tab ``\\t``, a
    newline ``\\n``, a carriage return ``\\r``, other control characters and the bytes of a
    name that are not UTF-8 ``\\xNN``; everything else is left as it is.

    Examples
    --------
    >>> _quote_name("a\\tb\\nc.wav")
    'a\\\\tb\\\\nc.wav'
    """
    out = []
    for ch in os.fspath(name):
        code = ord(ch)
        if ch in _ESCAPES and not (ch == "\\" and os.sep == "\\"):
            out.append(_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (os.fsdecode's escape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:  # any other lone surrogate: not printable either
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _one_line(text) -> str:
    """A message on one line: its lines joined by spaces."""
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())



def _set_quiet(quiet: bool) -> None:
    """Record ``--quiet`` (no progress bars) for the command about to run."""
    global _QUIET
    _QUIET = bool(quiet)


class _LogLineHandler(BarSafeHandler):
    """A log record of the package as one line on stderr, clear of progress bars: a warning or
    an error always (:func:`_error`), other records as progress lines (:func:`_log`)."""

    def __init__(self) -> None:
        super().__init__(_log)

    def write_record(self, record: logging.LogRecord, msg: str) -> None:
        (_error if record.levelno >= logging.WARNING else _log)(msg)


@contextlib.contextmanager
def _library_log_lines() -> Iterator[None]:
    """Show the package's log records (``bag_of_songs.*``, from INFO up) on stderr while a
    command runs, then leave the logger as it was."""
    logger = logging.getLogger(PACKAGE_LOGGER)
    handler = _LogLineHandler()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
