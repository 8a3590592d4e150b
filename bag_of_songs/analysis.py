"""The numbers behind the notebooks' figures, computed apart from the drawing.

What :mod:`bag_of_songs.plot` draws, as plain numbers and tables, so that a notebook (or a
test) can print what a figure shows without matplotlib: whether values read best on a log
axis (:func:`spans_decades`), rows standardised over time (:func:`standardize_rows`), each
feature's median per class (:func:`class_medians`), two coordinates per segment
(:func:`segment_projection`), a taggram's most likely tags (:func:`top_tags`), the scores of a
late fusion against its weight (:func:`fusion_curve`) and the clips on which two models
disagree most (:func:`rank_disagreements`).

Every public name here is also importable from :mod:`bag_of_songs.plot`, where the notebooks
import it. Nothing here trains or loads a model: probabilities come in as arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .data import LEVELS
from .metrics import clip_metrics

__all__ = [
    "feature_columns",
    "spans_decades",
    "standardize_rows",
    "class_medians",
    "segment_projection",
    "top_tags",
    "fusion_curve",
    "rank_disagreements",
]


#: The non-feature columns of a feature table.
_NON_FEATURES = ("audio_file", "source", "label", *LEVELS)

#: A feature table's columns that identify a row of a segment table.
_ID_COLUMNS = ("audio_file", "source", "source_stamp", "segment")


def feature_columns(table: pd.DataFrame, features: Sequence[str] | None = None) -> list[str]:
    """The feature columns of a feature table: those given, or every numeric non-ID column.

    Without ``features``: every numeric column except the identifiers (``audio_file``,
    ``source``, ``source_stamp``, ``segment``) and the labels (``label``, the three CCMusic
    levels, and any listed in ``table.attrs["label_columns"]``), in table order. The figures
    and computations of a feature table all choose their columns this way.

    Parameters
    ----------
    table : pandas.DataFrame
        A feature table (whole-clip or segment rows).
    features : sequence of str, optional
        Columns to use; each must be in the table.

    Returns
    -------
    columns : list of str

    Raises
    ------
    ValueError
        When a column of ``features`` is not in the table.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"audio_file": ["a.wav", "b.wav"], "segment": [0, 0],
    ...                       "label": ["rock", "pop"], "mean_rms": [0.1, 0.2],
    ...                       "std_zcr": [0.01, 0.02]})
    >>> feature_columns(table)
    ['mean_rms', 'std_zcr']
    """
    if features is not None:
        missing = [f for f in features if f not in table.columns]
        if missing:
            raise ValueError(f"feature column(s) not in the table: {missing}")
        return list(features)
    skip = {*_NON_FEATURES, *_ID_COLUMNS, *table.attrs.get("label_columns", ())}
    return [c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])]


def spans_decades(values, *, decades: float = 3.0) -> bool:
    """Whether positive values span more than ``decades`` powers of ten (a log axis reads best).

    The rule :func:`bag_of_songs.plot.plot_feature_boxplots` uses per panel: a feature whose values
    are all positive and whose largest is more than ``10 ** decades`` times its smallest (e.g. a
    mean band-energy ratio from 3 to 1e7) is drawn on a logarithmic axis, where one outlier can no
    longer flatten every other clip into a line. Values of either sign, zeros, or a narrower range
    keep a linear axis. Non-finite values are ignored.

    Used in ``notebooks/2-features-explanation.ipynb`` (through
    :func:`bag_of_songs.plot.plot_feature_boxplots`).

    Parameters
    ----------
    values : array-like
    decades : float
        Powers of ten the range must exceed (default 3: a factor above 1,000).

    Returns
    -------
    log : bool

    Examples
    --------
    >>> spans_decades([3.0, 40.0, 1e7]), spans_decades([0.0, 1.0, 1e7]), spans_decades([1, 999])
    (True, False, False)
    """
    x = np.asarray(values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size < 2 or x.min() <= 0:
        return False
    return bool(np.log10(x.max()) - np.log10(x.min()) > decades)


def standardize_rows(M: np.ndarray, *, mean=None, std=None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Each row (e.g. each MFCC) standardised over time: :math:`z_j(k) = (x_j(k) - \mu_j) /
    \sigma_j`.

    The MFCCs of a clip differ in scale by orders of magnitude (coefficient 1, the level, is
    around -200; coefficient 2 near 100; the rest within about +-20), so one colour scale for
    all shows only the first two. Standardising each coefficient over the frames shows how each
    one varies over time. Pass the ``mean`` and ``std`` of a reference (e.g. two clips together,
    as :func:`bag_of_songs.plot.plot_mfccs` does) to keep clips comparable.

    Used in ``notebooks/2-features-explanation.ipynb`` (through
    :func:`bag_of_songs.plot.plot_mfcc`).

    Parameters
    ----------
    M : np.ndarray [shape=(n_rows, t)]
    mean, std : np.ndarray [shape=(n_rows,)], optional
        Row statistics to use (default: those of ``M``). A row with standard deviation 0 is
        divided by 1 (it becomes 0 when it is its own reference).

    Returns
    -------
    Z : np.ndarray [shape=(n_rows, t)]
    mean, std : np.ndarray [shape=(n_rows,)]
        The statistics used.

    Examples
    --------
    >>> import numpy as np
    >>> Z, mean, std = standardize_rows(np.array([[1.0, 3.0], [10.0, 10.0]]))
    >>> Z.tolist()  # a constant row becomes 0
    [[-1.0, 1.0], [0.0, 0.0]]
    >>> mean.tolist(), std.tolist()
    ([2.0, 10.0], [1.0, 0.0])
    """
    M = np.asarray(M, dtype=float)
    if M.ndim != 2:
        raise ValueError(f"expected a 2-D array (rows, frames), got shape {M.shape}")
    mean = M.mean(axis=1) if mean is None else np.asarray(mean, dtype=float).ravel()
    std = M.std(axis=1) if std is None else np.asarray(std, dtype=float).ravel()
    if mean.shape != (M.shape[0],) or std.shape != (M.shape[0],):
        raise ValueError(f"mean and std need one value per row ({M.shape[0]})")
    safe = np.where(std > 0, std, 1.0)
    return (M - mean[:, None]) / safe[:, None], mean, std


