"""The output folder of :func:`bag_of_songs.data.prepare` and its record, ``prepare.json``.

``prepare`` overwrites and removes files in its output folder, so it writes only into a new or
empty folder, or one whose ``prepare.json`` records what earlier runs wrote there (per split:
the run's options and how many clip names it used). The record is written before any clip, so
an interrupted run is recorded too, and is read back by :mod:`.cleanup` to know what it may
remove.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 5: re-running).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from .._constants import LOCK_NAME, PREPARE_RECORD
from .._version import __version__
from ..errors import DataSourceError
from ..files import write_bytes_atomic
from .report import _utf8_safe
from .splits import _validate_split_name


def _refuse_out_inside(out_dir: Path, source_dir: Path) -> None:
    out, src = out_dir.expanduser().absolute().resolve(), source_dir.absolute().resolve()
    if out == src or src in out.parents:
        raise DataSourceError(
            f"the output folder {out_dir} is inside the source folder {source_dir}: the next "
            f"run would read the prepared clips as music. Choose an output folder outside it")


def _library_version() -> str:
    return __version__


def _read_record(out_dir: Path) -> dict[str, dict] | None:
    """The runs ``prepare.json`` records, per split; None without a readable record.

    Split names that could not be a split folder (``..``, ``a/b``) are left out."""
    try:
        record = json.loads((out_dir / PREPARE_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    runs = record.get("splits") if isinstance(record, dict) else None
    if not isinstance(runs, dict):
        return None
    out = {}
    for name, run in runs.items():
        with contextlib.suppress(ValueError, TypeError):
            _validate_split_name(name)
            out[name] = run if isinstance(run, dict) else {}
    return out


def _is_own_debris(name: str) -> bool:
    """The lock file, or what a run killed while writing ``prepare.json`` left."""
    return name == LOCK_NAME or (name.startswith(f".{PREPARE_RECORD}.") and name.endswith("tmp"))


def _check_out_folder(out_dir: str | os.PathLike) -> dict[str, dict]:
    """Refuse an output folder that ``prepare`` did not write; returns what it recorded there.

    ``prepare`` overwrites and removes files in its output folder, so it only writes into a
    new or empty folder, or one that holds its ``prepare.json`` (the record of what earlier
    runs wrote, which is written before anything else, so an interrupted run resumes).

    Parameters
    ----------
    out_dir : path-like
        The output folder.

    Returns
    -------
    runs : dict split -> dict
        The runs ``prepare.json`` records per split (empty for a new or empty folder).

    Raises
    ------
    DataSourceError
        When ``out_dir`` is a file, or a folder that is not empty and has no readable
        ``prepare.json``; the message names the folder and a few of its files.
    """
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise DataSourceError(f"the output folder {out_dir} is a file; choose a folder")
    if not out_dir.is_dir():
        return {}
    runs = _read_record(out_dir)
    if runs is not None:
        return runs
    others = sorted(p.name for p in out_dir.iterdir() if not _is_own_debris(p.name))
    if others:
        shown = ", ".join(_utf8_safe(n) for n in others[:3]) + (", ..." if len(others) > 3
                                                                   else "")
        what = "holds an unreadable" if (out_dir / PREPARE_RECORD).exists() else "holds no"
        raise DataSourceError(
            f"the output folder {out_dir} is not empty ({shown}) and {what} {PREPARE_RECORD}, "
            f"the record prepare keeps of the files it wrote: prepare writes and removes files "
            f"in its output folder and will not touch files it did not write. Choose an empty "
            f"or new folder for the output (--out)")
    return {}


def _check_split_folders(out_dir: Path, splits: Iterable[str], runs: dict[str, dict]) -> None:
    """Refuse to write a split whose folder holds files that no recorded run wrote, and split
    folders that are symbolic links (writes would land outside ``out_dir``)."""
    for split in splits:
        split_dir = out_dir / split
        for p in (split_dir, split_dir / "audios"):
            if p.is_symlink():
                raise DataSourceError(
                    f"{p} is a symbolic link (to {p.resolve()}): prepare writes only inside "
                    f"{out_dir}; remove the link or choose another output folder")
        if split not in runs and split_dir.is_dir() and any(split_dir.iterdir()):
            raise DataSourceError(
                f"{split_dir} holds files that no earlier run of prepare wrote "
                f"({PREPARE_RECORD} does not list split {split!r}): prepare would overwrite "
                f"them. Move them away, or choose another split name or output folder")


def _write_record(out_dir: Path, runs: dict[str, dict], removed_splits: Iterable[str]) -> None:
    path = out_dir / PREPARE_RECORD
    record = {"splits": {}}
    old = _read_record(out_dir)
    if old is not None:  # splits whose folder was deleted by hand are forgotten
        record["splits"] = {k: v for k, v in old.items() if (out_dir / k).is_dir()}
    for split in removed_splits:
        record["splits"].pop(split, None)
    record["splits"].update(runs)
    record["library_version"] = _library_version()
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    write_bytes_atomic(text.encode(), path, ".json.tmp")
