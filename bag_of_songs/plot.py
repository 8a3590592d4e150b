"""Figures for the three notebooks: signals, frame features, corpora, feature tables, models.

Used in ``notebooks/1-data-preparation.ipynb``, ``notebooks/2-features-explanation.ipynb`` and
``notebooks/3-models-prediction.ipynb``.

Every function takes the data it draws plus an optional ``ax=`` (or ``fig=`` / ``axes=`` for
figures of several panels) and returns what it drew on, so that notebooks compose multi-panel
figures from them (as libfmp's plot helpers do). Time axes are in seconds: frame ``k`` of a
frame-level feature is centred on sample ``k * H``, at ``k * H / sr`` seconds, with
``H = HOP_LENGTH = 512`` and ``sr = SAMPLE_RATE = 22050`` unless given.

Nothing happens on import: no ``rcParams`` changes, no seaborn theme. matplotlib, seaborn and
``librosa.display`` only.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .data import HOP_LENGTH, LEVELS, SAMPLE_RATE

__all__ = [
    "FEATURE_LABELS",
    "save_figure",
    "plot_waveform",
    "plot_envelope",
    "plot_frame_feature",
    "plot_spectrum",
    "plot_spectrogram",
    "plot_chromagram",
    "plot_mfcc",
    "plot_class_balance",
    "plot_feature_boxplots",
    "plot_correlation",
    "plot_feature_ranking",
    "plot_training_history",
    "plot_confusion_matrix",
    "plot_confusion_matrices",
    "plot_results",
    "plot_probabilities",
]

#: Title and y-axis label of each frame-level feature of
#: :func:`bag_of_songs.features.compute_frame_features`.
FEATURE_LABELS = {
    "envelope": ("Amplitude envelope", "Amplitude"),
    "rms": ("Root-mean-square energy", "RMS"),
    "zcr": ("Zero-crossing rate", "Crossings per sample"),
    "ber": ("Band-energy ratio (split at 2,000 Hz)", "Power below / above"),
    "spec_cent": ("Spectral centroid", "Frequency (Hz)"),
    "spec_bw": ("Spectral bandwidth", "Frequency (Hz)"),
    "rolloff": ("Spectral roll-off (85 %)", "Frequency (Hz)"),
}

#: Features whose frame series span decades and read best on a logarithmic axis.
_LOG_FEATURES = ("ber",)

#: The non-feature columns of a feature table.
_NON_FEATURES = ("audio_file", "source", "label", *LEVELS)

_MODEL_NAMES = {"mlp": "MLP", "svc": "SVC", "rf": "Random forest"}


# ---------------------------------------------------------------------------------------------
# Helpers


def _axes(ax=None, figsize=(8, 3)):
    """``ax``, or the axes of a new figure."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

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


def _frame_times(n_frames: int, sr: int, hop_length: int) -> np.ndarray:
    """Centre time in seconds of frames 0..n_frames-1: ``k * H / sr``."""
    return np.arange(n_frames) * hop_length / sr


def _as_series(values, label=None) -> dict[str, np.ndarray]:
    """One array, or a mapping label -> array, as a dict label -> 1-D array."""
    if isinstance(values, Mapping):
        return {str(k): np.asarray(v).ravel() for k, v in values.items()}
    return {label if label is not None else "": np.asarray(values).ravel()}


def _feature_columns(table: pd.DataFrame, features: Sequence[str] | None) -> list[str]:
    if features is not None:
        missing = [f for f in features if f not in table.columns]
        if missing:
            raise ValueError(f"feature column(s) not in the table: {missing}")
        return list(features)
    return [c for c in table.columns
            if c not in _NON_FEATURES and pd.api.types.is_numeric_dtype(table[c])]


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 100, quantize: bool = True
                ) -> Path:
    """Save a figure (e.g. for the README), creating the folder if needed.

    Used by all three notebooks when ``SAVE_FIGURES`` is on.

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
    """
    fig = getattr(fig, "figure", fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (quantize and path.suffix.lower() == ".png"):
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        return path
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    buf.seek(0)
    with Image.open(buf) as im:
        palette = im.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE,
                                             dither=Image.Dither.NONE)
    palette.save(path, format="PNG", optimize=True)
    return path


