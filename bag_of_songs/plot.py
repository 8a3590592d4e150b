"""Figures for the notebooks: signals, frame features, corpora, feature tables, models, embeddings.

Used in ``notebooks/1-data-preparation.ipynb``, ``notebooks/2-features-explanation.ipynb``,
``notebooks/3-models-prediction.ipynb`` and ``notebooks/5-pretrained-embeddings.ipynb``.

Every function takes the data it draws plus an optional ``ax=`` (or ``fig=`` / ``axes=`` for
figures of several panels) and returns what it drew on, so that notebooks compose multi-panel
figures from them (as libfmp's plot helpers do). A few small helpers compute what a figure
shows (:func:`spans_decades`, :func:`standardize_rows`, :func:`class_medians`,
:func:`segment_projection`, :func:`top_tags`, :func:`confusion_matrix_size`), so that notebooks
can print the same numbers the figures draw. Time axes are in seconds: frame ``k`` of a
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
    "spans_decades",
    "standardize_rows",
    "class_medians",
    "confusion_matrix_size",
    "segment_projection",
    "top_tags",
    "plot_waveform",
    "plot_envelope",
    "plot_frame_feature",
    "plot_spectrum",
    "plot_spectrogram",
    "plot_chromagram",
    "plot_mfcc",
    "plot_mfccs",
    "plot_segments",
    "plot_class_balance",
    "plot_feature_boxplots",
    "plot_correlation",
    "plot_feature_ranking",
    "plot_training_history",
    "plot_confusion_matrix",
    "plot_confusion_matrices",
    "plot_results",
    "plot_probabilities",
    "plot_level_probabilities",
    "plot_segment_probabilities",
    "plot_taggram",
    "plot_log_mels",
    "fusion_curve",
    "plot_fusion_weight",
    "plot_confusion_matrices_by_level",
    "rank_disagreements",
    "plot_disagreements",
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

_MODEL_NAMES = {"mlp": "MLP", "svc": "SVC", "rf": "Random forest", "logreg": "LogReg", "cnn": "CNN",
                "hybrid": "Hybrid"}

#: A feature table's columns that identify a row of a segment table.
_ID_COLUMNS = ("audio_file", "source", "source_stamp", "segment")


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
    skip = {*_NON_FEATURES, *_ID_COLUMNS, *table.attrs.get("label_columns", ())}
    return [c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])]


def spans_decades(values, *, decades: float = 3.0) -> bool:
    """Whether positive values span more than ``decades`` powers of ten (a log axis reads best).

    The rule :func:`plot_feature_boxplots` uses per panel: a feature whose values are all
    positive and whose largest is more than ``10 ** decades`` times its smallest (e.g. a mean
    band-energy ratio from 3 to 1e7) is drawn on a logarithmic axis, where one outlier can no
    longer flatten every other clip into a line. Values of either sign, zeros, or a narrower
    range keep a linear axis. Non-finite values are ignored.

    Used in ``notebooks/2-features-explanation.ipynb`` (through :func:`plot_feature_boxplots`).

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
    as :func:`plot_mfccs` does) to keep clips comparable.

    Used in ``notebooks/2-features-explanation.ipynb`` (through :func:`plot_mfcc`).

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
    """The median of each feature per class (the lines of :func:`plot_feature_boxplots`' boxes).

    What a class-level statement about a feature should rest on, rather than one example clip
    per class. Notebook 2 phrases its class-level findings from this table.

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
    """
    if label_column not in table.columns:
        raise ValueError(f"no label column {label_column!r} in the table")
    cols = _feature_columns(table, features)
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


def confusion_matrix_size(classes, *, min_side: float = 3.4) -> tuple[float, float]:
    """Figure size (inches) of one confusion matrix: readable for 2 classes and for 16.

    The matrix itself is at least ``min_side`` inches square (340 pixels at the 100 dpi of
    :func:`save_figure`), and 0.5 inch per class beyond that; the class names add room on the
    left and below. So a 2-class matrix saves to about 480 x 420 pixels, a 16-class one to
    about 1,000 x 950.

    Used in ``notebooks/3-models-prediction.ipynb`` (through :func:`plot_confusion_matrix`).

    Parameters
    ----------
    classes : sequence of str
    min_side : float
        Smallest side of the matrix in inches.

    Returns
    -------
    width, height : float
    """
    n = max(1, len(classes))
    longest = max((len(str(c)) for c in classes), default=1)
    side = max(min_side, 0.5 * n)
    names = 0.09 * longest  # about 0.09 in per character at 8-9 pt
    return round(side + 0.6 + names, 2), round(side + 0.7 + 0.07 * longest, 2)


