"""Training one model on a prepared folder, and the record that tells whether it is current.

:func:`train_on_folder` reads the splits, chooses hyper-parameters by the selection rule (table
kinds) or early-stops on held-out clips (spectrogram kinds, groups kept whole), and attaches the
feature settings and label hierarchy; :func:`training_record` says what it was trained on.

Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, through
:func:`~bag_of_songs.models.compare_models`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import pandas as pd

from .._logging import forward_records
from .._version import __version__
from ..features import read_feature_settings
from .classifier import GenreClassifier
from .dataset import TabularDataset
from .feature_settings import extraction_settings
from .folder import _split_datasets, load_splits
from .hierarchy import coarse_parents
from .kinds import SPECTROGRAM_KINDS
from .mlp_training import train_mlp
from .selection import CV_MAX_CLIPS, _select_model
from .spectrogram import fit_spectrogram_model

logger = logging.getLogger(__name__)


def train_on_folder(data_dir: str | os.PathLike, *, kind: str, label_column: str,
                    seed: int = 0, n_jobs: int = -1, selection: str = "auto",
                    groups: dict | None = None, log=None,
                    spectrogram_options: dict | None = None, progress: bool = False
                    ) -> tuple[GenreClassifier, pd.DataFrame | None]:
    """Fit one model on a prepared folder's train (and validation) split.

    Hyper-parameters are chosen by :func:`select_model` (grouped cross-validation over train +
    validation for small corpora, the validation split for large ones). The model carries the
    feature settings of the table and the label hierarchy of the training labels.

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, through
    :func:`compare_models`).

    Parameters
    ----------
    data_dir : path-like
        A folder with ``train/features.csv`` (and ideally ``validation/features.csv``).
    kind : {"mlp", "svc", "rf", "logreg", "cnn", "hybrid"}
    label_column : str
    seed : int
    n_jobs : int
        Worker processes of the random forest (and of a spectrogram cache being built).
    selection : {"auto", "cv", "split"}
        See :func:`select_model`.
    groups : dict clip -> group, optional
        E.g. artists (:func:`read_clip_groups`), kept whole in every fold.
    log : callable, optional
        Deprecated: attach a handler to the ``bag_of_songs`` logger instead. Receives the
        package's log lines (``INFO`` and up: folds, settings, epochs) while this call runs.
    spectrogram_options : dict, optional
        For ``cnn`` and ``hybrid``: keywords of :func:`fit_spectrogram_model` (``epochs``,
        ``patience``, ``crops_per_clip``, ``device``, ``spectrogram``). These kinds are always
        early-stopped on held-out clips (``selection`` does not apply): the validation split,
        or, without one, a seeded hold-out of train (:func:`load_splits`). With ``groups``,
        no group is on both sides: when the validation split shares a group with train, the
        held-out clips are drawn from train + validation instead, keeping every group whole
        (``info["selection"]`` says which).
    progress : bool
        Show a progress bar while a spectrogram cache is built (``cnn``, ``hybrid``).

    Returns
    -------
    model : GenreClassifier
        With the feature settings of the training table; ``model.info["trained_on"]`` records
        what it was trained on (:func:`training_record`).
    history : pandas.DataFrame or None
        The MLP's training history when it was early-stopped on the validation split (None
        otherwise).
    """
    with forward_records(log):
        record = training_record(data_dir, kind=kind, label_column=label_column, seed=seed,
                                 selection=selection, groups=groups,
                                 spectrogram_options=spectrogram_options)
        train_ds, val_ds, settings = load_splits(data_dir, label_column=label_column, seed=seed,
                                                 groups=groups)
        if kind in SPECTROGRAM_KINDS:
            has_val = (Path(data_dir) / "validation" / "features.csv").exists()
            train_ds, val_ds, how = _spectrogram_hold_out(kind, train_ds, val_ds, has_val=has_val,
                                                          groups=groups, seed=seed)
            options = {k: v for k, v in (spectrogram_options or {}).items() if k != "progress"}
            model, history = fit_spectrogram_model(kind, train_ds, val_ds, data_dir=data_dir,
                                                   seed=seed, n_jobs=n_jobs,
                                                   progress=progress, **options)
            model.info["selection"] = how
            model.settings = extraction_settings(settings) if kind == "hybrid" else {}
            model.hierarchy = coarse_parents(pd.concat([train_ds.frame, val_ds.frame]),
                                             label_column)
        else:
            model, history = _fit_tabular(kind, train_ds, val_ds, settings,
                                          label_column=label_column, seed=seed, n_jobs=n_jobs,
                                          selection=selection, groups=groups)
        model.info["trained_on"] = record
        return model, history


def _spectrogram_hold_out(kind: str, train_ds: TabularDataset, val_ds: TabularDataset, *,
                          has_val: bool, groups: dict | None, seed: int
                          ) -> tuple[TabularDataset, TabularDataset, str]:
    """The clips a spectrogram model is early-stopped on, with groups kept whole.

    Returns the training and held-out datasets and how they were drawn (for
    ``info["selection"]``)."""
    if not has_val:  # load_splits held out part of train, grouped when groups are given
        return train_ds, val_ds, ("grouped hold-out of train (early stopping), no group on "
                                  "both sides" if groups else "hold-out of train (early stopping)")
    if not groups:
        return train_ds, val_ds, "validation split (early stopping)"

    def group_set(ds):
        return {groups[f] for f in ds.frame["audio_file"].astype(str) if f in groups}

    shared = group_set(train_ds) & group_set(val_ds)
    if not shared:
        logger.info(f"{kind}: early stopping on the validation split, which shares no group "
                    "with train")
        return train_ds, val_ds, ("validation split (early stopping), no group in both train "
                                  "and validation")
    logger.warning(f"{kind}: {len(shared)} group(s) are in both train and validation (e.g. "
                   f"{sorted(map(str, shared))[0]!r}); early stopping on a grouped hold-out of "
                   "train + validation instead, no group on both sides")
    pooled = pd.concat([train_ds.frame, val_ds.frame], ignore_index=True)
    tr, va = _split_datasets(pooled, None, label_column=train_ds.label_column, seed=seed,
                             val_fraction=0.15, groups=groups)
    return tr, va, ("grouped hold-out of train + validation (early stopping), no group on "
                    "both sides")


def _fit_tabular(kind: str, train_ds: TabularDataset, val_ds: TabularDataset, settings: dict, *,
                 label_column: str, seed: int, n_jobs: int, selection: str,
                 groups: dict | None) -> tuple[GenreClassifier, pd.DataFrame | None]:
    """train_on_folder for the table kinds: selection by the rule, settings and hierarchy."""
    history = None
    if kind == "mlp" and selection != "cv" and not (
            selection == "auto" and train_ds.n_clips + val_ds.n_clips < CV_MAX_CLIPS):
        model, history = train_mlp(train_ds, val_ds, seed=seed)
        model.info["selection"] = "validation split"
    else:
        model = _select_model(kind, train_ds, val_ds, selection=selection, groups=groups,
                              seed=seed, n_jobs=n_jobs)
    model.settings = extraction_settings(settings)
    model.hierarchy = coarse_parents(pd.concat([train_ds.frame, val_ds.frame]), label_column)
    return model, history


def training_record(data_dir: str | os.PathLike, *, kind: str, label_column: str,
                    seed: int = 0, selection: str = "auto", groups: dict | None = None,
                    spectrogram_options: dict | None = None) -> dict:
    """What a model trained by :func:`train_on_folder` is trained on, to tell later whether
    a saved model is still up to date (``compare_models`` reuses it when it is).

    Parameters
    ----------
    data_dir : path-like
        The prepared folder, with current feature tables.
    kind, label_column, seed, selection, groups, spectrogram_options
        As for :func:`train_on_folder`.

    Returns
    -------
    record : dict (JSON)
        ``kind``, ``label_column``, ``seed``; ``tables``: for train (and validation) the
        SHA-256 of ``features.csv`` and ``annotations.csv`` as ``features.json`` records
        them; ``feature_settings`` (:func:`extraction_settings`); ``selection`` (the rule asked
        for, tabular kinds) or ``spectrogram`` (the options that shape training, without the
        device, spectrogram kinds); ``groups_sha256`` (of the clip groups, or None); and the
        ``version`` of bag_of_songs.
    """
    data_dir = Path(data_dir)
    splits = ["train"] + (["validation"] if (data_dir / "validation" / "features.csv").exists()
                          else [])
    metas = {sp: read_feature_settings(data_dir / sp) for sp in splits}
    options = None
    if kind in SPECTROGRAM_KINDS:
        options = {k: v for k, v in (spectrogram_options or {}).items()
                   if k not in ("device", "progress")}
    digest = None
    if groups:
        text = json.dumps(sorted((str(k), str(v)) for k, v in groups.items()))
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    record = {"kind": kind, "label_column": label_column, "seed": seed,
              "tables": {sp: {"features_sha256": m.get("features_sha256"),
                              "annotations_sha256": m.get("annotations_sha256")}
                         for sp, m in metas.items()},
              "feature_settings": extraction_settings(metas["train"]),
              "selection": selection if kind not in SPECTROGRAM_KINDS else None,
              "spectrogram": options, "groups_sha256": digest, "version": __version__}
    return json.loads(json.dumps(record, default=str))
