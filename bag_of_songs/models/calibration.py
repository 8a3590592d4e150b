"""Calibration: how far a model's probabilities can be read as probabilities, and when to doubt one.

A model is *calibrated* when, of the predictions it makes with top probability near ``p``, a
fraction near ``p`` is right. Following Guo et al. (2017), "On calibration of modern neural
networks", every multi-class prediction is reduced to its **top-class confidence** (the largest
probability of its row) and whether the top class is the true one:

- :func:`reliability_table`: the predictions binned by confidence, each bin's mean confidence,
  accuracy and their gap (what :func:`bag_of_songs.plot.plot_reliability` draws);
- :func:`expected_calibration_error`: the bins' mean ``|confidence - accuracy|``, weighted by
  their share of the predictions;
- :func:`uncertainty_threshold`: the top probability below which a prediction is flagged
  *uncertain*, chosen on the training data's out-of-fold (cross-validated) predictions;
  :func:`flag_uncertain` applies it, :func:`selective_accuracy` says what it keeps.

scikit-learn's ``calibration_curve`` is binary only and returns no bin counts, so the
top-label version is written here in a few lines of numpy; it bins the same way (bins closed
on the right, ``(lower, upper]``, the first one closed on both sides).

Explained in ``notebooks/3-models-prediction.ipynb``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ModelError

__all__ = [
    "RELIABILITY_COLUMNS",
    "reliability_table",
    "expected_calibration_error",
    "uncertainty_threshold",
    "flag_uncertain",
    "selective_accuracy",
]

#: The columns of :func:`reliability_table`, in order.
RELIABILITY_COLUMNS = ("bin_lower", "bin_upper", "count", "confidence", "accuracy", "gap")

#: How far a probability may stray outside [0, 1], and a row's sum from 1 (float32 softmax).
_TOLERANCE = 1e-4

_STRATEGIES = ("uniform", "quantile")


def _check_proba(proba) -> np.ndarray:
    """``proba`` as a float (n, c) array of finite probability rows."""
    try:
        P = np.asarray(proba, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"probabilities must be numbers: {exc}") from None
    if P.ndim != 2 or P.shape[0] == 0 or P.shape[1] == 0:
        raise ModelError("probabilities must be a 2-D array of shape (n_predictions, n_classes) "
                         f"with at least one row and one column, got shape {P.shape}")
    if not np.isfinite(P).all():
        raise ModelError(f"probabilities must be finite: {int((~np.isfinite(P)).sum())} "
                         "value(s) are NaN or infinite")
    if P.min() < -_TOLERANCE or P.max() > 1 + _TOLERANCE:
        raise ModelError(f"probabilities must lie in [0, 1], found values from {P.min():g} to "
                         f"{P.max():g}")
    off = np.abs(P.sum(axis=1) - 1.0)
    if off.max() > _TOLERANCE:
        row = int(off.argmax())
        raise ModelError(f"each row of probabilities must sum to 1 (within {_TOLERANCE:g}): row "
                         f"{row} sums to {P[row].sum():g}")
    return P


def _check_predictions(proba, y) -> tuple[np.ndarray, np.ndarray]:
    """``proba`` checked by :func:`_check_proba`, ``y`` as one class index per row."""
    P = _check_proba(proba)
    labels = np.asarray(y)
    if labels.ndim != 1 or len(labels) != len(P):
        raise ModelError(f"expected {len(P)} labels (one per row of probabilities) in a 1-D "
                         f"array, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ModelError("labels must be class indices (integers naming a column of the "
                         f"probabilities), got dtype {labels.dtype}")
    bad = (labels < 0) | (labels >= P.shape[1])
    if bad.any():
        raise ModelError(f"labels must be column indices in [0, {P.shape[1]}): found "
                         f"{sorted(set(labels[bad].tolist()))[:5]}")
    return P, labels.astype(int)


def _confidence_correct(proba, y) -> tuple[np.ndarray, np.ndarray]:
    """Each prediction's top-class probability, and whether its top class is the label.

    The top class is ``argmax`` (the first column on ties), as the models predict.
    """
    P, labels = _check_predictions(proba, y)
    return P.max(axis=1), P.argmax(axis=1) == labels


def _bin_edges(confidence: np.ndarray, n_bins, strategy: str) -> np.ndarray:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ModelError(f"n_bins must be a positive integer, not {n_bins!r}")
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, int(n_bins) + 1)
    if strategy == "quantile":
        edges = np.unique(np.quantile(confidence, np.linspace(0.0, 1.0, int(n_bins) + 1)))
        return edges if len(edges) > 1 else np.r_[edges, edges]  # all equal: one bin
    raise ModelError(f"strategy must be one of {list(_STRATEGIES)}, not {strategy!r}")


def reliability_table(proba, y, *, n_bins: int = 10, strategy: str = "uniform") -> pd.DataFrame:
    """Predictions binned by top-class confidence: each bin's confidence, accuracy and gap.

    The reliability diagram of Guo et al. (2017) as a table. A prediction's confidence is its
    largest probability; it is correct when that class is the label. Bins are closed on the
    right, ``(bin_lower, bin_upper]`` (the first is closed on both sides). **Empty bins are
    dropped**, so every row has ``count >= 1`` and no value is NaN; the counts sum to the number
    of predictions.

    Explained in ``notebooks/3-models-prediction.ipynb``; drawn by
    :func:`bag_of_songs.plot.plot_reliability`.

    Parameters
    ----------
    proba : array-like [shape=(n, n_classes)]
        Class probabilities; each row sums to 1.
    y : array-like of int [shape=(n,)]
        Each prediction's true class, as a column index of ``proba``.
    n_bins : int
        Number of bins before empty ones are dropped.
    strategy : {"uniform", "quantile"}
        ``"uniform"``: bins of equal width on [0, 1]. ``"quantile"``: edges at quantiles of the
        confidences, so bins hold about as many predictions each (equal edges merge).

    Returns
    -------
    table : pandas.DataFrame
        One row per non-empty bin, in increasing confidence: ``bin_lower``, ``bin_upper``,
        ``count`` (predictions in the bin), ``confidence`` (their mean top-class probability),
        ``accuracy`` (the fraction of them that is correct) and ``gap``
        (``confidence - accuracy``: positive where the model is over-confident).

    Raises
    ------
    ModelError
        When ``proba`` is not a 2-D array of finite probabilities whose rows sum to 1, ``y``
        is not one class index per row, or ``n_bins`` or ``strategy`` is invalid.

    Examples
    --------
    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.35, 0.65], [0.2, 0.8]])
    >>> reliability_table(proba, [0, 1, 1, 1], n_bins=5)
       bin_lower  bin_upper  count  confidence  accuracy    gap
    0        0.6        0.8      2       0.725       1.0 -0.275
    1        0.8        1.0      2       0.900       0.5  0.400
    """
    confidence, correct = _confidence_correct(proba, y)
    edges = _bin_edges(confidence, n_bins, strategy)
    index = np.searchsorted(edges[1:-1], confidence, side="left")
    n = len(edges) - 1
    count = np.bincount(index, minlength=n)
    keep = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=n) / count
        accuracy = np.bincount(index, weights=correct.astype(float), minlength=n) / count
    return pd.DataFrame({
        "bin_lower": edges[:-1][keep],
        "bin_upper": edges[1:][keep],
        "count": count[keep].astype(int),
        "confidence": mean_conf[keep],
        "accuracy": accuracy[keep],
        "gap": mean_conf[keep] - accuracy[keep],
    }, columns=list(RELIABILITY_COLUMNS))


def expected_calibration_error(proba, y, *, n_bins: int = 10,
                               strategy: str = "uniform") -> float:
    """Expected calibration error: the mean ``|confidence - accuracy|`` over confidence bins.

    ``ECE = sum_m (|B_m| / n) |acc(B_m) - conf(B_m)|`` over the bins ``B_m`` of
    :func:`reliability_table` (Guo et al., 2017): 0 for a calibrated model, up to 1. With
    equal-width bins it also counts how far off a model is *within* the bins it never leaves,
    so compare ECEs only at the same ``n_bins``.

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    proba : array-like [shape=(n, n_classes)]
        Class probabilities; each row sums to 1.
    y : array-like of int [shape=(n,)]
        Each prediction's true class, as a column index of ``proba``.
    n_bins : int
    strategy : {"uniform", "quantile"}
        As in :func:`reliability_table`.

    Returns
    -------
    ece : float
        In [0, 1].

    Raises
    ------
    ModelError
        As :func:`reliability_table`.

    Examples
    --------
    Every prediction made with probability 0.9, and 6 of 10 right: over-confident by 0.3.

    >>> import numpy as np
    >>> proba = np.tile([0.9, 0.05, 0.05], (10, 1))
    >>> y = np.array([0] * 6 + [1] * 4)
    >>> round(expected_calibration_error(proba, y), 6)
    0.3
    """
    table = reliability_table(proba, y, n_bins=n_bins, strategy=strategy)
    return float((table["count"] * table["gap"].abs()).sum() / table["count"].sum())


def uncertainty_threshold(proba_cv, y, *, target_accuracy: float | None = None) -> float:
    """The top probability below which a prediction is uncertain, chosen on out-of-fold ones.

    **Rule.** The candidates are the distinct top-class probabilities ``t`` of ``proba_cv``.
    For each, the predictions *kept* are those with top probability ``>= t``. The threshold is
    the **smallest** candidate whose kept predictions reach ``target_accuracy`` (so it flags as
    few predictions as the target allows). By default the target halves the error rate of all
    predictions: ``1 - (1 - a) / 2``, where ``a`` is the out-of-fold accuracy (0.8 -> 0.9). If
    no candidate reaches the target, the candidate whose kept predictions are the most accurate
    (the smallest such) is returned. When every prediction is right, the threshold is the
    smallest top probability and nothing on the training data is flagged.

    The probabilities must be out-of-fold (each row predicted by a model that did not train on
    it, e.g. the grouped folds of :func:`bag_of_songs.models.grouped_folds`): a model's
    probabilities on its own training rows are over-confident. A new prediction is uncertain
    when its top probability is ``< threshold`` (:func:`flag_uncertain`).

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    proba_cv : array-like [shape=(n, n_classes)]
        Out-of-fold class probabilities of the training rows (or clips).
    y : array-like of int [shape=(n,)]
        Their true classes, as column indices of ``proba_cv``.
    target_accuracy : float, optional
        The accuracy the kept predictions should reach, in (0, 1] (default: halve the error
        rate, as above).

    Returns
    -------
    threshold : float
        One of the top probabilities of ``proba_cv``.

    Raises
    ------
    ModelError
        As :func:`reliability_table`, or when ``target_accuracy`` is not in (0, 1].

    Examples
    --------
    Six out-of-fold predictions, most confident first; four are right (accuracy 2/3, so the
    default target is 5/6). Kept at ``t = 0.8``: three, all right; at 0.7: four, three right.

    >>> import numpy as np
    >>> top = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    >>> proba = np.c_[top, (1 - top) / 2, (1 - top) / 2]
    >>> y = np.array([0, 0, 0, 1, 0, 2])
    >>> float(uncertainty_threshold(proba, y))
    0.8
    >>> float(uncertainty_threshold(proba, y, target_accuracy=0.75))
    0.6
    """
    confidence, correct = _confidence_correct(proba_cv, y)
    if target_accuracy is None:
        target = 1.0 - (1.0 - correct.mean()) / 2.0
    else:
        target = _check_target(target_accuracy)
    order = np.argsort(-confidence, kind="stable")
    conf, right = confidence[order], correct[order]
    # the kept set of a candidate ends at the last prediction tied with it
    last = np.r_[conf[1:] != conf[:-1], True]
    kept_accuracy = (np.cumsum(right) / np.arange(1, len(conf) + 1))[last]
    candidates = conf[last]  # decreasing
    reach = np.flatnonzero(kept_accuracy >= target - 1e-12)
    if len(reach):
        return float(candidates[reach[-1]])
    best = np.flatnonzero(kept_accuracy == kept_accuracy.max())
    return float(candidates[best[-1]])


def _check_target(target_accuracy) -> float:
    try:
        target = float(target_accuracy)
    except (TypeError, ValueError):
        raise ModelError(f"target_accuracy must be a number in (0, 1], not "
                         f"{target_accuracy!r}") from None
    if not 0.0 < target <= 1.0:
        raise ModelError(f"target_accuracy must be in (0, 1], not {target_accuracy!r}")
    return target


def flag_uncertain(proba, threshold: float) -> np.ndarray:
    """Whether each prediction is uncertain: its top probability is below ``threshold``.

    Parameters
    ----------
    proba : array-like [shape=(n, n_classes)]
        Class probabilities; each row sums to 1.
    threshold : float
        What :func:`uncertainty_threshold` chose, in [0, 1].

    Returns
    -------
    uncertain : np.ndarray [shape=(n,), dtype=bool]

    Raises
    ------
    ModelError
        When ``proba`` is not a 2-D array of probability rows, or ``threshold`` is not a
        number in [0, 1].

    Examples
    --------
    >>> flag_uncertain([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]], 0.8).tolist()
    [False, True, False]
    """
    P = _check_proba(proba)
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise ModelError(f"threshold must be a number in [0, 1], not {threshold!r}") from None
    if not 0.0 <= t <= 1.0:
        raise ModelError(f"threshold must be a number in [0, 1], not {threshold!r}")
    return P.max(axis=1) < t


def selective_accuracy(proba, y, threshold: float) -> dict:
    """What a threshold keeps: the share of predictions not flagged, and their accuracy.

    Parameters
    ----------
    proba : array-like [shape=(n, n_classes)]
    y : array-like of int [shape=(n,)]
        True classes, as column indices of ``proba``.
    threshold : float
        As in :func:`flag_uncertain`.

    Returns
    -------
    scores : dict
        ``threshold``; ``coverage`` (the fraction of predictions kept); ``accuracy`` (of the
        kept ones; ``None`` when none is kept); ``n`` (predictions); ``n_uncertain``.

    Raises
    ------
    ModelError
        As :func:`flag_uncertain`.

    Examples
    --------
    >>> selective_accuracy([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]], [0, 0, 0], 0.8)
    {'threshold': 0.8, 'coverage': 0.6666666666666666, 'accuracy': 0.5, 'n': 3, 'n_uncertain': 1}
    """
    confidence, correct = _confidence_correct(proba, y)
    uncertain = flag_uncertain(proba, threshold)
    kept = ~uncertain
    return {
        "threshold": float(threshold),
        "coverage": float(kept.mean()),
        "accuracy": float(correct[kept].mean()) if kept.any() else None,
        "n": int(len(confidence)),
        "n_uncertain": int(uncertain.sum()),
    }
