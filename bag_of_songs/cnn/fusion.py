"""Late fusion, the alternative to the hybrid network: a weighted average of probabilities.

Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 4). Train the CNN and a feature
model (the MLP, the SVC) separately, choose the weight on the validation clips
(:func:`choose_fusion_weight`) and average their class probabilities on the test clips
(:func:`late_fusion_proba`). :mod:`bag_of_songs.cnn.nets` says why the early-fusion
:class:`~bag_of_songs.cnn.nets.HybridNet` is built too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import CNNError
from ..metrics import log_loss
from ._checks import _check_labels


def late_fusion_proba(probas: Sequence[np.ndarray], *, weights: Sequence[float] | None = None
                      ) -> np.ndarray:
    """Weighted average of several models' class probabilities for the same clips.

    Late fusion: e.g. ``late_fusion_proba([p_cnn, p_mlp], weights=[w, 1 - w])``.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 4).

    Parameters
    ----------
    probas : sequence of np.ndarray [shape=(n_clips, n_classes)]
        Rows summing to 1, the same classes in the same column order.
    weights : sequence of float, optional
        Non-negative, one per model (normalised to sum to 1); default equal.

    Returns
    -------
    proba : np.ndarray [shape=(n_clips, n_classes)]

    Examples
    --------
    >>> late_fusion_proba([np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])]).tolist()
    [[0.75, 0.25]]
    """
    arrs = [np.asarray(p, dtype=np.float64) for p in probas]
    if not arrs or any(a.shape != arrs[0].shape or a.ndim != 2 for a in arrs):
        raise CNNError(f"need one or more probability arrays of one shape (n_clips, n_classes), "
                       f"got {[a.shape for a in arrs]}")
    w = np.ones(len(arrs)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(arrs),) or (w < 0).any() or not w.sum() > 0:
        raise CNNError(f"need {len(arrs)} non-negative weights with a positive sum, got {weights}")
    w = w / w.sum()
    return sum(wi * a for wi, a in zip(w, arrs, strict=True))


def choose_fusion_weight(p_a: np.ndarray, p_b: np.ndarray, y, *, grid: int = 11) -> float:
    """The weight ``w`` of ``p_a`` (``1 - w`` of ``p_b``) with the lowest log-loss on ``y``.

    Choose it on the **validation** clips, then apply :func:`late_fusion_proba` to the test
    clips with ``weights=[w, 1 - w]``.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 4).

    Parameters
    ----------
    p_a, p_b : np.ndarray [shape=(n_clips, n_classes)]
    y : np.ndarray [shape=(n_clips,), dtype=int]
    grid : int
        Weights tried: ``np.linspace(0, 1, grid)``; ties go to the weight closest to 0.5.

    Returns
    -------
    w : float
    """
    p_a, p_b = np.asarray(p_a, dtype=np.float64), np.asarray(p_b, dtype=np.float64)
    y = _check_labels(y, len(p_a), p_a.shape[1], "y")
    best = (np.inf, 1.0, 0.5)
    for w in np.linspace(0.0, 1.0, int(grid)):
        p = late_fusion_proba([p_a, p_b], weights=[w, 1.0 - w]) if 0 < w < 1 else (
            p_a if w == 1 else p_b)
        loss = log_loss(p, y)
        key = (round(loss, 12), abs(w - 0.5), w)
        if key < best:
            best = key
    return float(best[2])