def class_medians(table: pd.DataFrame, *, label_column: str,
                  features: Sequence[str] | None = None) -> pd.DataFrame:
    """The median of each feature per class (the line in each box of the feature box plots).

    The numbers behind :func:`bag_of_songs.plot.plot_feature_boxplots`' medians. What a class-level
    statement about a feature should rest on, rather than one example clip per class. Notebook 2
    phrases its class-level findings from this table.

    Used in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    table : pandas.DataFrame
        A feature table (whole-clip or segment rows).
    label_column : str
    features : sequence of str, optional
        Default: every numeric feature column.

    Returns
    -------
    medians : pandas.DataFrame [shape=(n_features, n_classes + 3)]
        Index: the features; one column per class (sorted names) with its median; ``highest``
        and ``lowest``, the classes with the largest and smallest median; ``ratio``, the
        largest median over the smallest (NaN unless both are positive).

    Raises
    ------
    ValueError
        When the label column or a feature column is missing, or there are fewer than two
        classes.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"label": ["x", "x", "x", "y", "y", "y"],
    ...                       "f": [1.0, 2.0, 9.0, 4.0, 5.0, 6.0]})
    >>> medians = class_medians(table, label_column="label")
    >>> medians[["x", "y"]].to_numpy().tolist()  # medians, not means: one loud clip moves no x
    [[2.0, 5.0]]
    >>> medians.loc["f", "highest"], medians.loc["f", "lowest"], float(medians.loc["f", "ratio"])
    ('y', 'x', 2.5)
    """
    if label_column not in table.columns:
        raise ValueError(f"no label column {label_column!r} in the table")
    cols = feature_columns(table, features)
    labels = table[label_column].astype(str)
    if labels.nunique() < 2:
        raise ValueError(f"{label_column!r} has fewer than two classes")
    med = table[cols].groupby(labels.to_numpy()).median().T
    med = med[sorted(med.columns)]
    values = med.to_numpy(dtype=float)
    out = med.copy()
    out.columns = [str(c) for c in med.columns]
    out["highest"] = med.columns[values.argmax(axis=1)].astype(str)
    out["lowest"] = med.columns[values.argmin(axis=1)].astype(str)
    lo, hi = values.min(axis=1), values.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ratio"] = np.where(lo > 0, hi / lo, np.nan)
    out.index.name = "feature"
    return out


