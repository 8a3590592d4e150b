"""Figures of notebook 4 (``notebooks/4-spectrogram-cnn.ipynb``): the CNN and the hybrid.

Log-mel spectrograms on one shared dB scale, the late fusion against its weight, a grid of
confusion matrices per level and model, and the clips on which two models disagree. The
numbers come from :func:`bag_of_songs.analysis.fusion_curve` and
:func:`bag_of_songs.analysis.rank_disagreements`; no model code is imported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from ..data import HOP_LENGTH, SAMPLE_RATE
from ._common import _grid_shape, _specshow
from .models import confusion_matrix_size, plot_confusion_matrices

__all__ = [
    "plot_log_mels",
    "plot_fusion_weight",
    "plot_confusion_matrices_by_level",
    "plot_disagreements",
]


def plot_log_mels(log_mels: Mapping[str, np.ndarray], *, sr: int = SAMPLE_RATE,
                  hop_length: int = HOP_LENGTH, crop_frames: int | None = None,
                  top_db: float = 80.0, fig=None, axes=None, title: str | None = None):
    """Log-mel spectrograms side by side (e.g. one clip per class), on one shared dB scale.

    Every panel uses the same colour limits (the highest value of all panels and ``top_db``
    below it), so a darker panel is a quieter clip and the brightness of a band can be compared
    across classes: the absolute dB values are what the CNN sees, after one global shift and
    scale. With ``crop_frames``, a white box marks the first crop of that many frames: the
    window the CNN classifies at a time.

    Used in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1) with
    :func:`bag_of_songs.cnn.log_mel_cache` or :func:`bag_of_songs.cnn.clip_log_mel`.

    Parameters
    ----------
    log_mels : mapping name -> np.ndarray [shape=(n_mels, t)]
        dB values (e.g. ``{"Rock": S_db, ...}``); the names become the panel titles.
    sr, hop_length : int
        Sampling rate and hop H of the spectrograms (time axis in seconds; mel axis in Hz up
        to ``sr / 2``).
    crop_frames : int, optional
        Frames of a training crop (129 = 3.0 s) to outline on each panel.
    top_db : float
        Range of the colour scale below the highest value (80 dB, the front end's floor).
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw in (one row of panels, or two when there are more than four).
    axes : sequence of matplotlib.axes.Axes, optional
        One per spectrogram.
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes

    Raises
    ------
    ValueError
        When there is nothing to plot or a spectrogram is not 2-D.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> rng = np.random.default_rng(0)
    >>> mels = {"Classic": -40 + 10 * rng.standard_normal((96, 300)),
    ...         "Rock": -10 + 10 * rng.standard_normal((96, 300))}
    >>> fig, axes = plot_log_mels(mels, crop_frames=129, fig=Figure(layout="constrained"))
    >>> vmin, vmax = axes[0].collections[0].get_clim()
    >>> round(vmax - vmin, 1)  # one 80 dB scale for every panel
    80.0
    """
    specs = {str(k): np.asarray(v, dtype=np.float32) for k, v in log_mels.items()}
    if not specs:
        raise ValueError("no spectrograms to plot")
    bad = [k for k, v in specs.items() if v.ndim != 2]
    if bad:
        raise ValueError(f"spectrograms must be 2-D (n_mels, t); not: {bad}")
    n = len(specs)
    if axes is None:
        n_cols = n if n <= 4 else int(np.ceil(n / 2))
        n_rows = int(np.ceil(n / n_cols))
        if fig is None:
            fig = plt.figure(figsize=(3.6 * n_cols + 0.8, 2.9 * n_rows + 0.3),
                             layout="constrained")
        grid = fig.subplots(n_rows, n_cols, squeeze=False, sharey=True)
        axes = list(grid.ravel())
        for ax in axes[n:]:
            ax.set_visible(False)
        axes = axes[:n]
    axes = list(axes)
    if len(axes) != n:
        raise ValueError(f"need {n} axes, got {len(axes)}")
    fig = axes[0].figure
    vmax = float(max(v.max() for v in specs.values()))
    vmin = vmax - float(top_db)
    img = None
    for i, (ax, (name, S)) in enumerate(zip(axes, specs.items(), strict=True)):
        img = _specshow(S, sr=sr, hop_length=hop_length, ax=ax, y_axis="mel", cmap="magma",
                        colorbar=False, cbar_label=None, vmin=vmin, vmax=vmax, fmax=sr / 2)
        ax.set_title(name)
        spec = ax.get_subplotspec()
        first = spec.is_first_col() if spec is not None else i == 0
        ax.set_ylabel("Frequency (Hz, mel scale)" if first else "")
        if crop_frames is not None and crop_frames <= S.shape[1]:
            ax.add_patch(Rectangle((0.0, 0.0), crop_frames * hop_length / sr, sr / 2,
                                   fill=False, edgecolor="white", linewidth=1.5,
                                   linestyle="--",
                                   label=f"one crop ({crop_frames * hop_length / sr:.1f} s)"))
    if crop_frames is not None:
        axes[0].legend(loc="upper right", fontsize="x-small", framealpha=0.6)
    cb = fig.colorbar(img, ax=axes, pad=0.01, shrink=0.9)
    cb.set_label("dB (10 log10 of mel power)")
    if title:
        fig.suptitle(title)
    return fig, axes


def plot_fusion_weight(curve: pd.DataFrame, *, chosen: float | None = None,
                       names: Sequence[str] = ("CNN", "MLP"), fig=None, axes=None,
                       title: str | None = None):
    """Late fusion against its weight: the log-loss it is chosen on, and the macro F1.

    Two panels over the weight ``w`` of the first model (0: the second model alone, 1: the
    first alone): the log-loss (what :func:`bag_of_songs.cnn.choose_fusion_weight` minimises)
    and the accuracy and macro F1, with the chosen weight marked.

    Used in ``notebooks/4-spectrogram-cnn.ipynb`` (section 4) with
    :func:`bag_of_songs.analysis.fusion_curve` of the validation clips.

    Parameters
    ----------
    curve : pandas.DataFrame
        Columns ``weight, log_loss, accuracy, f1_macro``
        (:func:`bag_of_songs.analysis.fusion_curve`).
    chosen : float, optional
        The weight chosen (a dashed line).
    names : sequence of two str
        The two models, first the one weighted by ``w``.
    fig : matplotlib.figure.Figure, optional
    axes : sequence of two matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of two matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from bag_of_songs.analysis import fusion_curve
    >>> p_cnn = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> p_mlp = np.array([[0.4, 0.6], [0.7, 0.3]])
    >>> curve = fusion_curve(p_cnn, p_mlp, [0, 1])
    >>> fig, axes = plot_fusion_weight(curve, chosen=0.7, fig=Figure(layout="constrained"))
    >>> axes[0].get_title()
    'CNN + MLP late fusion: log-loss'
    """
    missing = [c for c in ("weight", "log_loss", "accuracy", "f1_macro") if c not in curve]
    if missing:
        raise ValueError(f"the curve lacks column(s) {missing}")
    a, b = (str(x) for x in names)
    if axes is None:
        if fig is None:
            fig = plt.figure(figsize=(10, 3.3), layout="constrained")
        axes = fig.subplots(1, 2)
    axes = list(axes)
    fig = axes[0].figure
    w = curve["weight"].to_numpy(dtype=float)
    axes[0].plot(w, curve["log_loss"], marker=".", color="C3", label="log-loss")
    axes[0].set_ylabel("Log-loss (lower is better)")
    axes[1].plot(w, curve["f1_macro"], marker=".", color="C0", label="macro F1")
    axes[1].plot(w, curve["accuracy"], marker=".", color="C1", linestyle=":",
                 label="accuracy")
    axes[1].set_ylim(-0.02, 1.05)
    axes[1].set_ylabel("Score")
    for ax in axes:
        if chosen is not None:
            ax.axvline(chosen, color="k", linestyle="--", linewidth=1,
                       label=f"chosen w = {chosen:.1f}")
        ax.set_xlim(-0.03, 1.03)
        ax.set_xlabel(f"Weight w of the {a} (0 = {b} alone, 1 = {a} alone)")
        ax.legend(fontsize="small")
    axes[0].set_title(f"{a} + {b} late fusion: log-loss")
    axes[1].set_title(f"{a} + {b} late fusion: macro F1 and accuracy")
    if title:
        fig.suptitle(title)
    return fig, axes


def plot_confusion_matrices_by_level(metrics: Mapping[str, Mapping[str, Mapping]], *,
                                     normalize: bool = False, fig=None,
                                     title: str | None = None, max_cols: int = 3):
    """A grid of confusion matrices: one block per label level, one panel per model.

    Each block is :func:`plot_confusion_matrices` of that level's models (at most
    ``max_cols`` per row, so five models take two rows), drawn in a subfigure whose height
    follows the level's number of classes and rows, so a 2-class and a 4-class level are both
    readable in one figure at a notebook's width.

    Used in ``notebooks/4-spectrogram-cnn.ipynb`` (section 5) to compare the feature models,
    the CNN and the hybrid on every level.

    Parameters
    ----------
    metrics : mapping level -> (mapping model name -> dict)
        What :func:`bag_of_songs.models.evaluate` returns, per level and model.
    normalize : bool
        Show each row as fractions of that true class.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw in.
    title : str, optional
    max_cols : int
        Panels per row at most.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of lists of matplotlib.axes.Axes
        ``axes[i][j]``: level ``i``, model ``j``.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> fst = {"classes": ["Classic", "Non_classic"], "confusion_matrix": [[5, 1], [2, 4]]}
    >>> label = {"classes": ["a", "b", "c"], "confusion_matrix": np.eye(3, dtype=int)}
    >>> fig, axes = plot_confusion_matrices_by_level(
    ...     {"fst_level_label": {"MLP": fst, "CNN": fst}, "label": {"MLP": label, "CNN": label}},
    ...     fig=Figure(layout="constrained"))
    >>> [[ax.get_title() for ax in row] for row in axes]
    [['MLP', 'CNN'], ['MLP', 'CNN']]
    """
    if not metrics or not all(metrics.values()):
        raise ValueError("no metrics to plot (every level needs at least one model)")
    sizes = [confusion_matrix_size(next(iter(m.values()))["classes"], min_side=2.4)
             for m in metrics.values()]
    shapes = [_grid_shape(len(m), max_cols) for m in metrics.values()]
    heights = [h * rows + 0.35 for (_, h), (rows, _) in zip(sizes, shapes, strict=True)]
    if fig is None:
        width = max(w * cols for (w, _), (_, cols) in zip(sizes, shapes, strict=True))
        fig = plt.figure(figsize=(width, sum(heights) + (0.3 if title else 0.0)),
                         layout="constrained")
    subfigs = fig.subfigures(len(metrics), 1, squeeze=False, height_ratios=heights)[:, 0]
    axes = []
    for sub, (level, models) in zip(subfigs, metrics.items(), strict=True):
        _, row = plot_confusion_matrices(models, normalize=normalize, fig=sub,
                                         title=f"Test split, {level}", max_cols=max_cols)
        axes.append(row)
    if title:
        fig.suptitle(title)
    return fig, axes


def plot_disagreements(table: pd.DataFrame, log_mels: Sequence[np.ndarray], *,
                       names: Sequence[str] = ("CNN", "SVC"), sr: int = SAMPLE_RATE,
                       hop_length: int = HOP_LENGTH, top_db: float = 80.0, fig=None,
                       title: str | None = None):
    """The log-mel spectrograms of a few clips, each titled with both models' answers.

    One panel per row of ``table`` (e.g. the head of
    :func:`bag_of_songs.analysis.rank_disagreements`), on one shared dB scale as
    :func:`plot_log_mels`; each title names the clip and its annotated class, then on one line per
    model its class and probability, marked "right" or "wrong" when the truth is known.

    Used in ``notebooks/4-spectrogram-cnn.ipynb`` (section 6).

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of :func:`bag_of_songs.analysis.rank_disagreements` (same ``names``).
    log_mels : sequence of np.ndarray [shape=(n_mels, t)]
        The clips' dB spectrograms, in the order of ``table``'s rows.
    names : sequence of two str
    sr, hop_length : int
    top_db : float
    fig : matplotlib.figure.Figure, optional
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes

    Raises
    ------
    ValueError
        When the table is empty, lacks the models' columns, or has another number of rows
        than ``log_mels``.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from bag_of_songs.analysis import rank_disagreements
    >>> table = rank_disagreements(["a.wav", "b.wav"], np.array([[0.9, 0.1], [0.4, 0.6]]),
    ...                            np.array([[0.2, 0.8], [0.3, 0.7]]),
    ...                            ["Classic", "Non_classic"], [0, 1])
    >>> rng = np.random.default_rng(0)
    >>> mels = [-20 + 10 * rng.standard_normal((96, 200)) for _ in range(2)]
    >>> fig, axes = plot_disagreements(table, mels, fig=Figure(layout="constrained"))
    >>> print(axes[0].get_title())
    a.wav, true Classic
    CNN: Classic (0.90) right
    SVC: Non_classic (0.80) wrong
    """
    a, b = (str(x).lower() for x in names)
    missing = [c for c in ("audio_file", a, f"{a}_p", b, f"{b}_p") if c not in table.columns]
    if missing:
        raise ValueError(f"the table lacks column(s) {missing} (from rank_disagreements with "
                         f"names={tuple(names)}?)")
    if table.empty or len(table) != len(log_mels):
        raise ValueError(f"need one spectrogram per row: {len(table)} rows, {len(log_mels)} "
                         "spectrograms")

    def verdict(row, key):
        right = row.get(f"{key}_right")
        return "" if right is None or right != right else (" right" if right else " wrong")

    panels = {}
    for row, S in zip(table.to_dict("records"), log_mels, strict=True):
        truth = f", true {row['true']}" if "true" in row else ""
        label = (f"{Path(str(row['audio_file'])).name}{truth}\n{names[0]}: {row[a]} "
                 f"({row[f'{a}_p']:.2f}){verdict(row, a)}\n{names[1]}: {row[b]} "
                 f"({row[f'{b}_p']:.2f}){verdict(row, b)}")
        panels[label] = S
    n = len(panels)
    n_cols = min(n, 2)
    n_rows = int(np.ceil(n / n_cols))
    if fig is None:
        fig = plt.figure(figsize=(5.2 * n_cols + 0.8, 3.4 * n_rows + 0.3), layout="constrained")
    grid = list(fig.subplots(n_rows, n_cols, squeeze=False, sharey=True).ravel())
    for ax in grid[n:]:
        ax.set_visible(False)
    fig, axes = plot_log_mels(panels, sr=sr, hop_length=hop_length, top_db=top_db,
                              axes=grid[:n], title=title)
    for ax in axes:
        ax.title.set_fontsize("small")
    return fig, axes
