"""Data preparation (notebook 1): load any labelled audio and homogenise it into a corpus of
30 s mono clips at 22,050 Hz, then read and describe what was prepared.

Explained in ``notebooks/1-data-preparation.ipynb``.

:func:`prepare` writes, per split::

    OUT/<split>/audios/audio_<split>_<i>.wav
    OUT/<split>/annotations.csv      audio_file (relative to OUT), label column(s), source,
                                     source_stamp (which version of the source the clip is from)
    OUT/<split>/skipped.csv          source, reason    (inputs that could not be prepared)
    OUT/<split>/warnings.csv         audio_file, source, warning  (clips mostly padding, silent)
    OUT/prepare.json                 what each split was prepared from, and how (written first)

The package is one module per job; every public name below is importable from here:

- :mod:`bag_of_songs.audio`: decoding and homogenisation (:func:`load_audio`, :func:`to_clip`,
  :func:`fix_length`, :func:`clip_warnings`) and the clip constants;
- :mod:`bag_of_songs.sources`: folder sources, flat or nested (:func:`list_folder_items`), and
  CCMusic's label vocabulary;
- :mod:`bag_of_songs.hub`: Hugging Face datasets and CCMusic (:func:`load_hf_dataset`,
  :func:`load_ccmusic`, :func:`list_ccmusic_folder`);
- :mod:`bag_of_songs.demo`: the synthetic demo corpus (:func:`synthesize_demo_clip`);
- :mod:`bag_of_songs.splits`: stratified, seeded, group-aware splits;
- :mod:`bag_of_songs.files`: atomic writes and the folder lock (:func:`lock_folder`);
- :mod:`bag_of_songs.parallel`: worker processes or a Dask cluster (:func:`map_parallel`);
- here: :func:`prepare` and the functions that read a prepared folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pandas as pd

from ._version import __version__
from .audio import (
    AUDIO_EXTENSIONS,
    DURATION,
    FRAME_SIZE,
    HOP_LENGTH,
    MAX_CHANNELS,
    MAX_SAMPLE_RATE,
    MIN_REAL_FRACTION,
    MIN_SAMPLE_RATE,
    N_SAMPLES,
    SAMPLE_RATE,
    SILENCE_PEAK,
    SILENCE_RMS,
    AudioLoadError,
    _load,
    clip_warnings,
    fix_length,
    is_complete_clip,
    load_audio,
    to_clip,
    write_clip,
)
from .demo import DEMO_VERSION, list_demo_items, synthesize_demo_clip
from .files import (
    LOCK_NAME,
    FolderLockedError,
    atomic_write,
    csv_bytes,
    file_stamp,
    lock_folder,
    remove_stale_temp_files,
    write_bytes_atomic,
    write_csv_atomic,
)
from .hub import (
    CCMUSIC_ID,
    CCMUSIC_REVISIONS,
    _load_ccmusic,
    hf_items,
    list_ccmusic_folder,
    load_ccmusic,
    load_hf_dataset,
    looks_like_hf_folder,
)
from .parallel import SchedulerError, map_parallel
from .sources import (
    CCMUSIC_CLASSES,
    CCMUSIC_HIERARCHY,
    CLASSIC_FOLDER_NAMES,
    LEVELS,
    DataSourceError,
    Item,
    _Items,
    level_names,
    list_folder_items,
    strip_number_prefix,
)
from .splits import (
    _stratify_column,
    _validate_split_name,
    parse_splits,
    read_groups,
    split_groups,
    split_items,
)

__all__ = [
    # clips (audio.py)
    "SAMPLE_RATE", "DURATION", "N_SAMPLES", "FRAME_SIZE", "HOP_LENGTH", "AUDIO_EXTENSIONS",
    "MIN_SAMPLE_RATE", "MAX_SAMPLE_RATE", "MAX_CHANNELS", "MIN_REAL_FRACTION", "SILENCE_PEAK",
    "SILENCE_RMS", "AudioLoadError", "load_audio", "fix_length", "to_clip", "clip_warnings",
    # sources (sources.py, hub.py, demo.py)
    "LEVELS", "CCMUSIC_CLASSES", "CCMUSIC_HIERARCHY", "CLASSIC_FOLDER_NAMES", "CCMUSIC_ID",
    "CCMUSIC_REVISIONS", "DEMO_VERSION", "DataSourceError", "Item", "list_folder_items",
    "level_names", "strip_number_prefix", "load_hf_dataset", "load_ccmusic",
    "list_ccmusic_folder", "synthesize_demo_clip", "list_demo_items",
    # splits (splits.py)
    "parse_splits", "split_items", "split_groups", "read_groups",
    # files and workers (files.py, parallel.py)
    "LOCK_NAME", "FolderLockedError", "atomic_write", "write_csv_atomic", "lock_folder",
    "file_stamp", "SchedulerError", "map_parallel",
    # preparing and reading a corpus (here)
    "prepare", "PrepareReport", "NON_LABEL_COLUMNS", "resolve_audio_file", "read_annotations",
    "label_columns", "feature_columns", "label_hierarchy", "list_splits", "class_balance",
    "read_skipped", "read_warnings", "count_files", "imbalance", "log_to_stderr",
    "default_data_dir", "default_img_dir",
]

#: Columns of an annotations or features table that are neither labels nor features:
#: ``source_stamp`` ties a clip to the version of its source, ``segment`` numbers the segments
#: of a clip in segment tables.
NON_LABEL_COLUMNS = ("audio_file", "source", "source_stamp", "segment")

#: Files ``prepare`` writes in a split folder (besides ``audios/audio_<split>_<i>.wav``).
SPLIT_FILES = ("annotations.csv", "skipped.csv", "warnings.csv")
#: Files derived from a split's annotations (by ``features``): removed when they change.
DERIVED_FILES = ("features.csv", "features.json", "features_skipped.csv")
#: Folders derived from a split's annotations: removed when they change.
DERIVED_DIRS = ("cache",)
#: The record of what each split was prepared from.
PREPARE_RECORD = "prepare.json"


def _project_dir() -> Path:
    """The repository checkout the package runs from, or the working directory otherwise."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").exists() else Path.cwd()


