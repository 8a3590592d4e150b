"""Preparing a corpus: :func:`prepare` turns any labelled audio into 30 s mono 22,050 Hz WAVs
plus ``annotations.csv`` per split, resumably and without touching files it did not write.

The steps, each in its own module: open the SOURCE (:mod:`.sources.open`), assign its items
to splits (here: the source's own splits, one named split, or stratified fractions, grouped
or not), check and record the output folder (:mod:`.record`), prepare each split
(:mod:`.prepare_split`: decode in workers, write clips and tables), then remove what an
earlier run wrote and this one does not produce (:mod:`.cleanup`).

Explained in ``notebooks/1-data-preparation.ipynb``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .._constants import PREPARE_RECORD
from .._logging import forward_records
from ..errors import DataSourceError
from ..files import lock_folder, remove_stale_temp_files
from .cleanup import _clip_limit, _remove_unproduced_splits
from .prepare_split import _prepare_split
from .record import (
    _check_out_folder,
    _check_split_folders,
    _library_version,
    _refuse_out_inside,
    _write_record,
)
from .report import PrepareReport, _count
from .sources.base import _Items
from .sources.folder import level_names
from .sources.open import _open_source, _Source
from .splits import (
    _stratify_column,
    _validate_split_name,
    parse_splits,
    read_groups,
    split_groups,
    split_items,
)

logger = logging.getLogger(__name__)

__all__ = ["prepare"]


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


def _assign_splits(opened: _Source, *, split: str | None, fractions: dict[str, float] | None,
                   group_column: str | None, manifest, seed: int, notes: list[str]
                   ) -> tuple[dict[str, _Items], str | os.PathLike | None]:
    """The items of each split, and the manifest of groups read (when ``group_column``).

    A dataset keeps its own splits, unless ``split`` puts everything in one or it has only one;
    a pool of items goes to ``split``, or is cut by ``fractions``, stratified and seeded, groups
    kept whole when ``group_column`` is given.
    """
    grouped, flat = opened.grouped, opened.flat
    if group_column is not None and opened.folder_root is None:
        raise DataSourceError("group_column applies to folder sources only")
    if grouped is not None and (split is not None or len(grouped) == 1):
        flat, grouped = _Items.concat(list(grouped.values())), None
    if grouped is not None:
        return grouped, manifest
    if split is not None:
        if group_column is not None:
            notes.append(f"--group-by {group_column} has no effect with --split "
                         f"{split}: every clip goes to {split}")
        return {split: flat}, manifest
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
    return {k: flat.subset(v) for k, v in idx.items() if v}, manifest


def _run_record(src: str, opened: _Source, *, split, fractions, seed, group_column, manifest,
                label_column, levels, classic, config, trust_remote_code, revision) -> dict:
    """What ``prepare.json`` records about this run for each split it produces."""
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
    return run


def _check_before_start(src: str, out_dir: Path, dataset_path) -> None:
    """Refuse at once an output folder that is a file, lies inside the source, or holds files
    that prepare did not write (before the lock file is created in it)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DataSourceError(f"the output folder {out_dir} is a file; choose a folder")
    for candidate in (Path(src).expanduser(),
                      Path(dataset_path).expanduser() if dataset_path is not None else None):
        if candidate is not None and candidate.is_dir():
            _refuse_out_inside(out_dir, candidate)
    _check_out_folder(out_dir)


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
        Deprecated: attach a handler to the ``bag_of_songs`` logger instead. Receives the
        package's log lines (``INFO`` and up) while this call runs. Without it, the skipped
        inputs, warnings and removals are logged at ``WARNING`` (shown on stderr when logging
        is not configured) and the other lines at ``INFO``.

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
    the log say what was removed.

    **Names that are not UTF-8.** An input whose file name (or genre folder name) is not
    valid UTF-8 text, e.g. Latin-1 bytes, cannot be written to ``annotations.csv``: it is
    listed in ``skipped.csv`` with its name escaped (``caf\\xe9.wav``) and the reason, and
    the other inputs are prepared.

    **Warnings.** A clip that is mostly padding (less than half of it real audio, e.g. a
    truncated file) or silent is kept, logged, and listed in ``warnings.csv`` (see
    :func:`clip_warnings`).
    """
    with forward_records(log):
        return _prepare(source, out_dir, split=split, splits=splits, label_column=label_column,
                        levels=levels, revision=revision, dataset_path=dataset_path,
                        config=config, trust_remote_code=trust_remote_code,
                        demo_size=demo_size, classic=classic, group_column=group_column,
                        manifest=manifest, n_jobs=n_jobs, scheduler=scheduler, seed=seed,
                        progress=progress)


def _prepare(source, out_dir, *, split, splits, label_column, levels, revision, dataset_path,
             config, trust_remote_code, demo_size, classic, group_column, manifest, n_jobs,
             scheduler, seed, progress) -> PrepareReport:
    """:func:`prepare`'s work, its lines going to the module loggers."""
    out_dir = Path(out_dir).expanduser()
    src = str(source)
    if split is not None:
        _validate_split_name(split)
    fractions = parse_splits(splits) if split is None else None
    _check_before_start(src, out_dir, dataset_path)
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        if out_dir.exists():  # refuse at once when another run is writing here
            stack.enter_context(lock_folder(out_dir, what="prepare"))
        opened = _open_source(src, label_column=label_column, levels=levels, revision=revision,
                              dataset_path=dataset_path, config=config,
                              trust_remote_code=trust_remote_code, demo_size=demo_size,
                              classic=classic, notes=notes)
        for msg in notes:
            logger.warning(msg)
        grouped, manifest = _assign_splits(opened, split=split, fractions=fractions,
                                           group_column=group_column, manifest=manifest,
                                           seed=seed, notes=notes)
        for split_name in grouped:
            _validate_split_name(split_name)

        stack.enter_context(lock_folder(out_dir, what="prepare"))  # nested: already held
        recorded = _check_out_folder(out_dir)  # again, now that no other run can write here
        produced = [s for s, items in grouped.items() if len(items)]
        _check_split_folders(out_dir, produced, recorded)
        remove_stale_temp_files(out_dir, [PREPARE_RECORD])  # debris of a killed run
        report = PrepareReport(out_dir=out_dir, notes=notes)
        run = _run_record(src, opened, split=split, fractions=fractions, seed=seed,
                          group_column=group_column, manifest=manifest,
                          label_column=label_column, levels=levels, classic=classic,
                          config=config, trust_remote_code=trust_remote_code,
                          revision=revision)
        limits = {s: _clip_limit(out_dir / s, s, recorded.get(s)) for s in produced}
        # Recorded before anything is written: an interrupted run is then a run this folder
        # records, which the next run resumes and may clean up after.
        _write_record(out_dir, {s: {**run, "clips": max(len(grouped[s]), limits[s])}
                                for s in produced}, [])
        for split_name in produced:
            _prepare_split(grouped[split_name], split_name, out_dir, limit=limits[split_name],
                           n_jobs=n_jobs, scheduler=scheduler, progress=progress,
                           report=report)
        gone = []
        if split is None and report.n_prepared > 0:
            gone = _remove_unproduced_splits(out_dir, recorded, produced, report)
        _write_record(out_dir, {s: {**run, "clips": len(grouped[s])} for s in produced}, gone)
    if report.n_prepared == 0:
        raise DataSourceError(f"{src}: no clip could be prepared (see the skipped list)")
    return report
