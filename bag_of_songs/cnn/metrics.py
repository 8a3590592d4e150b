"""Clip-level scores of crop-averaged probabilities: log-loss, accuracy, macro-F1.

Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (sections 3 and 4): the log-loss is what
early stopping monitors in :func:`~bag_of_songs.cnn.training.train_cnn` and what
:func:`~bag_of_songs.cnn.fusion.choose_fusion_weight` minimises (one helper for both).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score


def log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean of ``-log p(true class)``, the probabilities clipped at 1e-7.

    Parameters
    ----------
    proba : np.ndarray [shape=(n_clips, n_classes)]
    y : np.ndarray [shape=(n_clips,), dtype=int]

    Returns
    -------
    loss : float

    Examples
    --------
    >>> round(log_loss(np.array([[0.5, 0.5], [0.0, 1.0]]), np.array([0, 1])), 4)
    0.3466
    """
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-7, 1.0))))


def _clip_metrics(proba: np.ndarray, y: np.ndarray, n_classes: int) -> dict:
    """``loss`` (:func:`log_loss`), ``accuracy`` and ``f1_macro`` of clip probabilities."""
    pred = proba.argmax(axis=1)
    return {"loss": log_loss(proba, y), "accuracy": float(np.mean(pred == y)),
            "f1_macro": float(f1_score(y, pred, labels=sorted(set(y.tolist()) | set(pred.tolist())),
                                       average="macro", zero_division=0))}