def default_data_dir() -> Path:
    """Where prepared data lives by default: ``$BAG_OF_SONGS_DATA_DIR``, else ``ccmusic/`` in
    the repository checkout (or in the working directory for a non-editable install).

    Explained in ``notebooks/1-data-preparation.ipynb`` (its parameters cell, ``DATA_DIR``).
    """
    env = os.environ.get("BAG_OF_SONGS_DATA_DIR")
    return Path(env).expanduser() if env else _project_dir() / "ccmusic"


def default_img_dir() -> Path:
    """Where figures are saved by default: ``$BAG_OF_SONGS_IMG_DIR``, else ``img/`` beside
    ``ccmusic/``.

    Explained in ``notebooks/1-data-preparation.ipynb`` (its parameters cell, ``IMG_DIR``).
    """
    env = os.environ.get("BAG_OF_SONGS_IMG_DIR")
    return Path(env).expanduser() if env else _project_dir() / "img"


def log_to_stderr(msg: str) -> None:
    """The default progress logger: one line on stderr.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 7: skipped inputs are reported
    on screen).
    """
    print(msg, file=sys.stderr)


def _bar_safe(log: Callable[[str], None]) -> Callable[[str], None]:
    """``log``, clearing progress bars on stderr around each line so the two never mix."""
    def emit(msg: str) -> None:
        try:
            from tqdm import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency
            log(msg)
            return
        with tqdm.external_write_mode(file=sys.stderr):
            log(msg)
    return emit


# ---------------------------------------------------------------------------------------------
# Preparing: one job per clip (run in workers), written by this process


def _decode_item(item: Item) -> tuple[np.ndarray, int]:
    """The clip of an item and how many of its samples are real audio (not padding)."""
    if item.kind == "demo":
        style, seed = item.payload
        y = synthesize_demo_clip(style, seed)
        return y, len(y)
    if item.kind == "bytes":
        buf = io.BytesIO(item.payload)
        buf.name = item.source
        return _load(buf, sr=SAMPLE_RATE, duration=DURATION)
    if item.kind == "path":
        if not item.payload:
            raise AudioLoadError(f"{item.source}: the dataset row has neither bytes nor a path")
        return _load(item.payload, sr=SAMPLE_RATE, duration=DURATION)
    raise ValueError(f"unknown item kind {item.kind!r}")


@contextlib.contextmanager
def _captured_stderr(lines: list[str]):
    """Collect what native decoders (libmpg123's "Illegal Audio-MPEG-Header", ...) print on
    file descriptor 2 while decoding, so that it is logged with the file's name instead of
    landing on a progress bar."""
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable file descriptor 2
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
            lines.extend(ln.strip() for ln in text.splitlines() if ln.strip())


def _decode_job(item: Item) -> tuple[np.ndarray | None, str | None, list[str], list[str]]:
    """One job of :func:`prepare`: ``(clip, None, warnings, decoder messages)``, or ``(None,
    reason, [], messages)`` when the item cannot be decoded. Runs in a worker process (or on a
    Dask worker) and writes nothing: the parent writes the clip."""
    messages: list[str] = []
    try:
        with _captured_stderr(messages):
            y, n_real = _decode_item(item)
    except AudioLoadError as exc:
        return None, str(exc), [], messages
    return y, None, clip_warnings(y, n_real=n_real), messages


