"""Feature tables as datasets: reading a table, scaling it, and the clips its rows belong to.

:func:`read_features` reads a table (checked against what it was derived from);
:class:`TabularDataset` turns it into scaled features and class indices with a scaler fitted on
the training split only; a segment table's rows are pooled back to clips with :func:`_pool`.

Explained in ``notebooks/3-models-prediction.ipynb`` (section 1).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import StandardScaler
from torch.utils.data import Dataset

from .._constants import ID_COLUMNS
from ..data import feature_columns as data_feature_columns
from ..errors import ModelError
from ..features import check_feature_table, read_feature_settings
from .feature_settings import extraction_settings


def read_features(features: str | os.PathLike | pd.DataFrame, *, check: bool = True
                  ) -> pd.DataFrame:
    """A features table from a CSV path (or a split folder holding ``features.csv``) or a DataFrame.

    A table read from disk is first checked against what it was derived from
    (:func:`bag_of_songs.features.check_feature_table`): a table built before its split's
    ``annotations.csv`` was rewritten describes other songs and is refused. Label columns
    (listed in the ``features.json`` beside the table) are read as text, so that labels such as
    ``"NA"`` or ``"1"`` stay labels; ``df.attrs["label_columns"]`` lists them and
    ``df.attrs["feature_columns"]`` the feature columns, each of which must hold numbers only.

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    features : path-like or pandas.DataFrame
        A ``features.csv``, the split folder holding it (e.g. ``ccmusic/test``), or a
        DataFrame, which is returned as it is.
    check : bool
        Check the provenance (default) of a table in a prepared split (a folder with
        ``annotations.csv`` or ``features.json``). Any other CSV (e.g. a published table such
        as GTZAN's) is read as it is.

    Returns
    -------
    table : pandas.DataFrame
        As :func:`bag_of_songs.features.build_feature_table` wrote it: ``audio_file``, the
        label column(s), ``segment`` for a segment table, then the feature columns. For a
        table of a prepared split, ``attrs`` also hold ``data_dir`` (the prepared folder) and,
        with a ``features.json``, ``feature_settings`` (its :func:`extraction_settings`) and
        ``split_dir``.

    Raises
    ------
    FileNotFoundError
        When there is no feature table at that path.
    StaleFeaturesError
        When the table is stale or was altered (the message says to re-run ``features``).
    ModelError
        When the file is not a readable CSV table, or a feature column holds text.
    """
    if isinstance(features, pd.DataFrame):
        return features
    path = Path(features)
    if path.is_dir():
        path = path / "features.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no feature table; run `bag-of-songs features` first")
    # A table of a prepared split (annotations.csv or features.json beside it) must be current;
    # any other CSV (e.g. a published table such as GTZAN's) is read as it is.
    ours = (path.parent / "annotations.csv").exists() or (path.parent / "features.json").exists()
    if check and ours and path.name == "features.csv":
        meta = check_feature_table(path.parent)
    else:
        meta = read_feature_settings(path.parent) if ours else {}
    labels = meta.get("label_columns")
    try:
        if labels is None:
            df = pd.read_csv(path)
        else:
            df = pd.read_csv(path, dtype={c: str for c in labels}, keep_default_na=False,
                             na_values=[""])
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ModelError(f"{path}: not a readable feature table ({exc})") from exc
    if labels is not None:
        df.attrs["label_columns"] = [c for c in labels if c in df.columns]
    if ours:  # where audio_file paths are relative to (spectrogram models read the clips)
        df.attrs["data_dir"] = str(path.parent.parent)
    if ours and (path.parent / "features.json").exists():
        # what the table was built with, so that a model trained with other settings is told
        # so (_check_table_settings) rather than "missing columns"
        df.attrs["feature_settings"] = extraction_settings(meta)
        df.attrs["split_dir"] = str(path.parent)
    if meta.get("feature_columns"):
        columns = [c for c in meta["feature_columns"] if c in df.columns]
        text = [c for c in columns if not pd.api.types.is_numeric_dtype(df[c])]
        if text:
            raise ModelError(f"{path}: feature column(s) {text[:5]} hold values that are not "
                             f"numbers (e.g. {df[text[0]].dropna().astype(str).iloc[0]!r}); the "
                             "table was edited or damaged: run `bag-of-songs features` again")
        df.attrs["feature_columns"] = columns
    return df


class TabularDataset(Dataset):
    """A feature table as a ``torch.utils.data.Dataset`` of (scaled features, class index).

    As in the original study. Feature columns are every numeric column except the label and
    ``drop_columns`` (``audio_file``, ``source``, ``segment`` and the other label levels are
    dropped automatically). Without ``scaler`` a :class:`~sklearn.preprocessing.StandardScaler`
    is fitted on this table; with one, the table is only transformed, so validation and test
    splits are scaled with the training statistics and nothing leaks.

    A **segment table** (one row per texture window, with a ``segment`` column; see
    :func:`bag_of_songs.features.extract_features`) holds several rows per clip; ``clips``
    names the clip of each row, so that folds keep a clip's segments together and predictions
    are pooled per clip (:func:`predict_clips`).

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    features : path-like or pandas.DataFrame
        A ``features.csv`` (or the split folder holding it) or a DataFrame.
    label_column : str
        The label column (``label``, or a CCMusic level such as ``fst_level_label``).
    drop_columns : list of str, optional
        Further columns that are not features (e.g. GTZAN's ``length``).
    scaler : StandardScaler, optional
        A fitted scaler (from the training dataset).
    classes : list of str, optional
        Class names; label ``classes[i]`` becomes index ``i``. Default: sorted names found.
    feature_columns : list of str, optional
        The feature columns, in order (from the training dataset); default: inferred.

    Attributes
    ----------
    X : np.ndarray [shape=(n, d), dtype=float32]
        Scaled features.
    y : np.ndarray [shape=(n,), dtype=int64]
        Class indices.
    clips : np.ndarray [shape=(n,), dtype=object]
        The clip of each row: its ``audio_file`` in a segment table (a table with a
        ``segment`` column); in a whole-clip table every row is a clip of its own.
    classes, scaler, feature_columns, label_column, frame

    Raises
    ------
    ModelError
        On a missing column, a label not in ``classes``, a non-finite value (named), or a clip
        whose segments carry different labels.
    """

    def __init__(self, features, *, label_column: str = "label",
                 drop_columns: list[str] | None = None, scaler: StandardScaler | None = None,
                 classes: list[str] | None = None, feature_columns: list[str] | None = None):
        df = read_features(features)
        if label_column not in df.columns:
            raise ModelError(f"no label column {label_column!r}; columns: {list(df.columns)}")
        if len(df) == 0:
            raise ModelError("the feature table is empty")
        if feature_columns is None:
            feature_columns = df.attrs.get("feature_columns") or data_feature_columns(
                df, exclude=[*ID_COLUMNS, *(drop_columns or ()), label_column])
            feature_columns = [c for c in feature_columns
                               if c not in {*(drop_columns or ()), label_column, *ID_COLUMNS}]
            if not feature_columns:
                raise ModelError("the table has no numeric feature columns")
        missing = [c for c in feature_columns if c not in df.columns]
        if missing:
            raise ModelError(
                f"feature column(s) missing from the table: {missing[:10]}"
                f"{f' (and {len(missing) - 10} more)' if len(missing) > 10 else ''}; the "
                "table was built with other feature settings than the model or the training "
                "split: run `bag-of-songs features DIR` again (with the model's settings)")
        text = [c for c in feature_columns if not pd.api.types.is_numeric_dtype(df[c])]
        if text:
            raise ModelError(f"feature column(s) {text[:5]} hold values that are not numbers")
        X = df[list(feature_columns)].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(X)
        if bad.any():
            rows, cols = np.nonzero(bad)
            names = sorted({feature_columns[c] for c in cols})
            raise ModelError(f"non-finite value(s) in column(s) {names} "
                             f"(row(s) {sorted(set(rows.tolist()))[:10]})")
        missing_labels = df[label_column].isna().to_numpy()
        if missing_labels.any():
            raise ModelError(f"missing label(s) in {label_column!r} (row(s) "
                             f"{np.flatnonzero(missing_labels).tolist()[:10]})")
        labels = df[label_column].astype(str).to_numpy()
        if classes is None:
            classes = sorted(set(labels))
        classes = [str(c) for c in classes]
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise ModelError(f"label(s) {unknown} in {label_column!r} are not among the classes "
                             f"{classes}")
        if "segment" in df.columns and "audio_file" in df.columns:  # a segment table
            clips = df["audio_file"].astype(str).to_numpy(dtype=object)
        else:  # one row per clip (even if two rows share a file name)
            clips = np.array([f"{f}#{i}" for i, f in enumerate(
                df["audio_file"].astype(str) if "audio_file" in df else [""] * len(df))],
                dtype=object)
        mixed = pd.Series(labels).groupby(clips, sort=False).nunique()
        if (mixed > 1).any():
            raise ModelError(f"clip(s) {mixed[mixed > 1].index.tolist()[:5]} have segments with "
                             f"different labels in {label_column!r}")
        if scaler is None:
            scaler = StandardScaler().fit(X)
        self.scaler = scaler
        self.classes = classes
        self.feature_columns = list(feature_columns)
        self.label_column = label_column
        self.X = scaler.transform(X).astype(np.float32)
        self.y = np.array([index[v] for v in labels], dtype=np.int64)
        self.clips = clips
        self.frame = df

    def derive(self, features) -> TabularDataset:
        """Another table (validation, test) with this dataset's scaler, classes and columns."""
        return _dataset_like(self, features)

    def subset(self, rows) -> TabularDataset:
        """The rows ``rows`` (indices or a mask), with this dataset's scaler, classes, columns."""
        return self.derive(self.frame.iloc[np.arange(len(self))[rows]])

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return torch.from_numpy(self.X[i]), torch.tensor(self.y[i])

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def n_clips(self) -> int:
        """Clips in the table (rows, for a whole-clip table)."""
        return len(pd.unique(self.clips))

    @property
    def is_segmented(self) -> bool:
        """Whether some clip has several rows (a segment table)."""
        return self.n_clips < len(self)


def _dataset_like(ref, features) -> TabularDataset:
    """A table scaled, labelled and column-ordered like ``ref`` (a dataset or a model)."""
    return TabularDataset(features, label_column=ref.label_column, scaler=ref.scaler,
                          classes=ref.classes, feature_columns=ref.feature_columns)


def concat_datasets(first: TabularDataset, *others: TabularDataset, refit_scaler: bool = True
                    ) -> TabularDataset:
    """Several tables (e.g. train and validation) as one dataset with the first one's classes.

    Parameters
    ----------
    first, *others : TabularDataset
        Built alike (the others with ``first.derive``).
    refit_scaler : bool
        Fit the scaler on all the rows (default), as a model refitted on train + validation
        should be; False keeps ``first``'s scaler.

    Returns
    -------
    dataset : TabularDataset
    """
    frame = pd.concat([first.frame, *(o.frame for o in others)], ignore_index=True)
    frame.attrs = dict(first.frame.attrs)
    return TabularDataset(frame, label_column=first.label_column, classes=first.classes,
                          feature_columns=first.feature_columns,
                          scaler=None if refit_scaler else first.scaler)


def _same_scaling(a: StandardScaler, b: StandardScaler) -> bool:
    """Whether two fitted scalers transform identically (the same object, or equal numbers)."""
    if a is b:
        return True
    return (np.array_equal(np.asarray(a.mean_), np.asarray(b.mean_))
            and np.array_equal(np.asarray(a.scale_), np.asarray(b.scale_)))


def _check_trainable(train_ds: TabularDataset, val_ds: TabularDataset | None) -> None:
    """At least two classes, and a validation set built with ``train_ds.derive``."""
    if len(train_ds.classes) < 2:
        raise ModelError(f"need at least two classes to train, got {train_ds.classes}")
    if val_ds is None:
        return
    if (val_ds.classes != train_ds.classes or val_ds.feature_columns != train_ds.feature_columns
            or not _same_scaling(val_ds.scaler, train_ds.scaler)):
        raise ModelError("the validation dataset was not built like the training dataset: "
                         "make it with train_ds.derive(table)")


def _pool(proba: np.ndarray, clips: np.ndarray, aggregate: str = "mean"
          ) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip probabilities from per-row ones; clips in order of first appearance."""
    codes, order = pd.factorize(pd.Series(clips, dtype=object))
    n = len(order)
    if aggregate == "mean":
        sums = np.zeros((n, proba.shape[1]))
        np.add.at(sums, codes, proba)
        return order.to_numpy(dtype=object), sums / np.bincount(codes, minlength=n)[:, None]
    if aggregate == "vote":
        votes = np.zeros((n, proba.shape[1]))
        np.add.at(votes, (codes, proba.argmax(axis=1)), 1.0)
        # ties are broken by the mean probability (a tiny addition that cannot outvote a vote)
        _, mean = _pool(proba, clips, "mean")
        votes += 1e-6 * mean
        return order.to_numpy(dtype=object), votes / votes.sum(axis=1, keepdims=True)
    raise ModelError(f"unknown aggregate {aggregate!r}; choose 'mean' or 'vote'")


def _first_labels(ds: TabularDataset, rows):
    clips = ds.clips[rows]
    codes, order = pd.factorize(pd.Series(clips, dtype=object))
    y = pd.Series(ds.y[rows]).groupby(codes).first().to_numpy()
    return order.to_numpy(dtype=object), codes, y
