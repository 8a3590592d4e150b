"""A prepared folder as training input: its label levels, clip groups, split rule and splits.

:func:`load_splits` reads the train and validation tables as datasets (checked against their
annotations and each other; without a validation split, a grouped hold-out of train);
:func:`read_clip_groups` reads each clip's group (e.g. artist) for grouped selection.

Explained in ``notebooks/3-models-prediction.ipynb`` (section 5).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from .._constants import PREPARE_RECORD
from ..data import label_columns, list_splits, read_annotations
from ..errors import ModelError
from ..features import check_feature_tables
from ..splits import read_groups
from .dataset import TabularDataset, read_features
from .selection import grouped_folds, row_groups


def available_levels(table: pd.DataFrame) -> list[str]:
    """Label columns of a features table that have at least two classes (coarse to fine).

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5); notebook 2 also uses it.

    Parameters
    ----------
    table : pandas.DataFrame
        A features or annotations table (e.g. from :func:`read_features`).

    Returns
    -------
    levels : list of str
        In the order of :func:`bag_of_songs.data.label_columns`: the CCMusic levels present
        (``fst_level_label``, ``sec_level_label``, ``thr_level_label``), ``label``, then any
        other label column. Empty when no label column has two classes.
    """
    return [c for c in label_columns(table) if table[c].nunique() >= 2]


def read_clip_groups(data_dir: str | os.PathLike, group_by: str, *,
                     manifest: str | os.PathLike | None = None) -> dict[str, str]:
    """The group (e.g. artist) of every prepared clip, for grouped cross-validation.

    Read from a column ``group_by`` of the splits' ``annotations.csv`` when they have one;
    otherwise from a manifest CSV with ``path`` (the clip's ``source``, relative to the source
    folder, e.g. ``rock/001.mp3``) and ``group_by`` (e.g. ``../shared/data/emotify-dev/
    manifest.csv``): ``manifest``, or the one ``prepare --group-by`` recorded in
    ``prepare.json``.

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, model selection).

    Parameters
    ----------
    data_dir : path-like
        A prepared folder.
    group_by : str
        E.g. ``artist``.
    manifest : path-like, optional

    Returns
    -------
    groups : dict audio_file -> group
        Clips the manifest does not list are left out (each is then a group of its own).

    Raises
    ------
    ModelError
        When neither the annotations nor a manifest has the column.
    """
    out: dict[str, str] = {}
    names = None
    for split in list_splits(data_dir):
        ann = read_annotations(Path(data_dir) / split)
        if group_by in ann.columns:
            out.update(zip(ann["audio_file"].to_numpy(), ann[group_by].to_numpy(), strict=True))
            continue
        if manifest is None:
            run = _prepare_record(data_dir)
            manifest = run.get("manifest") if run.get("group_column") == group_by else None
        if manifest is None:
            raise ModelError(f"{Path(data_dir) / split / 'annotations.csv'} has no column "
                             f"{group_by!r}; pass the manifest that has it (--manifest)")
        if names is None:
            try:
                names = read_groups(manifest, group_column=group_by)
            except Exception as exc:
                raise ModelError(str(exc)) from exc
        for f, src in zip(ann["audio_file"].to_numpy(), ann["source"].to_numpy(), strict=True):
            if src in names:
                out[f] = names[src]
    return out


def _prepare_record(data_dir: str | os.PathLike) -> dict:
    """What ``prepare`` recorded of the run that wrote the train split (``prepare.json``)."""
    try:
        meta = json.loads((Path(data_dir) / PREPARE_RECORD).read_text())
        runs = meta.get("splits", {})
        return runs.get("train") or next(iter(runs.values()), {})
    except (OSError, ValueError, AttributeError, StopIteration):
        return {}


def describe_split_rule(data_dir: str | os.PathLike) -> str:
    """How a prepared folder's splits were drawn, read from its ``prepare.json``.

    Parameters
    ----------
    data_dir : path-like
        A prepared folder.

    Returns
    -------
    rule : str
        ``"grouped by <column>"`` (e.g. artist: no group on both sides), ``"stratified by
        clip"`` (fractions, clip by clip), ``"one source per split"`` (``--split``), or
        ``"the dataset's own splits"``; ``"unknown"`` without a readable ``prepare.json``.
    """
    run = _prepare_record(data_dir)
    if not run:
        return "unknown"
    if run.get("group_column"):
        return f"grouped by {run['group_column']}"
    if run.get("split"):
        return "one source per split"
    if run.get("splits"):
        return "stratified by clip"
    return "the dataset's own splits"


def load_splits(data_dir: str | os.PathLike, *, label_column: str, seed: int = 0,
                val_fraction: float = 0.15, groups: dict | None = None):
    """Train and validation datasets from ``data_dir/{train,validation}/features.csv``.

    Both tables are checked against their splits' annotations and against each other
    (:func:`bag_of_songs.features.check_feature_tables`): a stale table, or tables built with
    other settings, are refused with a message that says to re-run ``features``. When there is
    no validation split, a ``val_fraction`` of train is held out (seeded, stratified, and
    grouped: a clip's segments, and a group's clips, stay on one side) for early stopping and
    model selection. The classes are those of train and validation: the test split never shapes
    the model.

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    data_dir : path-like
        A prepared folder with ``train/features.csv`` (and ideally
        ``validation/features.csv``).
    label_column : str
        The label level to learn, e.g. ``fst_level_label``.
    seed : int
        Seed of the hold-out (only used without a validation split).
    val_fraction : float in (0, 1)
        Share of train held out when there is no validation split.
    groups : dict clip -> group, optional
        Keep groups whole in that hold-out.

    Returns
    -------
    train_ds, val_ds : TabularDataset
        ``val_ds`` is built with ``train_ds.derive``: scaled with the training statistics.
    settings : dict
        The feature settings of the training table.

    Raises
    ------
    FileNotFoundError
        When there is no ``train/features.csv``.
    StaleFeaturesError
        When a table is stale, or the two were built with other settings.
    ModelError
        When the training table has no column ``label_column``, or a table is unreadable,
        has a missing label or holds a non-finite value.
    """
    data_dir = Path(data_dir)
    if not (data_dir / "train" / "features.csv").exists():
        raise FileNotFoundError(f"{data_dir / 'train' / 'features.csv'}: no feature table; run "
                                f"`bag-of-songs features {data_dir}` first")
    has_val = (data_dir / "validation" / "features.csv").exists()
    settings = check_feature_tables(data_dir, ["train", "validation"] if has_val
                                    else ["train"])["train"]
    train = read_features(data_dir / "train")
    if label_column not in train.columns:
        raise ModelError(f"{data_dir / 'train' / 'features.csv'} has no column {label_column!r}; "
                         f"label columns present: {available_levels(train)}")
    val = read_features(data_dir / "validation") if has_val else None
    train_ds, val_ds = _split_datasets(train, val, label_column=label_column, seed=seed,
                                       val_fraction=val_fraction, groups=groups)
    return train_ds, val_ds, settings


def _split_datasets(train: pd.DataFrame, val: pd.DataFrame | None, *, label_column: str,
                    seed: int, val_fraction: float, groups: dict | None
                    ) -> tuple[TabularDataset, TabularDataset]:
    """load_splits' datasets from tables in memory (``val`` None: a grouped hold-out)."""
    if val is None:
        pool = TabularDataset(train, label_column=label_column)
        n_splits = max(2, int(round(1 / val_fraction)))
        try:
            tr, va = grouped_folds(pool, n_splits=n_splits, groups=groups, seed=seed)[0]
        except ModelError:  # classes too small to stratify: a grouped random hold-out
            g = row_groups(pool, groups)
            tr, va = next(GroupShuffleSplit(test_size=val_fraction, random_state=seed)
                          .split(pool.X, groups=g))
        train, val = train.iloc[tr], train.iloc[va]
    # Classes from train and validation only: the test split never shapes the model.
    classes = sorted(set(train[label_column].dropna().astype(str))
                     | set(val[label_column].dropna().astype(str)))
    train_ds = TabularDataset(train, label_column=label_column, classes=classes)
    return train_ds, train_ds.derive(val)
