"""Scores of class probabilities: the log-loss, and the three clip-level scores together.

One home for the log-loss: the CNN's early stopping monitors it
(:func:`~bag_of_songs.cnn.training.train_cnn`), :func:`~bag_of_songs.cnn.fusion.choose_fusion_weight`
minimises it and :func:`~bag_of_songs.analysis.fusion_curve` reports it. numpy and scikit-learn
only (no torch), so the analysis helpers can use it without importing a network.

Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (sections 3 and 4).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

#: Probabilities are clipped here before the log, so a confident mistake costs a finite loss.
PROBA_FLOOR = 1e-7


def log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean of ``-log p(true class)``, the probabilities clipped at :data:`PROBA_FLOOR`.

    Parameters
    ----------
    proba : np.ndarray [shape=(n_clips, n_classes)]
    y : np.ndarray [shape=(n_clips,), dtype=int]
        Indices into the columns of ``proba``.

    Returns
    -------
    loss : float

    Examples
    --------
    >>> round(log_loss(np.array([[0.5, 0.5], [0.0, 1.0]]), np.array([0, 1])), 4)
    0.3466
    """
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], PROBA_FLOOR, 1.0))))


def clip_metrics(proba: np.ndarray, y: np.ndarray) -> dict:
    """``loss`` (:func:`log_loss`), ``accuracy`` and ``f1_macro`` of clip probabilities.

    The macro-F1 averages over the classes present in ``y`` or predicted.

    Parameters
    ----------
    proba : np.ndarray [shape=(n_clips, n_classes)]
    y : np.ndarray [shape=(n_clips,), dtype=int]

    Returns
    -------
    scores : dict
        ``{"loss": float, "accuracy": float, "f1_macro": float}``.

    Examples
    --------
    >>> scores = clip_metrics(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([0, 1, 1]))
    >>> round(scores["accuracy"], 4), round(scores["f1_macro"], 4)
    (0.6667, 0.6667)
    """
    pred = proba.argmax(axis=1)
    seen = sorted(set(y.tolist()) | set(pred.tolist()))
    return {"loss": log_loss(proba, y), "accuracy": float(np.mean(pred == y)),
            "f1_macro": float(f1_score(y, pred, labels=seen, average="macro",
                                       zero_division=0))}