# ---------------------------------------------------------------------------------------------
# Signals (notebooks 1 and 2)


def plot_waveform(y: np.ndarray, *, sr: int = SAMPLE_RATE, ax=None, title: str | None = None,
                  color: str = "tab:gray", label: str | None = "waveform s(i)"):
    """The waveform :math:`s(i)` against time in seconds.

    Used in ``notebooks/1-data-preparation.ipynb`` (a homogenised clip) and
    ``notebooks/2-features-explanation.ipynb`` (with :func:`plot_envelope` on top).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal.
    sr : int
        Sampling rate in Hz (22,050).
    ax : matplotlib.axes.Axes, optional
    title : str, optional
    color : str
    label : str, optional
        Legend entry.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = _axes(ax)
    y = np.asarray(y).ravel()
    t = np.arange(len(y)) / sr
    ax.plot(t, y, color=color, linewidth=0.3, label=label)
    ax.set_xlim(0, len(y) / sr)
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Amplitude")
    if title:
        ax.set_title(title)
    return ax


def plot_envelope(envelope: np.ndarray, *, sr: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH,
                  ax=None, color: str = "tab:red", label: str | None = "amplitude envelope",
                  title: str | None = None):
    """An amplitude envelope (one value per frame), e.g. over its waveform.

    Used in ``notebooks/2-features-explanation.ipynb`` with
    :func:`bag_of_songs.features.amplitude_envelope`.

    Parameters
    ----------
    envelope : np.ndarray [shape=(t,)]
        :math:`AE_k` for frames ``k = 0..t-1`` (frame ``k`` centred at ``k H / sr`` s).
    sr, hop_length : int
        Sampling rate and hop H.
    ax : matplotlib.axes.Axes, optional
        Typically the axes of :func:`plot_waveform`.
    color : str
    label : str, optional
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = _axes(ax)
    envelope = np.asarray(envelope).ravel()
    ax.plot(_frame_times(len(envelope), sr, hop_length), envelope, color=color, linewidth=1.0,
            label=label)
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Amplitude")
    if label:
        _legend_outside(ax)
    if title:
        ax.set_title(title)
    return ax