def segment_projection(table: pd.DataFrame, *, label_column: str,
                       features: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Two coordinates per segment row: two features, or the first two principal components.

    With two ``features``, their values. Otherwise all numeric feature columns are
    standardised (each to mean 0, standard deviation 1 over the rows; a column that spans more
    than three decades, :func:`spans_decades`, is first taken as its ``log10``, so that one
    huge band-energy ratio is not a component of its own) and projected on their first two
    principal components (by SVD), so that no feature dominates by its unit.

    Used in ``notebooks/2-features-explanation.ipynb`` (through :func:`plot_segments`).

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
    """
    if label_column not in table.columns or "audio_file" not in table.columns:
        raise ValueError(f"the table needs audio_file and {label_column!r} columns")
    if features is not None:
        features = list(features)
        if len(features) != 2:
            raise ValueError(f"give two features (or None for PCA), got {features}")
        xy = table[_feature_columns(table, features)].to_numpy(dtype=float)
        labels = features
    else:
        cols = _feature_columns(table, None)
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
    """
    T = np.asarray(taggram, dtype=float)
    if T.ndim != 2 or T.shape[1] != len(tags):
        raise ValueError(f"taggram of shape {T.shape} does not match {len(tags)} tags")
    mean = T.mean(axis=0)
    order = np.argsort(-mean, kind="stable")[:n]
    return pd.DataFrame({"tag": [str(tags[i]) for i in order], "probability": mean[order]})


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
              scale: str = "coefficient", mean=None, std=None, colorbar: bool = True,
              title: str | None = None, vmax: float | None = None,
              cbar_label: str | None = None):
    r"""MFCCs per frame: coefficient 1 (level) at the bottom, higher ones (finer timbre) above.

    Row :math:`j` (coefficient :math:`j + 1`) is centred on :math:`y = j + 1`, so the ticks
    1..n label the rows' centres. The coefficients differ in scale by orders of magnitude, so
    by default (``scale="coefficient"``) each is standardised over the frames
    (:func:`standardize_rows`: :math:`z = (x - \mu_j) / \sigma_j`), and the colours show how
    every coefficient varies over time, at -3..3 standard deviations; the colour bar says so.
    ``scale="raw"`` shows the values, with the colour range set by coefficients 2..n
    (coefficient 1, far larger, saturates).

    Used in ``notebooks/2-features-explanation.ipynb`` with :func:`bag_of_songs.features.mfcc`.

    Parameters
    ----------
    M : np.ndarray [shape=(n_mfcc, t)]
    sr, hop_length : int
    ax : matplotlib.axes.Axes, optional
    scale : {"coefficient", "raw"}
    mean, std : np.ndarray [shape=(n_mfcc,)], optional
        With ``scale="coefficient"``: the statistics to standardise with (default: this
        clip's own), e.g. those of two clips together to compare them (:func:`plot_mfccs`).
    colorbar : bool
    title : str, optional
    vmax : float, optional
        Colour range ``[-vmax, vmax]`` (default: 3 standard deviations, or for ``"raw"`` the
        largest magnitude of coefficients 2..n).
    cbar_label : str, optional
        Overrides the colour bar's label (which says how the colours are scaled).

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = _axes(ax)
    M = np.asarray(M, dtype=float)
    if M.ndim != 2:
        raise ValueError(f"expected MFCCs of shape (n_mfcc, frames), got {M.shape}")
    n = M.shape[0]
    if scale == "coefficient":
        data, _, _ = standardize_rows(M, mean=mean, std=std)
        vmax = 3.0 if vmax is None else vmax
        label = ("Standardised per coefficient\n"
                 r"$(MFCC_k(j) - \mu_j)\,/\,\sigma_j$")
    elif scale == "raw":
        data = M
        if vmax is None:
            rest = M[1:] if n > 1 else M
            vmax = float(np.abs(rest).max()) or 1.0
        label = "Coefficient value\n(colour range of coefficients 2..n)"
    else:
        raise ValueError(f"scale must be 'coefficient' or 'raw', got {scale!r}")
    _specshow(data, sr=sr, hop_length=hop_length, ax=ax, y_axis=None, cmap="coolwarm",
              colorbar=colorbar, cbar_label=cbar_label or label, vmin=-vmax, vmax=vmax,
              y_coords=np.arange(1, n + 1))
    step = 1 if n <= 20 else int(np.ceil(n / 13))
    ticks = np.arange(1, n + 1, step)
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.tick_params(axis="y", labelsize=7 if n > 13 else 8)
    ax.set_ylabel("MFCC")
    if title:
        ax.set_title(title)
    return ax


def plot_mfccs(mfccs: Mapping[str, np.ndarray], *, sr: int = SAMPLE_RATE,
               hop_length: int = HOP_LENGTH, scale: str = "coefficient", fig=None,
               title: str | None = None):
    """The MFCCs of several clips, one panel each, standardised with their **pooled** statistics.

    With ``scale="coefficient"`` every coefficient is standardised with the mean and standard
    deviation of all the clips' frames together, so the same colour means the same value in
    every panel (a clip whose coefficient 2 is higher than the other's shows warmer).

    Used in ``notebooks/2-features-explanation.ipynb`` (the MFCCs of the two examples).

    Parameters
    ----------
    mfccs : mapping label -> np.ndarray [shape=(n_mfcc, t)]
    sr, hop_length : int
    scale : {"coefficient", "raw"}
    fig : matplotlib.figure.Figure, optional
    title : str, optional
        A figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if not mfccs:
        raise ValueError("no MFCCs to plot")
    arrays = {str(k): np.asarray(v, dtype=float) for k, v in mfccs.items()}
    pooled = np.concatenate(list(arrays.values()), axis=1)
    mean, std = pooled.mean(axis=1), pooled.std(axis=1)
    rest = pooled[1:] if len(pooled) > 1 else pooled
    vmax = None if scale == "coefficient" else float(np.abs(rest).max()) or 1.0
    pooled_label = ("Standardised per coefficient,\nmean and std of all "
                    f"{len(arrays)} clips' frames")
    if fig is None:
        fig = plt.figure(figsize=(10, 2.7 * len(arrays) + 0.3), layout="constrained")
    axes = list(fig.subplots(len(arrays), 1, sharex=True, squeeze=False)[:, 0])
    for ax, (name, M) in zip(axes, arrays.items(), strict=True):
        plot_mfcc(M, sr=sr, hop_length=hop_length, ax=ax, scale=scale, mean=mean, std=std,
                  vmax=vmax, title=f"{name}: MFCC_k(j)",
                  cbar_label=pooled_label if scale == "coefficient" else None)
    for ax in axes[:-1]:
        ax.set_xlabel("")
    if title:
        fig.suptitle(title)
    return fig, axes


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
                          points: bool = True, log: bool | str = "auto", seed: int = 0):
    """One box plot per feature, its values grouped by class.

    Each panel's y axis is logarithmic where that feature's values span more than three
    decades (:func:`spans_decades`; e.g. the mean band-energy ratio, which one clip with almost
    no energy above 2 kHz can push to 1e7), and linear otherwise; a log panel's title ends in
    "(log)". The line in each box is the class median (:func:`class_medians` gives the
    numbers).

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
    """
    import matplotlib.pyplot as plt

    cols = _feature_columns(table, features)
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
        Show only the first ``top`` features (None: all). When that leaves some out, the
        title says so ("top 20 of 32").
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    import seaborn as sns

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


