"""Evaluation: the named metrics of a model on a split, scored per clip.

:func:`evaluate` returns one plain dict (accuracy, macro F1, the study's F1, the per-class
report, the confusion matrix) that the notebooks, the command line and the tests all read; a
coarser label level is scored through the model's hierarchy.

Explained in ``notebooks/3-models-prediction.ipynb``.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

from ..cnn import crop_starts, n_frames, spectrogram_settings
from ..errors import ModelError
from .calibration import expected_calibration_error, reliability_table
from .classifier import GenreClassifier
from .hierarchy import derive_proba
from .kinds import SPECTROGRAM_KINDS
from .predict import _as_model_dataset, predict_clips
from .spectrogram import _clip_frame, _table_of


def _macro_f1(y_true, y_pred) -> float:
    seen = sorted(set(np.asarray(y_true).tolist()) | set(np.asarray(y_pred).tolist()))
    return float(f1_score(y_true, y_pred, labels=seen, average="macro", zero_division=0))


def _metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    labels = list(range(len(classes)))
    f1_macro = _macro_f1(y_true, y_pred)
    if len(classes) == 2:
        f1 = float(f1_score(y_true, y_pred, labels=labels, pos_label=1, average="binary",
                            zero_division=0))
    else:
        f1 = f1_macro
    report = classification_report(y_true, y_pred, labels=labels, target_names=classes,
                                   output_dict=True, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": f1_macro,
        "f1": f1,
        "report": report,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "classes": list(classes),
        "n": int(len(y_true)),
    }


def evaluate(model: GenreClassifier, dataset, *, level: str | None = None,
             aggregate: str = "mean", data_dir: str | os.PathLike | None = None,
             n_jobs: int = 1, progress: bool = False, derived_rule: str = "fine",
             n_bins: int = 10) -> dict:
    """Metrics of a model on a dataset (a TabularDataset, a DataFrame or a features CSV), per clip.

    A segment table is scored per **clip**: each clip's prediction is the mean of its
    segments' class probabilities (:func:`predict_clips`). A dataset built another way (e.g.
    with its own scaler) is rebuilt with the model's feature columns, classes and training
    statistics before it is scored. With ``level``, a coarser label level is scored from this
    model's predictions through its hierarchy: each clip's coarse class is the parent of its
    best fine class (``derived_rule="fine"``, the default: it holds for any head, however flat
    its probabilities), or the parent whose children's probabilities sum highest
    (``derived_rule="sum"``, :func:`derive_proba`). The calibration figures are those of the
    probabilities scored (the parents' sums for a coarse level).

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    model : GenreClassifier
    dataset : TabularDataset, pandas.DataFrame or path-like
        The split to score: e.g. ``train_ds.derive(test_table)``, a test table, or
        ``ccmusic/test`` (its ``features.csv``). It needs the model's label column and
        feature columns (and ``level``).
    level : str, optional
        A coarser label column of ``model.hierarchy`` to score instead of the model's own.
    aggregate : {"mean", "vote"}
        How segments are pooled per clip.
    data_dir, n_jobs, progress
        Spectrogram models only, as in :func:`predict_clips`.
    derived_rule : {"fine", "sum"}
        How a coarse ``level`` is decided (above).
    n_bins : int
        Confidence bins of the reliability table (equal widths over [0, 1]).

    Returns
    -------
    metrics : dict
        ``accuracy``; ``f1_macro`` (over the classes that occur in the split or its
        predictions); ``f1`` (binary: the F1 of the positive class ``classes[1]``, as the study
        reported; otherwise the macro F1); ``report`` (per-class precision, recall, F1 and
        support); ``confusion_matrix`` (rows true, columns predicted, in the order of
        ``classes``); ``classes``; ``n`` (clips scored); ``n_segments`` (table rows scored:
        ``n`` for a whole-clip table; a spectrogram model reads whole clips, so ``n`` too);
        ``level`` (the label column scored). A spectrogram model adds ``n_crops``: the crops
        of each clip whose probabilities it averages (:func:`bag_of_songs.cnn.crop_starts`)
        and ``crop_seconds``, their length. ``ece`` (the expected calibration error of the
        clip probabilities, :func:`~bag_of_songs.models.calibration.expected_calibration_error`)
        and ``reliability`` (its table as records: ``bin_lower, bin_upper, count,
        confidence, accuracy, gap``, empty bins left out); with ``level``, ``derived_rule``.

    Raises
    ------
    ModelError
        When ``model`` is not a GenreClassifier, or the table lacks a feature or the label
        column, holds a non-finite value or a missing label, has a label not among
        ``model.classes``, or ``level`` is not in the model's hierarchy.
    FileNotFoundError
        When a path holds no ``features.csv``.
    """
    if not isinstance(model, GenreClassifier):
        raise ModelError(f"evaluate takes a GenreClassifier, got a {type(model).__name__}: a "
                         "scikit-learn pipeline of feature rows becomes one with "
                         "GenreClassifier.from_pipeline; a pipeline of audio paths is scored "
                         "with its own score(paths, labels)")
    if model.kind in SPECTROGRAM_KINDS:
        frame = _table_of(dataset)
        codes = _clip_frame(frame)[1]
        clips, proba, y_true = predict_clips(model, frame, data_dir=data_dir, n_jobs=n_jobs,
                                             progress=progress)
    else:
        ds = _as_model_dataset(model, dataset)
        frame, codes = ds.frame, pd.factorize(pd.Series(ds.clips, dtype=object))[0]
        clips, proba, y_true = predict_clips(model, ds, aggregate=aggregate)
    if y_true is None:
        raise ModelError(f"the table has no label column {model.label_column!r}")
    classes = list(model.classes)
    if level is not None and level != model.label_column:
        if level not in model.hierarchy:
            raise ModelError(f"{model.label_column!r} does not determine {level!r} (the model's "
                             f"hierarchy has {sorted(model.hierarchy)})")
        if level not in frame.columns:
            raise ModelError(f"the table has no label column {level!r}")
        if derived_rule not in ("fine", "sum"):
            raise ModelError(f"derived_rule must be 'fine' or 'sum', got {derived_rule!r}")
        fine_best = proba.argmax(axis=1)
        coarse, proba = derive_proba(proba, classes, model.hierarchy[level])
        truth = frame[level].astype(str).groupby(codes).first().to_numpy()
        unknown = sorted(set(truth) - set(coarse))
        if unknown:
            raise ModelError(f"label(s) {unknown} in {level!r} are not among {coarse}")
        y_true = np.array([coarse.index(t) for t in truth])
        parent_of = [coarse.index(model.hierarchy[level][c]) for c in classes]
        y_pred = (np.array(parent_of)[fine_best] if derived_rule == "fine"
                  else proba.argmax(axis=1))
        classes = coarse
    else:
        y_pred = proba.argmax(axis=1)
    metrics = _metrics(y_true, y_pred, classes)
    metrics["ece"] = expected_calibration_error(proba, y_true, n_bins=n_bins)
    metrics["reliability"] = reliability_table(proba, y_true, n_bins=n_bins).to_dict(
        orient="records")
    if level is not None and level != model.label_column:
        metrics["derived_rule"] = derived_rule
    spectrogram = model.kind in SPECTROGRAM_KINDS
    metrics["n_segments"] = metrics["n"] if spectrogram else int(len(frame))
    metrics["level"] = level or model.label_column
    if spectrogram:  # whole clips, each decided by the mean of its crops
        spec = spectrogram_settings(**model.cnn["spectrogram"])
        metrics["n_crops"] = int(len(crop_starts(n_frames(spec),
                                                     model.cnn["crop_frames"],
                                                     model.cnn["crop_hop"])))
        metrics["crop_seconds"] = model.cnn["crop_frames"] * spec["hop_length"] / spec["sr"]
    return metrics
