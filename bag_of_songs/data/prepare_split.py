"""Preparing one split: decode its items in workers, write its clips and its three tables.

Per split, :func:`_prepare_split` writes ``audios/audio_<split>_<i>.wav``, ``annotations.csv``
(audio_file, the label columns, source, source_stamp), ``skipped.csv`` (source, reason) and
``warnings.csv`` (audio_file, source, warning). Its steps, in order: read what an earlier run
left (:func:`_read_earlier`), keep the clips that are still up to date and list the inputs that
cannot be prepared (:func:`_sort_items`), remove the files derived from annotations that
change, decode the rest in workers and write each clip as it comes (:func:`_decode_and_write`,
the tables rewritten every few seconds so that an interrupted run keeps what is complete), then
remove the clips of an earlier run that this one does not list.

Explained in ``notebooks/1-data-preparation.ipynb`` (sections 4, 5 and 7).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .._constants import DERIVED_FILES, SPLIT_FILES
from ..files import (
    atomic_write,
    csv_bytes,
    remove_stale_temp_files,
    write_bytes_atomic,
    write_csv_atomic,
)
from ..parallel import map_parallel
from .audio import is_complete_clip, write_clip
from .cleanup import _own_clips, _remove_derived
from .corpus import _read_table
from .decode import _decode_job
from .report import PrepareReport, _count, _not_utf8, _utf8_safe
from .sources.base import _Items

logger = logging.getLogger(__name__)


@dataclass
class _Earlier:
    """What an earlier run left in a split folder."""

    annotations: bytes | None  # the bytes of its annotations.csv
    clips: dict[str, tuple[str, str]]  # audio_file -> (source, source_stamp)
    skipped: set[str]  # the sources it skipped
    warnings: dict[str, list[str]]  # audio_file -> its warnings


def _read_earlier(split_dir: Path) -> _Earlier:
    """What an earlier run left in ``split_dir`` (nothing for a new split)."""
    ann_path = split_dir / "annotations.csv"
    old_bytes = ann_path.read_bytes() if ann_path.is_file() else None
    previous: dict[str, tuple[str, str]] = {}
    prev = _read_table(ann_path)
    if prev is not None and {"audio_file", "source"} <= set(prev.columns):
        stamps = prev["source_stamp"] if "source_stamp" in prev.columns else [""] * len(prev)
        previous = {a: (s, t) for a, s, t in zip(prev["audio_file"].to_numpy(),
                                                  prev["source"].to_numpy(), stamps, strict=True)}
    old_skips = _read_table(split_dir / "skipped.csv")
    skipped_before = set(old_skips["source"]) if old_skips is not None \
        and "source" in old_skips.columns else set()
    old_warns = _read_table(split_dir / "warnings.csv")
    warned_before: dict[str, list[str]] = {}
    if old_warns is not None and {"audio_file", "warning"} <= set(old_warns.columns):
        for a, w in zip(old_warns["audio_file"], old_warns["warning"], strict=True):
            warned_before.setdefault(a, []).append(w)
    return _Earlier(old_bytes, previous, skipped_before, warned_before)


@dataclass
class _SplitTables:
    """The rows of a split's three tables as they grow, and writing them."""

    split_dir: Path
    columns: list[str]
    written: bytes | None  # the annotations.csv on disk
    rows: dict[int, dict] = field(default_factory=dict)
    warns: dict[int, list[str]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def annotations(self, which: dict[int, dict]) -> bytes:
        """The bytes of ``annotations.csv`` listing the rows ``which``."""
        return csv_bytes(pd.DataFrame([which[i] for i in sorted(which)], columns=self.columns))

    def flush(self, report: PrepareReport, split: str) -> None:
        """Write what is complete so far (an interrupted run keeps it): the annotations, the
        skip report and the warnings, each rewritten rather than left stale."""
        ann_path = self.split_dir / "annotations.csv"
        skip_path, warn_path = self.split_dir / "skipped.csv", self.split_dir / "warnings.csv"
        data = self.annotations(self.rows)
        if data != self.written:
            write_bytes_atomic(data, ann_path, ".csv.tmp")
            self.written = data
        if self.skipped or skip_path.exists():
            write_csv_atomic(pd.DataFrame(self.skipped, columns=["source", "reason"]), skip_path)
        warn_rows = [(self.rows[i]["audio_file"], self.rows[i]["source"], w)
                     for i in sorted(self.rows) for w in self.warns.get(i, [])]
        if warn_rows or warn_path.exists():
            write_csv_atomic(pd.DataFrame(warn_rows, columns=["audio_file", "source",
                                                              "warning"]), warn_path)
        report.warnings[split] = warn_rows


def _label_columns(items: _Items) -> list[str]:
    """The label columns of a split's items, in the order they first appear."""
    label_cols: list[str] = []
    for labels in items.labels:
        label_cols.extend(c for c in labels if c not in label_cols)
    return label_cols


def _sort_items(items: _Items, split: str, out_dir: Path, label_cols: list[str],
                earlier: _Earlier, tables: _SplitTables) -> list[tuple[int, dict]]:
    """Put each item where it belongs: skipped (a name that is not UTF-8, a problem known at
    listing time, no label), kept as it is (resume), or to decode (returned, with its row)."""
    todo: list[tuple[int, dict]] = []
    for i in range(len(items)):
        rel = f"{split}/audios/audio_{split}_{i}.wav"
        source, stamp = items.sources[i], items.stamps[i]
        row = {"audio_file": rel, **items.labels[i], "source": source, "source_stamp": stamp}
        unlabelled = [c for c in label_cols if not str(items.labels[i].get(c, "")).strip()]
        not_utf8 = _not_utf8(row)
        if not_utf8 is not None:  # e.g. a Latin-1 file name: listed in skipped.csv, escaped
            source = _utf8_safe(source)
            tables.skipped.append((source, not_utf8))
            logger.warning(f"skipped {source}: {not_utf8}")
        elif items.problems[i] is not None:  # known at listing time (an ambiguous depth...)
            tables.skipped.append((source, items.problems[i]))
            logger.warning(f"skipped {source}: {items.problems[i]}")
        elif unlabelled:  # e.g. a ClassLabel of -1: nothing to learn from
            tables.skipped.append((source, f"no label in {unlabelled}"))
            logger.warning(f"skipped {source}: no label in {unlabelled}")
        elif stamp and earlier.clips.get(rel) == (source, stamp) \
                and is_complete_clip(out_dir / rel):
            # Resume: a complete clip of the same version of the same source is kept as it is.
            tables.rows[i] = row
            tables.warns[i] = earlier.warnings.get(rel, [])
        else:
            todo.append((i, row))
    return todo


def _decode_and_write(items: _Items, todo: list[tuple[int, dict]], split: str, out_dir: Path,
                      tables: _SplitTables, *, n_jobs: int, scheduler, progress: bool,
                      report: PrepareReport) -> None:
    """Decode the items of ``todo`` in workers and write each clip here as it comes, in order;
    the tables are written every few seconds and at the end, even when interrupted."""
    results = map_parallel(_decode_job, (items[i] for i, _ in todo), n_jobs=n_jobs,
                           scheduler=scheduler, desc=f"prepare {split}", progress=progress,
                           total=len(todo))
    last_flush = time.monotonic()
    with contextlib.closing(results):
        try:
            for (i, row), (y, reason, clip_warns, messages) in zip(todo, results, strict=True):
                for msg in dict.fromkeys(messages):  # each distinct line once
                    logger.warning(f"decoder: {row['source']}: {msg}")
                if y is None:
                    reason = _utf8_safe(reason)  # may quote a file name that is not UTF-8
                    tables.skipped.append((row["source"], reason))
                    logger.warning(f"skipped {row['source']}: {reason}")
                else:
                    atomic_write(out_dir / row["audio_file"],
                                 lambda tmp, y=y: write_clip(tmp, y), ".wav.tmp")
                    tables.rows[i] = row
                    tables.warns[i] = clip_warns
                    for w in clip_warns:
                        logger.warning(f"warning: {row['source']}: {w}")
                if time.monotonic() - last_flush > 2.0:
                    tables.flush(report, split)  # an interrupted run keeps what is complete
                    last_flush = time.monotonic()
        finally:
            tables.flush(report, split)


def _remove_unlisted_clips(audios: Path, split: str, limit: int, rows: dict[int, dict],
                           report: PrepareReport) -> None:
    """Clips of an earlier run that this one does not list (e.g. a corpus that shrank): only
    names that a recorded run wrote, never a file of the same pattern put there by hand."""
    listed = {Path(rows[i]["audio_file"]).name for i in rows}
    unlisted = [p for p in _own_clips(audios, split, limit) if p.name not in listed]
    for p in unlisted:
        p.unlink()
    if unlisted:
        what = [f"{_count(len(unlisted), 'clip')} no longer listed"]
        report.removed.append((split, "an earlier run wrote them; this one does not list them",
                               what))


def _prepare_split(items: _Items, split: str, out_dir: Path, *, limit: int, n_jobs: int,
                   scheduler, progress: bool, report: PrepareReport) -> None:
    """Prepare one split; ``limit``: the clip names an earlier run recorded (see
    :func:`bag_of_songs.data.cleanup._clip_limit`), the only unlisted clips it removes."""
    split_dir = out_dir / split
    audios = split_dir / "audios"
    audios.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(audios, [f"audio_{split}_*.wav"])  # debris of a killed run
    remove_stale_temp_files(split_dir, [*SPLIT_FILES, *DERIVED_FILES])
    earlier = _read_earlier(split_dir)
    label_cols = _label_columns(items)
    tables = _SplitTables(split_dir, ["audio_file", *label_cols, "source", "source_stamp"],
                          written=earlier.annotations)
    todo = _sort_items(items, split, out_dir, label_cols, earlier, tables)
    report.reused[split] = len(tables.rows)

    # Files derived from the old annotations (feature tables, caches) describe other clips as
    # soon as the table changes: remove them before anything else is written.
    removed: list[str] = []
    expected = {**tables.rows, **{i: r for i, r in todo if r["source"] not in earlier.skipped}}
    if tables.annotations(expected) != earlier.annotations:
        removed = _remove_derived(split_dir)
    _decode_and_write(items, todo, split, out_dir, tables, n_jobs=n_jobs, scheduler=scheduler,
                      progress=progress, report=report)
    if not removed and tables.written != earlier.annotations:
        removed = _remove_derived(split_dir)
    if removed:
        report.removed.append((split, "they were made from the earlier annotations", removed))
        logger.warning(f"{split}: removed {', '.join(removed)} (made from the earlier "
                       "annotations)")
    _remove_unlisted_clips(audios, split, limit, tables.rows, report)
    report.written[split] = len(tables.rows)
    report.skipped[split] = tables.skipped