def plot_frame_feature(values, *, name: str | None = None, sr: int = SAMPLE_RATE,
                       hop_length: int = HOP_LENGTH, ax=None, title: str | None = None,
                       ylabel: str | None = None, label: str | None = None,
                       log: bool | None = None, colors: Sequence[str] | None = None):
    """A frame-level feature over time; several examples overlaid for comparison.

    Used in ``notebooks/2-features-explanation.ipynb`` for RMS, ZCR, BER, spectral centroid,
    bandwidth and roll-off.

    Parameters
    ----------
    values : np.ndarray [shape=(t,)] or mapping label -> np.ndarray [shape=(t,)]
        One series, or one per example (e.g. ``{"Classic": rms_a, "Non_classic": rms_b}``),
        frame ``k`` centred at ``k H / sr`` seconds.
    name : str, optional
        A key of :data:`FEATURE_LABELS` (``"rms"``, ``"zcr"``, ``"ber"``, ``"spec_cent"``,
        ``"spec_bw"``, ``"rolloff"``): sets the default title, y label and scale.
    sr, hop_length : int
        Sampling rate and hop H.
    ax : matplotlib.axes.Axes, optional
    title, ylabel : str, optional
        Override the defaults from ``name``.
    label : str, optional
        Legend entry when ``values`` is one array.
    log : bool, optional
        Logarithmic y axis (default: only for ``"ber"``, whose ratio spans decades; frames
        with a ratio of 0 are left out of a log axis).
    colors : sequence of str, optional
        One colour per series.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = _axes(ax)
    series = _as_series(values, label)
    default_title, default_ylabel = FEATURE_LABELS.get(name, (name or "", "Value"))
    colors = list(colors) if colors is not None else [f"C{i}" for i in range(len(series))]
    for (lab, x), c in zip(series.items(), colors, strict=False):
        ax.plot(_frame_times(len(x), sr, hop_length), x, linewidth=0.8, color=c,
                label=lab or None, alpha=0.85)
    if log if log is not None else name in _LOG_FEATURES:
        ax.set_yscale("log", nonpositive="mask")
    ax.set_xlim(0, max(len(x) for x in series.values()) * hop_length / sr)
    ax.set_xlabel("Time (s)")
    ax.set_ylabel(ylabel or default_ylabel)
    if title or default_title:
        ax.set_title(title or default_title)
    if any(series):
        _legend_outside(ax)
    return ax


def plot_spectrum(y: np.ndarray, *, sr: int = SAMPLE_RATE, ax=None, fmax: float | None = None,
                  db: bool = True, title: str | None = None, color: str = "tab:blue"):
    r"""The magnitude spectrum of a whole signal, by the discrete Fourier transform.

    .. math:: |X(n)| = \left|\sum_{i=0}^{N-1} s(i)\, e^{-2\pi \mathrm{j}\, n i / N}\right|,
              \quad f(n) = n \cdot sr / N

    Used in ``notebooks/2-features-explanation.ipynb`` (the frequency domain, before framing).

    Parameters
    ----------
    y : np.ndarray [shape=(N,)]
    sr : int
    ax : matplotlib.axes.Axes, optional
    fmax : float, optional
        Highest frequency shown in Hz (default: the Nyquist frequency ``sr / 2``).
    db : bool
        Magnitude in dB relative to the peak (floored at -100 dB) rather than linear.
    title : str, optional
    color : str

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = _axes(ax)
    y = np.asarray(y, dtype=np.float64).ravel()
    mag = np.abs(np.fft.rfft(y))
    freq = np.fft.rfftfreq(len(y), d=1.0 / sr)
    if db:
        mag = 20 * np.log10(np.maximum(mag, 1e-10) / max(mag.max(), 1e-10))
        mag = np.maximum(mag, -100.0)
    ax.plot(freq, mag, color=color, linewidth=0.4)
    ax.set_xlim(0, fmax if fmax is not None else sr / 2)
    ax.set_xlabel("Frequency (Hz)")
    ax.set_ylabel("Magnitude (dB re peak)" if db else "Magnitude |X(n)|")
    if title:
        ax.set_title(title)
    return ax


def _specshow(data, *, sr, hop_length, ax, y_axis, cmap, colorbar, cbar_label, **kwargs):
    import librosa.display

    img = librosa.display.specshow(data, sr=sr, hop_length=hop_length, x_axis="s",
                                   y_axis=y_axis, ax=ax, cmap=cmap, **kwargs)
    ax.set_xlabel("Time (s)")
    if colorbar:
        cb = ax.figure.colorbar(img, ax=ax, pad=0.01)
        if cbar_label:
            cb.set_label(cbar_label)
    return img


def plot_spectrogram(S: np.ndarray, *, sr: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH,
                     ax=None, y_axis: str = "log", db: bool = True, colorbar: bool = True,
                     title: str | None = None, fmax: float | None = None):
    """A magnitude spectrogram :math:`m_k(n)` in dB, time in seconds against frequency.

    Used in ``notebooks/2-features-explanation.ipynb`` with
    :func:`bag_of_songs.features.compute_spectrogram`.

    Parameters
    ----------
    S : np.ndarray [shape=(1 + F // 2, t)]
        **Magnitude** spectrogram.
    sr, hop_length : int
        Sampling rate and hop H.
    ax : matplotlib.axes.Axes, optional
    y_axis : {"log", "linear", "hz"}
        Frequency axis scale (``librosa.display.specshow``).
    db : bool
        Convert to dB relative to the spectrogram's peak (80 dB range).
    colorbar : bool
    title : str, optional
    fmax : float, optional
        Highest frequency shown in Hz.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    import librosa

    ax = _axes(ax)
    data = librosa.amplitude_to_db(S, ref=np.max, top_db=80.0) if db else np.asarray(S)
    _specshow(data, sr=sr, hop_length=hop_length, ax=ax, y_axis=y_axis, cmap="magma",
              colorbar=colorbar, cbar_label="dB re peak" if db else "Magnitude")
    ax.set_ylabel("Frequency (Hz)")
    if fmax is not None:
        ax.set_ylim(top=fmax)
    if title:
        ax.set_title(title)
    return ax


def plot_chromagram(C: np.ndarray, *, sr: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH,
                    ax=None, colorbar: bool = True, title: str | None = None):
    """A chromagram: the energy of the 12 pitch classes C..B per frame (frame maximum = 1).

    Used in ``notebooks/2-features-explanation.ipynb`` with
    :func:`bag_of_songs.features.chroma`.

    Parameters
    ----------
    C : np.ndarray [shape=(12, t)]
    sr, hop_length : int
    ax : matplotlib.axes.Axes, optional
    colorbar : bool
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = _axes(ax)
    _specshow(np.asarray(C), sr=sr, hop_length=hop_length, ax=ax, y_axis="chroma",
              cmap="gray_r", colorbar=colorbar, cbar_label="Relative energy", vmin=0, vmax=1)
    ax.set_ylabel("Pitch class")
    if title:
        ax.set_title(title)
    return ax


