"""Reading a prepared folder: its splits, annotations, label and feature columns, class
balance, label hierarchy, and what preparation skipped or warned about.

Every reader of ``annotations.csv`` goes through :func:`read_annotations`, which refuses an
``audio_file`` that points outside the prepared folder (:func:`resolve_audio_file`). The
layout these functions read is described in :mod:`bag_of_songs.data`. Re-exported by
:mod:`bag_of_songs.data`.

Explained in ``notebooks/1-data-preparation.ipynb`` (sections 2, 3, 5 and 7).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath

import pandas as pd

from .._constants import ID_COLUMNS
from .labels import CCMUSIC_HIERARCHY, LEVELS

__all__ = [
    "NON_LABEL_COLUMNS",
    "resolve_audio_file",
    "read_annotations",
    "label_columns",
    "feature_columns",
    "label_hierarchy",
    "list_splits",
    "class_balance",
    "imbalance",
    "read_skipped",
    "read_warnings",
    "count_files",
]

#: Columns of an annotations or features table that are neither labels nor features:
#: ``source_stamp`` ties a clip to the version of its source, ``segment`` numbers the segments
#: of a clip in segment tables (:data:`bag_of_songs._constants.ID_COLUMNS`).
NON_LABEL_COLUMNS = ID_COLUMNS


def _read_table(path: Path) -> pd.DataFrame | None:
    """A CSV table every column as text, or None when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception:  # an unreadable old table is rebuilt from what can be verified
        return None


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

    Examples
    --------
    >>> df = pd.DataFrame({"audio_file": ["train/audios/audio_train_0.wav"], "label": ["rock"],
    ...                    "fst_level_label": ["Non_classic"], "source": ["rock/a.mp3"]})
    >>> label_columns(df)
    ['fst_level_label', 'label']
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

    Examples
    --------
    >>> df = pd.DataFrame({"audio_file": ["a.wav"], "label": ["rock"], "rms_mean": [0.1],
    ...                    "length": [30.0]})
    >>> feature_columns(df, exclude=["length"])
    ['rms_mean']
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
