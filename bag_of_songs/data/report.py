"""What :func:`bag_of_songs.data.prepare` tells its user: the :class:`PrepareReport` it
returns, a ``log=`` callable that prints on stderr, and file names made printable when they
are not UTF-8 text.

Re-exported by :mod:`bag_of_songs.data`.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 7: skipped inputs and warnings
are reported on screen).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PrepareReport", "log_to_stderr"]


def log_to_stderr(msg: str) -> None:
    """One line on stderr (a ``log=`` callable that prints, as the package did by default
    before it logged through :mod:`logging`).

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 7: skipped inputs are reported
    on screen).
    """
    print(msg, file=sys.stderr)


def _count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural when ``n`` is not 1.

    Examples
    --------
    >>> _count(1, "clip"), _count(3, "clip")
    ('1 clip', '3 clips')
    """
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass
class PrepareReport:
    """What :func:`prepare` did: per split, the clips listed, kept, skipped and warned about,
    and what it removed from an earlier run.

    Explained in ``notebooks/1-data-preparation.ipynb``.

    Attributes
    ----------
    out_dir : Path
    written : dict split -> int
        Clips listed in the split's ``annotations.csv``.
    reused : dict split -> int
        Of those, clips kept as they were (a complete WAV of the same source version).
    skipped : dict split -> list of (source, reason)
    warnings : dict split -> list of (audio_file, source, warning)
    removed : list of (split, why, names)
        Files of an earlier run that were removed, and why.
    notes : list of str
        Other things worth knowing (e.g. empty genre folders that were ignored).
    """

    out_dir: Path
    written: dict = field(default_factory=dict)
    reused: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    warnings: dict = field(default_factory=dict)
    removed: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def n_prepared(self) -> int:
        """Clips listed over all splits."""
        return sum(self.written.values())

    def summary(self) -> str:
        """A few lines: per split, the clips kept, rewritten, skipped and warned about; then what
        was removed from an earlier run, and the notes."""
        lines = []
        for split, n in self.written.items():
            kept = self.reused.get(split, 0)
            n_skip = len(self.skipped.get(split, []))
            n_warn = len({w[0] for w in self.warnings.get(split, [])})
            lines.append(f"{split}: {_count(n, 'clip')} ({kept} kept as they were, "
                         f"{n - kept} written), {n_skip} skipped, {n_warn} with warnings")
        for split, why, names in self.removed:
            lines.append(f"{split}: removed {', '.join(names)} ({why})")
        lines.extend(self.notes)
        return "\n".join(lines)


def _not_utf8(row: dict) -> str | None:
    """Why a row cannot be written to ``annotations.csv`` (a name that is not UTF-8 text,
    e.g. a file name in Latin-1 bytes), or None."""
    for column, value in row.items():
        try:
            str(value).encode("utf-8")
        except UnicodeEncodeError:
            what = "name" if column == "source" else f"{column} (from a folder name)"
            return (f"its {what} is not valid UTF-8 text (the bytes that are not are shown as "
                    f"\\xNN); rename it, e.g. with convmv, and run again to prepare it")
    return None


def _utf8_safe(text: str) -> str:
    """``text`` writable as UTF-8: the bytes of a file name that are not UTF-8 (decoded by
    Python as lone surrogates) written as ``\\xNN``, any other lone surrogate as ``\\udcNN``.

    Examples
    --------
    >>> import os
    >>> _utf8_safe(os.fsdecode(b"rock/caf\\xe9.wav"))
    'rock/caf\\\\xe9.wav'
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