def plot_mfcc(M: np.ndarray, *, sr: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH, ax=None,
              colorbar: bool = True, title: str | None = None, vmax: float | None = None):
    """MFCCs per frame: coefficient 1 (loudness) at the bottom, higher ones (finer timbre) above.

    Used in ``notebooks/2-features-explanation.ipynb`` with :func:`bag_of_songs.features.mfcc`.

    Parameters
    ----------
    M : np.ndarray [shape=(n_mfcc, t)]
    sr, hop_length : int
    ax : matplotlib.axes.Axes, optional
    colorbar : bool
    title : str, optional
    vmax : float, optional
        Colour range ``[-vmax, vmax]`` (default: the largest magnitude of coefficients 2..n,
        so the first coefficient, far larger, does not wash out the others). Pass the same
        value to compare two clips.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = _axes(ax)
    M = np.asarray(M)
    if vmax is None:
        rest = M[1:] if len(M) > 1 else M
        vmax = float(np.abs(rest).max()) or 1.0
    _specshow(M, sr=sr, hop_length=hop_length, ax=ax, y_axis=None, cmap="coolwarm",
              colorbar=colorbar, cbar_label="Coefficient value", vmin=-vmax, vmax=vmax)
    n = M.shape[0]
    ticks = np.arange(0, n, max(1, n // 7))
    ax.set_yticks(ticks + 0.5, [str(t + 1) for t in ticks])
    ax.set_ylabel("MFCC")
    if title:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------------------------------------
# Corpus and feature tables (notebooks 1 and 2)


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
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

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


def plot_feature_boxplots(table: pd.DataFrame, *, label_column: str,
                          features: Sequence[str] | None = None, ncols: int = 6, fig=None,
                          points: bool = True):
    """One box plot per feature, its values grouped by class.

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
        Also draw every clip as a dot (helpful for small corpora).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : np.ndarray of matplotlib.axes.Axes [shape=(rows, ncols)]
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    cols = _feature_columns(table, features)
    classes = sorted(table[label_column].astype(str).unique())
    nrows = int(np.ceil(len(cols) / ncols))
    if fig is None:
        fig = plt.figure(figsize=(2.3 * ncols, 2.1 * nrows + 0.5), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    data = table.assign(**{label_column: table[label_column].astype(str)})
    palette = dict(zip(classes, sns.color_palette("tab10", len(classes)), strict=True))
    rotate = 90 if len(classes) > 3 or max(len(c) for c in classes) > 9 else 0
    for ax, col in zip(axes.flat, cols, strict=False):
        sns.boxplot(data=data, x=label_column, y=col, hue=label_column, order=classes,
                    hue_order=classes, palette=palette, ax=ax, showfliers=not points,
                    linewidth=0.8, legend=False)
        if points:
            sns.stripplot(data=data, x=label_column, y=col, order=classes, color="k", size=2,
                          alpha=0.5, ax=ax, jitter=0.2)
        ax.set_title(col, fontsize=8)
        ax.set_xlabel("")
        ax.set_ylabel("")
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
    """
    import seaborn as sns

    cols = _feature_columns(table, features)
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
        Show only the first ``top`` features (None: all).
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    import seaborn as sns

    shown = ranking.head(top) if top else ranking
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
    ax.set_title(title or "Features ranked by how well they separate the classes")
    return ax


# ---------------------------------------------------------------------------------------------
# Models (notebook 3)


def plot_training_history(history: pd.DataFrame, *, best_epoch: int | None = None, fig=None,
                          axes=None):
    """Training and validation loss and accuracy per epoch, with the early-stopping epoch.

    Used in ``notebooks/3-models-prediction.ipynb`` with
    :func:`bag_of_songs.models.train_mlp`.

    Parameters
    ----------
    history : pandas.DataFrame
        Columns ``epoch, train_loss, train_accuracy, val_loss, val_accuracy``;
        ``history.attrs`` may hold ``best_epoch`` and ``stopped_epoch``.
    best_epoch : int, optional
        The epoch whose weights were kept (default: ``history.attrs["best_epoch"]``).
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw two panels in.
    axes : sequence of two matplotlib.axes.Axes, optional
        Loss and accuracy panels.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of two matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if axes is None:
        if fig is None:
            fig = plt.figure(figsize=(10, 3.3), layout="constrained")
        axes = fig.subplots(1, 2)
    axes = list(axes)
    fig = axes[0].figure
    best = best_epoch if best_epoch is not None else history.attrs.get("best_epoch")
    stopped = history.attrs.get("stopped_epoch", int(history["epoch"].max()))
    for ax, what in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(history["epoch"], history[f"train_{what}"], marker=".", label="train")
        if history[f"val_{what}"].notna().any():
            ax.plot(history["epoch"], history[f"val_{what}"], marker=".", label="validation")
        if best is not None:
            ax.axvline(best, color="k", linestyle="--", linewidth=1,
                       label=f"best epoch {best} (stopped at {stopped})")
        ax.set_xlabel("Epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("Loss" if what == "loss" else "Accuracy")
        ax.set_title(f"MLP {what}")
        ax.legend(fontsize="small")
    axes[1].set_ylim(-0.02, 1.02)
    return fig, axes


def plot_confusion_matrix(cm, classes: Sequence[str] | None = None, *, ax=None,
                          normalize: bool = False, title: str | None = None,
                          cmap: str = "Blues", colorbar: bool = False):
    """A confusion matrix: true classes in rows, predicted classes in columns.

    Used in ``notebooks/3-models-prediction.ipynb`` with :func:`bag_of_songs.models.evaluate`.

    Parameters
    ----------
    cm : array-like [shape=(c, c)] or dict
        Counts, or the dict returned by ``evaluate`` (its ``confusion_matrix`` and
        ``classes`` are used).
    classes : sequence of str, optional
        Class names in the order of ``cm`` (taken from the dict when ``cm`` is one).
    ax : matplotlib.axes.Axes, optional
    normalize : bool
        Show each row as fractions of that true class.
    title : str, optional
    cmap : str
    colorbar : bool

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    import seaborn as sns

    if isinstance(cm, Mapping):
        classes = classes if classes is not None else cm["classes"]
        cm = cm["confusion_matrix"]
    cm = np.asarray(cm, dtype=float)
    if classes is None:
        classes = [str(i) for i in range(len(cm))]
    n = len(classes)
    ax = _axes(ax, figsize=_cm_size(classes))
    if normalize:
        totals = cm.sum(axis=1, keepdims=True)
        data, fmt = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0), ".2f"
    else:
        data, fmt = cm, ".0f"
    sns.heatmap(data, annot=n <= 20, fmt=fmt, cmap=cmap, cbar=colorbar, ax=ax, square=True,
                xticklabels=classes, yticklabels=classes, vmin=0,
                vmax=1 if normalize else None, annot_kws={"fontsize": 8})
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.tick_params(axis="y", rotation=0)
    if n > 2 or max(map(len, classes)) > 9:
        ax.tick_params(axis="x", rotation=45)
        for t in ax.get_xticklabels():
            t.set_horizontalalignment("right")
            t.set_rotation_mode("anchor")
    if title:
        ax.set_title(title)
    return ax


def _cm_size(classes) -> tuple[float, float]:
    """Figure size (inches) of one confusion matrix: 0.55 in per class plus room for names."""
    n, longest = len(classes), max((len(str(c)) for c in classes), default=1)
    return 0.6 + 0.07 * longest + 0.55 * n, 0.9 + 0.05 * longest + 0.55 * n


def plot_confusion_matrices(metrics: Mapping[str, Mapping], *, normalize: bool = False,
                            fig=None, title: str | None = None):
    """Confusion matrices of several models side by side, on the same classes.

    Used in ``notebooks/3-models-prediction.ipynb`` to compare the MLP, SVC and random forest.

    Parameters
    ----------
    metrics : mapping model name -> dict
        What :func:`bag_of_songs.models.evaluate` returns for each model.
    normalize : bool
        Show each row as fractions of that true class.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw in.
    title : str, optional
        Title over all panels.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if not metrics:
        raise ValueError("no metrics to plot")
    classes = next(iter(metrics.values()))["classes"]
    if fig is None:
        w, h = _cm_size(classes)
        fig = plt.figure(figsize=(w * len(metrics), h + (0.3 if title else 0.0)),
                         layout="constrained")
    axes = list(fig.subplots(1, len(metrics), squeeze=False)[0])
    for i, (ax, (name, m)) in enumerate(zip(axes, metrics.items(), strict=True)):
        plot_confusion_matrix(m, ax=ax, normalize=normalize, title=name)
        if i:
            ax.set_ylabel("")
    if title:
        fig.suptitle(title)
    return fig, axes


def plot_results(results: pd.DataFrame, *, metrics: Sequence[str] = ("accuracy", "f1_macro"),
                 fig=None, axes=None):
    """Test scores per label level and model, one panel per metric.

    Used in ``notebooks/3-models-prediction.ipynb`` with
    :func:`bag_of_songs.models.compare_models`.

    Parameters
    ----------
    results : pandas.DataFrame
        Columns ``level, model`` and the ``metrics`` (scores in [0, 1]).
    metrics : sequence of str
    fig : matplotlib.figure.Figure, optional
    axes : sequence of matplotlib.axes.Axes, optional
        One per metric.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    metrics = list(metrics)
    if axes is None:
        if fig is None:
            n_levels = results["level"].nunique()
            fig = plt.figure(figsize=(max(5.0, 2.2 * n_levels + 1.5) * len(metrics) / 1.6, 3.5),
                             layout="constrained")
        axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    axes = list(axes)
    fig = axes[0].figure
    data = results.assign(model=results["model"].map(lambda m: _MODEL_NAMES.get(m, m)))
    names = {"accuracy": ("Accuracy", "Test accuracy"), "f1_macro": ("Macro F1", "Test macro F1"),
             "f1": ("F1", "Test F1")}
    for ax, metric in zip(axes, metrics, strict=True):
        sns.barplot(data=data, x="level", y=metric, hue="model", ax=ax, palette="Set2")
        for container in ax.containers:
            ax.bar_label(container, fmt="%.2f", fontsize=7, padding=1)
        ax.set_ylim(0, 1.12)
        ax.set_xlabel("Label level")
        ylabel, title = names.get(metric, (metric, f"Test {metric}"))
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.get_legend().remove()
    _legend_outside(axes[-1], title="model")
    return fig, axes


def plot_probabilities(probabilities: Mapping[str, float], *, ax=None,
                       top: int | None = None, title: str | None = None):
    """A model's class probabilities for one file, the most likely class highlighted.

    Used in ``notebooks/3-models-prediction.ipynb`` with
    :func:`bag_of_songs.models.predict_file`.

    Parameters
    ----------
    probabilities : mapping class -> probability
    ax : matplotlib.axes.Axes, optional
    top : int, optional
        Show only the ``top`` most likely classes.
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    items = sorted(probabilities.items(), key=lambda kv: -kv[1])[: top or None]
    ax = _axes(ax, figsize=(6, 0.35 * len(items) + 1.2))
    names = [str(k) for k, _ in items][::-1]
    values = [float(v) for _, v in items][::-1]
    colors = ["tab:gray"] * (len(items) - 1) + ["tab:orange"] if items else []
    bars = ax.barh(names, values, color=colors)
    ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=2)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("Probability")
    if title:
        ax.set_title(title)
    return ax
