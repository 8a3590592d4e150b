"""What a feature table was made from, and the checks that it still matches.

``features.json`` ties a split's ``features.csv`` to its settings, its ``annotations.csv``
(SHA-256) and its clips (size and modification time, ``clip_stamps``): ``_features_json``
writes it, :func:`check_feature_table` refuses a stale table and :func:`check_feature_tables`
a folder whose splits disagree.

Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).
"""

from __future__ import annotations

import csv
import json
import os
import stat as _stat
from collections.abc import Iterable
from pathlib import Path

from ..data import list_splits
from ..errors import EmbeddingError, FeatureError, StaleFeaturesError
from ..files import sha256_file
from .embedding import _installed_musicnn_settings, _musicnn_mismatch
from .params import (
    _PROVENANCE_KEYS,
    FEATURES_FORMAT_VERSION,
    MUSICNN_SETTING_KEYS,
    TABLE_FEATURE_SETS,
    split_feature_set,
)
from .settings import SETTING_KEYS, check_settings


def _rerun(split_dir: Path) -> str:
    return f"re-run `bag-of-songs features {split_dir.parent}`"


def _csv_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f), [])


def _expected_columns(meta: dict) -> list[str]:
    segment = ["segment"] if meta.get("segment") is not None else []
    return ["audio_file", *meta["label_columns"], *segment, *meta["feature_columns"]]


