"""A split's feature table in memory: every clip in worker processes, rows back in order.

``_features_for_file`` (one clip, one setting) and ``_features_for_file_multi`` (one clip,
several settings: decoded once, each part of a feature set computed once) run in the workers
of :func:`bag_of_songs.parallel.map_parallel`; ``_compute_tables`` gathers their rows, resumes
from the side file (:mod:`.resume`), and refuses a result whose annotations or clips changed
meanwhile. Nothing is written here but the side file: :mod:`.tables` publishes.

Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..audio import AudioLoadError, load_audio
from ..data import label_columns, read_annotations
from ..errors import EmbeddingError, FeatureError, StaleFeaturesError
from ..files import sha256_file
from .embedding import _one_torch_thread, check_musicnn_checkpoint
from .extract import extract_with_settings, feature_names
from .params import MUSICNN_SETTING_KEYS, split_feature_set
from .provenance import _changed_clip, _clip_stamp, _rerun, _stat_clip
from .resume import (
    _clip_identity,
    _partial_header,
    _partial_line,
    _partial_path,
    _PartialWriter,
    _read_partial,
    _remove_partials,
    _row_values,
)
from .settings import SETTING_KEYS

logger = logging.getLogger(__name__)


def _features_for_file(path: str, settings: dict
                       ) -> tuple[dict | pd.DataFrame | None, str | None]:
    threads = contextlib.nullcontext()
    if split_feature_set(settings["feature_set"])[1] is not None:
        # Every clip would fail alike: end the build (not a skip) when this worker's checkpoint
        # is missing or is not the one recorded (a Dask worker on another machine).
        check_musicnn_checkpoint(settings)
        threads = _one_torch_thread()
    try:
        y = load_audio(path, sr=settings["sr"])
        with threads:
            return extract_with_settings(y, settings, check_checkpoint=False), None
    except EmbeddingError:
        raise
    except (AudioLoadError, FeatureError) as exc:
        return None, str(exc)


def _features_for_file_multi(path: str, settings_list: list[dict]) -> list[tuple]:
    """One clip's (row, reason) under each of several settings: decoded once, and each part
    of a feature set (hand-crafted set, embedding) computed once per pooling setting; a
    combined set's row is its parts' columns side by side, as :func:`extract_features`
    returns them."""
    for s in settings_list:
        if split_feature_set(s["feature_set"])[1] is not None:
            check_musicnn_checkpoint(s)  # every clip would fail alike: end the build
    try:
        y = load_audio(path, sr=settings_list[0]["sr"])
    except AudioLoadError as exc:
        return [(None, str(exc))] * len(settings_list)
    parts: dict = {}

    def part(settings, name):
        ps = {k: settings.get(k) for k in SETTING_KEYS if k in settings}
        ps["feature_set"] = name
        if name != "musicnn":
            for k in MUSICNN_SETTING_KEYS:
                ps.pop(k, None)
        key = json.dumps(ps, sort_keys=True)
        if key not in parts:
            threads = _one_torch_thread() if name == "musicnn" else contextlib.nullcontext()
            try:
                with threads:
                    parts[key] = (extract_with_settings(y, ps, check_checkpoint=False), None)
            except EmbeddingError:
                raise
            except FeatureError as exc:
                parts[key] = (None, str(exc))
        return parts[key]

    out = []
    for settings in settings_list:
        pieces = [part(settings, name) for name in split_feature_set(settings["feature_set"])
                  if name]
        reasons = [r for _, r in pieces if r is not None]
        if reasons:
            out.append((None, reasons[0]))
        elif settings["segment"] is None:
            row: dict = {}
            for piece, _ in pieces:
                row.update(piece)
            out.append((row, None))
        else:
            first, *rest = [p for p, _ in pieces]
            out.append((pd.concat([first, *[p.drop(columns="segment") for p in rest]], axis=1),
                        None))
    return out


def _open_resume(split_dir: Path, settings: dict, columns: list[str], files, stats
                 ) -> tuple[dict, _PartialWriter]:
    """The rows an interrupted run left in the split's side file for clips that are unchanged
    (file -> row), and the writer that appends each clip finished from now on."""
    segmented = settings["segment"] is not None
    partial = _partial_path(split_dir, settings)
    _remove_partials(split_dir, keep=partial)  # other settings' progress is abandoned
    header = _partial_header(settings, columns)
    identities = {str(f): _clip_identity(st) for f, st in zip(files, stats, strict=True)
                  if st is not None}
    reused = _read_partial(partial, header, identities, columns, segmented)
    if reused:
        logger.info(f"{split_dir.name}: {len(reused)} clip{'s' * (len(reused) != 1)} reused from "
                    f"an interrupted run ({partial.name})")
    writer = _PartialWriter(partial, header, [
        _partial_line(f, identities[f], _row_values(row, columns, segmented))
        for f, row in reused.items()])
    return reused, writer


def _compute_tables(split_dir: Path, settings_list: list[dict], *, n_jobs: int, scheduler,
                    progress: bool, resume: bool = False) -> list[tuple]:
    """:func:`_compute_table` for several settings in one pass: each clip is decoded once
    (all settings share one sample rate) and each part of a feature set computed once.
    ``resume`` needs a single setting."""
    from ..parallel import map_parallel  # at call time: tests replace it in its module

    ann_path = split_dir / "annotations.csv"
    ann = read_annotations(split_dir)
    ann_sha = sha256_file(ann_path)
    labels = label_columns(ann)
    root = split_dir.parent
    files = ann["audio_file"].to_numpy()
    stats = [_stat_clip(root / f) for f in files]  # before any clip is read
    all_columns = [feature_names(n_mfcc=s["n_mfcc"], stats=s["stats"],
                                 feature_set=s["feature_set"],
                                 musicnn_model=s.get("musicnn_model"),
                                 musicnn_layer=s.get("musicnn_layer")) for s in settings_list]
    # Absolute paths: a Dask worker may run in another folder (the files must be on storage
    # every worker reads). Results come back in order, one clip in flight per worker or two.
    paths = [str((root / f).absolute()) for f in files]
    if len(settings_list) == 1:
        fn = functools.partial(_features_for_file, settings=settings_list[0])
    else:
        fn = functools.partial(_features_for_file_multi, settings_list=settings_list)
    reused: dict = {}
    writer = None
    if resume:
        reused, writer = _open_resume(split_dir, settings_list[0], all_columns[0], files, stats)
    todo = [i for i in range(len(files)) if str(files[i]) not in reused]
    results = (r for r in ())
    if todo:
        results = map_parallel(fn, [paths[i] for i in todo], n_jobs=n_jobs,
                               scheduler=scheduler, desc=f"features {split_dir.name}",
                               progress=progress, total=len(todo))
    n = len(settings_list)
    rows = [[] for _ in range(n)]
    kept = [[] for _ in range(n)]  # the annotation row of each table row
    skipped = [[] for _ in range(n)]
    try:
        with contextlib.closing(results):
            for i in range(len(files)):
                if str(files[i]) in reused:
                    result = (reused[str(files[i])], None)
                else:
                    result = next(results)
                    if writer is not None and result[0] is not None and stats[i] is not None:
                        values = _row_values(result[0], all_columns[0],
                                             settings_list[0]["segment"] is not None)
                        if values is not None:
                            writer.add(_partial_line(str(files[i]), _clip_identity(stats[i]),
                                                     values))
                logged = set()  # a clip that cannot be decoded fails every setting alike
                for j, (row, reason) in enumerate([result] if n == 1 else result):
                    if row is None:
                        skipped[j].append((files[i], reason))
                        if reason not in logged:
                            logged.add(reason)
                            logger.warning(f"left out {files[i]}: {reason}")
                    else:
                        rows[j].append(row)
                        kept[j].extend([i] * (len(row) if settings_list[j]["segment"] is not None
                                              else 1))
    finally:
        if writer is not None:
            writer.close()
    stamps = {str(f): _clip_stamp(st) for f, st in zip(files, stats, strict=True)}
    ann_changed = sha256_file(ann_path) != ann_sha
    changed = None if ann_changed else _changed_clip(root, stamps)
    if resume and (ann_changed or changed):  # the progress describes what is gone
        _remove_partials(split_dir)
    if ann_changed:
        raise StaleFeaturesError(
            f"{ann_path} changed while the features of split {split_dir.name!r} were being "
            f"extracted (another `prepare` run?); nothing was written; {_rerun(split_dir)}")
    if changed:
        raise StaleFeaturesError(
            f"a clip of split {split_dir.name!r} changed while its features were being "
            f"extracted ({changed}); nothing was written; {_rerun(split_dir)}")
    out = []
    for settings, columns, rows_j, kept_j, skipped_j in zip(settings_list, all_columns, rows,
                                                            kept, skipped, strict=True):
        if settings["segment"] is not None:
            feats = pd.concat(rows_j, ignore_index=True) if rows_j else pd.DataFrame(
                {"segment": pd.Series(dtype=np.int64), **{c: pd.Series(dtype=float)
                                                          for c in columns}})
            if list(feats.columns) != ["segment", *columns]:  # a programming error
                raise RuntimeError(f"segment columns {list(feats.columns)[:5]}... differ from "
                                   f"feature_names()")
        else:
            feats = pd.DataFrame(rows_j, columns=columns)
        table = pd.concat([ann.iloc[kept_j][["audio_file", *labels]].reset_index(drop=True),
                           feats], axis=1)
        out.append((table, skipped_j, labels, columns, ann_sha, len(rows_j), stamps))
    return out


def _compute_table(split_dir: Path, settings: dict, *, n_jobs: int, scheduler, progress: bool,
                   resume: bool = False) -> tuple:
    """The feature table of one split, in memory: (table, skipped, label columns, feature
    columns, annotations SHA-256, clips kept, clip stamps). Raises StaleFeaturesError when
    annotations.csv or a clip changed meanwhile. With ``resume``, finished clips are kept in
    the split's side file (:func:`_partial_path`) and those it already holds are reused."""
    return _compute_tables(split_dir, [settings], n_jobs=n_jobs, scheduler=scheduler,
                           progress=progress, resume=resume)[0]
