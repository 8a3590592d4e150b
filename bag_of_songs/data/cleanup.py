"""Cleaning up after an earlier run of :func:`bag_of_songs.data.prepare`, and nothing else.

``prepare`` removes only what a run that ``prepare.json`` records wrote: the files derived
from a split's annotations when they change (feature tables, the spectrogram cache), the clips
a split no longer lists (only names ``audio_<split>_<i>.wav`` below the count the record
allows), and the outputs of recorded splits a new run does not produce.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 5: re-running).
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from pathlib import Path, PurePosixPath

from .._constants import DERIVED_DIRS, DERIVED_FILES, SPLIT_FILES
from ..files import remove_stale_temp_files
from .corpus import _read_table, list_splits
from .report import PrepareReport, _count

logger = logging.getLogger(__name__)


def _remove_derived(split_dir: Path) -> list[str]:
    """Delete the files derived from a split's annotations; returns the names removed."""
    removed = []
    for name in sorted(DERIVED_FILES):  # in name order, as the report has always listed them
        p = split_dir / name
        if p.is_file():
            p.unlink()
            removed.append(name)
    for name in DERIVED_DIRS:
        p = split_dir / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
            removed.append(f"{name}/")
    # Progress of an interrupted `features` run (bag_of_songs.features): useless once clips change.
    for p in split_dir.glob(".features.partial.*.jsonl"):
        if p.is_file() or p.is_symlink():
            p.unlink()
            removed.append(p.name)
    return removed


def _clip_pattern(split: str) -> re.Pattern:
    """The names ``prepare`` gives a split's clips, ``audio_<split>_<i>.wav``; group 1 is ``i``
    (written without leading zeros)."""
    return re.compile(rf"audio_{re.escape(split)}_(0|[1-9]\d*)\.wav")


def _own_clips(audios: Path, split: str, limit: int) -> list[Path]:
    """The clips in ``audios`` that a recorded run of ``prepare`` wrote: the files named
    ``audio_<split>_<i>.wav`` with ``i`` below ``limit`` (see :func:`_clip_limit`)."""
    pattern = _clip_pattern(split)
    out = []
    for p in audios.iterdir():
        m = pattern.fullmatch(p.name)
        if m and int(m.group(1)) < limit and p.is_file() and not p.is_symlink():
            out.append(p)
    return out


def _clip_limit(split_dir: Path, split: str, run: dict | None) -> int:
    """How many clip names a recorded earlier run may have used in a split: it wrote only
    ``audio_<split>_<i>.wav`` with ``i`` below this number.

    The larger of the count ``prepare.json`` records for the split (``clips``; absent in the
    records of older versions) and one past the largest index the split's ``annotations.csv``
    lists. 0 for a split that no run recorded.
    """
    if run is None:
        return 0
    n = run.get("clips")
    limit = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0
    ann = _read_table(split_dir / "annotations.csv")
    if ann is not None and "audio_file" in ann.columns:
        pattern, folder = _clip_pattern(split), PurePosixPath(split, "audios")
        for text in ann["audio_file"].to_numpy():
            rel = PurePosixPath(str(text))
            m = pattern.fullmatch(rel.name)
            if m and rel.parent == folder:
                limit = max(limit, int(m.group(1)) + 1)
    return limit


def _remove_split_outputs(split_dir: Path, split: str, limit: int) -> list[str]:
    """Delete what ``prepare`` (and ``features``) wrote for a recorded split, and nothing
    else: clips only below ``limit`` (see :func:`_clip_limit`)."""
    removed = _remove_derived(split_dir)
    for name in SPLIT_FILES:
        p = split_dir / name
        if p.is_file():
            p.unlink()
            removed.append(name)
    audios = split_dir / "audios"
    if audios.is_dir() and not audios.is_symlink():
        clips = _own_clips(audios, split, limit)
        for p in clips:
            p.unlink()
        if clips:
            removed.append(f"{_count(len(clips), 'clip')} (audios/audio_{split}_*.wav)")
        remove_stale_temp_files(audios, [f"audio_{split}_*.wav"])
        with contextlib.suppress(OSError):
            audios.rmdir()  # only when nothing else is in it
    remove_stale_temp_files(split_dir, [*SPLIT_FILES, *DERIVED_FILES])
    with contextlib.suppress(OSError):
        split_dir.rmdir()
    return removed


def _remove_unproduced_splits(out_dir: Path, recorded: dict[str, dict], produced: list[str],
                              report: PrepareReport) -> list[str]:
    """Remove the outputs of the splits an earlier run recorded and this one does not produce
    (a run that defines all splits); returns the splits removed."""
    gone = []
    present = list_splits(out_dir)
    for old in [*present, *sorted(set(recorded) - set(present))]:
        if old in recorded and old not in produced and (out_dir / old).is_dir() \
                and not (out_dir / old).is_symlink():
            removed = _remove_split_outputs(
                out_dir / old, old, _clip_limit(out_dir / old, old, recorded[old]))
            gone.append(old)
            if removed:
                why = "an earlier run wrote it; this run does not produce it"
                report.removed.append((old, why, removed))
                logger.warning(f"{old}: removed {', '.join(removed)} ({why})")
    return gone