def _stat_clip(path: Path) -> os.stat_result | None:
    """A clip's ``os.stat`` (it follows a link, as decoding does); None when it is missing or
    not a regular file."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL in a (crafted) name
        return None
    return st if _stat.S_ISREG(st.st_mode) else None


def _clip_stamp(st: os.stat_result | None) -> list[int] | None:
    """What ``features.json`` records of a clip: ``[size, mtime_ns]`` (None: missing)."""
    return None if st is None else [st.st_size, st.st_mtime_ns]


def _valid_clip_stamps(stamps) -> bool:
    return isinstance(stamps, dict) and all(
        isinstance(f, str) and (v is None or (
            isinstance(v, list) and len(v) == 2
            and all(type(x) is int and x >= 0 for x in v)))  # bool is not a size
        for f, v in stamps.items())


def _changed_clip(root: Path, stamps: dict) -> str | None:
    """None when every clip has the size and modification time recorded (one stat each, no
    read), else a phrase naming the first that does not."""
    for f, was in stamps.items():
        now = _clip_stamp(_stat_clip(root / f))
        if now == was:
            continue
        if now is None:
            return f"the clip {f} is missing (it was there when the table was built)"
        if was is None:
            return f"the clip {f}, missing when the table was built, is there now"
        return (f"the clip {f} changed since the table was built (size or modification time "
                f"differ: replaced, rewritten or touched), so its row may describe other audio")
    return None


def check_feature_table(split_dir: str | os.PathLike) -> dict:
    """Check that a split's feature table is current: built from its annotations as they are.

    Call it before using ``split_dir/features.csv`` (training, evaluation): a table built
    before ``annotations.csv`` was rewritten (another ``prepare`` run: other seed, source,
    splits or grouping) describes other clips and must not be used. Checked, in this order:
    ``features.json`` exists, is readable and of this version's format
    (:data:`FEATURES_FORMAT_VERSION`), with valid settings (:func:`check_settings`); for a
    table with a musicnn embedding, the installed checkpoint, front end and layer are those
    recorded (``musicnn_settings``; when the checkpoint is not installed this is not checked,
    and the table can still be trained and evaluated on); ``annotations.csv`` has the SHA-256
    recorded at build time; every clip it lists has the size and modification time recorded
    (``clip_stamps``: a clip replaced, rewritten or merely touched since, or gone, makes the
    table stale; one ``stat`` per clip, nothing is read); ``features.csv`` has the columns
    recorded (``audio_file``, the label columns, ``segment`` for a segment table, the feature
    columns) and the SHA-256 recorded (so a ``features.csv`` replaced or edited after
    ``features.json`` was written is refused too). Copy a prepared folder with its
    modification times (``cp -a``, ``rsync -a``), or re-run ``features`` after copying.

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).

    Parameters
    ----------
    split_dir : path-like
        A split folder, e.g. ``ccmusic/train``.

    Returns
    -------
    settings : dict
        The content of ``features.json`` (fields listed in :func:`build_feature_table`).

    Raises
    ------
    FileNotFoundError
        When there is no ``features.csv`` (the features were never extracted).
    StaleFeaturesError
        When the table cannot be tied to the split's annotations and clips as they are; the
        message names the split, the reason (the first changed clip, when a clip changed),
        and says to re-run ``bag-of-songs features DIR``.

    Examples
    --------
    >>> check_feature_table("ccmusic/train")["feature_columns"][:2]  # doctest: +SKIP
    ['mean_envelope', 'mean_rms']

    A split whose features were never extracted:

    >>> check_feature_table("no-such-folder/train")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: no-such-folder/train/features.csv: no feature table; run `bag-of-songs ...
    """
    split_dir = Path(split_dir)
    table = split_dir / "features.csv"
    if not table.exists():
        raise FileNotFoundError(f"{table}: no feature table; run `bag-of-songs features "
                                f"{split_dir.parent}` first")
    meta_path = split_dir / "features.json"
    where = f"the feature table of split {split_dir.name!r} ({table})"
    if not meta_path.exists():
        raise StaleFeaturesError(
            f"{where} has no features.json beside it (an interrupted or older run), so it cannot "
            f"be tied to the clips it describes; {_rerun(split_dir)}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StaleFeaturesError(f"{where}: {meta_path} is unreadable ({exc}); "
                                 f"{_rerun(split_dir)}") from exc
    if not isinstance(meta, dict) or meta.get("format_version") != FEATURES_FORMAT_VERSION:
        version = meta.get("format_version") if isinstance(meta, dict) else None
        raise StaleFeaturesError(
            f"{where} was built by another version of bag_of_songs (features.json format "
            f"{version}, this version writes {FEATURES_FORMAT_VERSION}); {_rerun(split_dir)}")
    fs = meta.get("feature_set")
    embedded = isinstance(fs, str) and fs in TABLE_FEATURE_SETS \
        and split_feature_set(fs)[1] is not None
    required = [k for k in SETTING_KEYS if k not in MUSICNN_SETTING_KEYS or embedded]
    missing = [k for k in (*required, *_PROVENANCE_KEYS) if k not in meta]
    bad_lists = [k for k in ("label_columns", "feature_columns")
                 if k in meta and not (isinstance(meta[k], list)
                                       and all(isinstance(c, str) for c in meta[k]))]
    if "clip_stamps" in meta and not _valid_clip_stamps(meta["clip_stamps"]):
        bad_lists.append("clip_stamps")
    if missing or bad_lists:
        raise StaleFeaturesError(
            f"{where}: {meta_path} lacks or garbles the field(s) {missing + bad_lists}; "
            f"{_rerun(split_dir)}")
    try:
        check_settings({k: meta[k] for k in SETTING_KEYS if k in meta})
    except FeatureError as exc:
        raise StaleFeaturesError(f"{where}: {meta_path} garbles its settings ({exc}); "
                                 f"{_rerun(split_dir)}") from None
    if embedded:
        try:
            installed = _installed_musicnn_settings(meta["musicnn_model"], meta["musicnn_layer"])
        except EmbeddingError:  # not installed here: the table can still be trained on
            installed = None
        why = installed and _musicnn_mismatch(meta["musicnn_settings"], installed)
        if why:
            raise StaleFeaturesError(
                f"{where} was built with {why}; models trained on it would embed new audio "
                f"differently; {_rerun(split_dir)}")
    annotations = split_dir / "annotations.csv"
    if not annotations.exists():
        raise StaleFeaturesError(f"{where}: the split has no annotations.csv any more, so the "
                                 f"table cannot be tied to its clips; {_rerun(split_dir)}")
    if sha256_file(annotations) != meta["annotations_sha256"]:
        raise StaleFeaturesError(
            f"{where} is stale: {annotations} changed since the table was built (a new "
            f"`prepare` run?), so its rows may describe other clips; {_rerun(split_dir)}")
    changed = _changed_clip(split_dir.parent, meta["clip_stamps"])
    if changed:
        raise StaleFeaturesError(f"{where} is stale: {changed}; {_rerun(split_dir)}")
    try:
        header = _csv_header(table)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise StaleFeaturesError(f"{where} is unreadable ({exc}); {_rerun(split_dir)}") from exc
    want = _expected_columns(meta)
    if header != want:
        lost = [c for c in want if c not in header]
        extra = [c for c in header if c not in want]
        detail = (f"missing {lost[:5]}" if lost else "") + ("; " if lost and extra else "") \
            + (f"unexpected {extra[:5]}" if extra else "") or "the same columns in another order"
        raise StaleFeaturesError(
            f"{where} does not have the columns its features.json records ({detail}): it was "
            f"rewritten by another run; {_rerun(split_dir)}")
    if sha256_file(table) != meta["features_sha256"]:
        raise StaleFeaturesError(
            f"{where} was changed or replaced after its features.json was written (an "
            f"interrupted run, or an edit); {_rerun(split_dir)}")
    return meta