def segment_projection(table: pd.DataFrame, *, label_column: str,
                       features: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Two coordinates per segment row: two features, or the first two principal components.

    With two ``features``, their values. Otherwise all numeric feature columns are
    standardised (each to mean 0, standard deviation 1 over the rows; a column that spans more
    than three decades, :func:`spans_decades`, is first taken as its ``log10``, so that one
    huge band-energy ratio is not a component of its own) and projected on their first two
    principal components (by SVD), so that no feature dominates by its unit.

    Used in ``notebooks/2-features-explanation.ipynb`` (through
    :func:`bag_of_songs.plot.plot_segments`).

    Parameters
    ----------
    table : pandas.DataFrame
        A segment table (``audio_file``, ``segment``, labels, features), e.g. from
        :func:`bag_of_songs.features.build_feature_tables` with ``segment=3.0``.
    label_column : str
    features : sequence of two str, optional

    Returns
    -------
    points : pandas.DataFrame
        ``audio_file``, ``label`` (the ``label_column``), ``x``, ``y``, one row per row of
        ``table``, in its order.
    axis_labels : list of two str
        The feature names, or ``"PC1 (34 % of variance)"`` and ``"PC2 (...)"``.

    Examples
    --------
    >>> import pandas as pd
    >>> segments = pd.DataFrame({"audio_file": ["a.wav", "a.wav", "b.wav", "b.wav"],
    ...                          "segment": [0, 1, 0, 1], "label": ["x", "x", "y", "y"],
    ...                          "f": [0.0, 1.0, 2.0, 3.0], "g": [0.0, 2.0, 4.0, 6.0]})
    >>> points, axis_labels = segment_projection(segments, label_column="label")
    >>> axis_labels  # f and g are perfectly correlated: one component holds it all
    ['PC1 (100 % of variance)', 'PC2 (0 % of variance)']
    >>> points, axis_labels = segment_projection(segments, label_column="label",
    ...                                          features=["g", "f"])
    >>> points["x"].tolist(), axis_labels
    ([0.0, 2.0, 4.0, 6.0], ['g', 'f'])
    """
    if label_column not in table.columns or "audio_file" not in table.columns:
        raise ValueError(f"the table needs audio_file and {label_column!r} columns")
    if features is not None:
        features = list(features)
        if len(features) != 2:
            raise ValueError(f"give two features (or None for PCA), got {features}")
        xy = table[feature_columns(table, features)].to_numpy(dtype=float)
        labels = features
    else:
        cols = feature_columns(table, None)
        X = table[cols].to_numpy(dtype=float, copy=True)
        wide = [j for j in range(X.shape[1]) if spans_decades(X[:, j])]
        X[:, wide] = np.log10(X[:, wide])  # one huge ratio must not be a component by itself
        std = X.std(axis=0)
        X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
        if X.shape[0] < 2 or X.shape[1] < 2:
            raise ValueError("PCA needs at least two rows and two feature columns")
        U, s, _ = np.linalg.svd(X, full_matrices=False)
        xy = U[:, :2] * s[:2]
        share = s**2 / max(float((s**2).sum()), 1e-300)
        labels = [f"PC{i + 1} ({100 * share[i]:.0f} % of variance)" for i in range(2)]
    points = pd.DataFrame({"audio_file": table["audio_file"].astype(str).to_numpy(),
                           "label": table[label_column].astype(str).to_numpy(),
                           "x": xy[:, 0], "y": xy[:, 1]})
    return points, labels


def top_tags(taggram: np.ndarray, tags: Sequence[str], *, n: int = 5) -> pd.DataFrame:
    """The tags a tagging network finds most likely in a clip: the mean over its patches.

    Used in ``notebooks/5-pretrained-embeddings.ipynb`` (with
    :func:`bag_of_songs.musicnn.musicnn_features` ``layer="taggram"``).

    Parameters
    ----------
    taggram : np.ndarray [shape=(n_patches, n_tags)]
        Tag probabilities per patch.
    tags : sequence of str [length n_tags]
    n : int
        How many tags.

    Returns
    -------
    top : pandas.DataFrame [shape=(n, 2)]
        ``tag`` and ``probability`` (the mean over patches), most likely first (ties in tag
        order).

    Examples
    --------
    >>> import numpy as np
    >>> taggram = np.array([[0.9, 0.1, 0.5], [0.7, 0.3, 0.5]])  # 2 patches, 3 tags
    >>> top = top_tags(taggram, ["rock", "pop", "jazz"], n=2)
    >>> top["tag"].tolist(), top["probability"].round(2).tolist()
    (['rock', 'jazz'], [0.8, 0.5])
    """
    T = np.asarray(taggram, dtype=float)
    if T.ndim != 2 or T.shape[1] != len(tags):
        raise ValueError(f"taggram of shape {T.shape} does not match {len(tags)} tags")
    mean = T.mean(axis=0)
    order = np.argsort(-mean, kind="stable")[:n]
    return pd.DataFrame({"tag": [str(tags[i]) for i in order], "probability": mean[order]})


def fusion_curve(p_a: np.ndarray, p_b: np.ndarray, y, *, grid: int = 11) -> pd.DataFrame:
    """Scores of the late fusion ``w * p_a + (1 - w) * p_b`` for weights ``w`` from 0 to 1.

    What :func:`bag_of_songs.cnn.choose_fusion_weight` minimises (the log-loss), with the
    accuracy and macro F1 beside it, so a notebook can draw and print the curve it chose the
    weight on. Compute it on the **validation** clips: the test clips never choose.

    Used in ``notebooks/4-spectrogram-cnn.ipynb`` (section 4, through
    :func:`bag_of_songs.plot.plot_fusion_weight`).

    Parameters
    ----------
    p_a, p_b : np.ndarray [shape=(n_clips, n_classes)]
        Two models' class probabilities for the same clips, columns in the same class order.
    y : array-like [shape=(n_clips,), dtype=int]
        Each clip's class index.
    grid : int
        Weights ``np.linspace(0, 1, grid)`` (11: steps of 0.1, as ``choose_fusion_weight``).

    Returns
    -------
    curve : pandas.DataFrame [shape=(grid, 4)]
        ``weight`` (of ``p_a``), ``log_loss`` (mean of ``-log p(true class)``, probabilities
        clipped at 1e-7), ``accuracy`` and ``f1_macro`` (over the classes that occur in ``y``
        or in the predictions) of the fused probabilities.

    Raises
    ------
    ValueError
        On shapes that disagree, ``grid < 2``, or labels out of range.

    Examples
    --------
    >>> import numpy as np
    >>> p_a = np.array([[0.9, 0.1], [0.2, 0.8]])  # right on both clips
    >>> p_b = np.array([[0.4, 0.6], [0.7, 0.3]])  # wrong on both
    >>> curve = fusion_curve(p_a, p_b, [0, 1], grid=3)
    >>> curve[["weight", "accuracy"]].to_numpy().tolist()
    [[0.0, 0.0], [0.5, 1.0], [1.0, 1.0]]
    >>> float(curve.loc[curve["log_loss"].idxmin(), "weight"])
    1.0
    """
    p_a, p_b = np.asarray(p_a, dtype=float), np.asarray(p_b, dtype=float)
    y = np.asarray(y)
    if p_a.ndim != 2 or p_a.shape != p_b.shape or y.shape != (len(p_a),):
        raise ValueError(f"need two (n_clips, n_classes) arrays and n_clips labels, got "
                         f"{p_a.shape}, {p_b.shape} and {y.shape}")
    if int(grid) < 2:
        raise ValueError(f"grid must be at least 2, got {grid}")
    if len(y) and (y.min() < 0 or y.max() >= p_a.shape[1]):
        raise ValueError(f"labels must lie in 0..{p_a.shape[1] - 1}")
    y = y.astype(int)
    rows = []
    for w in np.linspace(0.0, 1.0, int(grid)):
        p = w * p_a + (1.0 - w) * p_b
        scores = clip_metrics(p, y)
        rows.append({"weight": float(w), "log_loss": scores["loss"],
                     "accuracy": scores["accuracy"], "f1_macro": scores["f1_macro"]})
    return pd.DataFrame(rows)


def rank_disagreements(clips, proba_a: np.ndarray, proba_b: np.ndarray,
                       classes: Sequence[str], y_true=None, *,
                       names: Sequence[str] = ("CNN", "SVC")) -> pd.DataFrame:
    """The clips on which two models disagree, most different first.

    For each clip: each model's most likely class and its probability, whether the two
    differ, and how far apart their probability vectors are (the total-variation distance
    :math:`\\frac12 \\sum_c |p_a(c) - p_b(c)|`, 0 when identical, 1 when they share no mass).
    Rows where the predicted classes differ come first, then by that distance, so the head of
    the table is always worth a look, even when the models never disagree.

    Used in ``notebooks/4-spectrogram-cnn.ipynb`` (section 6, with
    :func:`bag_of_songs.plot.plot_disagreements`).

    Parameters
    ----------
    clips : sequence of str [shape=(n_clips,)]
        Clip ids (``audio_file``), as :func:`bag_of_songs.models.predict_clips` returns them.
    proba_a, proba_b : np.ndarray [shape=(n_clips, n_classes)]
        The two models' class probabilities for those clips, columns in ``classes`` order.
    classes : sequence of str
    y_true : array-like [shape=(n_clips,), dtype=int], optional
        Each clip's class index.
    names : sequence of two str
        The models' names, used in the column names (lower case).

    Returns
    -------
    table : pandas.DataFrame [shape=(n_clips, ...)]
        ``audio_file``, ``true`` (when ``y_true`` is given), ``<a>`` and ``<a>_p`` (the first
        model's class and its probability), ``<b>`` and ``<b>_p``, ``disagree`` (bool),
        ``distance``, and, with ``y_true``, ``<a>_right`` and ``<b>_right`` (bool).

    Raises
    ------
    ValueError
        On shapes that disagree.

    Examples
    --------
    >>> import numpy as np
    >>> p_cnn = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    >>> p_svc = np.array([[0.7, 0.3], [0.6, 0.4], [0.6, 0.4]])
    >>> table = rank_disagreements(["a.wav", "b.wav", "c.wav"], p_cnn, p_svc,
    ...                            ["Classic", "Non_classic"], [0, 1, 0])
    >>> table[["audio_file", "cnn", "svc", "disagree", "distance"]]
      audio_file          cnn      svc  disagree  distance
    0      b.wav  Non_classic  Classic      True       0.3
    1      a.wav      Classic  Classic     False       0.1
    2      c.wav      Classic  Classic     False       0.0
    """
    clips = np.asarray(clips, dtype=object)
    pa, pb = np.asarray(proba_a, dtype=float), np.asarray(proba_b, dtype=float)
    classes = [str(c) for c in classes]
    if pa.ndim != 2 or pa.shape != pb.shape or pa.shape != (len(clips), len(classes)):
        raise ValueError(f"need probabilities of shape ({len(clips)}, {len(classes)}) for both "
                         f"models, got {pa.shape} and {pb.shape}")
    a, b = (str(x).lower() for x in names)
    if a == b:
        raise ValueError(f"the two models need different names, got {names}")
    ia, ib = pa.argmax(axis=1), pb.argmax(axis=1)
    rows = np.arange(len(clips))
    out = pd.DataFrame({"audio_file": clips.astype(str)})
    if y_true is not None:
        y = np.asarray(y_true).astype(int)
        if y.shape != (len(clips),):
            raise ValueError(f"y_true needs {len(clips)} labels, got shape {y.shape}")
        out["true"] = [classes[i] for i in y]
    out[a] = [classes[i] for i in ia]
    out[f"{a}_p"] = pa[rows, ia]
    out[b] = [classes[i] for i in ib]
    out[f"{b}_p"] = pb[rows, ib]
    out["disagree"] = ia != ib
    out["distance"] = 0.5 * np.abs(pa - pb).sum(axis=1)
    if y_true is not None:
        out[f"{a}_right"] = ia == y
        out[f"{b}_right"] = ib == y
    order = np.lexsort((rows, -out["distance"].to_numpy(), ~out["disagree"].to_numpy()))
    return out.iloc[order].reset_index(drop=True)
