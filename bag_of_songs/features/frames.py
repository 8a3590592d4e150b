"""From a clip to its frame series, and from frame series to pooled values.

:func:`compute_frame_features` computes every frame-level feature of a clip from one shared
STFT (the study's nine, or the extended set); :func:`pool_features` pools them over the whole
clip into named columns (``mean_rms``, ...); :func:`segment_frames` and :func:`pool_segments`
do the same per segment (texture windows: one row per 3 s, vectorised over segments).

Explained in ``notebooks/2-features-explanation.ipynb`` (section 6 and texture windows).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import numpy as np
import pandas as pd
import scipy.fft

from .._constants import FRAME_SIZE, HOP_LENGTH, SAMPLE_RATE
from .._librosa import load_librosa
from ..errors import FeatureError
from ..spectrum import _check_y, _fft_frequencies, _frame, _hann, _whole
from .params import (
    STATS,
    _check_n_mfcc,
    _check_params,
    _check_segment,
    _check_stats,
    _segment_layout,
)
from .spectral import (
    AMIN,
    PITCH_CLASSES,
    _ber,
    _chroma,
    _log_mel,
    _moments,
    _rolloff_bins,
    zero_crossing_rate,
)


@functools.lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _single_threaded_blas():
    """Limit BLAS to one thread for the duration of a block.

    The per-clip matrix products are small (at most 12 x 1025 x 1292): spreading them over
    threads costs more than it saves, and much more on a busy machine.
    """
    return _blas_controller().limit(limits=1, user_api="blas")


def compute_frame_features(y: np.ndarray, *, sr: int = SAMPLE_RATE, n_fft: int = FRAME_SIZE,
                           hop_length: int = HOP_LENGTH, n_mfcc: int = 13,
                           feature_set: str = "seed", tuning: float | None = 0.0
                           ) -> dict[str, np.ndarray]:
    """Every frame-level feature of a clip, from one shared STFT.

    ``feature_set="seed"`` gives the study's nine: ``envelope``, ``rms``, ``zcr``, ``ber``,
    ``spec_cent``, ``spec_bw``, ``rolloff`` (each shape ``(t,)``), ``chroma_stft``
    ``(12, t)`` and ``mfcc`` ``(n_mfcc, t)``.

    ``feature_set="extended"`` adds, beyond the study:

    - ``spectral_contrast`` ``(7, t)``: peak-to-valley level in six octave bands plus the
      rest (separates tonal peaks from noise: high for harmonic music, low for distorted or
      percussive textures).
    - ``spectral_flatness`` ``(t,)``: geometric over arithmetic mean of the power spectrum
      (0 for a pure tone, 1 for white noise): how noise-like a frame is.
    - ``onset_strength`` ``(t,)``: spectral flux of the log-mel spectrogram: how much new
      energy starts in each frame (percussive attacks).
    - ``delta_mfcc`` ``(n_mfcc, t)``: frame-to-frame change of the MFCCs (timbre dynamics;
      its mean is near 0, so pool it with ``std``); ``librosa.feature.delta`` over 9 frames.
    - ``tempo`` (a scalar, shape ``()``): beats per minute estimated from the onset strength
      (0 when there is no onset at all, e.g. silence).

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 6, through
    :func:`extract_features`).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    sr, n_fft, hop_length, n_mfcc : int
    feature_set : {"seed", "extended"}
    tuning : float or None
        Chroma tuning (0.0 = A440; None estimates it).

    Returns
    -------
    features : dict name -> np.ndarray

    Examples
    --------
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> y = synthesize_demo_clip("rock", 0)  # a 30 s clip: 1 + 661500 // 512 frames
    >>> ff = compute_frame_features(y)
    >>> {name: x.shape for name, x in ff.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'envelope': (1292,), 'rms': (1292,), 'zcr': (1292,), 'ber': (1292,),
     'spec_cent': (1292,), 'spec_bw': (1292,), 'rolloff': (1292,),
     'chroma_stft': (12, 1292), 'mfcc': (13, 1292)}
    """
    sr, n_fft, hop_length, tuning, feature_set = _check_params(
        sr=sr, n_fft=n_fft, hop_length=hop_length, tuning=tuning, feature_set=feature_set)
    n_mfcc = _check_n_mfcc(n_mfcc)
    y = _check_y(y)
    frames = _frame(y, frame_length=n_fft, hop_length=hop_length)  # (t, F), a view
    X = scipy.fft.rfft(frames * _hann(n_fft), axis=1)  # the one STFT, (t, bins)
    mag = np.abs(X).T  # m_k(n), (bins, t)
    power = mag**2
    if tuning is None:  # from the power spectrogram, as chroma() and librosa.chroma_stft do
        librosa = load_librosa()  # deferred: importing librosa costs a fresh process seconds

        tuning = float(librosa.estimate_tuning(S=power, sr=sr, n_fft=n_fft, bins_per_octave=12))
    freq = _fft_frequencies(sr, n_fft)
    with _single_threaded_blas():  # small products: threads cost more than they save
        centroid, bandwidth = _moments(mag, freq)
        chromagram = _chroma(power, sr, n_fft, float(tuning))
    log_mel = _log_mel(power, sr, n_fft, 128)
    out = {
        "envelope": frames.max(axis=1),
        "rms": np.sqrt(np.einsum("ij,ij->i", frames, frames) / n_fft),
        "zcr": zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length),
        "ber": _ber(power, freq, 2000.0),
        "spec_cent": centroid,
        "spec_bw": bandwidth,
        "rolloff": freq[_rolloff_bins(mag, 0.85)],
        "chroma_stft": chromagram,
        "mfcc": scipy.fft.dct(log_mel, axis=0, type=2, norm="ortho")[:n_mfcc],
    }
    if feature_set == "extended":
        librosa = load_librosa()  # deferred: importing librosa costs a fresh process seconds

        oenv = librosa.onset.onset_strength(S=log_mel, sr=sr, hop_length=hop_length)
        out["spectral_contrast"] = librosa.feature.spectral_contrast(S=mag, sr=sr, n_fft=n_fft)
        out["spectral_flatness"] = librosa.feature.spectral_flatness(S=mag, amin=AMIN)[0]
        out["onset_strength"] = oenv
        # librosa's default (interp) edge mode needs 9 frames; shorter signals use the
        # nearest frame at the edges instead of failing.
        out["delta_mfcc"] = librosa.feature.delta(
            out["mfcc"], mode="interp" if out["mfcc"].shape[1] >= 9 else "nearest")
        # No onsets at all (silence, a steady tone): no beat, tempo 0 rather than the prior's.
        out["tempo"] = np.asarray(
            librosa.feature.tempo(onset_envelope=oenv, sr=sr, hop_length=hop_length)[0]
            if np.any(oenv > 0) else 0.0)
    return out


# Names of the rows of each multi-row feature, used to build column names.
def _row_names(name: str, n_rows: int) -> list[str]:
    if name == "chroma_stft":
        return [f"chroma_stft{p}" for p in PITCH_CLASSES]
    if name in ("mfcc", "delta_mfcc", "spectral_contrast"):
        return [f"{name}{j + 1}" for j in range(n_rows)]
    return [f"{name}{j}" for j in range(n_rows)]


def pool_features(frame_features: dict[str, np.ndarray], *, stats: Iterable[str] = ("mean",)
                  ) -> dict[str, float]:
    """Pool frame series over time into named scalars: ``{stat}_{feature}`` per statistic.

    A feature of several rows gives one column per row (``mean_chroma_stftC`` ...
    ``mean_chroma_stftB``, ``mean_mfcc1`` ... ``mean_mfcc13``). Scalar features (``tempo``) are
    kept once, unpooled.

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 6, pooling).

    Parameters
    ----------
    frame_features : dict name -> np.ndarray [shape=(t,) or (rows, t) or ()]
        As returned by :func:`compute_frame_features`.
    stats : iterable of str, or str
        Names from :data:`STATS` (or one comma-separated string, ``"mean,std"``);
        ``("mean",)`` gives the study's 32 columns.

    Returns
    -------
    row : dict column name -> float
        The columns of each statistic in turn, features in the order of ``frame_features``;
        then the scalar features under their own names.

    Raises
    ------
    FeatureError
        On an unknown statistic, or none.

    Examples
    --------
    >>> ff = {"rms": np.array([1.0, 3.0]), "mfcc": np.array([[0.0, 2.0], [4.0, 4.0]])}
    >>> pool_features(ff, stats=("mean", "max"))  # doctest: +NORMALIZE_WHITESPACE
    {'mean_rms': 2.0, 'mean_mfcc1': 1.0, 'mean_mfcc2': 4.0,
     'max_rms': 3.0, 'max_mfcc1': 2.0, 'max_mfcc2': 4.0}
    """
    stats = _check_stats(stats)
    row: dict[str, float] = {}
    scalars = {}
    for stat in stats:
        fn = STATS[stat]
        for name, x in frame_features.items():
            x = np.asarray(x)
            if x.ndim == 0:
                scalars[name] = float(x)
            elif x.ndim == 1:
                row[f"{stat}_{name}"] = float(fn(x))
            else:
                values = fn(x, axis=1)
                for col, v in zip(_row_names(name, x.shape[0]), values, strict=True):
                    row[f"{stat}_{col}"] = float(v)
    row.update(scalars)
    return row


def segment_frames(n_frames: int, *, segment: float, segment_hop: float | None = None,
                   sr: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH) -> np.ndarray:
    r"""Which frames belong to each segment (texture window) of a clip of ``n_frames`` frames.

    Frame :math:`k` is centred on sample :math:`kH` (:math:`H` = ``hop_length``). A segment
    holds :math:`n_f` = ``round(segment * sr / H)`` consecutive frames and segments start
    every :math:`h_f` = ``round(segment_hop * sr / H)`` frames: segment :math:`i` is frames
    :math:`k = i h_f, \ldots, i h_f + n_f - 1`, i.e. the frames centred in
    :math:`[i h_f H, (i h_f + n_f) H)` samples. With the defaults and ``segment=3.0``,
    :math:`n_f = 129` frames (2.995 s), and a 30 s clip (1,292 frames) has 10 segments.

    - Only whole segments are kept: the frames after the last one (fewer than :math:`h_f`
      when ``segment_hop <= segment``) belong to none (2 frames, 46 ms, of a 30 s clip).
    - A clip shorter than one segment (``n_frames < n_f``) gives one segment of all its
      frames, never none.
    - ``segment_hop < segment`` gives overlapping segments; ``segment_hop > segment`` leaves
      frames between segments out.

    Explained in ``notebooks/2-features-explanation.ipynb`` (texture windows).

    Parameters
    ----------
    n_frames : int
        Frames of the clip, ``1 + len(y) // hop_length``.
    segment : float
        Segment length in seconds.
    segment_hop : float, optional
        Seconds between the starts of consecutive segments (default ``segment``: adjacent).
    sr, hop_length : int

    Returns
    -------
    bounds : np.ndarray [shape=(n_segments, 2), dtype=int]
        ``[start, stop)`` frame indices of each segment.

    Raises
    ------
    FeatureError
        When ``segment`` or ``segment_hop`` is not a positive number of seconds, or shorter
        than one hop.

    Examples
    --------
    >>> segment_frames(1292, segment=3.0)[:3].tolist()
    [[0, 129], [129, 258], [258, 387]]
    >>> len(segment_frames(1292, segment=3.0)), segment_frames(100, segment=3.0).tolist()
    (10, [[0, 100]])
    """
    sr, hop_length = _check_params(sr=sr, hop_length=hop_length)
    n_frames = _whole("n_frames", n_frames, 1, "a whole number of frames >= 1")
    segment, segment_hop = _check_segment(segment, segment_hop)
    if segment is None:
        raise FeatureError("segment must be a finite positive number of seconds, got None")
    n_f, h_f, n_seg = _segment_layout(n_frames, segment, segment_hop, sr, hop_length)
    starts = np.arange(n_seg) * h_f
    return np.stack([starts, starts + n_f], axis=1)


def _segment_tempo(onset_windows: np.ndarray, sr: int, hop_length: int) -> np.ndarray:
    """Tempo of each segment from its slice of the clip's onset envelope, in one librosa call."""
    librosa = load_librosa()  # deferred: importing librosa costs a fresh process seconds

    w = np.ascontiguousarray(onset_windows)  # (n_segments, n_f)
    with np.errstate(invalid="ignore", divide="ignore"):
        tempo = librosa.feature.tempo(onset_envelope=w, sr=sr, hop_length=hop_length)[..., 0]
    # As for a whole clip: no onset at all in a segment (silence, a steady tone) is tempo 0.
    return np.where(np.any(w > 0, axis=-1), tempo, 0.0)