def check_feature_tables(data_dir: str | os.PathLike,
                         splits: Iterable[str] | None = None) -> dict:
    """Check every split's feature table (:func:`check_feature_table`) and that they agree.

    All splits must have been built with the same settings (:data:`SETTING_KEYS`: ``sr,
    n_fft, hop_length, n_mfcc, stats, feature_set, tuning, segment, segment_hop`` and, with an
    embedding, ``musicnn_model, musicnn_layer, musicnn_settings``) and the
    same feature columns, as one ``bag-of-songs features DIR`` run builds them: a model trained
    on one split's columns cannot be evaluated on another's (e.g. after ``features`` was killed
    between splits, or run again with other options and stopped).

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).

    Parameters
    ----------
    data_dir : path-like
        A prepared folder, e.g. ``ccmusic``.
    splits : iterable of str, optional
        The splits to check (e.g. ``["train", "validation"]``); default every prepared split
        (every folder with an ``annotations.csv``, see
        :func:`bag_of_songs.data.list_splits`).

    Returns
    -------
    settings : dict split name -> dict
        The content of each split's ``features.json``, in the order checked.

    Raises
    ------
    FileNotFoundError
        When ``data_dir`` holds no prepared split, or a split has no ``features.csv``.
    StaleFeaturesError
        When a table is stale (see :func:`check_feature_table`) or the splits disagree; the
        message names the split and the setting that differs, and says to re-run
        ``bag-of-songs features DIR``.
    """
    data_dir = Path(data_dir)
    splits = list_splits(data_dir) if splits is None else list(splits)
    if not splits:
        raise FileNotFoundError(f"{data_dir}: no prepared split (no */annotations.csv); "
                                "run `bag-of-songs prepare` first")
    metas = {s: check_feature_table(data_dir / s) for s in splits}
    ref = splits[0]
    for s in splits[1:]:
        diffs = [f"{k} is {metas[s].get(k)!r} in {s!r} but {metas[ref].get(k)!r} in {ref!r}"
                 for k in SETTING_KEYS if k != "musicnn_settings"
                 and metas[s].get(k) != metas[ref].get(k)]
        ms_ref, ms_s = metas[ref].get("musicnn_settings"), metas[s].get("musicnn_settings")
        if not diffs and ms_s != ms_ref:  # model and layer agree: weights or front end differ
            diffs.append(f"musicnn_settings differ: {s!r} was built with "
                         f"{_musicnn_mismatch(ms_ref, ms_s, (f'in {ref!r}', f'in {s!r}'))}")
        if metas[s]["feature_columns"] != metas[ref]["feature_columns"]:
            a, b = metas[ref]["feature_columns"], metas[s]["feature_columns"]
            only_ref = [c for c in a if c not in b]
            only_s = [c for c in b if c not in a]
            diffs.append(f"feature columns differ ({len(b)} in {s!r}, {len(a)} in {ref!r}; "
                         f"only in {ref!r}: {only_ref[:5]}, only in {s!r}: {only_s[:5]})")
        if diffs:
            raise StaleFeaturesError(
                f"{data_dir}: the feature tables of its splits were built with different "
                f"settings ({'; '.join(diffs)}), e.g. by a `features` run that was stopped "
                f"between splits; re-run `bag-of-songs features {data_dir}` to rebuild every "
                "split with the same settings")
    return metas


def _features_json(meta: dict, stamps: dict) -> str:
    """``features.json``: ``meta`` indented, then ``clip_stamps``, one clip a line."""
    head = json.dumps(meta, indent=2)  # "{ ... \n}"
    lines = [f"    {json.dumps(f)}: {json.dumps(v, separators=(',', ':'))}"
             for f, v in stamps.items()]
    body = "{\n" + ",\n".join(lines) + "\n  }" if lines else "{}"
    return f'{head[:-2]},\n  "clip_stamps": {body}\n}}\n'
