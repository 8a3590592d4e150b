"""The side file that lets an interrupted ``features`` run resume clip by clip.

``.features.partial.<settings hash>.jsonl`` in the split folder: a header line (this format,
the library version, the settings and the feature columns), then one line per finished clip:
its file name, its identity (size, mtime_ns, ctime_ns, inode) and its rows. Floats are written
as JSON numbers (Python's shortest repr, which reads back to the same float64), so a resumed
table is byte-identical to an uninterrupted one. Lines are appended as clips finish (a killed
run loses at most a torn last line, which the reader ignores); the file is rewritten
atomically at the start of each run with what it reused. A clip is reused only when its
identity is unchanged: the ctime and inode cannot be set by whoever hands over a folder
(copying or unpacking gives new ones), so a side file from elsewhere is never used. The file
is read as hostile input: anything unexpected is ignored and recomputed.

Explained in ``notebooks/2-features-explanation.ipynb`` (section 7, through
:func:`bag_of_songs.features.build_feature_table`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat as _stat
from pathlib import Path

import numpy as np
import pandas as pd

from .._version import __version__
from ..files import atomic_write

_PARTIAL_PREFIX = ".features.partial."


_PARTIAL_FORMAT = 1


_PARTIAL_MAX_BYTES = 1 << 30  # larger: ignored (recomputed), never read into memory


_PARTIAL_MAX_LINE = 1 << 26


def _partial_path(split_dir: Path, settings: dict) -> Path:
    key = json.dumps(settings, sort_keys=True).encode("utf-8")
    return split_dir / f"{_PARTIAL_PREFIX}{hashlib.sha256(key).hexdigest()[:16]}.jsonl"


def _remove_partials(split_dir: Path, keep: Path | None = None) -> None:
    """Remove the split's side files (but ``keep``) and the debris of their atomic writes."""
    if not split_dir.is_dir():
        return
    for p in split_dir.iterdir():
        ours = p.name.startswith(_PARTIAL_PREFIX) or (
            p.name.startswith("." + _PARTIAL_PREFIX) and p.name.endswith(".tmp"))
        if ours and p != keep and (p.is_symlink() or p.is_file()):
            with contextlib.suppress(OSError):
                p.unlink()


def _clip_identity(st: os.stat_result | None) -> list[int] | None:
    """What the side file records of a clip (None: missing, never reused)."""
    return None if st is None else [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _partial_header(settings: dict, columns: list[str]) -> dict:
    return json.loads(json.dumps({"format": _PARTIAL_FORMAT, "library_version": __version__,
                                  "settings": settings, "columns": columns}))


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a feature value")


def _json_line(line: bytes):
    """The JSON value of one line; None when it is not valid (NaN and Infinity are not)."""
    try:
        return json.loads(line.decode("ascii"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _row_values(row, columns: list[str], segmented: bool) -> list[list[float]] | None:
    """A clip's rows as lists of floats in column order, for the side file; None when the
    result is not in the exact form a table row has (then it is not checkpointed)."""
    if not segmented:
        if not isinstance(row, dict) or len(row) != len(columns) or set(row) != set(columns):
            return None
        values = [row[c] for c in columns]
        ok = all(type(v) is float and np.isfinite(v) for v in values)
        return [values] if ok else None
    if not isinstance(row, pd.DataFrame) or list(row.columns) != ["segment", *columns] \
            or len(row) == 0 or row["segment"].dtype != np.int64 \
            or not (row.dtypes.iloc[1:] == np.float64).all() \
            or not np.array_equal(row["segment"].to_numpy(), np.arange(len(row))):
        return None
    values = row.iloc[:, 1:].to_numpy(dtype=np.float64)
    return values.tolist() if np.isfinite(values).all() else None


def _values_row(values, columns: list[str], segmented: bool):
    """The row (dict) or segment rows (DataFrame) a clip's side-file values stand for; None
    when they are not a valid clip's (wrong shape or types, a value not finite)."""
    if not isinstance(values, list) or not values or (not segmented and len(values) != 1):
        return None
    n = len(columns)
    for r in values:
        if not isinstance(r, list) or len(r) != n or not all(
                type(v) is float or type(v) is int for v in r):  # never bool
            return None
    try:
        array = np.array(values, dtype=np.float64)
    except (OverflowError, ValueError):
        return None
    if not np.isfinite(array).all():
        return None
    if not segmented:
        return dict(zip(columns, array[0].tolist(), strict=True))
    table = pd.DataFrame(array, columns=columns)
    table.insert(0, "segment", np.arange(len(array), dtype=np.int64))
    return table


def _read_partial(path: Path, header: dict, identities: dict[str, list[int]],
                  columns: list[str], segmented: bool) -> dict:
    """The rows the side file holds for clips whose identity is unchanged (file -> row);
    an empty dict for a missing, foreign, oversized or unreadable file."""
    try:
        st = os.lstat(path)
        if not _stat.S_ISREG(st.st_mode) or st.st_size > _PARTIAL_MAX_BYTES:
            return {}
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return {}
    rows: dict = {}
    try:
        with os.fdopen(fd, "rb") as fh:
            if not _stat.S_ISREG(os.fstat(fh.fileno()).st_mode) \
                    or _json_line(fh.readline(_PARTIAL_MAX_LINE)) != header:
                return {}
            while True:
                line = fh.readline(_PARTIAL_MAX_LINE)
                if not line.endswith(b"\n"):  # the end, a torn last line or an oversized one
                    break
                entry = _json_line(line)
                if not (isinstance(entry, dict) and set(entry) == {"file", "clip", "values"}
                        and isinstance(entry["file"], str)):
                    continue
                want = identities.get(entry["file"])
                if want is None or entry["clip"] != want:  # another clip, or it changed
                    continue
                row = _values_row(entry["values"], columns, segmented)
                if row is not None:
                    rows[entry["file"]] = row
    except (OSError, MemoryError):
        return {}
    return rows


def _partial_line(file: str, identity: list[int], values: list[list[float]]) -> bytes:
    return (json.dumps({"file": file, "clip": identity, "values": values}, allow_nan=False,
                       separators=(",", ":")) + "\n").encode("ascii")


class _PartialWriter:
    """Appends each finished clip to the side file; checkpointing never fails a build (an
    error, e.g. a full disk, only stops it)."""

    def __init__(self, path: Path, header: dict, kept: list[bytes]):
        self.fd = None
        try:
            def write(tmp):
                with open(tmp, "wb") as fh:
                    fh.write((json.dumps(header, separators=(",", ":")) + "\n").encode("ascii"))
                    fh.writelines(kept)

            atomic_write(path, write, ".tmp")
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            self.close()

    def add(self, line: bytes) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, line)
        except OSError:
            self.close()

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
        self.fd = None
