"""What every figure module of :mod:`bag_of_songs.plot` shares: axes, legends, saving.

:func:`save_figure` (used by every notebook), a new axes when none is given, the legend beside
the axes, ``librosa.display.specshow`` with a time axis in seconds, the grid of a figure of
several panels, and the spelled-out model names of titles and legends.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib.pyplot as plt
from PIL import Image

from .._librosa import load_librosa

__all__ = ["save_figure"]


#: How titles and legends spell the model kinds of ``models`` and ``cnn``.
_MODEL_NAMES = {"mlp": "MLP", "svc": "SVC", "rf": "Random forest", "logreg": "LogReg", "lda": "LDA",
                "linsvc": "Linear SVC", "cnn": "CNN", "hybrid": "Hybrid"}


def _axes(ax=None, figsize=(8, 3)):
    """``ax``, or the axes of a new figure."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _legend_outside(ax, **kwargs):
    """A legend to the right of the axes, where it cannot hide data."""
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                       fontsize="small", frameon=False, **kwargs)
    for handle in legend.legend_handles:  # thin plot lines make faint legend keys
        if hasattr(handle, "set_linewidth") and hasattr(handle, "get_xdata"):
            handle.set_linewidth(max(handle.get_linewidth(), 1.5))
    return legend


def _specshow(data, *, sr, hop_length, ax, y_axis, cmap, colorbar, cbar_label, **kwargs):
    """``librosa.display.specshow`` with time in seconds, and a labelled colour bar if asked."""
    load_librosa()
    import librosa.display  # after load_librosa: its numba caches are filled under the lock

    img = librosa.display.specshow(data, sr=sr, hop_length=hop_length, x_axis="s",
                                   y_axis=y_axis, ax=ax, cmap=cmap, **kwargs)
    ax.set_xlabel("Time (s)")
    if colorbar:
        cb = ax.figure.colorbar(img, ax=ax, pad=0.01)
        if cbar_label:
            cb.set_label(cbar_label)
    return img


def _grid_shape(n: int, max_cols: int) -> tuple[int, int]:
    """(rows, columns) of a grid of ``n`` panels with at most ``max_cols`` per row."""
    if max_cols < 1:
        raise ValueError(f"max_cols must be at least 1, not {max_cols}")
    cols = min(n, max_cols)
    return -(-n // cols), cols


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 100, quantize: bool = True
                ) -> Path:
    """Save a figure (e.g. for the README), creating the folder if needed.

    Used by every notebook when ``SAVE_FIGURES`` is on.

    Parameters
    ----------
    fig : matplotlib.figure.Figure or matplotlib.axes.Axes
        The figure (or any of its axes).
    path : path-like
        Output file; its ending picks the format (``.png``, ``.svg``, ``.pdf``...).
    dpi : int
        Resolution of raster formats.
    quantize : bool
        For PNG: reduce to a palette of 256 colours (Pillow, no dithering), which looks the
        same for plots and keeps a spectrogram of 1,000 x 650 pixels under 200 KB.

    Returns
    -------
    path : Path

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(3, 2))
    >>> lines = fig.subplots().plot([0, 1], [1, 0])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save_figure(fig, Path(tmp) / "img" / "line.png")
    ...     print(path.name, path.stat().st_size > 0)
    line.png True
    """
    fig = getattr(fig, "figure", fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (quantize and path.suffix.lower() == ".png"):
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        return path
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    buf.seek(0)
    with Image.open(buf) as im:
        palette = im.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE,
                                             dither=Image.Dither.NONE)
    palette.save(path, format="PNG", optimize=True)
    return path
