"""Figures of notebook 1 (``notebooks/1-data-preparation.ipynb``): the corpus's class balance.

The clip notebook 1 shows is drawn by :func:`bag_of_songs.plot.signals.plot_waveform`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ._common import _legend_outside

__all__ = ["plot_class_balance"]


def plot_class_balance(balance: pd.DataFrame, *, fig=None, levels: Sequence[str] | None = None):
    """Clips per class, one panel per label level, one bar per split.

    Used in ``notebooks/1-data-preparation.ipynb`` with
    :func:`bag_of_songs.data.class_balance`.

    Parameters
    ----------
    balance : pandas.DataFrame
        Columns ``split, level, class, count``.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw in (default: a new one sized to the number of classes).
    levels : sequence of str, optional
        Levels to show (default: all in ``balance``, in order).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes
        One per level.

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> balance = pd.DataFrame({"split": ["train", "train", "test", "test"],
    ...                         "level": "fst_level_label", "class": ["Classic", "Non_classic"] * 2,
    ...                         "count": [8, 12, 2, 3]})
    >>> fig, axes = plot_class_balance(balance, fig=Figure(layout="constrained"))
    >>> axes[0].get_title()
    'fst_level_label: clips per class and split'
    """
    levels = list(levels) if levels is not None else list(dict.fromkeys(balance["level"]))
    if not levels:
        raise ValueError("the class balance table is empty")
    n_classes = [balance.loc[balance["level"] == lv, "class"].nunique() for lv in levels]
    splits = list(dict.fromkeys(balance["split"]))
    if fig is None:
        height = sum(0.22 * n * max(1, len(splits) / 2) + 0.9 for n in n_classes)
        fig = plt.figure(figsize=(8, max(2.5, height)), layout="constrained")
    axes = fig.subplots(len(levels), 1, squeeze=False,
                        gridspec_kw={"height_ratios": [n + 1.5 for n in n_classes]})[:, 0]
    palette = dict(zip(splits, sns.color_palette("tab10", len(splits)), strict=True))
    for ax, level in zip(axes, levels, strict=True):
        sub = balance[balance["level"] == level]
        sns.barplot(data=sub, x="count", y="class", hue="split", hue_order=splits, ax=ax,
                    palette=palette, orient="h", order=sorted(sub["class"].unique()))
        for container in ax.containers:
            ax.bar_label(container, fontsize=7, padding=2)
        ax.set_title(f"{level}: clips per class and split")
        ax.set_xlabel("Clips")
        ax.set_ylabel("")
        ax.margins(x=0.08)
        ax.get_legend().remove()
    _legend_outside(axes[0], title="split")
    return fig, list(axes)
