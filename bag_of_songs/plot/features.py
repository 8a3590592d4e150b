"""Figures of a feature table (``notebooks/2-features-explanation.ipynb``).

Each feature's values by class, the correlations between features, the features ranked by how
well they separate the classes, and the segments of a few clips in feature space. The numbers
behind them are in :mod:`bag_of_songs.analysis` (:func:`~bag_of_songs.analysis.class_medians`,
:func:`~bag_of_songs.analysis.segment_projection`, :func:`~bag_of_songs.analysis.spans_decades`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..analysis import feature_columns, segment_projection, spans_decades
from ._common import _axes, _legend_outside

__all__ = [
    "plot_feature_boxplots",
    "plot_correlation",
    "plot_feature_ranking",
    "plot_segments",
]


def plot_feature_boxplots(table: pd.DataFrame, *, label_column: str,
                          features: Sequence[str] | None = None, ncols: int = 6, fig=None,
                          points: bool = True, log: bool | str = "auto", seed: int = 0):
    """One box plot per feature, its values grouped by class.

    Each panel's y axis is logarithmic where that feature's values span more than three decades
    (:func:`bag_of_songs.analysis.spans_decades`; e.g. the mean band-energy ratio, which one clip
    with almost no energy above 2 kHz can push to 1e7), and linear otherwise; a log panel's title
    ends in "(log)". The line in each box is the class median
    (:func:`bag_of_songs.analysis.class_medians` gives the numbers).

    Used in ``notebooks/2-features-explanation.ipynb`` on the feature table.

    Parameters
    ----------
    table : pandas.DataFrame
        A feature table (``features.csv``).
    label_column : str
    features : sequence of str, optional
        Columns to show (default: every numeric feature column).
    ncols : int
        Panels per row.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw in.
    points : bool
        Also draw every row as a dot (helpful for small corpora; outliers are then not drawn
        twice).
    log : "auto", bool
        ``"auto"``: per panel, from the data; True / False: every panel.
    seed : int
        Seed of the dots' horizontal jitter.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : np.ndarray of matplotlib.axes.Axes [shape=(rows, ncols)]
        ``ax.get_yscale()`` says which panels are logarithmic.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> table = pd.DataFrame({"audio_file": [f"{i}.wav" for i in range(6)],
    ...                       "label": ["A", "B"] * 3, "mean_rms": [0.1, 0.3, 0.2, 0.4, 0.1, 0.2],
    ...                       "mean_ber": [3.0, 10.0, 40.0, 1e7, 5.0, 8.0]})
    >>> fig, axes = plot_feature_boxplots(table, label_column="label", ncols=2,
    ...                                   fig=Figure(layout="constrained"))
    >>> [ax.get_title() for ax in axes.flat]  # the ratio spans decades: a log axis
    ['mean_rms', 'mean_ber (log)']
    """
    cols = feature_columns(table, features)
    labels = table[label_column].astype(str).to_numpy(dtype=object)
    classes = sorted(set(labels))
    nrows = int(np.ceil(len(cols) / ncols))
    if fig is None:
        fig = plt.figure(figsize=(2.3 * ncols, 2.1 * nrows + 0.5), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    colors = [f"C{i % 10}" for i in range(len(classes))]
    rotate = 90 if len(classes) > 3 or max(len(c) for c in classes) > 9 else 0
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-0.2, 0.2, size=len(table))
    positions = np.arange(len(classes))
    for ax, col in zip(axes.flat, cols, strict=False):
        values = table[col].to_numpy(dtype=float)
        groups = [values[labels == c] for c in classes]
        groups = [g[np.isfinite(g)] for g in groups]
        use_log = spans_decades(values) if log == "auto" else bool(log)
        bp = ax.boxplot(groups, positions=positions, widths=0.6, patch_artist=True,
                        showfliers=not points, medianprops={"color": "k", "linewidth": 1.2},
                        whiskerprops={"linewidth": 0.8}, capprops={"linewidth": 0.8},
                        boxprops={"linewidth": 0.8})
        for patch, c in zip(bp["boxes"], colors, strict=True):
            patch.set_facecolor(c)
            patch.set_alpha(0.6)
        if points:
            x = positions[pd.Index(classes).get_indexer(labels)] + jitter
            ax.scatter(x, values, s=4, color="k", alpha=0.5, linewidths=0)
        if use_log:
            ax.set_yscale("log", nonpositive="mask")
        ax.set_xticks(positions, classes)
        ax.set_title(f"{col} (log)" if use_log else col, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.tick_params(axis="x", rotation=rotate)
    for ax in axes.flat[len(cols):]:
        ax.set_visible(False)
    fig.suptitle(f"Feature values by {label_column}")
    return fig, axes


def plot_correlation(table: pd.DataFrame, *, features: Sequence[str] | None = None, ax=None,
                     method: str = "pearson", title: str | None = None):
    """Heat map of the correlation between every pair of features.

    Used in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    table : pandas.DataFrame
        A feature table.
    features : sequence of str, optional
        Columns (default: every numeric feature column).
    ax : matplotlib.axes.Axes, optional
    method : {"pearson", "spearman", "kendall"}
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> table = pd.DataFrame({"label": ["A", "B", "A", "B"], "mean_rms": [0.1, 0.3, 0.2, 0.4],
    ...                       "std_rms": [0.2, 0.6, 0.4, 0.8],
    ...                       "mean_zcr": [0.05, 0.01, 0.04, 0.02]})
    >>> ax = plot_correlation(table, ax=Figure().subplots())
    >>> ax.get_title()
    'Correlation between the 3 features'
    """
    cols = feature_columns(table, features)
    size = min(14, 3 + 0.28 * len(cols))
    ax = _axes(ax, figsize=(size + 1, size))
    corr = table[cols].corr(method=method)
    sns.heatmap(corr, ax=ax, cmap="vlag", center=0, vmin=-1, vmax=1, square=True,
                xticklabels=True, yticklabels=True, linewidths=0,
                cbar_kws={"label": f"{method.capitalize()} correlation", "shrink": 0.7})
    ax.tick_params(labelsize=7)
    ax.set_title(title or f"Correlation between the {len(cols)} features")
    return ax


def plot_feature_ranking(ranking: pd.DataFrame, *, top: int | None = 20, ax=None,
                         title: str | None = None):
    """Bars of each feature's effect size, the most separating on top.

    Used in ``notebooks/2-features-explanation.ipynb`` with
    :func:`bag_of_songs.features.rank_features`.

    Parameters
    ----------
    ranking : pandas.DataFrame
        Columns ``feature, effect, measure`` and optionally ``higher_in`` (colours the bars
        by the class with the larger mean).
    top : int, optional
        Show only the first ``top`` features (None: all). When that leaves some out, the
        title says so ("top 20 of 32").
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> ranking = pd.DataFrame({"feature": ["mean_rms", "mean_zcr", "std_rms"],
    ...                         "effect": [1.2, 0.8, 0.3], "measure": "|d|"})
    >>> ax = plot_feature_ranking(ranking, top=2, ax=Figure().subplots())
    >>> ax.get_title()
    'Features ranked by how well they separate the classes (top 2 of 3)'
    """
    shown = ranking.head(top) if top else ranking
    cut = f" (top {len(shown)} of {len(ranking)})" if len(shown) < len(ranking) else ""
    ax = _axes(ax, figsize=(7, 0.25 * len(shown) + 1.2))
    hue = "higher_in" if "higher_in" in shown.columns else None
    sns.barplot(data=shown, x="effect", y="feature", hue=hue, ax=ax, orient="h",
                dodge=False, palette="tab10" if hue else None,
                color=None if hue else "tab:blue",
                hue_order=sorted(shown[hue].unique()) if hue else None)
    if hue:
        ax.legend(title="higher in", fontsize="small", loc="lower right")
    ax.set_xlabel(str(shown["measure"].iloc[0]) if len(shown) else "effect")
    ax.set_ylabel("")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title((title or "Features ranked by how well they separate the classes") + cut)
    return ax


def plot_segments(table: pd.DataFrame, *, label_column: str,
                  features: Sequence[str] | None = None, classes: Sequence[str] | None = None,
                  n_clips: int = 3, ax=None, title: str | None = None):
    """Texture windows in feature space: each clip's segments around the clip's mean.

    A few clips of two classes (the first ``n_clips`` of each in table order): every segment is a
    small dot, joined by a thin line to its clip's mean over its segments (a large marker; the
    whole-clip row is this mean, up to the frames after the last whole segment). The coordinates are
    two features, or the first two principal components of all the table's rows
    (:func:`bag_of_songs.analysis.segment_projection`). A clip whose segments spread widely changes
    its texture within the song; one row per clip would hide that.

    Used in ``notebooks/2-features-explanation.ipynb`` (texture windows).

    Parameters
    ----------
    table : pandas.DataFrame
        A segment table (``audio_file``, ``segment``, the label column, features).
    label_column : str
    features : sequence of two str, optional
        Default: PCA of every feature column.
    classes : sequence of str, optional
        The classes to show (default: the first two, sorted).
    n_clips : int
        Clips per class.
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> segments = pd.DataFrame({"audio_file": ["a.wav"] * 3 + ["b.wav"] * 3,
    ...                          "segment": [0, 1, 2] * 2, "label": ["A"] * 3 + ["B"] * 3,
    ...                          "mean_rms": [0.1, 0.2, 0.15, 0.3, 0.35, 0.4],
    ...                          "mean_zcr": [0.05, 0.04, 0.06, 0.1, 0.12, 0.11]})
    >>> ax = plot_segments(segments, label_column="label", ax=Figure().subplots())
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['A: a (3 segments)', 'B: b (3 segments)']
    """
    points, labels = segment_projection(table, label_column=label_column, features=features)
    classes = list(classes) if classes is not None else sorted(points["label"].unique())[:2]
    ax = _axes(ax, figsize=(7.5, 5.5))
    markers = "osD^vP*X"
    for ci, cls in enumerate(classes):
        sub = points[points["label"] == str(cls)]
        clips = list(dict.fromkeys(sub["audio_file"]))[:n_clips]
        for k, clip in enumerate(clips):
            pts = sub[sub["audio_file"] == clip]
            cx, cy = pts["x"].mean(), pts["y"].mean()
            color = f"C{ci % 10}"
            for x, y in zip(pts["x"], pts["y"], strict=True):
                ax.plot([cx, x], [cy, y], color=color, linewidth=0.6, alpha=0.5)
            ax.scatter(pts["x"], pts["y"], s=14, color=color, alpha=0.8,
                       marker=markers[k % len(markers)])
            ax.scatter([cx], [cy], s=140, color=color, edgecolors="k", linewidths=1.0,
                       marker=markers[k % len(markers)], zorder=3,
                       label=f"{cls}: {Path(clip).stem} ({len(pts)} segments)")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    _legend_outside(ax, title="clip (large: its mean)")
    ax.set_title(title or "Segments (small) around their clip's mean (large)")
    return ax