# ---------------------------------------------------------------------------------------------
# Models (notebook 3)


def plot_training_history(history: pd.DataFrame, *, best_epoch: int | None = None, fig=None,
                          axes=None, model: str = "MLP"):
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
    model : str
        The model's name in the titles, e.g. ``"CNN"`` (or a kind such as ``"cnn"``).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of two matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    name = _MODEL_NAMES.get(model, model)

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
        ax.set_title(f"{name} {what}")
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
    ax = _axes(ax, figsize=confusion_matrix_size(classes))
    if normalize:
        totals = cm.sum(axis=1, keepdims=True)
        data, fmt = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0), ".2f"
    else:
        data, fmt = cm, ".0f"
    sns.heatmap(data, annot=n <= 20, fmt=fmt, cmap=cmap, cbar=colorbar, ax=ax, square=True,
                xticklabels=classes, yticklabels=classes, vmin=0,
                vmax=1 if normalize else None,
                annot_kws={"fontsize": 12 if n <= 4 else 10 if n <= 9 else 8})
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


def _grid_shape(n: int, max_cols: int) -> tuple[int, int]:
    """(rows, columns) of a grid of ``n`` panels with at most ``max_cols`` per row."""
    if max_cols < 1:
        raise ValueError(f"max_cols must be at least 1, not {max_cols}")
    cols = min(n, max_cols)
    return -(-n // cols), cols


def plot_confusion_matrices(metrics: Mapping[str, Mapping], *, normalize: bool = False,
                            fig=None, title: str | None = None, max_cols: int = 3):
    """Confusion matrices of several models side by side, on the same classes.

    At most ``max_cols`` panels per row (more models wrap to further rows), so that every
    panel keeps a readable size at a notebook's width.

    Used in ``notebooks/3-models-prediction.ipynb`` to compare the MLP, SVC and random forest.

    Parameters
    ----------
    metrics : mapping model name -> dict
        What :func:`bag_of_songs.models.evaluate` returns for each model.
    normalize : bool
        Show each row as fractions of that true class.
    fig : matplotlib.figure.Figure, optional
        An empty figure (or subfigure) to draw in.
    title : str, optional
        Title over all panels.
    max_cols : int
        Panels per row at most.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes
        One per model, in the order of ``metrics``.
    """
    import matplotlib.pyplot as plt

    if not metrics:
        raise ValueError("no metrics to plot")
    n_rows, n_cols = _grid_shape(len(metrics), max_cols)
    classes = next(iter(metrics.values()))["classes"]
    if fig is None:
        w, h = confusion_matrix_size(classes, min_side=2.6)
        fig = plt.figure(figsize=(w * n_cols, h * n_rows + (0.3 if title else 0.0)),
                         layout="constrained")
    grid = fig.subplots(n_rows, n_cols, squeeze=False)
    axes = list(grid.flat[:len(metrics)])
    for ax in grid.flat[len(metrics):]:
        ax.remove()
    for i, (ax, (name, m)) in enumerate(zip(axes, metrics.items(), strict=True)):
        plot_confusion_matrix(m, ax=ax, normalize=normalize, title=name)
        if i % n_cols:
            ax.set_ylabel("")
    if title:
        fig.suptitle(title)
    return fig, axes


def _result_labels(results: pd.DataFrame, hue: str) -> pd.Series:
    """The legend entry of each row: model names spelled out, derived rows marked."""
    names = _result_bases(results, hue)
    if hue == "model" and "derived_from" in results.columns:
        src = results["derived_from"].fillna("").astype(str)
        names = names.where(src == "", names + " (derived from " + src + ")")
    return names


def _result_bases(results: pd.DataFrame, hue: str) -> pd.Series:
    """The bar's own model (or feature set) of each row, derived or not: it sets the colour."""
    if hue != "model":
        return results[hue].astype(str)
    return results["model"].map(lambda m: _MODEL_NAMES.get(m, m)).astype(str)


def plot_results(results: pd.DataFrame, *, metrics: Sequence[str] = ("accuracy", "f1_macro"),
                 hue: str = "model", fig=None, axes=None, title: str | None = None):
    """Test scores per label level, one bar per model (or per feature set), one panel per metric.

    Rows of coarse levels *derived* from the finest level's model (a ``derived_from`` column,
    as :func:`bag_of_songs.models.compare_models` returns) get bars of their own, labelled
    "SVC (derived from label)", in their model's colour and hatched.

    Used in ``notebooks/3-models-prediction.ipynb`` and
    ``notebooks/5-pretrained-embeddings.ipynb`` with :func:`bag_of_songs.models.compare_models`.

    Parameters
    ----------
    results : pandas.DataFrame
        Columns ``level``, ``hue`` (e.g. ``model``) and the ``metrics`` (scores in [0, 1]).
    metrics : sequence of str
    hue : str
        The column that tells the bars of a level apart: ``"model"`` (default) or e.g. a
        ``features`` column of a comparison of feature sets.
    fig : matplotlib.figure.Figure, optional
    axes : sequence of matplotlib.axes.Axes, optional
        One per metric.
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes

    Raises
    ------
    ValueError
        When two rows share a level and a bar (their scores would be averaged silently).
    """
    import matplotlib.pyplot as plt

    metrics = list(metrics)
    missing = [c for c in ("level", hue, *metrics) if c not in results.columns]
    if missing:
        raise ValueError(f"the results lack column(s) {missing}")
    bars = _result_labels(results, hue)
    bases = _result_bases(results, hue)
    colours = {b: f"C{i % 10}" for i, b in enumerate(dict.fromkeys(bases))}
    dup = pd.DataFrame({"level": results["level"].astype(str), "bar": bars}).duplicated()
    if dup.any():
        raise ValueError(f"several rows for (level, {hue}) "
                         f"{list(zip(results['level'][dup], bars[dup], strict=True))[:3]}: "
                         "select one model (or one feature set) per bar")
    levels = list(dict.fromkeys(results["level"].astype(str)))
    names = list(dict.fromkeys(bars))
    if axes is None:
        # one panel per metric, side by side; stacked when many bars make the panels wide
        width = min(12.0, max(4.5, 0.45 * len(levels) * (len(names) + 1) + 1.5))
        stacked = width * len(metrics) > 14
        if fig is None:
            size = ((width + 3.5, 3.0 * len(metrics)) if stacked
                    else (width * len(metrics) / 1.3, 3.6))
            fig = plt.figure(figsize=size, layout="constrained")
        axes = (fig.subplots(len(metrics), 1, squeeze=False)[:, 0] if stacked
                else fig.subplots(1, len(metrics), squeeze=False)[0])
    axes = list(axes)
    fig = axes[0].figure
    spelled = {"accuracy": ("Accuracy", "Test accuracy"),
               "f1_macro": ("Macro F1", "Test macro F1"), "f1": ("F1", "Test F1")}
    width = 0.8 / len(names)
    # the bars a level has sit side by side, centred on its tick
    present = {lv: [n for n in names if ((results["level"].astype(str) == lv) & (bars == n)).any()]
               for lv in levels}
    for ax, metric in zip(axes, metrics, strict=True):
        for name in names:
            rows = results[(bars == name).to_numpy()]
            x = [levels.index(str(lv)) + width * (present[str(lv)].index(name)
                                                  - (len(present[str(lv)]) - 1) / 2)
                 for lv in rows["level"]]
            derived = "(derived from" in name
            base = bases[(bars == name).to_numpy()].iloc[0]
            container = ax.bar(x, rows[metric].astype(float), width=width * 0.95,
                               color=colours[base], label=name,
                               hatch="//" if derived else None,
                               edgecolor="white" if derived else None)
            ax.bar_label(container, fmt="%.2f", fontsize=7, padding=1)
        ax.set_xticks(range(len(levels)), levels)
        ax.set_ylim(0, 1.12)
        ax.set_xlabel("Label level")
        ylabel, panel = spelled.get(metric, (metric, f"Test {metric}"))
        ax.set_ylabel(ylabel)
        ax.set_title(panel)
    _legend_outside(axes[-1], title=hue)
    if title:
        fig.suptitle(title)
    return fig, axes


def plot_probabilities(probabilities: Mapping[str, float], *, ax=None,
                       top: int | None = None, true_class: str | None = None,
                       title: str | None = None):
    """A model's class probabilities for one file: the prediction and the annotated class marked.

    The most likely class is orange; the annotated (true) class, when given, has a black
    outline and "annotated" after its probability, so a wrong prediction shows at a glance. A
    true class the model does not know is named in the x label.

    Used in ``notebooks/3-models-prediction.ipynb`` with
    :func:`bag_of_songs.models.predict_file`.

    Parameters
    ----------
    probabilities : mapping class -> probability
    ax : matplotlib.axes.Axes, optional
    top : int, optional
        Show only the ``top`` most likely classes (and the annotated one).
    true_class : str, optional
        The annotated class of the file.
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    items = sorted(probabilities.items(), key=lambda kv: -kv[1])
    shown = items[: top or None]
    if true_class is not None and top and str(true_class) not in [str(k) for k, _ in shown]:
        shown += [kv for kv in items if str(kv[0]) == str(true_class)]
    ax = _axes(ax, figsize=(6, 0.35 * len(shown) + 1.3))
    names = [str(k) for k, _ in shown][::-1]
    values = [float(v) for _, v in shown][::-1]
    best = str(items[0][0]) if items else None
    colors = ["tab:orange" if n == best else "tab:gray" for n in names]
    truth = None if true_class is None else str(true_class)
    edges = ["k" if n == truth else "none" for n in names]
    bars = ax.barh(names, values, color=colors, edgecolor=edges, linewidth=1.8)
    ax.bar_label(bars, labels=[f"{v:.2f}" + ("  annotated" if n == truth else "")
                               for n, v in zip(names, values, strict=True)],
                 fontsize=8, padding=2)
    ax.set_xlim(0, 1.3)
    ax.set_xticks(np.linspace(0, 1, 6))
    xlabel = "Probability"
    if truth is not None:
        verdict = ("right" if truth == best else "wrong") if truth in names else \
            f"the annotated class {truth!r} is not among the model's classes"
        xlabel += f" (orange: predicted; outlined: annotated; {verdict})" if truth in names \
            else f" ({verdict})"
    ax.set_xlabel(xlabel, fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def plot_level_probabilities(levels: Mapping[str, Mapping[str, float]], *,
                             true_classes: Mapping[str, str] | None = None, fig=None,
                             title: str | None = None):
    """One panel of class probabilities per label level, as ``predict_file(levels="all")``
    returns them (the coarse levels derived from the fine one, so they always agree).

    Used in ``notebooks/3-models-prediction.ipynb`` (derived levels).

    Parameters
    ----------
    levels : mapping level -> (mapping class -> probability)
    true_classes : mapping level -> class, optional
        The annotated class at each level.
    fig : matplotlib.figure.Figure, optional
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if not levels:
        raise ValueError("no levels to plot")
    sizes = [len(p) for p in levels.values()]
    if fig is None:
        fig = plt.figure(figsize=(6.5, sum(0.32 * n + 0.9 for n in sizes) + 0.4),
                         layout="constrained")
    axes = list(fig.subplots(len(levels), 1, squeeze=False,
                             gridspec_kw={"height_ratios": [n + 2 for n in sizes]})[:, 0])
    for ax, (level, proba) in zip(axes, levels.items(), strict=True):
        plot_probabilities(proba, ax=ax, title=level,
                           true_class=(true_classes or {}).get(level))
    if title:
        fig.suptitle(title)
    return fig, axes


def plot_segment_probabilities(proba: np.ndarray, classes: Sequence[str], *,
                               true_class: str | None = None, segment: float | None = None,
                               ax=None, title: str | None = None):
    """Each segment's class probabilities and the clip's two pooled answers: mean and vote.

    One stacked bar per segment (its probabilities sum to 1), then two bars for the clip:
    the **mean** of the segments' probabilities (what :func:`bag_of_songs.models.predict_clips`
    returns by default) and the **vote** (the share of segments whose most likely class is
    each class). The mean keeps how sure each segment is; the vote counts a hesitant segment
    as much as a certain one.

    Used in ``notebooks/3-models-prediction.ipynb`` (segment models).

    Parameters
    ----------
    proba : np.ndarray [shape=(n_segments, n_classes)]
        A segment model's probabilities for the rows of one clip.
    classes : sequence of str [length n_classes]
    true_class : str, optional
        The clip's annotated class (named in the title).
    segment : float, optional
        The segment length in seconds (labels the segments by their start time).
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    P = np.asarray(proba, dtype=float)
    if P.ndim != 2 or P.shape[1] != len(classes) or not len(P):
        raise ValueError(f"expected probabilities of shape (n_segments, {len(classes)}), got "
                         f"{P.shape}")
    mean = P.mean(axis=0)
    vote = np.bincount(P.argmax(axis=1), minlength=len(classes)) / len(P)
    rows = np.vstack([P, mean, vote])
    names = [f"{i * segment:g} s" if segment else f"segment {i}" for i in range(len(P))]
    names += ["clip: mean", "clip: vote"]
    ax = _axes(ax, figsize=(8, 0.28 * len(rows) + 1.4))
    y = np.arange(len(rows))[::-1].astype(float)
    y[-2:] -= 0.6  # a gap between the segments and the clip's answers
    left = np.zeros(len(rows))
    for j, c in enumerate(classes):
        ax.barh(y, rows[:, j], left=left, color=f"C{j % 10}", label=str(c), height=0.8)
        left += rows[:, j]
    ax.set_yticks(y, names)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("Probability")
    _legend_outside(ax, title="class")
    pred_mean, pred_vote = classes[int(mean.argmax())], classes[int(vote.argmax())]
    ax.set_title(title or (f"Segments of one clip: mean -> {pred_mean}, vote -> {pred_vote}"
                           + (f" (annotated: {true_class})" if true_class is not None else "")))
    return ax


def plot_taggram(taggram: np.ndarray, tags: Sequence[str], *, top: int = 10,
                 patch_seconds: float = 3.0, ax=None, colorbar: bool = True,
                 vmax: float | None = None, title: str | None = None):
    """A taggram: the tagging network's probability of each tag for each 3 s patch of a clip.

    Only the ``top`` tags with the highest mean probability over the clip are shown, the most
    likely on top (:func:`top_tags` lists them). The colours run from 0 to ``vmax``, by
    default the largest probability shown (tag probabilities of a clip often stay far below
    1, and a scale to 1 would leave them all dark); the colour bar's label states the scale.

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


def plot_segments(table: pd.DataFrame, *, label_column: str,
                  features: Sequence[str] | None = None, classes: Sequence[str] | None = None,
                  n_clips: int = 3, ax=None, title: str | None = None):
    """Texture windows in feature space: each clip's segments around the clip's mean.

    A few clips of two classes (the first ``n_clips`` of each in table order): every segment
    is a small dot, joined by a thin line to its clip's mean over its segments (a large
    marker; the whole-clip row is this mean, up to the frames after the last whole segment).
    The coordinates are two features, or the first two principal components of all the
    table's rows (:func:`segment_projection`). A clip whose segments spread widely changes
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


# ---------------------------------------------------------------------------------------------
# Spectrogram CNN and hybrid (notebook 4)


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
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

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


def fusion_curve(p_a: np.ndarray, p_b: np.ndarray, y, *, grid: int = 11) -> pd.DataFrame:
    """Scores of the late fusion ``w * p_a + (1 - w) * p_b`` for weights ``w`` from 0 to 1.

    What :func:`bag_of_songs.cnn.choose_fusion_weight` minimises (the log-loss), with the
    accuracy and macro F1 beside it, so a notebook can draw and print the curve it chose the
    weight on. Compute it on the **validation** clips: the test clips never choose.

    Used in ``notebooks/4-spectrogram-cnn.ipynb`` (section 4, through
    :func:`plot_fusion_weight`).

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
    """
    from sklearn.metrics import f1_score

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
        pred = p.argmax(axis=1)
        seen = sorted(set(y.tolist()) | set(pred.tolist()))
        rows.append({"weight": float(w),
                     "log_loss": float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y],
                                                               1e-7, 1.0)))),
                     "accuracy": float(np.mean(pred == y)),
                     "f1_macro": float(f1_score(y, pred, labels=seen, average="macro",
                                                zero_division=0))})
    return pd.DataFrame(rows)


def plot_fusion_weight(curve: pd.DataFrame, *, chosen: float | None = None,
                       names: Sequence[str] = ("CNN", "MLP"), fig=None, axes=None,
                       title: str | None = None):
    """Late fusion against its weight: the log-loss it is chosen on, and the macro F1.

    Two panels over the weight ``w`` of the first model (0: the second model alone, 1: the
    first alone): the log-loss (what :func:`bag_of_songs.cnn.choose_fusion_weight` minimises)
    and the accuracy and macro F1, with the chosen weight marked.

    Used in ``notebooks/4-spectrogram-cnn.ipynb`` (section 4) with :func:`fusion_curve` of
    the validation clips.

    Parameters
    ----------
    curve : pandas.DataFrame
        Columns ``weight, log_loss, accuracy, f1_macro`` (:func:`fusion_curve`).
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
    """
    import matplotlib.pyplot as plt

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
    """
    import matplotlib.pyplot as plt

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
    :func:`plot_disagreements`).

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


def plot_disagreements(table: pd.DataFrame, log_mels: Sequence[np.ndarray], *,
                       names: Sequence[str] = ("CNN", "SVC"), sr: int = SAMPLE_RATE,
                       hop_length: int = HOP_LENGTH, top_db: float = 80.0, fig=None,
                       title: str | None = None):
    """The log-mel spectrograms of a few clips, each titled with both models' answers.

    One panel per row of ``table`` (e.g. the head of :func:`rank_disagreements`), on one
    shared dB scale as :func:`plot_log_mels`; each title names the clip and its annotated class,
    then on one line per model its class and probability, marked "right" or "wrong" when the
    truth is known.

    Used in ``notebooks/4-spectrogram-cnn.ipynb`` (section 6).

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of :func:`rank_disagreements` (same ``names``).
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
    import matplotlib.pyplot as plt

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
