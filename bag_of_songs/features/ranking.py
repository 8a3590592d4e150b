"""Which features separate the classes, and which repeat each other.

:func:`rank_features` ranks a table's feature columns by effect size (Cohen's d for two
classes, eta squared for more); :func:`correlated_pairs` lists the most correlated pairs.

Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import feature_columns
from ..errors import FeatureError


def rank_features(table: pd.DataFrame, *, label_column: str) -> pd.DataFrame:
    """How well each feature separates the classes, by effect size, best first.

    Two classes: Cohen's d (difference of means over the pooled standard deviation), ranked
    by its absolute value. More classes: eta squared from a one-way ANOVA (the share of the
    feature's variance explained by the class), also reported as ``effect``.

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    table : pandas.DataFrame
        A feature table (``features.csv``); only its feature columns are ranked (never
        ``audio_file``, labels or a segment table's ``segment`` index).
    label_column : str

    Returns
    -------
    ranking : pandas.DataFrame
        Columns ``feature, effect, measure`` and, for two classes, ``higher_in`` (the class
        with the larger mean).

    Examples
    --------
    >>> t = pd.DataFrame({"audio_file": ["a", "b", "c", "d"],
    ...                   "genre": ["pop", "pop", "rock", "rock"],
    ...                   "loud": [1.0, 2.0, 5.0, 6.0], "noise": [1.0, 2.0, 2.0, 1.0]})
    >>> rank_features(t, label_column="genre")
      feature    effect      measure higher_in
    0    loud  5.656854  |Cohen's d|      rock
    1   noise  0.000000  |Cohen's d|       pop
    """
    if label_column not in table.columns:
        raise FeatureError(f"no column {label_column!r} in the table")
    labels = table[label_column].astype(str).to_numpy()
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise FeatureError(f"{label_column!r} has fewer than two classes")
    cols = feature_columns(table, exclude=[label_column, "segment"])
    rows = []
    for c in cols:
        x = table[c].to_numpy(dtype=float)
        groups = [x[labels == k] for k in classes]
        if len(classes) == 2:
            a, b = groups
            pooled = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1))
                             / max(len(a) + len(b) - 2, 1)) if min(len(a), len(b)) > 1 else 0.0
            diff = b.mean() - a.mean()
            d = diff / pooled if pooled > 0 else 0.0
            rows.append({"feature": c, "effect": float(abs(d)), "measure": "|Cohen's d|",
                         "higher_in": classes[1] if diff > 0 else classes[0]})
        else:
            grand = x.mean()
            between = sum(len(g) * (g.mean() - grand) ** 2 for g in groups if len(g))
            total = ((x - grand) ** 2).sum()
            rows.append({"feature": c, "effect": float(between / total) if total > 0 else 0.0,
                         "measure": "eta squared"})
    return pd.DataFrame(rows).sort_values("effect", ascending=False, ignore_index=True)


def correlated_pairs(table: pd.DataFrame, *, top: int | None = 5) -> pd.DataFrame:
    """The most strongly correlated pairs of features, by absolute Pearson correlation.

    Used in ``notebooks/2-features-explanation.ipynb`` (section 7, beside the correlation
    heatmap): strongly correlated features add little information to each other.

    Parameters
    ----------
    table : pandas.DataFrame [shape=(n_clips, n_columns)]
        A feature table; only its feature columns (:func:`bag_of_songs.data.feature_columns`)
        count, never the labels, ids or a segment table's ``segment`` index.
    top : int or None
        How many pairs to return (None: all ``n_features * (n_features - 1) / 2``).

    Returns
    -------
    pairs : pandas.DataFrame [shape=(top, 3)]
        Columns ``feature_a, feature_b, r``, one row per pair of distinct features
        (``feature_a`` comes first in the table), sorted by ``|r|``, largest first (ties in
        table order). Pairs involving a constant feature, whose ``r`` is undefined, are left
        out.

    Examples
    --------
    >>> t = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [2.0, 4, 6, 8], "c": [4.0, 1, 3, 2]})
    >>> correlated_pairs(t, top=2)
      feature_a feature_b    r
    0         a         b  1.0
    1         a         c -0.4
    """
    cols = feature_columns(table, exclude=["segment"])
    corr = table[cols].corr().to_numpy()
    i, j = np.triu_indices(len(cols), k=1)
    r = corr[i, j]
    keep = np.isfinite(r)
    pairs = pd.DataFrame({"feature_a": np.asarray(cols, dtype=object)[i[keep]],
                          "feature_b": np.asarray(cols, dtype=object)[j[keep]],
                          "r": r[keep]})
    pairs = pairs.sort_values("r", key=np.abs, ascending=False, kind="stable",
                              ignore_index=True)
    return pairs if top is None else pairs.head(top)