def _read_table(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception:  # an unreadable old table is rebuilt from what can be verified
        return None


def _remove_derived(split_dir: Path) -> list[str]:
    """Delete the files derived from a split's annotations; returns the names removed."""
    removed = []
    for name in DERIVED_FILES:
        p = split_dir / name
        if p.is_file():
            p.unlink()
            removed.append(name)
    for name in DERIVED_DIRS:
        p = split_dir / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
            removed.append(f"{name}/")
    # Progress of an interrupted `features` run (features.py): of no use once the clips change.
    for p in split_dir.glob(".features.partial.*.jsonl"):
        if p.is_file() or p.is_symlink():
            p.unlink()
            removed.append(p.name)
    return removed


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


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


def _prepare_split(items: _Items, split: str, out_dir: Path, *, limit: int, n_jobs: int,
                   scheduler, progress: bool, report: PrepareReport,
                   log: Callable[[str], None]) -> None:
    """Prepare one split; ``limit``: the clip names an earlier run recorded (see
    :func:`_clip_limit`), the only unlisted clips it removes."""
    split_dir = out_dir / split
    audios = split_dir / "audios"
    audios.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(audios, [f"audio_{split}_*.wav"])  # debris of a killed run
    remove_stale_temp_files(split_dir, [*SPLIT_FILES, *DERIVED_FILES])
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

    label_cols: list[str] = []
    for labels in items.labels:
        label_cols.extend(c for c in labels if c not in label_cols)
    columns = ["audio_file", *label_cols, "source", "source_stamp"]
    rows: dict[int, dict] = {}
    warns: dict[int, list[str]] = {}
    todo: list[tuple[int, dict]] = []
    skipped: list[tuple[str, str]] = []
    for i in range(len(items)):
        rel = f"{split}/audios/audio_{split}_{i}.wav"
        source, stamp = items.sources[i], items.stamps[i]
        row = {"audio_file": rel, **items.labels[i], "source": source, "source_stamp": stamp}
        unlabelled = [c for c in label_cols if not str(items.labels[i].get(c, "")).strip()]
        not_utf8 = _not_utf8(row)
        if not_utf8 is not None:  # e.g. a Latin-1 file name: listed in skipped.csv, escaped
            source = _utf8_safe(source)
            skipped.append((source, not_utf8))
            log(f"skipped {source}: {not_utf8}")
        elif items.problems[i] is not None:  # known at listing time (an ambiguous depth...)
            skipped.append((source, items.problems[i]))
            log(f"skipped {source}: {items.problems[i]}")
        elif unlabelled:  # e.g. a ClassLabel of -1: nothing to learn from
            skipped.append((source, f"no label in {unlabelled}"))
            log(f"skipped {source}: no label in {unlabelled}")
        elif stamp and previous.get(rel) == (source, stamp) and is_complete_clip(out_dir / rel):
            # Resume: a complete clip of the same version of the same source is kept as it is.
            rows[i] = row
            warns[i] = warned_before.get(rel, [])
        else:
            todo.append((i, row))
    report.reused[split] = len(rows)

    def table(which: dict[int, dict]) -> bytes:
        return csv_bytes(pd.DataFrame([which[i] for i in sorted(which)], columns=columns))

    # Files derived from the old annotations (feature tables, caches) describe other clips as
    # soon as the table changes: remove them before anything else is written.
    removed: list[str] = []
    expected = {**rows, **{i: r for i, r in todo if r["source"] not in skipped_before}}
    if table(expected) != old_bytes:
        removed = _remove_derived(split_dir)
    current = old_bytes

    skip_path, warn_path = split_dir / "skipped.csv", split_dir / "warnings.csv"

    def flush() -> None:
        """Write what is complete so far (an interrupted run keeps it): the annotations, the
        skip report and the warnings, each rewritten rather than left stale."""
        nonlocal current
        data = table(rows)
        if data != current:
            write_bytes_atomic(data, ann_path, ".csv.tmp")
            current = data
        if skipped or skip_path.exists():
            write_csv_atomic(pd.DataFrame(skipped, columns=["source", "reason"]), skip_path)
        warn_rows = [(rows[i]["audio_file"], rows[i]["source"], w)
                     for i in sorted(rows) for w in warns.get(i, [])]
        if warn_rows or warn_path.exists():
            write_csv_atomic(pd.DataFrame(warn_rows, columns=["audio_file", "source",
                                                              "warning"]), warn_path)
        report.warnings[split] = warn_rows

    results = map_parallel(_decode_job, (items[i] for i, _ in todo), n_jobs=n_jobs,
                           scheduler=scheduler, desc=f"prepare {split}", progress=progress,
                           total=len(todo))
    last_flush = time.monotonic()
    with contextlib.closing(results):
        try:
            for (i, row), (y, reason, clip_warns, messages) in zip(todo, results, strict=True):
                for msg in dict.fromkeys(messages):  # each distinct line once
                    log(f"decoder: {row['source']}: {msg}")
                if y is None:
                    reason = _utf8_safe(reason)  # may quote a file name that is not UTF-8
                    skipped.append((row["source"], reason))
                    log(f"skipped {row['source']}: {reason}")
                else:
                    atomic_write(out_dir / row["audio_file"],
                                 lambda tmp, y=y: write_clip(tmp, y), ".wav.tmp")
                    rows[i] = row
                    warns[i] = clip_warns
                    for w in clip_warns:
                        log(f"warning: {row['source']}: {w}")
                if time.monotonic() - last_flush > 2.0:
                    flush()  # an interrupted run keeps what is complete
                    last_flush = time.monotonic()
        finally:
            flush()
    if not removed and current != old_bytes:
        removed = _remove_derived(split_dir)
    if removed:
        report.removed.append((split, "they were made from the earlier annotations", removed))
        log(f"{split}: removed {', '.join(removed)} (made from the earlier annotations)")

    # Clips of an earlier run that this one does not list (e.g. a corpus that shrank): only
    # names that a recorded run wrote, never a file of the same pattern put there by hand.
    listed = {Path(rows[i]["audio_file"]).name for i in rows}
    unlisted = [p for p in _own_clips(audios, split, limit) if p.name not in listed]
    for p in unlisted:
        p.unlink()
    if unlisted:
        what = [f"{_count(len(unlisted), 'clip')} no longer listed"]
        report.removed.append((split, "an earlier run wrote them; this one does not list them",
                               what))

    report.written[split] = len(rows)
    report.skipped[split] = skipped


# ---------------------------------------------------------------------------------------------
# Sources


def _grouping_note(column: str, idx: dict[str, list[int]], group_of: list[str],
                   unlisted: int, manifest: str) -> str:
    """The line ``prepare`` prints about a grouped split: the groups per split, and whether any
    group is in two splits (never, by construction of :func:`split_groups`)."""
    per = {k: {group_of[i] for i in v} for k, v in idx.items() if v}
    seen: dict[str, str] = {}
    shared = set()
    for k, gs in per.items():
        for g in gs:
            if g in seen and seen[g] != k:
                shared.add(g)
            seen.setdefault(g, k)
    counts = ", ".join(f"{k} {len(gs)}" for k, gs in per.items())
    line = (f"splits grouped by {column}: {len(seen)} groups ({counts}), "
            + (f"{len(shared)} {column}(s) in two splits" if shared
               else f"no {column} in two splits"))
    if unlisted:
        line += (f"; {_count(unlisted, 'clip')} not listed in {manifest}: "
                 f"{'a group of its own' if unlisted == 1 else 'each a group of its own'}")
    return line


def _looks_like_path(src: str) -> bool:
    """A SOURCE meant as a folder rather than a hub id (``owner/name``)."""
    return (src.startswith((".", "~", "/")) or "\\" in src or src.count("/") > 1
            or src.endswith("/") or (os.sep != "/" and os.sep in src))


def _select_level(items: list[Item], label_column: str, what: str) -> list[Item]:
    present = list(items[0].labels) if items else []
    if label_column not in present:
        raise DataSourceError(f"{what} has no label column {label_column!r}; its label "
                              f"columns: {present}")
    return [Item(it.source, {label_column: it.labels[label_column]}, it.kind, it.payload,
                 it.stamp) for it in items]


@dataclass
class _Source:
    grouped: dict | None = None  # a dataset's own splits: split -> _Items
    flat: _Items | None = None  # or one pool of items, split here
    folder_root: Path | None = None  # a folder source (for the manifest of groups)
    record: dict = field(default_factory=dict)  # what prepare.json says about the source


def _open_source(src: str, *, label_column, levels, revision, dataset_path, config,
                 trust_remote_code, demo_size, classic, log, notes) -> _Source:
    folder_only = {"levels": levels, "classic": classic}
    if src == "demo":
        given = [k for k, v in folder_only.items() if v is not None]
        if given:
            raise DataSourceError(f"{', '.join(given)} apply to folder sources, not to demo")
        items = list_demo_items(demo_size)
        if label_column is not None:
            items = _select_level(items, label_column, "the demo corpus")
        return _Source(flat=_Items.from_list(items),
                       record={"demo_size": demo_size, "demo_version": DEMO_VERSION})
    if src == "ccmusic":
        if levels is not None or classic is not None:
            raise DataSourceError("levels and classic apply to folder sources; ccmusic has its "
                                  "three levels")
        dp = Path(dataset_path).expanduser() if dataset_path is not None else None
        if dp is not None and not dp.exists():
            raise DataSourceError(f"{dataset_path}: no such folder (--dataset-path)")
        if dp is not None and (dp.suffix.lower() == ".zip" or (dp.is_dir()
                                                                and not looks_like_hf_folder(dp))):
            items = list_ccmusic_folder(dp, notes=notes)
            if label_column is not None:
                items = _select_level(items, label_column, f"{dp}")
            return _Source(flat=_Items.from_list(items), folder_root=dp,
                           record={"dataset_path": str(dp.absolute()), "layout": "audio.zip"})
        dsdict, loaded = _load_ccmusic(revision=revision, path=dp, log=log)
        return _Source(grouped=hf_items(dsdict, label_column=label_column,
                                        source_name="ccmusic"),
                       record={"revision": loaded, "dataset_path":
                               str(dp.absolute()) if dp is not None else None})
    p = Path(src).expanduser()
    if p.is_dir() and not looks_like_hf_folder(p):
        items = list_folder_items(p, classic=classic, levels=levels, label_column=label_column,
                                  notes=notes)
        return _Source(flat=_Items.from_list(items), folder_root=p,
                       record={"source_path": str(p.absolute())})
    if p.is_file():
        raise DataSourceError(f"{src}: a file, not a folder of genre subfolders or a dataset")
    if not p.exists() and _looks_like_path(src):
        raise DataSourceError(f"{src}: no such folder")
    given = [k for k, v in folder_only.items() if v is not None]
    if given:
        raise DataSourceError(f"{', '.join(given)} apply to folder sources; {src} is a "
                              f"Hugging Face dataset")
    name = p.name if p.exists() else src
    dsdict = load_hf_dataset(p if p.exists() else src, name=config, revision=revision,
                             trust_remote_code=trust_remote_code)
    return _Source(grouped=hf_items(dsdict, label_column=label_column, source_name=name),
                   record={"source_path": str(p.absolute()) if p.exists() else None})


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


def prepare(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    split: str | None = None,
    splits: str | dict | None = None,
    label_column: str | None = None,
    levels: int | Sequence[str] | None = None,
    revision: str | None = None,
    dataset_path: str | os.PathLike | None = None,
    config: str | None = None,
    trust_remote_code: bool = False,
    demo_size: int = 20,
    classic: Iterable[str] | None = None,
    group_column: str | None = None,
    manifest: str | os.PathLike | None = None,
    n_jobs: int = -1,
    scheduler=None,
    seed: int = 0,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> PrepareReport:
    """Prepare a corpus: 30 s mono 22,050 Hz WAVs plus ``annotations.csv`` per split.

    Explained in ``notebooks/1-data-preparation.ipynb``.

    Parameters
    ----------
    source : str or path-like
        ``"demo"`` (synthetic, offline), ``"ccmusic"`` (CCMusic ``music_genre``), a folder of
        genre subfolders (flat, or nested with ``levels``), a local Hugging Face dataset
        folder, or a hub id (``owner/name``). A path that does not exist is refused at once.
    out_dir : path-like
        Output folder, not inside the source folder: a new or empty folder, or one that an
        earlier run prepared (it holds ``prepare.json``). Only ``out_dir/<split>/`` of the
        splits prepared, ``prepare.json`` and a lock file are written; of an earlier run's
        files, only those described under *Re-running* are removed.
    split : str, optional
        Put the whole source into this one split (e.g. ``"test"``); other splits are left
        alone.
    splits : str or dict, optional
        Fractions for folder and demo sources (and single-split datasets), default
        ``"train=0.8,validation=0.1,test=0.1"``; stratified and seeded. Multi-split datasets
        keep their own splits.
    label_column : str, optional
        A Hugging Face dataset's label column (default: the three CCMusic levels when
        present, else ``label``, else the only ``ClassLabel`` column); for CCMusic and the
        demo corpus, the one level to keep; for a flat folder, the name of its genre column
        (default ``label``).
    levels : int or sequence of str, optional
        A nested folder source: its depth or the label column of each depth, coarse to fine
        (see :func:`list_folder_items`), e.g. ``("fst_level_label", "sec_level_label",
        "thr_level_label")``; default ``level_1, level_2...`` for a depth.
    revision : str, optional
        Hub revision. For CCMusic, default: the known-good revisions are tried in order (see
        :func:`load_ccmusic`).
    dataset_path : path-like, optional
        For ``source="ccmusic"``: a local copy of the corpus, either a ``save_to_disk``
        folder or the extracted ``audio.zip`` (numbered genre folders).
    config : str, optional
        Configuration (subset) name of a hub dataset.
    trust_remote_code : bool
        Let a hub dataset run its loading script (needed by script-based datasets such as
        CCMusic's ``default`` subset, which always sets it). Only for datasets you trust.
    demo_size : int
        Clips per style of the demo corpus.
    classic : iterable of str, optional
        For flat folder sources, the genre folders that are Classic (see
        :func:`list_folder_items`).
    group_column : str, optional
        For folder sources split by fractions: keep the clips that share this column of the
        manifest (e.g. ``artist``) in one split (see :func:`split_groups`), for honest
        evaluation. Clips the manifest does not list form groups of their own.
    manifest : path-like, optional
        The CSV with ``path`` and ``group_column`` (default ``ROOT/manifest.csv``).
    n_jobs : int
        Local worker processes for decoding (-1 = all cores; never more than the clips).
    scheduler : str or distributed.Client, optional
        Decode on an existing Dask cluster, e.g. ``"tcp://10.0.0.5:8786"`` (default:
        ``$BAG_OF_SONGS_SCHEDULER``, else local processes; see
        :func:`bag_of_songs.parallel.map_parallel`). The workers must be able to read the
        source files at the same paths; the clips come back here and are written by this
        process, so the outputs equal a local run's.
    seed : int
        Seed of the split.
    progress : bool
        Show progress bars.
    log : callable, optional
        Receives one line per skipped input, warning and removal (default: print to stderr).

    Returns
    -------
    report : PrepareReport

    Raises
    ------
    DataSourceError
        When the source cannot be loaded, holds no usable audio or labels, is a path that
        does not exist, or the output folder lies inside it; when the output folder is not
        empty and holds no ``prepare.json`` (a folder of someone's own files), or a split to
        write already has a folder that ``prepare.json`` does not list.
    FolderLockedError
        When another run is writing into ``out_dir``.

    Notes
    -----
    **Resume.** Re-running the same command keeps every clip whose WAV is complete and whose
    source is unchanged (``source_stamp``: a file's size and mtime, a dataset's fingerprint
    and row, the demo's style, seed and synthesiser version) and prepares the others.

    **Re-running into a folder with an earlier run's outputs.** ``prepare.json`` records,
    per split, the run that wrote it and how many clip names it used (``clips``); it is
    written before any clip, so an interrupted run is recorded too. Only splits it records
    are ever cleaned up. When a split's annotations change, the files derived from them
    (``features.csv``, ``features.json``, ``features_skipped.csv``, ``cache/``) are removed,
    and so are the clips the split no longer lists. A run that defines all splits (no
    ``split``) removes the project's files of the recorded splits this one does not produce
    (their ``annotations.csv``, ``skipped.csv``, ``warnings.csv``, feature files and the
    ``audios/audio_<split>_<i>.wav`` a recorded run wrote; nothing else). The report and
    ``log`` say what was removed.

    **Names that are not UTF-8.** An input whose file name (or genre folder name) is not
    valid UTF-8 text, e.g. Latin-1 bytes, cannot be written to ``annotations.csv``: it is
    listed in ``skipped.csv`` with its name escaped (``caf\\xe9.wav``) and the reason, and
    the other inputs are prepared.

    **Warnings.** A clip that is mostly padding (less than half of it real audio, e.g. a
    truncated file) or silent is kept, logged, and listed in ``warnings.csv`` (see
    :func:`clip_warnings`).
    """
    out_dir = Path(out_dir).expanduser()
    log = _bar_safe(log or log_to_stderr)
    src = str(source)
    if split is not None:
        _validate_split_name(split)
    fractions = parse_splits(splits) if split is None else None
    if out_dir.exists() and not out_dir.is_dir():
        raise DataSourceError(f"the output folder {out_dir} is a file; choose a folder")
    for candidate in (Path(src).expanduser(),
                      Path(dataset_path).expanduser() if dataset_path is not None else None):
        if candidate is not None and candidate.is_dir():
            _refuse_out_inside(out_dir, candidate)
    _check_out_folder(out_dir)  # at once, before the lock file is created in the folder
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        if out_dir.exists():  # refuse at once when another run is writing here
            stack.enter_context(lock_folder(out_dir, what="prepare"))
        opened = _open_source(src, label_column=label_column, levels=levels, revision=revision,
                              dataset_path=dataset_path, config=config,
                              trust_remote_code=trust_remote_code, demo_size=demo_size,
                              classic=classic, log=log, notes=notes)
        for msg in notes:
            log(msg)
        grouped, flat = opened.grouped, opened.flat
        if group_column is not None and opened.folder_root is None:
            raise DataSourceError("group_column applies to folder sources only")
        if grouped is not None and (split is not None or len(grouped) == 1):
            flat, grouped = _Items.concat(list(grouped.values())), None
        if grouped is None:
            if split is not None:
                grouped = {split: flat}
                if group_column is not None:
                    notes.append(f"--group-by {group_column} has no effect with --split "
                                 f"{split}: every clip goes to {split}")
            else:
                strat = _stratify_column(flat.labels, fractions)
                strat_labels = [lab.get(strat, "") for lab in flat.labels]
                if group_column is not None:
                    # Recorded in prepare.json, so read_clip_groups finds the groups later.
                    manifest = manifest or opened.folder_root / "manifest.csv"
                    groups = read_groups(manifest, group_column=group_column)
                    group_of = [groups.get(s, s) for s in flat.sources]
                    idx = split_groups(strat_labels, group_of, fractions, seed=seed)
                    unlisted = sum(s not in groups for s in flat.sources)
                    notes.append(_grouping_note(group_column, idx, group_of, unlisted,
                                                Path(manifest).name))
                else:
                    idx = split_items(strat_labels, fractions, seed=seed)
                grouped = {k: flat.subset(v) for k, v in idx.items() if v}
        for split_name in grouped:
            _validate_split_name(split_name)

        stack.enter_context(lock_folder(out_dir, what="prepare"))  # nested: already held
        recorded = _check_out_folder(out_dir)  # again, now that no other run can write here
        produced = [s for s, items in grouped.items() if len(items)]
        _check_split_folders(out_dir, produced, recorded)
        remove_stale_temp_files(out_dir, [PREPARE_RECORD])  # debris of a killed run
        report = PrepareReport(out_dir=out_dir, notes=notes)
        run = {"source": src, **opened.record, "split": split,
               "splits": fractions, "seed": seed if split is None else None,
               "group_column": group_column,
               "manifest": str(Path(manifest).absolute()) if manifest is not None else None,
               "label_column": label_column,
               "levels": level_names(levels) if levels is not None else None,
               "classic": sorted(classic) if classic is not None else None,
               "config": config, "trust_remote_code": trust_remote_code or None,
               "library_version": _library_version()}
        run = {k: v for k, v in run.items() if v is not None}
        if src == "ccmusic" and revision is not None:
            run["revision"] = revision
        limits = {s: _clip_limit(out_dir / s, s, recorded.get(s)) for s in produced}
        # Recorded before anything is written: an interrupted run is then a run this folder
        # records, which the next run resumes and may clean up after.
        _write_record(out_dir, {s: {**run, "clips": max(len(grouped[s]), limits[s])}
                                for s in produced}, [])
        for split_name in produced:
            _prepare_split(grouped[split_name], split_name, out_dir, limit=limits[split_name],
                           n_jobs=n_jobs, scheduler=scheduler, progress=progress,
                           report=report, log=log)
        gone = []
        if split is None and report.n_prepared > 0:
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
                        log(f"{old}: removed {', '.join(removed)} ({why})")
        _write_record(out_dir, {s: {**run, "clips": len(grouped[s])} for s in produced}, gone)
    if report.n_prepared == 0:
        raise DataSourceError(f"{src}: no clip could be prepared (see the skipped list)")
    return report


# ---------------------------------------------------------------------------------------------
# Reading a prepared folder


def resolve_audio_file(data_dir: str | os.PathLike, audio_file: str) -> Path:
    """The file an ``audio_file`` entry names, refused when it points outside ``data_dir``.

    Annotations name clips relative to the prepared folder (``train/audios/audio_train_0.wav``).
    An absolute path, a ``..`` component, or a symbolic link that leads out of the folder
    could make ``features`` or ``train`` read any file on the machine, so they are refused.
    Every reader of annotations goes through this function.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 5, the annotations).

    Parameters
    ----------
    data_dir : path-like
        The prepared folder (the parent of the split folders).
    audio_file : str
        The entry, relative to ``data_dir`` with ``/`` separators.

    Returns
    -------
    path : Path
        ``data_dir / audio_file`` (not checked for existence).

    Raises
    ------
    ValueError
        When the entry is empty, absolute, holds ``..`` or a backslash, or resolves outside
        ``data_dir``; the message names the entry and says why.

    Examples
    --------
    >>> resolve_audio_file("ccmusic", "train/audios/audio_train_0.wav")
    PosixPath('ccmusic/train/audios/audio_train_0.wav')
    >>> resolve_audio_file("ccmusic", "../secret.wav")
    Traceback (most recent call last):
    ...
    ValueError: audio_file '../secret.wav' goes up with '..': annotations may only name files \
inside ccmusic
    """
    text = str(audio_file)
    inside = f"annotations may only name files inside {data_dir}"
    if not text.strip():
        raise ValueError(f"audio_file is empty; {inside}")
    if "\x00" in text:
        raise ValueError(f"audio_file {text!r} holds a NUL character; {inside}")
    if "\\" in text:
        raise ValueError(f"audio_file {text!r} holds a backslash (paths use '/'); {inside}")
    rel = PurePosixPath(text)
    if rel.is_absolute() or PureWindowsPath(text).is_absolute() or PureWindowsPath(text).drive \
            or text.startswith("~"):
        raise ValueError(f"audio_file {text!r} is an absolute path: {inside}")
    if ".." in rel.parts:
        raise ValueError(f"audio_file {text!r} goes up with '..': {inside}")
    root = Path(data_dir)
    full = root / rel
    real_root = root.resolve()
    real = full.resolve()
    if real != real_root and real_root not in real.parents:
        raise ValueError(f"audio_file {text!r} leads outside the folder through a symbolic "
                         f"link (to {real}); {inside}")
    return full


def read_annotations(split_dir: str | os.PathLike) -> pd.DataFrame:
    """Read ``split_dir/annotations.csv``, every column as text, every row checked.

    Explained in ``notebooks/1-data-preparation.ipynb``.

    Parameters
    ----------
    split_dir : path-like
        A prepared split, e.g. ``ccmusic/train``.

    Returns
    -------
    annotations : pandas.DataFrame
        ``audio_file``, the label column(s), ``source`` (and ``source_stamp`` when written
        by this version).

    Raises
    ------
    FileNotFoundError
        When there is no annotations file.
    ValueError
        When the file is not a readable annotations table, or a row's ``audio_file`` points
        outside the prepared folder (see :func:`resolve_audio_file`; the message names the
        row).
    """
    path = Path(split_dir) / "annotations.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no annotations; run `bag-of-songs prepare` first")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: not a readable annotations table ({exc})") from exc
    if "audio_file" not in df.columns:
        raise ValueError(f"{path}: no 'audio_file' column (columns: {list(df.columns)})")
    data_dir = Path(split_dir).parent
    for k, value in enumerate(df["audio_file"].to_numpy()):
        try:
            resolve_audio_file(data_dir, value)
        except ValueError as exc:
            raise ValueError(f"{path}, row {k + 1} (line {k + 2}): {exc}") from None
    return df


def label_columns(df: pd.DataFrame) -> list[str]:
    """The label columns of an annotations or features table.

    The CCMusic levels (coarse to fine), then ``label``, then any other text column except
    those of :data:`NON_LABEL_COLUMNS` (e.g. a custom ``--label-column``, or the ``level_1``,
    ``level_2``... of a nested folder, in table order). A features table read with
    :func:`bag_of_songs.models.read_features` carries its list in ``df.attrs``.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 2, label levels).

    Parameters
    ----------
    df : pandas.DataFrame
        An annotations table (:func:`read_annotations`) or a features table.

    Returns
    -------
    columns : list of str
        ``df.attrs["label_columns"]`` (those still in ``df``) when it is set, else as above.
    """
    if "label_columns" in df.attrs:
        return [c for c in df.attrs["label_columns"] if c in df.columns]
    known = [c for c in (*LEVELS, "label") if c in df.columns]
    others = [c for c in df.columns if c not in known and c not in NON_LABEL_COLUMNS
              and not pd.api.types.is_numeric_dtype(df[c])]
    return known + others


def feature_columns(df: pd.DataFrame, *, exclude: Iterable[str] = ()) -> list[str]:
    """The numeric feature columns of a table: everything but labels, ids and ``exclude``.

    Used in ``notebooks/3-models-prediction.ipynb`` (section 1), where
    :class:`~bag_of_songs.models.TabularDataset` picks its columns with it.

    Parameters
    ----------
    df : pandas.DataFrame
        A features table.
    exclude : iterable of str
        Further columns that are not features (e.g. GTZAN's ``length``).

    Returns
    -------
    columns : list of str
        In table order, every numeric column but ``audio_file``, ``source``, the label columns
        (:func:`label_columns`, the CCMusic levels and ``label``, even when numeric) and
        ``exclude``.
    """
    drop = set(NON_LABEL_COLUMNS) | set(label_columns(df)) | set(LEVELS) | {"label"} \
        | set(exclude)
    return [c for c in df.columns if c not in drop and pd.api.types.is_numeric_dtype(df[c])]


def list_splits(data_dir: str | os.PathLike) -> list[str]:
    """Splits under ``data_dir`` that have an ``annotations.csv`` (train, validation, test first).

    Explained in ``notebooks/1-data-preparation.ipynb``.

    Parameters
    ----------
    data_dir : path-like
        A prepared folder, e.g. ``ccmusic``.

    Returns
    -------
    splits : list of str
        ``train``, ``validation``, ``test`` first, then the other splits by name; empty when
        ``data_dir`` is not a folder or holds no prepared split.
    """
    data_dir = Path(data_dir)
    found = [p.name for p in data_dir.iterdir() if (p / "annotations.csv").exists()] \
        if data_dir.is_dir() else []
    order = {"train": 0, "validation": 1, "test": 2}
    return sorted(found, key=lambda s: (order.get(s, 3), s))



def class_balance(data_dir: str | os.PathLike) -> pd.DataFrame:
    """Clips per class, per split and label level, of a prepared folder.

    Explained in ``notebooks/1-data-preparation.ipynb``.

    Returns
    -------
    balance : pandas.DataFrame
        Columns ``split, level, class, count``, in split order (train, validation, test...).
    """
    rows = []
    for split in list_splits(data_dir):
        ann = read_annotations(Path(data_dir) / split)
        for level in label_columns(ann):
            counts = ann[level].astype(str).value_counts().sort_index()
            rows.extend({"split": split, "level": level, "class": c, "count": int(n)}
                        for c, n in counts.items())
    return pd.DataFrame(rows, columns=["split", "level", "class", "count"])


def read_skipped(data_dir: str | os.PathLike) -> pd.DataFrame:
    """Every input that preparation skipped, with its split and the reason.

    Explained in ``notebooks/1-data-preparation.ipynb``.

    Returns
    -------
    skipped : pandas.DataFrame
        Columns ``split, source, reason`` (empty when nothing was skipped).
    """
    frames = []
    for split in list_splits(data_dir):
        path = Path(data_dir) / split / "skipped.csv"
        if path.exists():
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            if len(df):
                frames.append(df.assign(split=split)[["split", "source", "reason"]])
    if not frames:
        return pd.DataFrame(columns=["split", "source", "reason"])
    return pd.concat(frames, ignore_index=True)


def count_files(data_dir: str | os.PathLike) -> pd.DataFrame:
    """Files of each prepared split: clips on disk, clips annotated, inputs skipped.

    Used in ``notebooks/1-data-preparation.ipynb`` (sections 2, 5 and 7) to check that every
    annotated clip exists and to count the inputs that could not be read.

    Parameters
    ----------
    data_dir : path-like
        A prepared folder (``data_dir/<split>/annotations.csv``).

    Returns
    -------
    counts : pandas.DataFrame [shape=(n_splits, 3)]
        Indexed by split (train, validation, test first), columns ``wav_files`` (WAV files in
        ``<split>/audios/``), ``annotated`` (rows of ``annotations.csv``) and ``skipped`` (rows
        of ``skipped.csv``, 0 without one). Empty when there is no prepared split.
    """
    data_dir = Path(data_dir)
    splits = list_splits(data_dir)
    skipped = read_skipped(data_dir)["split"].value_counts()
    counts = pd.DataFrame(
        {"wav_files": [sum(1 for _ in (data_dir / s / "audios").glob("*.wav")) for s in splits],
         "annotated": [len(read_annotations(data_dir / s)) for s in splits],
         "skipped": [int(skipped.get(s, 0)) for s in splits]},
        index=pd.Index(splits, name="split"), dtype=int)
    return counts


def imbalance(balance: pd.DataFrame, *, split: str | None = None) -> pd.DataFrame:
    """How unbalanced the classes of each label level are, in one split.

    Used in ``notebooks/1-data-preparation.ipynb`` (section 3): the further ``ratio`` is above
    1, the more the accuracy flatters a model that favours the large classes.

    Parameters
    ----------
    balance : pandas.DataFrame
        Columns ``split, level, class, count``, as returned by :func:`class_balance`.
    split : str, optional
        The split to measure (default: the first in ``balance``, normally ``train``).

    Returns
    -------
    imbalance : pandas.DataFrame [shape=(n_levels, 4)]
        Indexed by level (in ``balance``'s order), columns ``n_classes``, ``smallest`` and
        ``largest`` (clips in the smallest and the largest class) and ``ratio`` (largest over
        smallest). Only classes present in ``split`` count.

    Raises
    ------
    ValueError
        When ``balance`` has no row for ``split``.

    Examples
    --------
    >>> balance = pd.DataFrame({"split": ["train"] * 2, "level": ["label"] * 2,
    ...                         "class": ["a", "b"], "count": [30, 10]})
    >>> imbalance(balance).loc["label"].to_dict()
    {'n_classes': 2.0, 'smallest': 10.0, 'largest': 30.0, 'ratio': 3.0}
    """
    if split is None:
        if balance.empty:
            raise ValueError("the class balance table is empty")
        split = balance["split"].iloc[0]
    sub = balance[(balance["split"] == split) & (balance["count"] > 0)]
    if sub.empty:
        raise ValueError(f"no class counts for split {split!r} "
                         f"(splits: {list(dict.fromkeys(balance['split']))})")
    out = sub.groupby("level", sort=False)["count"].agg(n_classes="size", smallest="min",
                                                        largest="max")
    out["ratio"] = out["largest"] / out["smallest"]
    return out


def label_hierarchy(annotations, levels: Sequence[str] | None = None
                    ) -> dict[str, dict[str, str]]:
    """How the label levels of a corpus nest: for each finer level, each class's parent class.

    Lets a model trained on a fine level report a coarse one too (predict ``thr_level_label``,
    read off ``sec_level_label`` and ``fst_level_label``). Works for CCMusic and the demo
    (:data:`LEVELS`), nested folders (``level_1``, ``level_2``... or the names given) and flat
    folders whose genres map to Classic / Non_classic (``label`` -> ``fst_level_label``).

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 2, label levels).

    Parameters
    ----------
    annotations : pandas.DataFrame or path-like
        An annotations or features table, or a prepared folder (every split is read) or one
        split folder.
    levels : sequence of str, optional
        The levels, coarse to fine. Default: the label columns of the table (see
        :func:`label_columns`), with ``label`` as the finest when it is there.

    Returns
    -------
    hierarchy : dict level -> dict class -> parent class
        One entry per level but the coarsest, keyed by the finer level. For the CCMusic
        levels, classes of :data:`CCMUSIC_HIERARCHY` absent from the table are filled in.

    Raises
    ------
    ValueError
        When a level is missing from the table, fewer than two levels are given, or a class
        has two parents (the levels do not nest; the message names the class).

    Examples
    --------
    >>> df = pd.DataFrame({"fst_level_label": ["Classic", "Non_classic", "Non_classic"],
    ...                    "label": ["classical", "rock", "pop"]})
    >>> label_hierarchy(df)
    {'label': {'classical': 'Classic', 'rock': 'Non_classic', 'pop': 'Non_classic'}}
    """
    if isinstance(annotations, (str, os.PathLike)):
        p = Path(annotations)
        if (p / "annotations.csv").exists():
            df = read_annotations(p)
        else:
            parts = [read_annotations(p / s) for s in list_splits(p)]
            if not parts:
                raise FileNotFoundError(f"{p}: no prepared split (no */annotations.csv)")
            df = pd.concat(parts, ignore_index=True)
    else:
        df = annotations
    if levels is None:
        cols = label_columns(df)
        levels = [c for c in cols if c != "label"] + (["label"] if "label" in cols else [])
    levels = list(levels)
    missing = [lv for lv in levels if lv not in df.columns]
    if missing:
        raise ValueError(f"no label column(s) {missing} in the table (columns: "
                         f"{list(df.columns)})")
    if len(levels) < 2:
        raise ValueError(f"a hierarchy needs two levels or more, got {levels}")
    out: dict[str, dict[str, str]] = {}
    for coarse, fine in zip(levels[:-1], levels[1:], strict=True):
        mapping: dict[str, str] = {}
        pairs = zip(df[fine].astype(str).to_numpy(), df[coarse].astype(str).to_numpy(),
                    strict=True)
        for child, parent in pairs:
            if not child or not parent:
                continue
            if mapping.setdefault(child, parent) != parent:
                raise ValueError(
                    f"{fine} class {child!r} falls under two {coarse} classes "
                    f"({mapping[child]!r} and {parent!r}): these levels do not nest; pass "
                    f"levels= with levels that do")
        out[fine] = mapping
    if tuple(levels) == LEVELS or tuple(levels) == LEVELS[:2]:
        for sec, (fst, thrs) in CCMUSIC_HIERARCHY.items():
            out["sec_level_label"].setdefault(sec, fst)
            if "thr_level_label" in out:
                for thr in thrs:
                    out["thr_level_label"].setdefault(thr, sec)
    return out


def read_warnings(data_dir: str | os.PathLike) -> pd.DataFrame:
    """Every warning that preparation recorded (clips mostly padding or silent), per split.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 7).

    Returns
    -------
    warnings : pandas.DataFrame
        Columns ``split, audio_file, source, warning`` (empty when there was none).
    """
    columns = ["split", "audio_file", "source", "warning"]
    frames = []
    for split in list_splits(data_dir):
        df = _read_table(Path(data_dir) / split / "warnings.csv")
        if df is not None and len(df) and set(columns[1:]) <= set(df.columns):
            frames.append(df.assign(split=split)[columns])
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)