def pool_segments(frame_features: dict[str, np.ndarray], *, segment: float,
                  segment_hop: float | None = None, stats: Iterable[str] = ("mean",),
                  sr: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH) -> pd.DataFrame:
    """Pool frame series over each segment (texture window): one row per segment.

    The segments are those of :func:`segment_frames`; each row equals
    :func:`pool_features` of the frame features sliced to that segment's frames (the same
    columns, in the same order). Vectorised: every statistic is taken over a strided view of
    all segments at once. The scalar ``tempo`` (extended set) is estimated per segment from
    that segment's slice of the clip's ``onset_strength`` (one batched ``librosa`` call).

    Explained in ``notebooks/2-features-explanation.ipynb`` (texture windows).

    Parameters
    ----------
    frame_features : dict name -> np.ndarray [shape=(t,) or (rows, t) or ()]
        As returned by :func:`compute_frame_features` (every series with the same ``t``).
    segment, segment_hop : float
        Seconds, as in :func:`segment_frames`.
    stats : iterable of str, or str
    sr, hop_length : int

    Returns
    -------
    table : pandas.DataFrame [shape=(n_segments, 1 + n_columns)]
        ``segment`` (0, 1, ...), then the columns of :func:`pool_features`.

    Raises
    ------
    FeatureError
        On an unknown statistic, bad segment settings, or series of different lengths.

    Examples
    --------
    Four frames pooled in segments of two (at a hop of one second per frame):

    >>> ff = {"rms": np.array([1.0, 3.0, 5.0, 7.0])}
    >>> pool_segments(ff, segment=2.0, sr=1, hop_length=1)
       segment  mean_rms
    0        0       2.0
    1        1       6.0
    """
    stats = _check_stats(stats)
    sr, hop_length = _check_params(sr=sr, hop_length=hop_length)
    segment, segment_hop = _check_segment(segment, segment_hop)
    if segment is None:
        raise FeatureError("segment must be a finite positive number of seconds, got None")
    lengths = {np.shape(x)[-1] for x in frame_features.values() if np.ndim(x) > 0}
    if len(lengths) != 1:
        raise FeatureError(f"the frame series have different lengths {sorted(lengths)}")
    n_frames = lengths.pop()
    n_f, h_f, n_seg = _segment_layout(n_frames, segment, segment_hop, sr, hop_length)

    views: dict[str, np.ndarray] = {}

    def windows(name):  # (..., n_seg, n_f): a strided view of the series, made once
        if name not in views:
            x = np.asarray(frame_features[name])
            views[name] = np.lib.stride_tricks.as_strided(
                x, shape=(*x.shape[:-1], n_seg, n_f),
                strides=(*x.strides[:-1], h_f * x.strides[-1], x.strides[-1]), writeable=False)
        return views[name]

    cols: dict[str, np.ndarray] = {"segment": np.arange(n_seg)}
    scalars: dict[str, np.ndarray] = {}
    for stat in stats:
        fn = STATS[stat]
        for name, x in frame_features.items():
            x = np.asarray(x)
            if x.ndim == 0:
                if name != "tempo":  # every scalar feature needs its own per-segment rule
                    raise FeatureError(f"no per-segment rule for the scalar feature {name!r}")
                if name not in scalars:
                    scalars[name] = _segment_tempo(windows("onset_strength"), sr, hop_length)
            elif x.ndim == 1:
                cols[f"{stat}_{name}"] = fn(windows(name), axis=-1)
            else:
                values = fn(windows(name), axis=-1)  # (rows, n_seg)
                for col, v in zip(_row_names(name, x.shape[0]), values, strict=True):
                    cols[f"{stat}_{col}"] = v
    cols.update(scalars)
    del cols["segment"]
    # One float block (a dict of ~100 columns would cost more than all the pooling).
    values = np.empty((n_seg, len(cols)), dtype=np.float64)
    for j, v in enumerate(cols.values()):
        values[:, j] = v
    table = pd.DataFrame(values, columns=list(cols))
    table.insert(0, "segment", np.arange(n_seg, dtype=np.int64))
    return table
