"""Figures of notebook 5 (``notebooks/5-pretrained-embeddings.ipynb``): the musicnn taggram.

Which tags the pretrained tagging network hears in each 3 s patch of a clip; the tag list
itself is :func:`bag_of_songs.analysis.top_tags`. Notebook 5's scores and confusion matrices
use :mod:`bag_of_songs.plot.models`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..analysis import top_tags
from ._common import _axes

__all__ = ["plot_taggram"]


def plot_taggram(taggram: np.ndarray, tags: Sequence[str], *, top: int = 10,
                 patch_seconds: float = 3.0, ax=None, colorbar: bool = True,
                 vmax: float | None = None, title: str | None = None):
    """A taggram: the tagging network's probability of each tag for each 3 s patch of a clip.

    Only the ``top`` tags with the highest mean probability over the clip are shown, the most likely
    on top (:func:`bag_of_songs.analysis.top_tags` lists them). The colours run from 0 to ``vmax``,
    by default the largest probability shown (tag probabilities of a clip often stay far below 1,
    and a scale to 1 would leave them all dark); the colour bar's label states the scale.

    Used in ``notebooks/5-pretrained-embeddings.ipynb`` with
    :func:`bag_of_songs.musicnn.musicnn_features` (``layer="taggram"``) and
    :func:`bag_of_songs.musicnn.musicnn_tags`.

    Parameters
    ----------
    taggram : np.ndarray [shape=(n_patches, n_tags)]
    tags : sequence of str [length n_tags]
    top : int
    patch_seconds : float
        Seconds per patch (musicnn: 3 s, without overlap).
    ax : matplotlib.axes.Axes, optional
    colorbar : bool
    vmax : float, optional
        The probability of the brightest colour (default: the largest shown). Give the same
        value to several taggrams to compare their colours.
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
        Its y tick labels are the tags shown, most likely first (top row).

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> taggram = np.array([[0.9, 0.1, 0.5], [0.7, 0.3, 0.5]])  # 2 patches of 3 s, 3 tags
    >>> ax = plot_taggram(taggram, ["rock", "pop", "jazz"], top=2, ax=Figure().subplots())
    >>> [t.get_text() for t in ax.get_yticklabels()], float(ax.get_xlim()[1])  # 2 patches
    (['rock', 'jazz'], 6.0)
    """
    best = top_tags(taggram, tags, n=top)
    index = [list(map(str, tags)).index(t) for t in best["tag"]]
    data = np.asarray(taggram, dtype=float)[:, index].T  # (top, n_patches), most likely first
    ax = _axes(ax, figsize=(8, 0.25 * len(index) + 1.2))
    n_patches = data.shape[1]
    largest = float(np.nanmax(data)) if data.size else 1.0
    scale = vmax if vmax is not None else (largest if largest > 0 else 1.0)
    img = ax.imshow(data, aspect="auto", cmap="viridis", vmin=0, vmax=scale, origin="upper",
                    interpolation="nearest",
                    extent=(0, n_patches * patch_seconds, len(index) - 0.5, -0.5))
    ax.set_yticks(range(len(index)), list(best["tag"]))
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel("Time (s): one column per 3 s patch" if patch_seconds == 3.0 else "Time (s)")
    if colorbar:
        what = ", the largest shown" if vmax is None else ""
        ax.figure.colorbar(img, ax=ax, pad=0.01).set_label(
            f"Tag probability\n(scale 0 to {scale:.2f}{what})", fontsize=8)
    if title:
        ax.set_title(title)
    return ax
