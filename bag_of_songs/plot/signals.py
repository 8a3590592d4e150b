"""Figures of a clip's signal and frame-level features (notebooks 1 and 2).

The waveform (``notebooks/1-data-preparation.ipynb``), then for
``notebooks/2-features-explanation.ipynb``: the amplitude envelope and the other frame-level
features over time (RMS, ZCR, BER, spectral centroid, bandwidth and roll-off), the spectrum,
the spectrogram, the chromagram and the MFCCs. Time axes are in seconds: frame ``k`` is
centred on sample ``k * H``, at ``k * H / sr`` seconds, with ``H = HOP_LENGTH = 512`` and
``sr = SAMPLE_RATE = 22050`` unless given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .._librosa import load_librosa
from ..analysis import standardize_rows
from ..data import HOP_LENGTH, SAMPLE_RATE
from ._common import _axes, _legend_outside, _specshow

__all__ = [
    "FEATURE_LABELS",
    "plot_waveform",
    "plot_envelope",
    "plot_frame_feature",
    "plot_spectrum",
    "plot_spectrogram",
    "plot_chromagram",
    "plot_mfcc",
    "plot_mfccs",
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


def _frame_times(n_frames: int, sr: int, hop_length: int) -> np.ndarray:
    """Centre time in seconds of frames 0..n_frames-1: ``k * H / sr``."""
    return np.arange(n_frames) * hop_length / sr


def _as_series(values, label=None) -> dict[str, np.ndarray]:
    """One array, or a mapping label -> array, as a dict label -> 1-D array."""
    if isinstance(values, Mapping):
        return {str(k): np.asarray(v).ravel() for k, v in values.items()}
    return {label if label is not None else "": np.asarray(values).ravel()}


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

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> y = synthesize_demo_clip("rock", 1, duration=2.0)
    >>> ax = plot_waveform(y, ax=Figure().subplots(), title="A demo clip")
    >>> ax.get_xlabel(), float(ax.get_xlim()[1])
    ('Time (s)', 2.0)
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

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> y = np.sin(2 * np.pi * 220 * np.arange(22050) / 22050) * np.linspace(0, 1, 22050)
    >>> ax = plot_waveform(y, ax=Figure().subplots())
    >>> ax = plot_envelope(np.linspace(0, 1, 44), ax=ax)
    >>> float(ax.lines[-1].get_xdata()[1]) == 512 / 22050  # frame k at k H / sr seconds
    True
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

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> rng = np.random.default_rng(0)
    >>> ax = plot_frame_feature({"Classic": rng.random(100), "Non_classic": rng.random(100)},
    ...                         name="zcr", ax=Figure().subplots())
    >>> ax.get_title(), ax.get_yscale()
    ('Zero-crossing rate', 'linear')
    >>> plot_frame_feature(1e4 * rng.random(100), name="ber", ax=Figure().subplots()).get_yscale()
    'log'
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

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> y = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)  # 1 s of A4
    >>> ax = plot_spectrum(y, fmax=1000, ax=Figure().subplots())
    >>> freq, mag = ax.lines[0].get_data()
    >>> float(freq[mag.argmax()])
    440.0
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

    Examples
    --------
    >>> import librosa
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> y = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)
    >>> S = np.abs(librosa.stft(y, n_fft=2048, hop_length=512))
    >>> ax = plot_spectrogram(S, fmax=4000, ax=Figure().subplots())
    >>> ax.get_ylabel(), float(ax.get_ylim()[1])
    ('Frequency (Hz)', 4000.0)
    """
    ax = _axes(ax)
    data = load_librosa().amplitude_to_db(S, ref=np.max, top_db=80.0) if db else np.asarray(S)
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

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> C = np.zeros((12, 44))
    >>> C[9] = 1.0  # all energy in pitch class A
    >>> ax = plot_chromagram(C, ax=Figure().subplots())
    >>> ax.get_ylabel()
    'Pitch class'
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

    Row :math:`j` (coefficient :math:`j + 1`) is centred on :math:`y = j + 1`, so the ticks 1..n
    label the rows' centres. The coefficients differ in scale by orders of magnitude, so by default
    (``scale="coefficient"``) each is standardised over the frames
    (:func:`bag_of_songs.analysis.standardize_rows`: :math:`z = (x - \mu_j) / \sigma_j`), and the
    colours show how every coefficient varies over time, at -3..3 standard deviations; the colour
    bar says so. ``scale="raw"`` shows the values, with the colour range set by coefficients 2..n
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

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> M = np.random.default_rng(0).normal(size=(13, 44))
    >>> M[0] -= 200  # coefficient 1, the level, far from the others
    >>> ax = plot_mfcc(M, ax=Figure().subplots())
    >>> ax.collections[0].get_clim()  # standardised per coefficient: -3..3 standard deviations
    (-3.0, 3.0)
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

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> M = np.random.default_rng(0).normal(size=(13, 44))
    >>> fig, axes = plot_mfccs({"a": M, "b": M + 1.0}, fig=Figure(layout="constrained"))
    >>> [ax.get_title() for ax in axes]
    ['a: MFCC_k(j)', 'b: MFCC_k(j)']
    """
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
