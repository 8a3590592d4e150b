r"""Frame-level audio features and their pooling into one tabular row per clip.

Explained in ``notebooks/2-features-explanation.ipynb``.

Notation (as in the study): a clip :math:`s(i)` is cut into frames of :math:`F = 2048` samples
every :math:`H = 512` samples, centred as librosa does (frame :math:`k` is centred on sample
:math:`kH`); :math:`m_k(n)` is the magnitude of bin :math:`n` of the Fourier transform of
frame :math:`k` (Hann window), at frequency :math:`f(n) = n \cdot sr / F`.

Every spectral feature takes either the signal ``y=`` or a precomputed spectrogram ``S=``
(each docstring says which kind), so that :func:`extract_features` computes the STFT once per
clip and shares it. Values equal librosa's own functions with the same parameters
(``librosa.feature.rms``, ``zero_crossing_rate``, ``spectral_centroid``, ``spectral_bandwidth``,
``spectral_rolloff``, ``chroma_stft(tuning=0.0)``, ``mfcc``) up to float32 rounding.

On a silent frame every feature is finite: envelope, RMS, ZCR, BER, centroid, bandwidth,
rolloff and chroma are 0; MFCCs are those of the floor level (-100 dB).

Segments (texture windows): ``extract_features(y, segment=3.0)`` pools the same frames of the
clip's one STFT over each 3 s segment instead of the whole clip, one row per segment
(:func:`segment_frames` says which frames form segment :math:`i`; :func:`pool_segments` pools
them, vectorised). Feature tables record how they were made and what from (``features.json``);
:func:`check_feature_table` and :func:`check_feature_tables` refuse a stale or mixed table.

Pretrained embeddings: ``feature_set="musicnn"`` puts the embedding of the pretrained musicnn
network (:mod:`bag_of_songs.musicnn`; explained in ``notebooks/5-pretrained-embeddings.ipynb``)
in the same tables, and ``"seed+musicnn"`` / ``"extended+musicnn"`` put it beside the study's
columns. **Recommended:** the default, ``MSD_musicnn``'s 200-d ``penultimate`` layer averaged
over the clip's 3 s patches: the network's most compact summary of a million songs' tags,
more general than the 50 tag probabilities (``taggram``, one task's labels) and less redundant
than the 753-d pools. Measured on the 120 Emotify dev clips, 3 x 5-fold cross-validation
grouped by artist (``benchmarks/bench_accuracy.py``), 4-genre macro-F1: musicnn 0.68 (SVC),
seed+musicnn 0.70 (logistic regression), the study's features with mean + std 0.59 (SVC);
Classic / Non_classic: 0.96 (musicnn, logistic regression) against 0.88. Trained on those
120 clips and scored on other Emotify clips: 0.79 and 0.94 against 0.59 and 0.91
(``../shared/data/musicnn-reference/README.md``).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import json
import numbers
import os
import stat as _stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.fft
import scipy.sparse

from . import filters
from ._version import __version__
from .data import (
    FRAME_SIZE,
    HOP_LENGTH,
    SAMPLE_RATE,
    AudioLoadError,
    atomic_write,
    feature_columns,
    label_columns,
    list_splits,
    load_audio,
    log_to_stderr,
    read_annotations,
)
from .files import sha256_file

__all__ = [
    "FeatureError",
    "StaleFeaturesError",
    "EmbeddingError",
    "FEATURES_FORMAT_VERSION",
    "SETTING_KEYS",
    "MUSICNN_SETTING_KEYS",
    "PITCH_CLASSES",
    "STATS",
    "FEATURE_SETS",
    "TABLE_FEATURE_SETS",
    "MUSICNN_LAYERS",
    "split_feature_set",
    "compute_spectrogram",
    "amplitude_envelope",
    "rms",
    "zero_crossing_rate",
    "band_energy_ratio",
    "spectral_centroid",
    "spectral_bandwidth",
    "spectral_rolloff",
    "chroma",
    "mfcc",
    "compute_frame_features",
    "pool_features",
    "segment_frames",
    "pool_segments",
    "segment_patches",
    "feature_names",
    "extract_features",
    "extract_with_settings",
    "check_settings",
    "check_musicnn_checkpoint",
    "build_feature_table",
    "extract_feature_table",
    "extract_setting_tables",
    "EXTRACTION_KEYWORDS",
    "build_feature_tables",
    "feature_settings",
    "read_feature_settings",
    "check_feature_table",
    "check_feature_tables",
    "rank_features",
    "log_mel_spectrogram",
    "correlated_pairs",
]

#: Pitch-class names of the 12 chroma bins, in librosa's order (C first).
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

#: Pooling statistics over frames that :func:`extract_features` knows.
STATS = {
    "mean": np.mean,
    "std": np.std,
    "median": np.median,
    "min": np.min,
    "max": np.max,
}

#: Hand-crafted (frame-level) feature sets: ``seed`` = the study's nine; ``extended`` adds the
#: ones listed in :func:`compute_frame_features`.
FEATURE_SETS = ("seed", "extended")

#: Every ``feature_set`` a feature table can have: a hand-crafted set, the musicnn embedding
#: alone, or both side by side (the hand-crafted columns first). ``["seed", "musicnn"]`` (a
#: list) is the same as ``"seed+musicnn"``.
TABLE_FEATURE_SETS = ("seed", "extended", "musicnn", "seed+musicnn", "extended+musicnn")

#: musicnn layers a feature table can hold (:data:`bag_of_songs.musicnn.LAYER_SIZES` gives
#: their widths): ``penultimate`` (200, recommended), ``mean_pool`` and ``max_pool`` (753 each),
#: ``taggram`` (50 tag probabilities, :func:`bag_of_songs.musicnn.musicnn_tags`).
MUSICNN_LAYERS = ("penultimate", "mean_pool", "max_pool", "taggram")

#: Column-name prefix of each musicnn model's embedding.
_MUSICNN_PREFIX = {"MSD_musicnn": "msd", "MTT_musicnn": "mtt"}

#: Floor used in the dB conversion of the mel spectrogram and in the band-energy ratio.
AMIN = 1e-10


class FeatureError(ValueError):
    """Input that no feature can be computed from (empty, not 1-D, non-finite, bad settings)."""


class StaleFeaturesError(FeatureError):
    """A feature table that no longer matches what it was derived from: re-run ``features``.

    Raised by :func:`check_feature_table` and :func:`check_feature_tables`.
    """


class EmbeddingError(FeatureError):
    """The pretrained embedding cannot be computed as asked: its checkpoint files are missing
    (the message names the pip command that installs them), or the installed ones are not those
    the settings of a table or model were made with."""


#: Version of the ``features.json`` layout that :func:`build_feature_table` writes;
#: :func:`check_feature_table` refuses a table recorded with another (or none). Version 3
#: added ``clip_stamps`` (each clip's size and modification time).
FEATURES_FORMAT_VERSION = 3

#: The ``features.json`` keys of a table's musicnn embedding: present only in tables whose
#: ``feature_set`` holds ``musicnn`` (so the ``features.json`` of a seed or extended table is
#: what it was before embeddings existed). ``musicnn_settings`` is
#: :func:`bag_of_songs.musicnn.musicnn_settings`: the front end, model, layer, width and the
#: SHA-256 of the checkpoint files.
MUSICNN_SETTING_KEYS = ("musicnn_model", "musicnn_layer", "musicnn_settings")

#: The ``features.json`` keys that define how a table was computed; every split of a data
#: folder must agree on them (:func:`check_feature_tables`; an absent musicnn key counts as
#: None).
SETTING_KEYS = ("sr", "n_fft", "hop_length", "n_mfcc", "stats", "feature_set", "tuning",
                "segment", "segment_hop", *MUSICNN_SETTING_KEYS)

# The other keys of features.json, which tie the table to its inputs and its own content.
_PROVENANCE_KEYS = ("label_columns", "feature_columns", "n_rows", "n_clips",
                    "annotations_sha256", "features_sha256", "clip_stamps")

# A split's table files, in the order they are published (features.json last).
_TABLE_FILES = ("features.csv", "features_skipped.csv", "features.json")


# ---------------------------------------------------------------------------------------------
# Framing and the STFT


def _check_y(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise FeatureError(f"expected a mono signal of shape (n,), got shape {y.shape}")
    if y.size == 0:
        raise FeatureError("the signal is empty")
    if not np.issubdtype(y.dtype, np.floating):
        raise FeatureError(f"expected floating-point samples, got dtype {y.dtype}")
    if not np.all(np.isfinite(y)):
        raise FeatureError("the signal holds non-finite samples (NaN or infinity)")
    return y.astype(np.float32, copy=False)


def _check_S(S: np.ndarray, n_fft: int) -> np.ndarray:
    S = np.asarray(S)
    if S.ndim != 2 or S.shape[0] != n_fft // 2 + 1:
        raise FeatureError(
            f"expected a spectrogram of shape ({n_fft // 2 + 1}, t) for n_fft={n_fft}, "
            f"got shape {S.shape}")
    if not np.all(np.isfinite(S)):
        raise FeatureError("the spectrogram holds non-finite values")
    if np.any(S < 0):
        raise FeatureError("the spectrogram holds negative values; pass a magnitude or power "
                           "spectrogram, not a complex STFT or a dB scale")
    return S


def _whole(name: str, value, minimum: int, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise FeatureError(f"{name} must be {what}, got {value!r}")
    if isinstance(value, numbers.Integral):
        v = int(value)
    elif np.isfinite(value) and float(value).is_integer():
        v = int(value)
    else:
        raise FeatureError(f"{name} must be {what}, got {value!r}")
    if v < minimum:
        raise FeatureError(f"{name} must be {what}, got {value!r}")
    return v


def _real(name: str, value, what: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value):
        raise FeatureError(f"{name} must be {what}, got {value!r}")
    return float(value)


#: The lowest sampling rate the study's features work at: the band-energy ratio splits at
#: 2 kHz, which must lie below the Nyquist frequency sr / 2.
_MIN_SR_SEED = 4000
#: Spectral contrast (extended set) has octave bands from 200 Hz up to 6.4 kHz, all below sr / 2.
_CONTRAST_FMIN, _CONTRAST_BANDS = 200.0, 6


def _check_params(**params):
    """Check feature parameters once, up front; return their values (as ints where whole).

    Knows ``sr`` (a whole number >= 1), ``n_fft`` and ``frame_length`` (whole, >= 2),
    ``hop_length`` (whole, >= 1), ``n_mels`` (whole, >= 1), ``tuning`` (None, or a finite
    number of chroma bins in [-0.5, 0.5]), ``top_db`` (finite, >= 0), ``power`` (finite, > 0)
    and ``feature_set`` (one of :data:`FEATURE_SETS`; with ``sr`` and ``n_fft``, also checks
    that every feature of the set can be computed at that rate and frame size). Returns the
    values in the order given, so ``sr, n_fft = _check_params(sr=sr, n_fft=n_fft)``.

    Raises
    ------
    FeatureError
        With a sentence naming the parameter and what it must be, instead of the
        ``ZeroDivisionError`` or library error the bad value would cause later.
    """
    out = {}
    for name, value in params.items():
        if name == "sr":
            v = _whole(name, value, 1, "a positive whole number of samples per second "
                                       f"(e.g. {SAMPLE_RATE})")
        elif name in ("n_fft", "frame_length"):
            v = _whole(name, value, 2, f"a whole number of samples >= 2 (e.g. {FRAME_SIZE})")
        elif name == "hop_length":
            v = _whole(name, value, 1, f"a whole number of samples >= 1 (e.g. {HOP_LENGTH})")
        elif name == "n_mels":
            v = _whole(name, value, 1, "a whole number of mel bands >= 1 (e.g. 128)")
        elif name == "tuning":
            v = None if value is None else _real(
                name, value, "None (estimate it) or a finite number of chroma bins in "
                             "[-0.5, 0.5] (0.0 = A440)")
            if v is not None and not -0.5 <= v <= 0.5:
                raise FeatureError(f"tuning must be None (estimate it) or a finite number of "
                                   f"chroma bins in [-0.5, 0.5] (0.0 = A440), got {value!r}")
        elif name == "top_db":
            v = _real(name, value, "a finite number of decibels >= 0 (e.g. 80.0)")
            if v < 0:
                raise FeatureError(f"top_db must be a finite number of decibels >= 0, "
                                   f"got {value!r}")
        elif name == "power":
            v = _real(name, value, "a finite positive exponent (1 magnitude, 2 power)")
            if v <= 0:
                raise FeatureError(f"power must be a finite positive exponent (1 magnitude, "
                                   f"2 power), got {value!r}")
        elif name == "feature_set":
            if value not in FEATURE_SETS:
                raise FeatureError(f"unknown feature_set {value!r}; choose from {FEATURE_SETS}")
            v = value
        else:  # a programming error, not a user's
            raise TypeError(f"_check_params does not know {name!r}")
        out[name] = v
    if "feature_set" in out and "sr" in out:
        sr = out["sr"]
        if sr <= _MIN_SR_SEED:
            raise FeatureError(f"sr={sr} Hz is too low for the study's features: the "
                               f"band-energy ratio splits at 2,000 Hz, which must lie below "
                               f"sr / 2; use sr > {_MIN_SR_SEED}")
        if out["feature_set"] == "extended":
            edges = _CONTRAST_FMIN * 2.0 ** np.arange(_CONTRAST_BANDS + 1)
            if edges[-2] >= sr / 2:
                raise FeatureError(
                    f"sr={sr} Hz is too low for feature_set='extended': spectral contrast "
                    f"has octave bands up to {edges[-2]:.0f} Hz, which must lie below sr / 2; "
                    f"use sr > {2 * edges[-2]:.0f}")
            if "n_fft" in out:
                freq = np.fft.rfftfreq(out["n_fft"], d=1.0 / sr)
                lows = np.concatenate([[0.0], edges[:-1]])
                counts = [int(np.sum((freq >= lo) & (freq <= hi)))
                          for lo, hi in zip(lows, edges, strict=True)]
                if counts[0] < 2 or min(counts) < 1:
                    raise FeatureError(
                        f"n_fft={out['n_fft']} is too small for feature_set='extended' at "
                        f"sr={sr}: spectral contrast needs FFT bins in every octave band "
                        f"(0-200 Hz, 200-400 Hz, ...); use n_fft >= {int(np.ceil(sr / 200))}")
    return tuple(out.values())


def split_feature_set(feature_set: str | Iterable[str]) -> tuple[str | None, str | None]:
    """The two parts of a table's feature set: hand-crafted set and pretrained embedding.

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    feature_set : str or iterable of str
        One of :data:`TABLE_FEATURE_SETS` (``"seed"``, ``"extended"``, ``"musicnn"``,
        ``"seed+musicnn"``, ``"extended+musicnn"``), or its parts as a list
        (``["seed", "musicnn"]``, in either order).

    Returns
    -------
    frames : {"seed", "extended"} or None
        The hand-crafted set (None for the embedding alone).
    embedding : {"musicnn"} or None

    Raises
    ------
    FeatureError
        On an unknown part, a repeated part, two hand-crafted sets (``extended`` already holds
        ``seed``), or nothing.

    Examples
    --------
    >>> split_feature_set("seed+musicnn"), split_feature_set(["musicnn"])
    (('seed', 'musicnn'), (None, 'musicnn'))
    """
    if isinstance(feature_set, str):
        parts = feature_set.split("+")
    elif isinstance(feature_set, Iterable):
        parts = list(feature_set)
    else:
        parts = [feature_set]
    ok = bool(parts) and all(isinstance(p, str) for p in parts)
    frames = [p for p in parts if p in FEATURE_SETS] if ok else []
    embeddings = [p for p in parts if p == "musicnn"] if ok else []
    if not ok or len(frames) + len(embeddings) != len(parts) or len(frames) > 1 \
            or len(embeddings) > 1:
        raise FeatureError(f"unknown feature_set {feature_set!r}; choose from "
                           f"{TABLE_FEATURE_SETS} (or a list of their parts, e.g. "
                           "['seed', 'musicnn'])")
    return (frames[0] if frames else None), (embeddings[0] if embeddings else None)


def _canonical_feature_set(feature_set) -> str:
    frames, embedding = split_feature_set(feature_set)
    return "+".join(p for p in (frames, embedding) if p)


def _frame(y: np.ndarray, *, frame_length: int, hop_length: int, pad_mode: str = "constant"
           ) -> np.ndarray:
    """Centred frames of ``y`` as a read-only strided view, shape (t, frame_length)."""
    pad = frame_length // 2
    yp = np.pad(y, (pad, pad), mode=pad_mode)
    n_frames = 1 + (len(yp) - frame_length) // hop_length
    return np.lib.stride_tricks.as_strided(
        yp, shape=(n_frames, frame_length), strides=(hop_length * yp.strides[0], yp.strides[0]),
        writeable=False)


@functools.lru_cache(maxsize=8)
def _hann(n_fft: int) -> np.ndarray:
    # Periodic Hann window, as scipy.signal.get_window("hann", n_fft) and librosa use.
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def compute_spectrogram(y: np.ndarray, *, n_fft: int = FRAME_SIZE, hop_length: int = HOP_LENGTH,
                        power: float = 1.0) -> np.ndarray:
    r"""Magnitude (or power) spectrogram :math:`m_k(n)` with librosa's STFT conventions.

    Centred frames (zero padding of ``n_fft // 2`` at both ends), periodic Hann window,
    float32 real FFT.

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal.
    n_fft : int
        Frame size F.
    hop_length : int
        Hop H.
    power : float
        1 for magnitude, 2 for power.

    Returns
    -------
    S : np.ndarray [shape=(1 + n_fft // 2, 1 + n // hop_length), dtype=float32]
        Equals ``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length)) ** power``.

    Examples
    --------
    >>> y = load_audio("ccmusic/train/audios/audio_train_0.wav")  # doctest: +SKIP
    >>> S = compute_spectrogram(y)  # magnitude; S**2 is the power spectrogram  # doctest: +SKIP
    >>> S.shape  # 1 + F/2 bins, 1 + 661500 // H frames  # doctest: +SKIP
    (1025, 1292)
    """
    n_fft, hop_length, power = _check_params(n_fft=n_fft, hop_length=hop_length, power=power)
    y = _check_y(y)
    frames = _frame(y, frame_length=n_fft, hop_length=hop_length)
    S = np.abs(scipy.fft.rfft(frames * _hann(n_fft), axis=1))
    if power != 1.0:
        S = S**power
    return S.T


def _spectrogram(y, S, *, n_fft, hop_length, power):
    if S is not None:
        return _check_S(S, n_fft)
    if y is None:
        raise FeatureError("pass either y= (the signal) or S= (a spectrogram)")
    return compute_spectrogram(y, n_fft=n_fft, hop_length=hop_length, power=power)


@functools.lru_cache(maxsize=8)
def _fft_frequencies(sr: int, n_fft: int) -> np.ndarray:
    return np.fft.rfftfreq(n_fft, d=1.0 / sr)


# ---------------------------------------------------------------------------------------------
# Time-domain features


def amplitude_envelope(y: np.ndarray, *, frame_length: int = FRAME_SIZE,
                       hop_length: int = HOP_LENGTH) -> np.ndarray:
    r"""Amplitude envelope: the largest sample value of each frame.

    .. math:: AE_k = \max_{i \in \text{frame } k} s(i)

    As in the study, this is the maximum of :math:`s(i)`, not of :math:`|s(i)|`. Frames are
    centred with zero padding, as librosa centres them. A silent frame gives 0.

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    frame_length : int
        F.
    hop_length : int
        H.

    Returns
    -------
    ae : np.ndarray [shape=(1 + n // hop_length,)]
    """
    frame_length, hop_length = _check_params(frame_length=frame_length, hop_length=hop_length)
    y = _check_y(y)
    return _frame(y, frame_length=frame_length, hop_length=hop_length).max(axis=1)


def rms(*, y: np.ndarray | None = None, S: np.ndarray | None = None,
        frame_length: int = FRAME_SIZE, hop_length: int = HOP_LENGTH) -> np.ndarray:
    r"""Root-mean-square energy of each frame, as ``librosa.feature.rms``.

    .. math:: RMS_k = \sqrt{\frac{1}{F} \sum_{i \in \text{frame } k} s(i)^2}

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], optional
        Signal: RMS of the (unwindowed, zero-padded, centred) frames.
    S : np.ndarray [shape=(1 + F // 2, t)], optional
        **Magnitude** spectrogram: RMS by Parseval's theorem (of the windowed frames, so it is
        lower than from ``y`` by the window's RMS), as librosa computes it.
    frame_length, hop_length : int
        F and H.

    Returns
    -------
    rms : np.ndarray [shape=(t,)]

    Examples
    --------
    >>> y = load_audio("ccmusic/train/audios/audio_train_0.wav")  # doctest: +SKIP
    >>> rms(y=y).shape  # doctest: +SKIP
    (1292,)

    From the magnitude spectrogram the spectral features share (as ``librosa.feature.rms(S=S)``;
    for a steady signal about 0.61 times ``rms(y=y)``, the Hann window's RMS):

    >>> S = compute_spectrogram(y)  # doctest: +SKIP
    >>> rms(S=S)  # doctest: +SKIP
    """
    frame_length, hop_length = _check_params(frame_length=frame_length, hop_length=hop_length)
    if y is not None:
        frames = _frame(_check_y(y), frame_length=frame_length, hop_length=hop_length)
        return np.sqrt(np.mean(frames**2, axis=1, dtype=np.float32))
    if S is None:
        raise FeatureError("pass either y= (the signal) or S= (a magnitude spectrogram)")
    x = _check_S(S, frame_length).astype(np.float32) ** 2
    x[0] *= 0.5
    if frame_length % 2 == 0:
        x[-1] *= 0.5
    return np.sqrt(2 * np.sum(x, axis=0) / frame_length**2)


def zero_crossing_rate(y: np.ndarray, *, frame_length: int = FRAME_SIZE,
                       hop_length: int = HOP_LENGTH, threshold: float = 1e-10) -> np.ndarray:
    r"""Zero-crossing rate: the fraction of sign changes in each frame, as librosa computes it.

    .. math:: ZCR_k = \frac{1}{F} \sum_{i \in \text{frame } k} [\,\mathrm{sgn}\,s(i) \neq
              \mathrm{sgn}\,s(i+1)\,]

    Samples with :math:`|s(i)| \le` ``threshold`` count as positive zeros, and frames are
    centred with edge padding (librosa's ``zero_crossing_rate`` defaults). A silent frame has
    rate 0; white noise about 0.5.

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    frame_length, hop_length : int
        F and H.
    threshold : float
        Magnitude below which a sample counts as zero.

    Returns
    -------
    zcr : np.ndarray [shape=(1 + n // hop_length,)]
    """
    frame_length, hop_length = _check_params(frame_length=frame_length, hop_length=hop_length)
    y = _check_y(y)
    pad = frame_length // 2
    negative = np.pad(y, (pad, pad), mode="edge") < -threshold
    change = np.empty(len(negative), dtype=np.int32)
    change[0] = 0
    np.not_equal(negative[1:], negative[:-1], out=change[1:])
    # change[j] = 1 where samples j-1 and j differ in sign; the frame starting at a counts
    # the changes at a+1 .. a+F-1, read off a cumulative sum.
    csum = np.cumsum(change)
    n_frames = 1 + (len(negative) - frame_length) // hop_length
    starts = np.arange(n_frames) * hop_length
    counts = csum[starts + frame_length - 1] - csum[starts]
    return (counts / frame_length).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Spectral features


def band_energy_ratio(*, y: np.ndarray | None = None, S: np.ndarray | None = None,
                      sr: int = SAMPLE_RATE, n_fft: int = FRAME_SIZE,
                      hop_length: int = HOP_LENGTH, split_frequency: float = 2000.0
                      ) -> np.ndarray:
    r"""Band-energy ratio: power below the split frequency over power above it.

    .. math:: BER_k = \frac{\sum_{n: f(n) < f_s} m_k(n)^2}{\sum_{n: f(n) \ge f_s} m_k(n)^2}

    A silent frame (total power below ``1e-10``) has ratio 0; the denominator is floored at
    ``1e-10`` so a frame with no power above the split stays finite.

    The split bin is the first FFT bin at or above ``split_frequency``: bins with
    :math:`f(n) < f_s` are "below", all others "above". Some tutorials compute the split bin as
    ``floor(f_s / (sr / 2) * n_bins)`` with ``n_bins = 1 + n_fft // 2``, which can be one bin
    lower: with the defaults (``sr=22050``, ``n_fft=2048``, 2,000 Hz) this function splits at
    bin 186 (2,002.6 Hz), that formula at bin 185 (1,991.8 Hz), so their ratios differ a little.

    As every spectral function here, it takes keyword arguments only (librosa's convention):
    ``band_energy_ratio(S=S, sr=sr)`` or ``band_energy_ratio(y=y, sr=sr)``; a positional call
    such as ``band_energy_ratio(S, sr)`` raises ``TypeError``.

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], optional
    S : np.ndarray [shape=(1 + n_fft // 2, t)], optional
        **Magnitude** spectrogram.
    sr : int
    n_fft, hop_length : int
        F and H.
    split_frequency : float
        :math:`f_s` in Hz (2,000 Hz by default, as in the study).

    Returns
    -------
    ber : np.ndarray [shape=(t,)]

    Raises
    ------
    FeatureError
        When neither ``y`` nor ``S`` is given, on an invalid ``y`` or ``S``, or when
        ``split_frequency`` is not in (0, sr / 2).

    Examples
    --------
    >>> y = load_audio("ccmusic/train/audios/audio_train_0.wav")  # doctest: +SKIP
    >>> ber = band_energy_ratio(y=y, sr=22050)  # doctest: +SKIP
    >>> S = compute_spectrogram(y)  # magnitude, computed once for every feature  # doctest: +SKIP
    >>> np.allclose(band_energy_ratio(S=S, sr=22050), ber)  # doctest: +SKIP
    True
    """
    sr, n_fft, hop_length = _check_params(sr=sr, n_fft=n_fft, hop_length=hop_length)
    S = _spectrogram(y, S, n_fft=n_fft, hop_length=hop_length, power=1.0)
    if not 0 < split_frequency < sr / 2:
        raise FeatureError(f"split_frequency must lie in (0, {sr / 2}), got {split_frequency}")
    return _ber(S**2, _fft_frequencies(sr, n_fft), split_frequency)


def _ber(power: np.ndarray, freq: np.ndarray, split_frequency: float) -> np.ndarray:
    split_bin = int(np.searchsorted(freq, split_frequency))
    low = power[:split_bin].sum(axis=0, dtype=np.float64)
    high = power[split_bin:].sum(axis=0, dtype=np.float64)
    ber = low / np.maximum(high, AMIN)
    ber[low + high < AMIN] = 0.0
    return ber


def _moments(S: np.ndarray, freq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroid and bandwidth per frame from a magnitude spectrogram, in one float64 product.

    sum m (f - c)^2 = sum m f^2 - c^2 sum m (with c the centroid), accumulated in float64 so
    the difference keeps its precision.
    """
    A = np.stack([np.ones_like(freq), freq, freq**2])
    total, first, second = A @ S.astype(np.float64)
    safe = np.where(total > 0, total, 1.0)
    centroid = first / safe
    var = second / safe - centroid**2 * (total / safe)
    return centroid, np.sqrt(np.maximum(var, 0.0))


def spectral_centroid(*, y: np.ndarray | None = None, S: np.ndarray | None = None,
                      sr: int = SAMPLE_RATE, n_fft: int = FRAME_SIZE,
                      hop_length: int = HOP_LENGTH) -> np.ndarray:
    r"""Spectral centroid: the magnitude-weighted mean frequency of each frame.

    .. math:: SC_k = \frac{\sum_n f(n)\, m_k(n)}{\sum_n m_k(n)}

    A silent frame has centroid 0 (as in librosa). A pure tone's centroid is its frequency.

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], optional
    S : np.ndarray [shape=(1 + n_fft // 2, t)], optional
        **Magnitude** spectrogram.
    sr : int
    n_fft, hop_length : int

    Returns
    -------
    centroid : np.ndarray [shape=(t,)], in Hz

    Examples
    --------
    >>> y = load_audio("ccmusic/train/audios/audio_train_0.wav")  # doctest: +SKIP
    >>> cent = spectral_centroid(y=y, sr=22050)  # doctest: +SKIP
    >>> S = compute_spectrogram(y)  # magnitude, computed once for every feature  # doctest: +SKIP
    >>> np.allclose(spectral_centroid(S=S, sr=22050), cent)  # doctest: +SKIP
    True
    """
    sr, n_fft, hop_length = _check_params(sr=sr, n_fft=n_fft, hop_length=hop_length)
    S = _spectrogram(y, S, n_fft=n_fft, hop_length=hop_length, power=1.0)
    return _moments(S, _fft_frequencies(sr, n_fft))[0]


def spectral_bandwidth(*, y: np.ndarray | None = None, S: np.ndarray | None = None,
                       sr: int = SAMPLE_RATE, n_fft: int = FRAME_SIZE,
                       hop_length: int = HOP_LENGTH) -> np.ndarray:
    r"""Spectral bandwidth: the magnitude-weighted spread of frequencies around the centroid.

    .. math:: BW_k = \left(\frac{\sum_n (f(n) - SC_k)^2\, m_k(n)}{\sum_n m_k(n)}\right)^{1/2}

    (librosa's ``spectral_bandwidth`` with ``p=2``). A silent frame has bandwidth 0.

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], optional
    S : np.ndarray [shape=(1 + n_fft // 2, t)], optional
        **Magnitude** spectrogram.
    sr : int
    n_fft, hop_length : int

    Returns
    -------
    bandwidth : np.ndarray [shape=(t,)], in Hz

    Examples
    --------
    >>> y = load_audio("ccmusic/train/audios/audio_train_0.wav")  # doctest: +SKIP
    >>> bw = spectral_bandwidth(y=y, sr=22050)  # doctest: +SKIP
    >>> S = compute_spectrogram(y)  # magnitude  # doctest: +SKIP
    >>> np.allclose(spectral_bandwidth(S=S, sr=22050), bw)  # doctest: +SKIP
    True
    """
    sr, n_fft, hop_length = _check_params(sr=sr, n_fft=n_fft, hop_length=hop_length)
    S = _spectrogram(y, S, n_fft=n_fft, hop_length=hop_length, power=1.0)
    return _moments(S, _fft_frequencies(sr, n_fft))[1]


def spectral_rolloff(*, y: np.ndarray | None = None, S: np.ndarray | None = None,
                     sr: int = SAMPLE_RATE, n_fft: int = FRAME_SIZE,
                     hop_length: int = HOP_LENGTH, roll_percent: float = 0.85) -> np.ndarray:
    r"""Spectral roll-off: the lowest frequency below which ``roll_percent`` of the magnitude lies.

    .. math:: RO_k = \min \{ f(N) : \sum_{n \le N} m_k(n) \ge 0.85 \sum_n m_k(n) \}

    A silent frame has roll-off 0.

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], optional
    S : np.ndarray [shape=(1 + n_fft // 2, t)], optional
        **Magnitude** spectrogram.
    sr : int
    n_fft, hop_length : int
    roll_percent : float in (0, 1)

    Returns
    -------
    rolloff : np.ndarray [shape=(t,)], in Hz

    Examples
    --------
    >>> y = load_audio("ccmusic/train/audios/audio_train_0.wav")  # doctest: +SKIP
    >>> ro = spectral_rolloff(y=y, sr=22050)  # doctest: +SKIP
    >>> S = compute_spectrogram(y)  # magnitude  # doctest: +SKIP
    >>> np.allclose(spectral_rolloff(S=S, sr=22050), ro)  # doctest: +SKIP
    True
    """
    if not 0.0 < roll_percent < 1.0:
        raise FeatureError(f"roll_percent must lie in (0, 1), got {roll_percent}")
    sr, n_fft, hop_length = _check_params(sr=sr, n_fft=n_fft, hop_length=hop_length)
    S = _spectrogram(y, S, n_fft=n_fft, hop_length=hop_length, power=1.0)
    return _fft_frequencies(sr, n_fft)[_rolloff_bins(S, roll_percent)]


def _rolloff_bins(S: np.ndarray, roll_percent: float, block: int = 32) -> np.ndarray:
    """Index of the first bin whose cumulative magnitude reaches ``roll_percent`` of the total.

    A two-level search (cumulative sums of blocks of bins, then within the one block that
    crosses the threshold) finds the same bin as a full cumulative sum at a fraction of its cost.
    """
    T = np.ascontiguousarray(S.T)  # (t, bins)
    t, n_bins = T.shape
    rows = np.arange(t)
    n_full = n_bins // block
    block_sums = np.empty((t, n_full + (n_bins % block > 0)), dtype=np.float64)
    block_sums[:, :n_full] = T[:, : n_full * block].reshape(t, n_full, block).sum(axis=2)
    if n_bins % block:
        block_sums[:, n_full] = T[:, n_full * block :].sum(axis=1)
    csum = np.cumsum(block_sums, axis=1)
    threshold = roll_percent * csum[:, -1]
    b = np.argmax(csum >= threshold[:, None], axis=1)
    before = np.where(b > 0, csum[rows, np.maximum(b - 1, 0)], 0.0)
    idx = b[:, None] * block + np.arange(block)
    inside = np.where(idx < n_bins, T[rows[:, None], np.minimum(idx, n_bins - 1)], 0.0)
    reached = before[:, None] + np.cumsum(inside, axis=1, dtype=np.float64) >= threshold[:, None]
    # The block total and the running sum inside the block may round differently; if the
    # running sum falls an ulp short, the crossing is the block's last bin (not its first).
    last = np.minimum(block, n_bins - b * block) - 1
    offset = np.where(reached.any(axis=1), np.argmax(reached, axis=1), last)
    return np.minimum(b * block + offset, n_bins - 1)


def _chroma_filterbank(sr: int, n_fft: int, tuning: float) -> np.ndarray:
    # librosa's filterbank, built with numpy (filters.py: importing librosa costs seconds).
    return filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=12)


@functools.lru_cache(maxsize=8)
def _mel_filterbank(sr: int, n_fft: int, n_mels: int):
    # Each mel filter covers a few bins: a sparse product is several times faster.
    return scipy.sparse.csr_array(filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels))


def chroma(*, y: np.ndarray | None = None, S: np.ndarray | None = None, sr: int = SAMPLE_RATE,
           n_fft: int = FRAME_SIZE, hop_length: int = HOP_LENGTH, tuning: float | None = 0.0
           ) -> np.ndarray:
    r"""Chromagram: the energy of each of the 12 pitch classes C..B, per frame.

    .. math:: C_k(c) = \frac{\sum_n w_c(n)\, m_k(n)^2}{\max_{c'} \sum_n w_{c'}(n)\, m_k(n)^2}

    with librosa's chroma filters :math:`w_c` (as ``librosa.feature.chroma_stft``). Each frame
    is scaled so its strongest pitch class is 1; a silent frame is all 0. A pure tone peaks at
    its pitch class.

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], optional
    S : np.ndarray [shape=(1 + n_fft // 2, t)], optional
        **Power** spectrogram.
    sr : int
    n_fft, hop_length : int
    tuning : float or None
        Deviation from A440 in fractions of a chroma bin. ``0.0`` (default) is A440;
        ``None`` estimates it from the signal (``librosa.estimate_tuning``), which costs more
        than all other features together.

    Returns
    -------
    chroma : np.ndarray [shape=(12, t)], rows C, C#, ..., B

    Examples
    --------
    >>> y = load_audio("ccmusic/train/audios/audio_train_0.wav")  # doctest: +SKIP
    >>> C = chroma(y=y, sr=22050)  # doctest: +SKIP
    >>> S = compute_spectrogram(y)  # magnitude  # doctest: +SKIP
    >>> np.allclose(chroma(S=S**2, sr=22050), C)  # S**2: chroma takes the power  # doctest: +SKIP
    True
    """
    sr, n_fft, hop_length, tuning = _check_params(sr=sr, n_fft=n_fft, hop_length=hop_length,
                                                  tuning=tuning)
    S = _spectrogram(y, S, n_fft=n_fft, hop_length=hop_length, power=2.0)
    if tuning is None:
        import librosa

        tuning = float(librosa.estimate_tuning(S=S, sr=sr, n_fft=n_fft))
    return _chroma(S, sr, n_fft, float(tuning))


def _chroma(power: np.ndarray, sr: int, n_fft: int, tuning: float) -> np.ndarray:
    raw = _chroma_filterbank(sr, n_fft, tuning) @ power
    peak = raw.max(axis=0)
    return raw / np.where(peak > np.finfo(np.float32).tiny, peak, 1.0)


def log_mel_spectrogram(*, y: np.ndarray | None = None, S: np.ndarray | None = None,
                        sr: int = SAMPLE_RATE, n_fft: int = FRAME_SIZE,
                        hop_length: int = HOP_LENGTH, n_mels: int = 128, top_db: float = 80.0
                        ) -> np.ndarray:
    """Log-power mel spectrogram in dB, as ``librosa.power_to_db(librosa.feature.melspectrogram)``.

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], optional
    S : np.ndarray [shape=(1 + n_fft // 2, t)], optional
        **Power** spectrogram.
    sr, n_fft, hop_length, n_mels : int
    top_db : float
        Values more than ``top_db`` below the clip's maximum are raised to it.

    Returns
    -------
    S_db : np.ndarray [shape=(n_mels, t)]

    Examples
    --------
    >>> y = load_audio("ccmusic/train/audios/audio_train_0.wav")  # doctest: +SKIP
    >>> S_db = log_mel_spectrogram(y=y, sr=22050)  # doctest: +SKIP
    >>> S = compute_spectrogram(y)  # magnitude  # doctest: +SKIP
    >>> np.allclose(log_mel_spectrogram(S=S**2, sr=22050), S_db)  # from the power  # doctest: +SKIP
    True
    """
    sr, n_fft, hop_length, n_mels, top_db = _check_params(
        sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, top_db=top_db)
    S = _spectrogram(y, S, n_fft=n_fft, hop_length=hop_length, power=2.0)
    return _log_mel(S, sr, n_fft, n_mels, top_db)


def _log_mel(power: np.ndarray, sr: int, n_fft: int, n_mels: int, top_db: float = 80.0
             ) -> np.ndarray:
    mel = _mel_filterbank(sr, n_fft, n_mels) @ power
    log_spec = 10.0 * np.log10(np.maximum(AMIN, mel))
    return np.maximum(log_spec, log_spec.max() - top_db)


def mfcc(*, y: np.ndarray | None = None, S: np.ndarray | None = None, sr: int = SAMPLE_RATE,
         n_mfcc: int = 13, n_fft: int = FRAME_SIZE, hop_length: int = HOP_LENGTH,
         n_mels: int = 128) -> np.ndarray:
    r"""Mel-frequency cepstral coefficients, as ``librosa.feature.mfcc``.

    .. math:: MFCC_k(j) = \mathrm{DCT\text{-}II}_j\left[10 \log_{10} \sum_n M_b(n)\,
              m_k(n)^2\right]

    with 128 mel filters :math:`M_b` (Slaney), a dB floor of :math:`10^{-10}` and 80 dB below
    the clip's maximum, and the orthonormal DCT.

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], optional
    S : np.ndarray [shape=(n_mels, t)], optional
        **Log-power mel** spectrogram (see :func:`log_mel_spectrogram`), as in librosa.
    sr, n_mfcc, n_fft, hop_length, n_mels : int

    Returns
    -------
    mfcc : np.ndarray [shape=(n_mfcc, t)]

    Examples
    --------
    >>> y = load_audio("ccmusic/train/audios/audio_train_0.wav")  # doctest: +SKIP
    >>> M = mfcc(y=y, sr=22050, n_mfcc=13)  # doctest: +SKIP
    >>> S = compute_spectrogram(y)  # magnitude  # doctest: +SKIP
    >>> S_db = log_mel_spectrogram(S=S**2, sr=22050)  # log-power mel  # doctest: +SKIP
    >>> np.allclose(mfcc(S=S_db, n_mfcc=13), M)  # doctest: +SKIP
    True
    """
    sr, n_fft, hop_length, n_mels = _check_params(sr=sr, n_fft=n_fft, hop_length=hop_length,
                                                  n_mels=n_mels)
    n_mfcc = _whole("n_mfcc", n_mfcc, 1, "a whole number of coefficients >= 1 (e.g. 13)")
    if S is None:
        if y is None:
            raise FeatureError("pass either y= (the signal) or S= (a log-power mel spectrogram)")
        S = log_mel_spectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    S = np.asarray(S)
    if S.ndim != 2 or not np.all(np.isfinite(S)):
        raise FeatureError("S must be a finite log-power mel spectrogram of shape (n_mels, t)")
    if S.shape[0] == n_fft // 2 + 1:
        raise FeatureError(f"S has {S.shape[0]} rows, like an STFT with n_fft={n_fft}: mfcc "
                           "expects a log-power mel spectrogram (see log_mel_spectrogram)")
    if n_mfcc > S.shape[0]:
        raise FeatureError(f"n_mfcc={n_mfcc} exceeds the {S.shape[0]} mel bands")
    return scipy.fft.dct(S, axis=0, type=2, norm="ortho")[:n_mfcc]


# ---------------------------------------------------------------------------------------------
# Per clip


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
        import librosa

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
        import librosa

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


def _check_n_mfcc(n_mfcc) -> int:
    what = "a whole number of MFCCs in 1..128 (the mel bands)"
    n = _whole("n_mfcc", n_mfcc, 1, what)
    if n > 128:
        raise FeatureError(f"n_mfcc must be {what}, got {n_mfcc!r}")
    return n


def _check_stats(stats: Iterable[str]) -> tuple[str, ...]:
    if isinstance(stats, str):
        stats = [s for s in stats.split(",") if s]
    stats = tuple(stats)
    unknown = [s for s in stats if not isinstance(s, str) or s not in STATS]
    if not stats or unknown:
        raise FeatureError(f"unknown pooling statistic(s) {unknown or stats}; choose from "
                           f"{list(STATS)}")
    if len(set(stats)) != len(stats):
        raise FeatureError(f"pooling statistics {list(stats)} name one twice (its columns "
                           "would be repeated)")
    return stats


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


def _check_segment(segment, segment_hop) -> tuple[float | None, float | None]:
    if segment is None:
        if segment_hop is not None:
            raise FeatureError("segment_hop needs segment: give the segment length in seconds "
                               "too (e.g. segment=3.0, segment_hop=1.5)")
        return None, None
    what = (f"a positive number of seconds up to {_MAX_SEGMENT:.0f} (e.g. 3.0), or None for "
            "one row per clip")
    segment = _real("segment", segment, what)
    if not 0 < segment <= _MAX_SEGMENT:
        raise FeatureError(f"segment must be {what}, got {segment!r}")
    if segment_hop is None:
        return segment, segment
    what = f"a positive number of seconds up to {_MAX_SEGMENT:.0f}"
    segment_hop = _real("segment_hop", segment_hop, what)
    if not 0 < segment_hop <= _MAX_SEGMENT:
        raise FeatureError(f"segment_hop must be {what}, got {segment_hop!r}")
    return segment, segment_hop


#: The longest segment (and segment hop) in seconds: an hour.
_MAX_SEGMENT = 3600.0


def _segment_layout(n_frames: int, segment: float, segment_hop: float, sr: int,
                    hop_length: int) -> tuple[int, int, int]:
    """(frames per segment n_f, hop between segments in frames h_f, number of segments)."""
    n_f = int(round(segment * sr / hop_length))
    h_f = int(round(segment_hop * sr / hop_length))
    hop_s = hop_length / sr
    if n_f < 1:
        raise FeatureError(f"segment={segment} s is shorter than one hop ({hop_s * 1e3:.1f} "
                           f"ms at sr={sr}, hop_length={hop_length}): a segment needs a frame")
    if h_f < 1:
        raise FeatureError(f"segment_hop={segment_hop} s is shorter than one hop "
                           f"({hop_s * 1e3:.1f} ms): segments would not advance")
    if n_frames < n_f:  # a clip shorter than one segment: one segment of all its frames
        return n_frames, h_f, 1
    return n_f, h_f, 1 + (n_frames - n_f) // h_f


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
    import librosa

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


def extract_features(y: np.ndarray, *, sr: int = SAMPLE_RATE, n_mfcc: int = 13,
                     stats: Iterable[str] = ("mean",), feature_set: str | Iterable[str] = "seed",
                     n_fft: int = FRAME_SIZE, hop_length: int = HOP_LENGTH,
                     tuning: float | None = 0.0, segment: float | None = None,
                     segment_hop: float | None = None, musicnn_model: str | None = None,
                     musicnn_layer: str | None = None) -> dict[str, float] | pd.DataFrame:
    """One clip's row of the feature table (or one row per segment), from one STFT.

    Frame features (:func:`compute_frame_features`) pooled over all frames: with the defaults,
    the study's 32 columns in this order: ``mean_envelope, mean_rms, mean_zcr, mean_ber,
    mean_spec_cent, mean_spec_bw, mean_rolloff, mean_chroma_stftC ... mean_chroma_stftB,
    mean_mfcc1 ... mean_mfcc13``. Each further statistic in ``stats`` adds its own prefixed
    block (``std_rms``, ...).

    With ``segment`` (seconds), the same frame features of the clip's one STFT are pooled over
    each segment instead (texture windows; :func:`segment_frames` says which frames belong to
    which segment, :func:`pool_segments` pools them): one row per segment, the same columns.
    A clip shorter than one segment gives one row; a silent segment gives the finite values
    documented for silence (module docstring), tempo 0.

    How a segment row relates to ``extract_features`` of the sliced signal
    ``y[a H : (b - 1) H + 1]`` (segment frames ``a .. b - 1``, which has exactly those ``b - a``
    frame centres): frames whose window lies inside the slice (all but the first and last
    ``n_fft // (2 * hop_length)`` = 2) have identical envelope, RMS, ZCR, BER, centroid,
    bandwidth, roll-off, chroma (at a fixed ``tuning``), spectral contrast and flatness: these
    depend on the frame's samples only. The 2 edge frames at each end differ, since the slice
    is zero-padded (edge-padded for ZCR) where the clip has samples, so the pooled values
    differ by at most ``4 / (b - a)`` of the feature's range (3 % for 3 s segments). The
    log-mel spectrogram behind the MFCCs (and onset strength, delta MFCCs) is floored at 80 dB
    below the **clip's** maximum for segment rows and below the slice's maximum for the sliced
    signal: they agree where every mel band is within 80 dB of the clip's loudest frame.
    ``tuning=None`` is estimated once, from the whole clip. ``onset_strength`` and
    ``delta_mfcc`` also reach 1 and 4 frames across the segment's edges.

    **Pretrained embedding** (``feature_set`` ``"musicnn"``, ``"seed+musicnn"`` or
    ``"extended+musicnn"``): :func:`bag_of_songs.musicnn.musicnn_features` embeds each
    non-overlapping 3 s patch of the clip (resampled to 16 kHz; a 30 s clip has 10 patches
    covering its first 29.9 s, a clip under 3 s is repeated to fill one) with the layer
    ``musicnn_layer`` of ``musicnn_model`` (default ``MSD_musicnn``'s ``penultimate``, the
    recommended one: see the module docstring), and ``stats`` pools the patches: ``mean`` is
    the clip's embedding (the mean over its patches, as musicnn's authors use it), ``std``,
    ``median``, ``min``, ``max`` are those of each dimension over the patches. Columns
    ``{stat}_{prefix}_{layer}_{i}``, ``prefix`` ``msd`` or ``mtt`` and ``i`` from 0 (e.g.
    ``mean_msd_penultimate_0 ... mean_msd_penultimate_199``; for ``taggram``, ``i`` indexes
    :func:`bag_of_songs.musicnn.musicnn_tags`). Combined with a hand-crafted set, the
    embedding's columns follow that set's columns. With ``segment``, a segment's embedding
    pools the patches :func:`segment_patches` assigns it: with ``segment=3.0`` (hop 3.0),
    patch :math:`i` is segment :math:`i` (one patch, so ``std`` is 0), see there for other
    lengths and hops. The network costs about 0.3 s per 30 s clip on one idle CPU core (17x
    the study's features; ``benchmarks/bench_musicnn.py``).

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 6, and texture windows);
    the embedding in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        A clip (e.g. from :func:`bag_of_songs.data.load_audio`).
    sr : int
    n_mfcc : int
    stats : iterable of str
        Pooling statistics (``mean``, ``std``, ``median``, ``min``, ``max``).
    feature_set : str or list of str
        One of :data:`TABLE_FEATURE_SETS`: ``"seed"``, ``"extended"`` (see
        :func:`compute_frame_features`), ``"musicnn"``, ``"seed+musicnn"``,
        ``"extended+musicnn"`` (or a list of parts, ``["seed", "musicnn"]``).
    n_fft, hop_length : int
        F and H.
    tuning : float or None
        Chroma tuning (0.0 = A440).
    segment : float, optional
        Segment length in seconds (e.g. 3.0); None (default) pools the whole clip.
    segment_hop : float, optional
        Seconds between segment starts (default ``segment``); only with ``segment``.
    musicnn_model : {"MSD_musicnn", "MTT_musicnn"}, optional
        With an embedding (default ``MSD_musicnn``); must be None without one.
    musicnn_layer : str, optional
        One of :data:`MUSICNN_LAYERS` (default ``penultimate``); must be None without an
        embedding.

    Returns
    -------
    row : dict column name -> float
        Without ``segment``. Every value finite.
    segments : pandas.DataFrame [shape=(n_segments, 1 + n_columns)]
        With ``segment``: ``segment`` (0, 1, ...) then the same columns as the dict. Every
        value finite.

    Raises
    ------
    FeatureError
        On empty, multi-channel or non-finite input; on a parameter no feature can be computed
        with (``sr``, ``n_fft`` or ``hop_length`` not a positive whole number, ``sr`` too low
        for the feature set, ``tuning`` not finite or outside [-0.5, 0.5], an unknown
        statistic or feature set, ``n_mfcc`` outside 1..128, ``segment`` or ``segment_hop``
        not a positive number of seconds of at least one hop, a musicnn model or layer
        unknown, or given without an embedding), checked before any work.
    EmbeddingError
        With an embedding, when the musicnn checkpoint files are not installed (the message
        names ``pip install --no-deps musicnn==0.1.0``).

    Examples
    --------
    >>> y = load_audio("ccmusic/train/audios/audio_train_0.wav")  # doctest: +SKIP
    >>> len(extract_features(y))  # doctest: +SKIP
    32
    >>> extract_features(y, segment=3.0).shape  # 10 segments, segment + 32 columns  # doctest: +SKIP
    (10, 33)
    >>> len(extract_features(y, feature_set="seed+musicnn"))  # 32 + 200  # doctest: +SKIP
    232
    """
    frames_set, embedding = split_feature_set(feature_set)
    musicnn_model, musicnn_layer = _check_musicnn(embedding, musicnn_model, musicnn_layer)
    if frames_set is not None:
        sr, n_fft, hop_length, tuning, frames_set = _check_params(
            sr=sr, n_fft=n_fft, hop_length=hop_length, tuning=tuning, feature_set=frames_set)
    else:  # the embedding alone: sr, F and H still define the segments
        sr, n_fft, hop_length, tuning = _check_params(sr=sr, n_fft=n_fft,
                                                      hop_length=hop_length, tuning=tuning)
    n_mfcc = _check_n_mfcc(n_mfcc)
    stats = _check_stats(stats)
    segment, segment_hop = _check_segment(segment, segment_hop)
    if segment is not None:
        _segment_layout(1, segment, segment_hop, sr, hop_length)  # too short: refuse now
    y = _check_y(y)
    hand = emb = None
    if frames_set is not None:
        frame_features = compute_frame_features(
            y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mfcc=n_mfcc,
            feature_set=frames_set, tuning=tuning)
        if segment is not None:
            hand = pool_segments(frame_features, segment=segment, segment_hop=segment_hop,
                                 stats=stats, sr=sr, hop_length=hop_length)
        else:
            hand = pool_features(frame_features, stats=stats)
        del frame_features
    if embedding is not None:
        bounds = None
        if segment is not None:  # the frames of the hand-crafted part, as _frame counts them
            n_frames = 1 + (len(y) + 2 * (n_fft // 2) - n_fft) // hop_length
            bounds = segment_frames(n_frames, segment=segment, segment_hop=segment_hop, sr=sr,
                                    hop_length=hop_length)
        emb = _musicnn_part(y, sr=sr, model=musicnn_model, layer=musicnn_layer, stats=stats,
                            bounds=bounds, hop_length=hop_length)
    if segment is not None:
        if hand is None:
            table = emb
        elif emb is None:
            table = hand
        else:
            if len(emb) != len(hand):  # a programming error, not a user's
                raise RuntimeError(f"{len(emb)} embedding rows for {len(hand)} segments")
            table = pd.concat([hand, emb.drop(columns="segment")], axis=1)
        finite = np.isfinite(table.iloc[:, 1:].to_numpy()).all(axis=0)
        bad = [c for c, ok in zip(table.columns[1:], finite, strict=True) if not ok]
        if bad:  # should not happen for finite input; never let a NaN into a table
            raise FeatureError(f"non-finite feature values: {bad[:5]}")
        return table
    row = {**(hand or {}), **(emb or {})}
    bad = [k for k, v in row.items() if not np.isfinite(v)]
    if bad:  # should not happen for finite input; never let a NaN into a table
        raise FeatureError(f"non-finite feature values: {bad[:5]}")
    return row


# ---------------------------------------------------------------------------------------------
# Pretrained embedding (musicnn)


def _check_musicnn(embedding: str | None, model, layer) -> tuple[str | None, str | None]:
    """The musicnn model and layer to use (defaults filled), or (None, None) without one."""
    from .musicnn import MODELS

    if embedding is None:
        given = [k for k, v in (("musicnn_model", model), ("musicnn_layer", layer))
                 if v is not None]
        if given:
            raise FeatureError(f"{' and '.join(given)} given, but the feature set has no musicnn "
                               "embedding; use e.g. feature_set='seed+musicnn'")
        return None, None
    model = "MSD_musicnn" if model is None else model
    layer = "penultimate" if layer is None else layer
    if model not in MODELS:
        raise FeatureError(f"unknown musicnn_model {model!r}; choose from {MODELS}")
    if layer not in MUSICNN_LAYERS:
        raise FeatureError(f"musicnn_layer {layer!r} cannot go in a feature table; choose from "
                           f"{MUSICNN_LAYERS} (penultimate recommended)")
    return model, layer


def _embedding_names(model: str, layer: str, stat: str) -> list[str]:
    from .musicnn import LAYER_SIZES

    return [f"{stat}_{_MUSICNN_PREFIX[model]}_{layer}_{i}" for i in range(LAYER_SIZES[layer])]


def segment_patches(bounds: np.ndarray, *, n_patches: int, sr: int = SAMPLE_RATE,
                    hop_length: int = HOP_LENGTH) -> list[np.ndarray]:
    r"""Which musicnn patches make up each segment of a clip: the alignment rule.

    musicnn embeds non-overlapping patches of 187 frames at 16 kHz, hop 256
    (:math:`187 \cdot 256 / 16000 = 2.992` s); patch :math:`j` holds the frames centred at
    :math:`[2.992\,j, 2.992\,(j + 1))` s, and its centre is
    :math:`t_j = (187 j + 93) \cdot 0.016 = 2.992\,j + 1.488` s. A segment of the project's
    grid (:func:`segment_frames`: frames :math:`a .. b - 1`, centred in
    :math:`[aH/sr, bH/sr)` s) gets **the patches whose centres fall inside it**, or, when none
    does, the one patch whose centre is nearest the segment's centre (ties: the earlier).

    - ``segment=3.0`` (hop 3.0): segments of 129 frames at 22,050 / 512 (2.9955 s) against
      patches of 2.992 s: patch :math:`i`'s centre lies inside segment :math:`i` (it drifts
      3.5 ms per segment, 1.5 s away after 425 segments, i.e. 21 min), so **segment** :math:`i`
      **is patch** :math:`i` for any clip shorter than 21 minutes. The 10 segments of a 30 s clip are its
      10 patches; a segment sees the same 3 s the network saw, give or take 4 ms at its start
      and 32 ms at its end (segment 9: 26.96-29.95 s, patch 9: 26.93-29.92 s).
    - Longer segments (``segment=6.0``): the patches inside, pooled (about two).
    - Overlapping or shorter segments (``segment_hop=1.5``, ``segment=1.0``): segments share
      patches or get the nearest one, so neighbouring rows may repeat an embedding: musicnn
      cannot see less than its 3 s patch (it was trained on 3 s).
    - A clip shorter than one patch (repeat-padded to one) gives every segment patch 0.

    The network runs once per clip on its own patches, whatever the segments (the other
    possible rule, embedding each segment's own samples, would cost one network pass per
    segment and see a patch of zero padding and repetition for segments under 3 s).

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    bounds : np.ndarray [shape=(n_segments, 2), dtype=int]
        ``[start, stop)`` frames of each segment, from :func:`segment_frames`.
    n_patches : int >= 1
        Patches of the clip (``len(musicnn_features(y, sr=sr))``).
    sr, hop_length : int
        The grid of ``bounds`` (the project's 22,050 Hz and 512 by default).

    Returns
    -------
    patches : list of np.ndarray [dtype=int]
        For each segment, the indices of its patches (at least one).

    Examples
    --------
    >>> b = segment_frames(1292, segment=3.0)  # a 30 s clip: 10 segments, 10 patches
    >>> [p.tolist() for p in segment_patches(b, n_patches=10)][:3]
    [[0], [1], [2]]
    >>> [p.tolist() for p in segment_patches(segment_frames(1292, segment=6.0), n_patches=10)]
    [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    """
    from .musicnn import HOP_LENGTH as M_HOP
    from .musicnn import N_FRAMES as M_FRAMES
    from .musicnn import SR as M_SR

    sr, hop_length = _check_params(sr=sr, hop_length=hop_length)
    n_patches = _whole("n_patches", n_patches, 1, "a whole number of patches >= 1")
    bounds = np.asarray(bounds)
    if bounds.ndim != 2 or bounds.shape[1] != 2 or len(bounds) < 1:
        raise FeatureError(f"bounds must be [start, stop) frames of shape (n_segments, 2), got "
                           f"shape {bounds.shape}")
    centres = (np.arange(n_patches) * M_FRAMES + (M_FRAMES - 1) / 2) * M_HOP / M_SR
    starts = bounds[:, 0] * hop_length / sr
    stops = bounds[:, 1] * hop_length / sr
    mids = (bounds[:, 0] + bounds[:, 1] - 1) / 2 * hop_length / sr
    out = []
    for t0, t1, mid in zip(starts, stops, mids, strict=True):
        inside = np.flatnonzero((centres >= t0) & (centres < t1))
        out.append(inside if inside.size else np.array([int(np.argmin(np.abs(centres - mid)))]))
    return out


@contextlib.contextmanager
def _one_torch_thread():
    """Run the network on one torch thread while a table is built (one clip per core).

    A worker process keeps the setting (it only builds tables); this process (``n_jobs=1``)
    gets its own thread count back afterwards. Measured on this project's 2-core machine
    while other work ran: 0.9 s per clip on one thread, 2.8 s on two.
    """
    import multiprocessing

    import torch

    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1 and multiprocessing.parent_process() is None:
            torch.set_num_threads(before)


def _musicnn_part(y: np.ndarray, *, sr: int, model: str, layer: str, stats: tuple[str, ...],
                  bounds: np.ndarray | None, hop_length: int) -> dict | pd.DataFrame:
    """The embedding columns of a clip (a dict), or of each segment (a DataFrame)."""
    from . import musicnn as mn

    try:
        E = mn.musicnn_features(y, sr=sr, model=model, layer=layer)  # (n_patches, d)
    except (mn.MusicnnError, mn.CheckpointError) as exc:  # input is checked: the checkpoint
        raise EmbeddingError(str(exc)) from exc
    E = E.astype(np.float64)
    names = [n for stat in stats for n in _embedding_names(model, layer, stat)]
    if bounds is None:
        values = np.concatenate([STATS[stat](E, axis=0) for stat in stats])
        return dict(zip(names, values.tolist(), strict=True))
    groups = segment_patches(bounds, n_patches=len(E), sr=sr, hop_length=hop_length)
    values = np.empty((len(groups), len(names)), dtype=np.float64)
    for g, idx in enumerate(groups):
        part = E[idx]
        values[g] = np.concatenate([STATS[stat](part, axis=0) for stat in stats])
    table = pd.DataFrame(values, columns=names)
    table.insert(0, "segment", np.arange(len(groups), dtype=np.int64))
    return table


def feature_names(*, n_mfcc: int = 13, stats: Iterable[str] = ("mean",),
                  feature_set: str | Iterable[str] = "seed", musicnn_model: str | None = None,
                  musicnn_layer: str | None = None) -> list[str]:
    """The column names :func:`extract_features` returns for these settings, in order.

    The hand-crafted names are found by extracting the features of 2 s of seeded noise, so
    they always match what :func:`extract_features` produces; the embedding's (which follow
    them) are ``{stat}_{msd|mtt}_{layer}_{i}`` for each statistic (no network is run).

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 6).

    Parameters
    ----------
    n_mfcc : int
        Number of MFCCs, 1..128.
    stats : iterable of str
        Pooling statistics, as in :func:`extract_features`.
    feature_set : str or list of str
        One of :data:`TABLE_FEATURE_SETS`, as in :func:`extract_features`.
    musicnn_model, musicnn_layer : str, optional
        As in :func:`extract_features`.

    Returns
    -------
    names : list of str
        With the defaults, the study's 32 names, ``mean_envelope`` ... ``mean_mfcc13``.

    Raises
    ------
    FeatureError
        On an unknown statistic, feature set, musicnn model or layer, or ``n_mfcc`` outside
        1..128.

    Examples
    --------
    >>> feature_names(feature_set="musicnn")[:2]
    ['mean_msd_penultimate_0', 'mean_msd_penultimate_1']
    """
    frames_set, embedding = split_feature_set(feature_set)
    musicnn_model, musicnn_layer = _check_musicnn(embedding, musicnn_model, musicnn_layer)
    stats = _check_stats(stats)
    _check_n_mfcc(n_mfcc)
    names = []
    if frames_set is not None:
        y = np.random.default_rng(0).standard_normal(SAMPLE_RATE * 2).astype(np.float32) * 0.1
        names = list(extract_features(y, n_mfcc=n_mfcc, stats=stats, feature_set=frames_set))
    if embedding is not None:
        names += [n for stat in stats
                  for n in _embedding_names(musicnn_model, musicnn_layer, stat)]
    return names


# ---------------------------------------------------------------------------------------------
# Corpus tables


def _features_for_file(path: str, settings: dict
                       ) -> tuple[dict | pd.DataFrame | None, str | None]:
    threads = contextlib.nullcontext()
    if split_feature_set(settings["feature_set"])[1] is not None:
        # Every clip would fail alike: end the build (not a skip) when this worker's checkpoint
        # is missing or is not the one recorded (a Dask worker on another machine).
        check_musicnn_checkpoint(settings)
        threads = _one_torch_thread()
    try:
        y = load_audio(path, sr=settings["sr"])
        with threads:
            return extract_with_settings(y, settings, check_checkpoint=False), None
    except EmbeddingError:
        raise
    except (AudioLoadError, FeatureError) as exc:
        return None, str(exc)


#: What a missing setting means (models saved with fewer settings than tables have).
_SETTING_DEFAULTS = {"sr": SAMPLE_RATE, "n_fft": FRAME_SIZE, "hop_length": HOP_LENGTH,
                     "n_mfcc": 13, "stats": ["mean"], "feature_set": "seed", "tuning": 0.0,
                     "segment": None, "segment_hop": None, "musicnn_model": None,
                     "musicnn_layer": None, "musicnn_settings": None}


def extract_with_settings(y: np.ndarray, settings: dict, *, check_checkpoint: bool = True
                          ) -> dict[str, float] | pd.DataFrame:
    """One clip's row(s) exactly as a feature table (or a model trained on one) has them.

    :func:`extract_features` with the settings of a table's ``features.json`` (its
    provenance keys are ignored) or of a model (``bag_of_songs.models.featurize_file``):
    checked by :func:`check_settings`, a missing setting meaning its default (the study's).
    With an embedding, the installed musicnn checkpoint must be the one the settings record
    (:func:`check_musicnn_checkpoint`), so that new audio is embedded by the same network as
    the table was.

    Explained in ``notebooks/3-models-prediction.ipynb`` (prediction of new audio).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        A clip at ``settings["sr"]`` (e.g. ``load_audio(path, sr=settings["sr"])``).
    settings : dict
        :data:`SETTING_KEYS` (those present); other keys of ``features.json`` are ignored.
    check_checkpoint : bool
        Check the installed checkpoint against ``settings["musicnn_settings"]`` (default).

    Returns
    -------
    row : dict or pandas.DataFrame
        As :func:`extract_features`.

    Raises
    ------
    FeatureError
        When the settings are invalid (the message names the key, ``settings.<key>``), or on
        bad input (see :func:`extract_features`).
    EmbeddingError
        When the musicnn checkpoint is missing or is not the one recorded.
    """
    s = {**_SETTING_DEFAULTS,
         **check_settings({k: v for k, v in settings.items() if k in SETTING_KEYS})}
    if check_checkpoint:
        check_musicnn_checkpoint(s)
    return extract_features(y, sr=s["sr"], n_mfcc=s["n_mfcc"], stats=s["stats"],
                            feature_set=s["feature_set"], n_fft=s["n_fft"],
                            hop_length=s["hop_length"], tuning=s["tuning"],
                            segment=s["segment"], segment_hop=s["segment_hop"],
                            musicnn_model=s["musicnn_model"], musicnn_layer=s["musicnn_layer"])


def _installed_musicnn_settings(model: str, layer: str) -> dict:
    from . import musicnn as mn

    try:
        return mn.musicnn_settings(model, layer)
    except (mn.MusicnnError, mn.CheckpointError) as exc:
        raise EmbeddingError(str(exc)) from exc


def _musicnn_mismatch(recorded: dict, installed: dict,
                      names: tuple[str, str] = ("recorded", "installed")) -> str | None:
    """None when equal, else a phrase on what differs (``names`` label the two sides)."""
    if recorded == installed:
        return None
    keys = [k for k in sorted(set(recorded) | set(installed))
            if recorded.get(k) != installed.get(k)]
    if "checkpoint_sha256" in keys:
        return (f"other musicnn weights (checkpoint SHA-256 "
                f"{str(recorded.get('checkpoint_sha256'))[:12]}... {names[0]}, "
                f"{str(installed.get('checkpoint_sha256'))[:12]}... {names[1]})")
    return f"another musicnn front end or layer ({', '.join(keys)} differ)"


def check_musicnn_checkpoint(settings: dict) -> dict | None:
    """Check that the installed musicnn checkpoint is the one ``settings`` were made with.

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    settings : dict
        Of a table or model (``feature_set``, ``musicnn_model``, ``musicnn_layer``,
        ``musicnn_settings``).

    Returns
    -------
    musicnn_settings : dict or None
        :func:`bag_of_songs.musicnn.musicnn_settings` of the installed checkpoint; None when
        the feature set has no embedding.

    Raises
    ------
    EmbeddingError
        When the checkpoint files are missing (naming ``pip install --no-deps
        musicnn==0.1.0``), or differ from those recorded (other weights, front end or layer).
    """
    if split_feature_set(settings.get("feature_set", "seed"))[1] is None:
        return None
    installed = _installed_musicnn_settings(settings["musicnn_model"], settings["musicnn_layer"])
    why = _musicnn_mismatch(settings["musicnn_settings"], installed)
    if why:
        raise EmbeddingError(
            f"these settings were made with {why}: embedding new audio with the installed "
            f"checkpoint would not give the features they describe; rebuild the feature tables "
            f"(and retrain) with the installed checkpoint, or install the one recorded")
    return installed


def feature_settings(*, sr: int = SAMPLE_RATE, n_mfcc: int = 13,
                     stats: Iterable[str] = ("mean",), feature_set: str | Iterable[str] = "seed",
                     segment: float | None = None, segment_hop: float | None = None,
                     musicnn_model: str | None = None, musicnn_layer: str | None = None
                     ) -> dict:
    """The settings that define a feature table (stored beside it in ``features.json``).

    With an embedding, the musicnn checkpoint is found and hashed here, so that a missing one
    is reported before any clip is read.

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).

    Returns
    -------
    settings : dict
        The keys of :data:`SETTING_KEYS`: ``sr, n_fft, hop_length, n_mfcc, stats,
        feature_set, tuning`` (F, H and the A440 tuning are fixed; ``feature_set`` as a string
        of :data:`TABLE_FEATURE_SETS`) and ``segment, segment_hop`` in seconds (both None for
        one row per clip; ``segment_hop`` is ``segment`` when not given). With an embedding
        only, also ``musicnn_model``, ``musicnn_layer`` and ``musicnn_settings``
        (:func:`bag_of_songs.musicnn.musicnn_settings`: front end, model, layer, width and
        ``checkpoint_sha256``); a seed or extended table has none of them.

    Raises
    ------
    FeatureError
        On an unknown statistic or feature set, ``n_mfcc`` outside 1..128, an ``sr`` the
        features cannot be computed at, bad segment settings (see :func:`segment_frames`), or
        a musicnn model or layer that is unknown or given without an embedding.
    EmbeddingError
        With an embedding, when the musicnn checkpoint files are not installed (the message
        names ``pip install --no-deps musicnn==0.1.0``).
    """
    frames_set, embedding = split_feature_set(feature_set)
    if frames_set is not None:
        sr, _ = _check_params(sr=sr, feature_set=frames_set)
    else:
        (sr,) = _check_params(sr=sr)
    n_mfcc = _check_n_mfcc(n_mfcc)
    segment, segment_hop = _check_segment(segment, segment_hop)
    if segment is not None:
        _segment_layout(1, segment, segment_hop, sr, HOP_LENGTH)  # at least one hop
    musicnn_model, musicnn_layer = _check_musicnn(embedding, musicnn_model, musicnn_layer)
    out = {"sr": sr, "n_fft": FRAME_SIZE, "hop_length": HOP_LENGTH, "n_mfcc": n_mfcc,
           "stats": list(_check_stats(stats)), "feature_set": _canonical_feature_set(feature_set),
           "tuning": 0.0, "segment": segment, "segment_hop": segment_hop}
    if embedding is not None:
        out.update(musicnn_model=musicnn_model, musicnn_layer=musicnn_layer,
                   musicnn_settings=_installed_musicnn_settings(musicnn_model, musicnn_layer))
    return out


_SHA256_HEX = frozenset("0123456789abcdef")


def check_settings(settings: dict) -> dict:
    """Check feature settings strictly: known keys, types, ranges and their agreement.

    The one check of the settings of a feature table (``features.json``,
    :func:`check_feature_table`) and of a saved model (``model.json``,
    ``bag_of_songs.models.load_model``). Keys may be missing (a missing key means its
    default, see :func:`extract_with_settings`), but those of the embedding
    (:data:`MUSICNN_SETTING_KEYS`) must all be there when ``feature_set`` holds musicnn, and
    none (or None) otherwise.

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).

    Parameters
    ----------
    settings : dict
        Keys among :data:`SETTING_KEYS`.

    Returns
    -------
    settings : dict
        The same, normalised (integers as ``int``, numbers as ``float``, ``stats`` a list).

    Raises
    ------
    FeatureError
        Naming the first bad key as ``settings.<key>`` (``settings.hop_length``,
        ``settings.musicnn_settings.checkpoint_sha256``) and what it must be.

    Examples
    --------
    >>> check_settings({"sr": 22050, "stats": ("mean", "std")})
    {'sr': 22050, 'stats': ['mean', 'std']}
    >>> check_settings({"hop_length": 0})
    Traceback (most recent call last):
    ...
    bag_of_songs.features.FeatureError: settings.hop_length must be an integer in 1..65536, got 0
    """
    from .musicnn import LAYER_SIZES, MODELS

    def bad(key: str, why: str):
        raise FeatureError(f"settings.{key} {why}")

    def integer(v, key: str, lo: int, hi: int) -> int:
        if not (isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                and lo <= v <= hi):
            bad(key, f"must be an integer in {lo}..{hi}, got {v!r}")
        return int(v)

    def real(v, key: str, lo: float, hi: float, *, open_lo: bool = False) -> float:
        ok = (isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
              and np.isfinite(v) and (lo < v if open_lo else lo <= v) and v <= hi)
        if not ok:
            bad(key, f"must be a finite number in {'(' if open_lo else '['}{lo}, {hi}], "
                     f"got {v!r}")
        return float(v)

    if not isinstance(settings, dict):
        raise FeatureError(f"settings must be a mapping, got {type(settings).__name__}")
    unknown = sorted(str(k) for k in settings if k not in SETTING_KEYS)
    if unknown:
        raise FeatureError(f"settings has unknown key(s) {unknown}; known: {list(SETTING_KEYS)}")
    s, out = settings, dict(settings)
    if "sr" in s:
        out["sr"] = integer(s["sr"], "sr", 1000, 384000)
    if "n_fft" in s:
        out["n_fft"] = integer(s["n_fft"], "n_fft", 16, 1 << 16)
    if "hop_length" in s:
        out["hop_length"] = integer(s["hop_length"], "hop_length", 1, out.get("n_fft", 1 << 16))
    if "n_mfcc" in s:
        out["n_mfcc"] = integer(s["n_mfcc"], "n_mfcc", 1, 128)
    if "stats" in s:
        stats = s["stats"]
        if not (isinstance(stats, (list, tuple)) and stats
                and all(isinstance(x, str) and x in STATS for x in stats)):
            bad("stats", f"must be a list of statistics among {list(STATS)}, got {stats!r}")
        if len(set(stats)) != len(stats):
            bad("stats", f"names a statistic twice: {list(stats)}")
        out["stats"] = list(stats)
    feature_set = s.get("feature_set", "seed")
    if not (isinstance(feature_set, str) and feature_set in TABLE_FEATURE_SETS):
        bad("feature_set", f"must be one of {list(TABLE_FEATURE_SETS)}, got {feature_set!r}")
    if s.get("tuning") is not None:
        out["tuning"] = real(s["tuning"], "tuning", -0.5, 0.5)
    for key in ("segment", "segment_hop"):
        if s.get(key) is not None:
            out[key] = real(s[key], key, 0.0, _MAX_SEGMENT, open_lo=True)
    if out.get("segment_hop") is not None and out.get("segment") is None:
        bad("segment_hop", "is set but settings.segment is not")
    if out.get("segment") is not None:
        hop_s = out.get("hop_length", HOP_LENGTH) / out.get("sr", SAMPLE_RATE)
        for key in ("segment", "segment_hop"):
            if out.get(key) is not None and round(out[key] / hop_s) < 1:
                bad(key, f"must be at least one hop ({hop_s * 1e3:.1f} ms), got {out[key]!r}")

    has_musicnn = split_feature_set(feature_set)[1] is not None
    if not has_musicnn:
        for key in MUSICNN_SETTING_KEYS:
            if s.get(key) is not None:
                bad(key, f"is set but feature_set {feature_set!r} has no musicnn embedding")
        return out
    for key in MUSICNN_SETTING_KEYS:
        if s.get(key) is None:
            bad(key, f"is missing: feature_set {feature_set!r} needs it")
    model, layer, ms = s["musicnn_model"], s["musicnn_layer"], s["musicnn_settings"]
    if model not in MODELS:
        bad("musicnn_model", f"must be one of {list(MODELS)}, got {model!r}")
    if layer not in MUSICNN_LAYERS:
        bad("musicnn_layer", f"must be one of {list(MUSICNN_LAYERS)}, got {layer!r}")
    want = ("sr", "n_fft", "hop_length", "n_mels", "n_frames", "log_compression", "model",
            "layer", "n_dims", "checkpoint_sha256")
    if not isinstance(ms, dict) or sorted(ms) != sorted(want):
        bad("musicnn_settings", f"must be a mapping of exactly {list(want)} (as "
                                f"bag_of_songs.musicnn.musicnn_settings gives), got {ms!r}"[:300])
    for key, hi in (("sr", 384000), ("n_fft", 1 << 16), ("hop_length", 1 << 16),
                    ("n_mels", 1024), ("n_frames", 1 << 16)):
        integer(ms[key], f"musicnn_settings.{key}", 1, hi)
    if not isinstance(ms["log_compression"], str):
        bad("musicnn_settings.log_compression", f"must be a string, got "
                                                f"{ms['log_compression']!r}")
    if ms["model"] != model:
        bad("musicnn_settings.model", f"must be settings.musicnn_model {model!r}, got "
                                      f"{ms['model']!r}")
    if ms["layer"] != layer:
        bad("musicnn_settings.layer", f"must be settings.musicnn_layer {layer!r}, got "
                                      f"{ms['layer']!r}")
    if ms["n_dims"] != LAYER_SIZES[layer] or isinstance(ms["n_dims"], bool):
        bad("musicnn_settings.n_dims", f"must be {LAYER_SIZES[layer]} (the width of {layer}), "
                                       f"got {ms['n_dims']!r}")
    sha = ms["checkpoint_sha256"]
    if not (isinstance(sha, str) and len(sha) == 64 and set(sha) <= _SHA256_HEX):
        bad("musicnn_settings.checkpoint_sha256", f"must be 64 lowercase hex digits, got "
                                                  f"{sha!r}")
    out["musicnn_settings"] = dict(ms)
    return out


def read_feature_settings(split_dir: str | os.PathLike) -> dict:
    """Read ``features.json`` written by :func:`build_feature_table` (defaults when absent).

    A lenient reader: it does not check that the table is current (see
    :func:`check_feature_table` for that).

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).

    Parameters
    ----------
    split_dir : path-like
        A split folder with a feature table, e.g. ``ccmusic/train``.

    Returns
    -------
    settings : dict
        What ``features.json`` holds (see :func:`build_feature_table`): the settings of
        :func:`feature_settings`, ``label_columns``, ``feature_columns`` and the provenance
        fields. Without ``features.json``: the defaults of :func:`feature_settings` (the
        study's settings), without ``label_columns``.

    Raises
    ------
    ValueError
        When ``features.json`` is not valid JSON (``json.JSONDecodeError``).
    """
    path = Path(split_dir) / "features.json"
    if path.exists():
        return json.loads(path.read_text())
    return feature_settings()


def _rerun(split_dir: Path) -> str:
    return f"re-run `bag-of-songs features {split_dir.parent}`"


def _csv_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f), [])


def _expected_columns(meta: dict) -> list[str]:
    segment = ["segment"] if meta.get("segment") is not None else []
    return ["audio_file", *meta["label_columns"], *segment, *meta["feature_columns"]]


def _stat_clip(path: Path) -> os.stat_result | None:
    """A clip's ``os.stat`` (it follows a link, as decoding does); None when it is missing or
    not a regular file."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL in a (crafted) name
        return None
    return st if _stat.S_ISREG(st.st_mode) else None


def _clip_stamp(st: os.stat_result | None) -> list[int] | None:
    """What ``features.json`` records of a clip: ``[size, mtime_ns]`` (None: missing)."""
    return None if st is None else [st.st_size, st.st_mtime_ns]


def _valid_clip_stamps(stamps) -> bool:
    return isinstance(stamps, dict) and all(
        isinstance(f, str) and (v is None or (
            isinstance(v, list) and len(v) == 2
            and all(type(x) is int and x >= 0 for x in v)))  # bool is not a size
        for f, v in stamps.items())


def _changed_clip(root: Path, stamps: dict) -> str | None:
    """None when every clip has the size and modification time recorded (one stat each, no
    read), else a phrase naming the first that does not."""
    for f, was in stamps.items():
        now = _clip_stamp(_stat_clip(root / f))
        if now == was:
            continue
        if now is None:
            return f"the clip {f} is missing (it was there when the table was built)"
        if was is None:
            return f"the clip {f}, missing when the table was built, is there now"
        return (f"the clip {f} changed since the table was built (size or modification time "
                f"differ: replaced, rewritten or touched), so its row may describe other audio")
    return None


def check_feature_table(split_dir: str | os.PathLike) -> dict:
    """Check that a split's feature table is current: built from its annotations as they are.

    Call it before using ``split_dir/features.csv`` (training, evaluation): a table built
    before ``annotations.csv`` was rewritten (another ``prepare`` run: other seed, source,
    splits or grouping) describes other clips and must not be used. Checked, in this order:
    ``features.json`` exists, is readable and of this version's format
    (:data:`FEATURES_FORMAT_VERSION`), with valid settings (:func:`check_settings`); for a
    table with a musicnn embedding, the installed checkpoint, front end and layer are those
    recorded (``musicnn_settings``; when the checkpoint is not installed this is not checked,
    and the table can still be trained and evaluated on); ``annotations.csv`` has the SHA-256
    recorded at build time; every clip it lists has the size and modification time recorded
    (``clip_stamps``: a clip replaced, rewritten or merely touched since, or gone, makes the
    table stale; one ``stat`` per clip, nothing is read); ``features.csv`` has the columns
    recorded (``audio_file``, the label columns, ``segment`` for a segment table, the feature
    columns) and the SHA-256 recorded (so a ``features.csv`` replaced or edited after
    ``features.json`` was written is refused too). Copy a prepared folder with its
    modification times (``cp -a``, ``rsync -a``), or re-run ``features`` after copying.

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).

    Parameters
    ----------
    split_dir : path-like
        A split folder, e.g. ``ccmusic/train``.

    Returns
    -------
    settings : dict
        The content of ``features.json`` (fields listed in :func:`build_feature_table`).

    Raises
    ------
    FileNotFoundError
        When there is no ``features.csv`` (the features were never extracted).
    StaleFeaturesError
        When the table cannot be tied to the split's annotations and clips as they are; the
        message names the split, the reason (the first changed clip, when a clip changed),
        and says to re-run ``bag-of-songs features DIR``.

    Examples
    --------
    >>> check_feature_table("ccmusic/train")["feature_columns"][:2]  # doctest: +SKIP
    ['mean_envelope', 'mean_rms']
    """
    split_dir = Path(split_dir)
    table = split_dir / "features.csv"
    if not table.exists():
        raise FileNotFoundError(f"{table}: no feature table; run `bag-of-songs features "
                                f"{split_dir.parent}` first")
    meta_path = split_dir / "features.json"
    where = f"the feature table of split {split_dir.name!r} ({table})"
    if not meta_path.exists():
        raise StaleFeaturesError(
            f"{where} has no features.json beside it (an interrupted or older run), so it cannot "
            f"be tied to the clips it describes; {_rerun(split_dir)}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StaleFeaturesError(f"{where}: {meta_path} is unreadable ({exc}); "
                                 f"{_rerun(split_dir)}") from exc
    if not isinstance(meta, dict) or meta.get("format_version") != FEATURES_FORMAT_VERSION:
        version = meta.get("format_version") if isinstance(meta, dict) else None
        raise StaleFeaturesError(
            f"{where} was built by another version of bag_of_songs (features.json format "
            f"{version}, this version writes {FEATURES_FORMAT_VERSION}); {_rerun(split_dir)}")
    fs = meta.get("feature_set")
    embedded = isinstance(fs, str) and fs in TABLE_FEATURE_SETS \
        and split_feature_set(fs)[1] is not None
    required = [k for k in SETTING_KEYS if k not in MUSICNN_SETTING_KEYS or embedded]
    missing = [k for k in (*required, *_PROVENANCE_KEYS) if k not in meta]
    bad_lists = [k for k in ("label_columns", "feature_columns")
                 if k in meta and not (isinstance(meta[k], list)
                                       and all(isinstance(c, str) for c in meta[k]))]
    if "clip_stamps" in meta and not _valid_clip_stamps(meta["clip_stamps"]):
        bad_lists.append("clip_stamps")
    if missing or bad_lists:
        raise StaleFeaturesError(
            f"{where}: {meta_path} lacks or garbles the field(s) {missing + bad_lists}; "
            f"{_rerun(split_dir)}")
    try:
        check_settings({k: meta[k] for k in SETTING_KEYS if k in meta})
    except FeatureError as exc:
        raise StaleFeaturesError(f"{where}: {meta_path} garbles its settings ({exc}); "
                                 f"{_rerun(split_dir)}") from None
    if embedded:
        try:
            installed = _installed_musicnn_settings(meta["musicnn_model"], meta["musicnn_layer"])
        except EmbeddingError:  # not installed here: the table can still be trained on
            installed = None
        why = installed and _musicnn_mismatch(meta["musicnn_settings"], installed)
        if why:
            raise StaleFeaturesError(
                f"{where} was built with {why}; models trained on it would embed new audio "
                f"differently; {_rerun(split_dir)}")
    annotations = split_dir / "annotations.csv"
    if not annotations.exists():
        raise StaleFeaturesError(f"{where}: the split has no annotations.csv any more, so the "
                                 f"table cannot be tied to its clips; {_rerun(split_dir)}")
    if sha256_file(annotations) != meta["annotations_sha256"]:
        raise StaleFeaturesError(
            f"{where} is stale: {annotations} changed since the table was built (a new "
            f"`prepare` run?), so its rows may describe other clips; {_rerun(split_dir)}")
    changed = _changed_clip(split_dir.parent, meta["clip_stamps"])
    if changed:
        raise StaleFeaturesError(f"{where} is stale: {changed}; {_rerun(split_dir)}")
    try:
        header = _csv_header(table)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise StaleFeaturesError(f"{where} is unreadable ({exc}); {_rerun(split_dir)}") from exc
    want = _expected_columns(meta)
    if header != want:
        lost = [c for c in want if c not in header]
        extra = [c for c in header if c not in want]
        detail = (f"missing {lost[:5]}" if lost else "") + ("; " if lost and extra else "") \
            + (f"unexpected {extra[:5]}" if extra else "") or "the same columns in another order"
        raise StaleFeaturesError(
            f"{where} does not have the columns its features.json records ({detail}): it was "
            f"rewritten by another run; {_rerun(split_dir)}")
    if sha256_file(table) != meta["features_sha256"]:
        raise StaleFeaturesError(
            f"{where} was changed or replaced after its features.json was written (an "
            f"interrupted run, or an edit); {_rerun(split_dir)}")
    return meta


def check_feature_tables(data_dir: str | os.PathLike,
                         splits: Iterable[str] | None = None) -> dict:
    """Check every split's feature table (:func:`check_feature_table`) and that they agree.

    All splits must have been built with the same settings (:data:`SETTING_KEYS`: ``sr,
    n_fft, hop_length, n_mfcc, stats, feature_set, tuning, segment, segment_hop`` and, with an
    embedding, ``musicnn_model, musicnn_layer, musicnn_settings``) and the
    same feature columns, as one ``bag-of-songs features DIR`` run builds them: a model trained
    on one split's columns cannot be evaluated on another's (e.g. after ``features`` was killed
    between splits, or run again with other options and stopped).

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).

    Parameters
    ----------
    data_dir : path-like
        A prepared folder, e.g. ``ccmusic``.
    splits : iterable of str, optional
        The splits to check (e.g. ``["train", "validation"]``); default every prepared split
        (every folder with an ``annotations.csv``, see
        :func:`bag_of_songs.data.list_splits`).

    Returns
    -------
    settings : dict split name -> dict
        The content of each split's ``features.json``, in the order checked.

    Raises
    ------
    FileNotFoundError
        When ``data_dir`` holds no prepared split, or a split has no ``features.csv``.
    StaleFeaturesError
        When a table is stale (see :func:`check_feature_table`) or the splits disagree; the
        message names the split and the setting that differs, and says to re-run
        ``bag-of-songs features DIR``.
    """
    data_dir = Path(data_dir)
    splits = list_splits(data_dir) if splits is None else list(splits)
    if not splits:
        raise FileNotFoundError(f"{data_dir}: no prepared split (no */annotations.csv); "
                                "run `bag-of-songs prepare` first")
    metas = {s: check_feature_table(data_dir / s) for s in splits}
    ref = splits[0]
    for s in splits[1:]:
        diffs = [f"{k} is {metas[s].get(k)!r} in {s!r} but {metas[ref].get(k)!r} in {ref!r}"
                 for k in SETTING_KEYS if k != "musicnn_settings"
                 and metas[s].get(k) != metas[ref].get(k)]
        ms_ref, ms_s = metas[ref].get("musicnn_settings"), metas[s].get("musicnn_settings")
        if not diffs and ms_s != ms_ref:  # model and layer agree: weights or front end differ
            diffs.append(f"musicnn_settings differ: {s!r} was built with "
                         f"{_musicnn_mismatch(ms_ref, ms_s, (f'in {ref!r}', f'in {s!r}'))}")
        if metas[s]["feature_columns"] != metas[ref]["feature_columns"]:
            a, b = metas[ref]["feature_columns"], metas[s]["feature_columns"]
            only_ref = [c for c in a if c not in b]
            only_s = [c for c in b if c not in a]
            diffs.append(f"feature columns differ ({len(b)} in {s!r}, {len(a)} in {ref!r}; "
                         f"only in {ref!r}: {only_ref[:5]}, only in {s!r}: {only_s[:5]})")
        if diffs:
            raise StaleFeaturesError(
                f"{data_dir}: the feature tables of its splits were built with different "
                f"settings ({'; '.join(diffs)}), e.g. by a `features` run that was stopped "
                f"between splits; re-run `bag-of-songs features {data_dir}` to rebuild every "
                "split with the same settings")
    return metas


def _staged(path: Path) -> Path:
    return path.with_name(f".{path.name}.staged")


def _remove_debris(split_dir: Path) -> None:
    """Remove the staged and temporary table files an interrupted run left (only ours)."""
    for name in _TABLE_FILES:
        for p in split_dir.glob(f".{name}.*"):
            if p.is_file():
                p.unlink(missing_ok=True)


def _locked(data_dir: Path):
    """Hold the data folder's lock while its tables are built (no concurrent ``prepare``).

    The lock is :func:`bag_of_songs.data.lock_folder`, the one ``prepare`` takes, so a
    second run refuses at once with ``FolderLockedError``; nested use in one process (``run``
    = prepare + features) is allowed.
    """
    from .data import lock_folder

    return lock_folder(data_dir, what="features")


class _StagedSplit:
    """A split's new table, written beside the current one but not yet in its place."""

    def __init__(self, split_dir: Path, table: pd.DataFrame):
        self.split_dir = split_dir
        self.table = table
        self.files: list[tuple[Path, Path]] = []  # (staged, final), in publication order

    def stage(self, final: Path, write, suffix: str) -> Path:
        staged = _staged(final)
        atomic_write(staged, write, suffix)
        self.files.append((staged, final))
        return staged

    def publish(self) -> None:
        # features.json goes last: until it is replaced, the old one's features_sha256 does
        # not match the new features.csv, so a half-published split is refused as stale.
        for staged, final in self.files:
            os.replace(staged, final)
        self.files = []

    def discard(self) -> None:
        for staged, _ in self.files:
            staged.unlink(missing_ok=True)
        self.files = []


def _csv_writer(df: pd.DataFrame):
    # No index, UTF-8, "\n" line ends, as bag_of_songs.data.write_csv_atomic: same table, same bytes.
    return lambda tmp: df.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")


def _compute_table(split_dir: Path, settings: dict, *, n_jobs: int, scheduler, progress: bool,
                   log, resume: bool = False) -> tuple:
    """The feature table of one split, in memory: (table, skipped, label columns, feature
    columns, annotations SHA-256, clips kept, clip stamps). Raises StaleFeaturesError when
    annotations.csv or a clip changed meanwhile. With ``resume``, finished clips are kept in
    the split's side file (:func:`_partial_path`) and those it already holds are reused."""
    return _compute_tables(split_dir, [settings], n_jobs=n_jobs, scheduler=scheduler,
                           progress=progress, log=log, resume=resume)[0]


# ---------------------------------------------------------------------------------------------
# The side file that lets an interrupted `features` run resume clip by clip
#
# `.features.partial.<settings hash>.jsonl` in the split folder: a header line (this format,
# the library version, the settings and the feature columns), then one line per finished clip:
# its file name, its identity (size, mtime_ns, ctime_ns, inode) and its rows. Floats are written
# as JSON numbers (Python's shortest repr, which reads back to the same float64), so a resumed
# table is byte-identical to an uninterrupted one. Lines are appended as clips finish (a killed
# run loses at most a torn last line, which the reader ignores); the file is rewritten
# atomically at the start of each run with what it reused. A clip is reused only when its
# identity is unchanged: the ctime and inode cannot be set by whoever hands over a folder
# (copying or unpacking gives new ones), so a side file from elsewhere is never used. The file
# is read as hostile input: anything unexpected is ignored and recomputed.

_PARTIAL_PREFIX = ".features.partial."
_PARTIAL_FORMAT = 1
_PARTIAL_MAX_BYTES = 1 << 30  # larger: ignored (recomputed), never read into memory
_PARTIAL_MAX_LINE = 1 << 26


def _partial_path(split_dir: Path, settings: dict) -> Path:
    key = json.dumps(settings, sort_keys=True).encode("utf-8")
    return split_dir / f"{_PARTIAL_PREFIX}{hashlib.sha256(key).hexdigest()[:16]}.jsonl"


def _remove_partials(split_dir: Path, keep: Path | None = None) -> None:
    """Remove the split's side files (but ``keep``) and the debris of their atomic writes."""
    if not split_dir.is_dir():
        return
    for p in split_dir.iterdir():
        ours = p.name.startswith(_PARTIAL_PREFIX) or (
            p.name.startswith("." + _PARTIAL_PREFIX) and p.name.endswith(".tmp"))
        if ours and p != keep and (p.is_symlink() or p.is_file()):
            with contextlib.suppress(OSError):
                p.unlink()


def _clip_identity(st: os.stat_result | None) -> list[int] | None:
    """What the side file records of a clip (None: missing, never reused)."""
    return None if st is None else [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _partial_header(settings: dict, columns: list[str]) -> dict:
    return json.loads(json.dumps({"format": _PARTIAL_FORMAT, "library_version": __version__,
                                  "settings": settings, "columns": columns}))


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a feature value")


def _json_line(line: bytes):
    """The JSON value of one line; None when it is not valid (NaN and Infinity are not)."""
    try:
        return json.loads(line.decode("ascii"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _row_values(row, columns: list[str], segmented: bool) -> list[list[float]] | None:
    """A clip's rows as lists of floats in column order, for the side file; None when the
    result is not in the exact form a table row has (then it is not checkpointed)."""
    if not segmented:
        if not isinstance(row, dict) or len(row) != len(columns) or set(row) != set(columns):
            return None
        values = [row[c] for c in columns]
        ok = all(type(v) is float and np.isfinite(v) for v in values)
        return [values] if ok else None
    if not isinstance(row, pd.DataFrame) or list(row.columns) != ["segment", *columns] \
            or len(row) == 0 or row["segment"].dtype != np.int64 \
            or not (row.dtypes.iloc[1:] == np.float64).all() \
            or not np.array_equal(row["segment"].to_numpy(), np.arange(len(row))):
        return None
    values = row.iloc[:, 1:].to_numpy(dtype=np.float64)
    return values.tolist() if np.isfinite(values).all() else None


def _values_row(values, columns: list[str], segmented: bool):
    """The row (dict) or segment rows (DataFrame) a clip's side-file values stand for; None
    when they are not a valid clip's (wrong shape or types, a value not finite)."""
    if not isinstance(values, list) or not values or (not segmented and len(values) != 1):
        return None
    n = len(columns)
    for r in values:
        if not isinstance(r, list) or len(r) != n or not all(
                type(v) is float or type(v) is int for v in r):  # never bool
            return None
    try:
        array = np.array(values, dtype=np.float64)
    except (OverflowError, ValueError):
        return None
    if not np.isfinite(array).all():
        return None
    if not segmented:
        return dict(zip(columns, array[0].tolist(), strict=True))
    table = pd.DataFrame(array, columns=columns)
    table.insert(0, "segment", np.arange(len(array), dtype=np.int64))
    return table


def _read_partial(path: Path, header: dict, identities: dict[str, list[int]],
                  columns: list[str], segmented: bool) -> dict:
    """The rows the side file holds for clips whose identity is unchanged (file -> row);
    an empty dict for a missing, foreign, oversized or unreadable file."""
    try:
        st = os.lstat(path)
        if not _stat.S_ISREG(st.st_mode) or st.st_size > _PARTIAL_MAX_BYTES:
            return {}
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return {}
    rows: dict = {}
    try:
        with os.fdopen(fd, "rb") as fh:
            if not _stat.S_ISREG(os.fstat(fh.fileno()).st_mode) \
                    or _json_line(fh.readline(_PARTIAL_MAX_LINE)) != header:
                return {}
            while True:
                line = fh.readline(_PARTIAL_MAX_LINE)
                if not line.endswith(b"\n"):  # the end, a torn last line or an oversized one
                    break
                entry = _json_line(line)
                if not (isinstance(entry, dict) and set(entry) == {"file", "clip", "values"}
                        and isinstance(entry["file"], str)):
                    continue
                want = identities.get(entry["file"])
                if want is None or entry["clip"] != want:  # another clip, or it changed
                    continue
                row = _values_row(entry["values"], columns, segmented)
                if row is not None:
                    rows[entry["file"]] = row
    except (OSError, MemoryError):
        return {}
    return rows


def _partial_line(file: str, identity: list[int], values: list[list[float]]) -> bytes:
    return (json.dumps({"file": file, "clip": identity, "values": values}, allow_nan=False,
                       separators=(",", ":")) + "\n").encode("ascii")


class _PartialWriter:
    """Appends each finished clip to the side file; checkpointing never fails a build (an
    error, e.g. a full disk, only stops it)."""

    def __init__(self, path: Path, header: dict, kept: list[bytes]):
        self.fd = None
        try:
            def write(tmp):
                with open(tmp, "wb") as fh:
                    fh.write((json.dumps(header, separators=(",", ":")) + "\n").encode("ascii"))
                    fh.writelines(kept)

            atomic_write(path, write, ".tmp")
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            self.close()

    def add(self, line: bytes) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, line)
        except OSError:
            self.close()

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
        self.fd = None


def _compute_tables(split_dir: Path, settings_list: list[dict], *, n_jobs: int, scheduler,
                    progress: bool, log, resume: bool = False) -> list[tuple]:
    """:func:`_compute_table` for several settings in one pass: each clip is decoded once
    (all settings share one sample rate) and each part of a feature set computed once.
    ``resume`` needs a single setting."""
    from .parallel import map_parallel

    ann_path = split_dir / "annotations.csv"
    ann = read_annotations(split_dir)
    ann_sha = sha256_file(ann_path)
    labels = label_columns(ann)
    root = split_dir.parent
    files = ann["audio_file"].to_numpy()
    stats = [_stat_clip(root / f) for f in files]  # before any clip is read
    all_columns = [feature_names(n_mfcc=s["n_mfcc"], stats=s["stats"],
                                 feature_set=s["feature_set"],
                                 musicnn_model=s.get("musicnn_model"),
                                 musicnn_layer=s.get("musicnn_layer")) for s in settings_list]
    # Absolute paths: a Dask worker may run in another folder (the files must be on storage
    # every worker reads). Results come back in order, one clip in flight per worker or two.
    paths = [str((root / f).absolute()) for f in files]
    if len(settings_list) == 1:
        fn = functools.partial(_features_for_file, settings=settings_list[0])
    else:
        fn = functools.partial(_features_for_file_multi, settings_list=settings_list)
    reused: dict = {}
    writer = None
    if resume:
        settings, columns = settings_list[0], all_columns[0]
        segmented = settings["segment"] is not None
        partial = _partial_path(split_dir, settings)
        _remove_partials(split_dir, keep=partial)  # other settings' progress is abandoned
        header = _partial_header(settings, columns)
        identities = {str(f): _clip_identity(st) for f, st in zip(files, stats, strict=True)
                      if st is not None}
        reused = _read_partial(partial, header, identities, columns, segmented)
        if reused:
            log(f"{split_dir.name}: {len(reused)} clip{'s' * (len(reused) != 1)} reused from "
                f"an interrupted run ({partial.name})")
        writer = _PartialWriter(partial, header, [
            _partial_line(f, identities[f], _row_values(row, columns, segmented))
            for f, row in reused.items()])
    todo = [i for i in range(len(files)) if str(files[i]) not in reused]
    results = (r for r in ())
    if todo:
        results = map_parallel(fn, [paths[i] for i in todo], n_jobs=n_jobs,
                               scheduler=scheduler, desc=f"features {split_dir.name}",
                               progress=progress, total=len(todo))
    n = len(settings_list)
    rows = [[] for _ in range(n)]
    kept = [[] for _ in range(n)]  # the annotation row of each table row
    skipped = [[] for _ in range(n)]
    try:
        with contextlib.closing(results):
            for i in range(len(files)):
                if str(files[i]) in reused:
                    result = (reused[str(files[i])], None)
                else:
                    result = next(results)
                    if writer is not None and result[0] is not None and stats[i] is not None:
                        values = _row_values(result[0], all_columns[0],
                                             settings_list[0]["segment"] is not None)
                        if values is not None:
                            writer.add(_partial_line(str(files[i]), _clip_identity(stats[i]),
                                                     values))
                logged = set()  # a clip that cannot be decoded fails every setting alike
                for j, (row, reason) in enumerate([result] if n == 1 else result):
                    if row is None:
                        skipped[j].append((files[i], reason))
                        if reason not in logged:
                            logged.add(reason)
                            log(f"left out {files[i]}: {reason}")
                    else:
                        rows[j].append(row)
                        kept[j].extend([i] * (len(row) if settings_list[j]["segment"] is not None
                                              else 1))
    finally:
        if writer is not None:
            writer.close()
    stamps = {str(f): _clip_stamp(st) for f, st in zip(files, stats, strict=True)}
    ann_changed = sha256_file(ann_path) != ann_sha
    changed = None if ann_changed else _changed_clip(root, stamps)
    if resume and (ann_changed or changed):  # the progress describes what is gone
        _remove_partials(split_dir)
    if ann_changed:
        raise StaleFeaturesError(
            f"{ann_path} changed while the features of split {split_dir.name!r} were being "
            f"extracted (another `prepare` run?); nothing was written; {_rerun(split_dir)}")
    if changed:
        raise StaleFeaturesError(
            f"a clip of split {split_dir.name!r} changed while its features were being "
            f"extracted ({changed}); nothing was written; {_rerun(split_dir)}")
    out = []
    for settings, columns, rows_j, kept_j, skipped_j in zip(settings_list, all_columns, rows,
                                                            kept, skipped, strict=True):
        if settings["segment"] is not None:
            feats = pd.concat(rows_j, ignore_index=True) if rows_j else pd.DataFrame(
                {"segment": pd.Series(dtype=np.int64), **{c: pd.Series(dtype=float)
                                                          for c in columns}})
            if list(feats.columns) != ["segment", *columns]:  # a programming error
                raise RuntimeError(f"segment columns {list(feats.columns)[:5]}... differ from "
                                   f"feature_names()")
        else:
            feats = pd.DataFrame(rows_j, columns=columns)
        table = pd.concat([ann.iloc[kept_j][["audio_file", *labels]].reset_index(drop=True),
                           feats], axis=1)
        out.append((table, skipped_j, labels, columns, ann_sha, len(rows_j), stamps))
    return out


def _features_for_file_multi(path: str, settings_list: list[dict]) -> list[tuple]:
    """One clip's (row, reason) under each of several settings: decoded once, and each part
    of a feature set (hand-crafted set, embedding) computed once per pooling setting; a
    combined set's row is its parts' columns side by side, as :func:`extract_features`
    returns them."""
    for s in settings_list:
        if split_feature_set(s["feature_set"])[1] is not None:
            check_musicnn_checkpoint(s)  # every clip would fail alike: end the build
    try:
        y = load_audio(path, sr=settings_list[0]["sr"])
    except AudioLoadError as exc:
        return [(None, str(exc))] * len(settings_list)
    parts: dict = {}

    def part(settings, name):
        ps = {k: settings.get(k) for k in SETTING_KEYS if k in settings}
        ps["feature_set"] = name
        if name != "musicnn":
            for k in MUSICNN_SETTING_KEYS:
                ps.pop(k, None)
        key = json.dumps(ps, sort_keys=True)
        if key not in parts:
            threads = _one_torch_thread() if name == "musicnn" else contextlib.nullcontext()
            try:
                with threads:
                    parts[key] = (extract_with_settings(y, ps, check_checkpoint=False), None)
            except EmbeddingError:
                raise
            except FeatureError as exc:
                parts[key] = (None, str(exc))
        return parts[key]

    out = []
    for settings in settings_list:
        pieces = [part(settings, name) for name in split_feature_set(settings["feature_set"])
                  if name]
        reasons = [r for _, r in pieces if r is not None]
        if reasons:
            out.append((None, reasons[0]))
        elif settings["segment"] is None:
            row: dict = {}
            for piece, _ in pieces:
                row.update(piece)
            out.append((row, None))
        else:
            first, *rest = [p for p, _ in pieces]
            out.append((pd.concat([first, *[p.drop(columns="segment") for p in rest]], axis=1),
                        None))
    return out


def _features_json(meta: dict, stamps: dict) -> str:
    """``features.json``: ``meta`` indented, then ``clip_stamps``, one clip a line."""
    head = json.dumps(meta, indent=2)  # "{ ... \n}"
    lines = [f"    {json.dumps(f)}: {json.dumps(v, separators=(',', ':'))}"
             for f, v in stamps.items()]
    body = "{\n" + ",\n".join(lines) + "\n  }" if lines else "{}"
    return f'{head[:-2]},\n  "clip_stamps": {body}\n}}\n'


def _stage_split(split_dir: Path, settings: dict, *, n_jobs: int, scheduler, progress: bool,
                 log) -> _StagedSplit:
    table, skipped, labels, columns, ann_sha, n_clips, stamps = _compute_table(
        split_dir, settings, n_jobs=n_jobs, scheduler=scheduler, progress=progress, log=log,
        resume=True)
    staged = _StagedSplit(split_dir, table)
    try:
        csv_path = staged.stage(split_dir / "features.csv",
                                _csv_writer(table), ".csv.tmp")
        skip_path = split_dir / "features_skipped.csv"
        if skipped or skip_path.exists():  # rewritten, never left stale from an earlier run
            skip_table = pd.DataFrame(skipped, columns=["audio_file", "reason"])
            staged.stage(skip_path, _csv_writer(skip_table), ".csv.tmp")
        meta = {"format_version": FEATURES_FORMAT_VERSION, **settings,
                "label_columns": labels, "feature_columns": columns,
                "n_rows": len(table), "n_clips": n_clips,
                "annotations_sha256": ann_sha, "features_sha256": sha256_file(csv_path)}
        text = _features_json(meta, stamps)
        staged.stage(split_dir / "features.json",
                     lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), ".tmp")
    except BaseException:
        staged.discard()
        raise
    return staged


def build_feature_table(split_dir: str | os.PathLike, *, stats: Iterable[str] = ("mean",),
                        feature_set: str | Iterable[str] = "seed", n_mfcc: int = 13,
                        segment: float | None = None, segment_hop: float | None = None,
                        musicnn_model: str | None = None, musicnn_layer: str | None = None,
                        n_jobs: int = -1, scheduler=None, progress: bool = True, log=None
                        ) -> pd.DataFrame:
    """Extract every clip listed in ``split_dir/annotations.csv`` and write ``features.csv``.

    Clips are read and featurised one at a time in worker processes
    (:func:`bag_of_songs.parallel.map_parallel`: they die with this process and ignore
    Ctrl-C), a few clips in flight at a time, so memory stays flat however large the corpus.
    With ``scheduler`` (or ``$BAG_OF_SONGS_SCHEDULER``), the clips are featurised on an
    existing Dask cluster instead (needs ``distributed``; the clips must be on storage every
    worker can read); the rows come back to this process, which writes the same table, the
    same skip list and the same ``features.json``, byte for byte, as a local run.

    The data folder (``split_dir``'s parent) is locked while the table is built, and the new
    files are written beside the old ones and renamed into place only when all are complete,
    ``features.json`` last; :func:`check_feature_table` refuses any mix an interruption leaves.

    **Resume.** Each clip's rows are appended, as soon as they are computed, to a hidden side
    file in the split folder (``.features.partial.<settings hash>.jsonl``: the settings, and
    per clip its name, size, modification and change times, inode, and rows, floats written
    so that they read back exactly). Run again with the same settings after an interruption,
    the clips it holds are reused (only those whose file is unchanged) and only the others
    are extracted, giving the same table, byte for byte, as an uninterrupted run. The side
    file is removed once the table is published, and when a run with other settings starts;
    one that is not exactly as written (edited, truncated, from another version or another
    machine) is ignored. Clips that could not be decoded are tried again.

    With a musicnn embedding (``feature_set="musicnn"``, ``"seed+musicnn"``, ...), each worker
    process loads the network once (on its first clip, then keeps it) and embeds one clip at
    a time (10 patches of 3 s, one per forward pass: about 6 MB above the loaded process;
    importing torch costs each worker about 200 MB once), on one torch thread: one clip per
    core, as for the hand-crafted features (with ``n_jobs=1`` this process's thread count is
    restored afterwards). A missing checkpoint is reported before any worker starts. The
    network costs about 0.3 s per 30 s clip and core (3 clips per second on one worker, 6 on
    two, against about 50 for the seed table; ``benchmarks/bench_musicnn.py``): for a large
    corpus, use every core, or a Dask cluster.

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 7, through
    :func:`build_feature_tables`).

    Parameters
    ----------
    split_dir : path-like
        A prepared split, e.g. ``ccmusic/train``.
    stats : iterable of str
        Pooling statistics over frames (hand-crafted features) and over 3 s patches (an
        embedding), see :func:`extract_features`.
    feature_set : str or list of str
        One of :data:`TABLE_FEATURE_SETS`: ``"seed"``, ``"extended"``, ``"musicnn"``,
        ``"seed+musicnn"``, ``"extended+musicnn"`` (or a list of parts).
    n_mfcc : int
    segment : float, optional
        Segment length in seconds (e.g. 3.0): one row per segment (texture window) of each
        clip, see :func:`extract_features` (and :func:`segment_patches` for the embedding);
        None (default): one row per clip.
    segment_hop : float, optional
        Seconds between segment starts (default ``segment``).
    musicnn_model : {"MSD_musicnn", "MTT_musicnn"}, optional
        With an embedding (default ``MSD_musicnn``).
    musicnn_layer : str, optional
        With an embedding: one of :data:`MUSICNN_LAYERS` (default ``penultimate``, the
        recommended one).
    n_jobs : int
        Local worker processes (-1 = all cores; never more than there are clips; 1 = in this
        process). Ignored with a Dask scheduler.
    scheduler : str, distributed.Client or None
        None: ``$BAG_OF_SONGS_SCHEDULER`` when set, else local processes; ``"local"``; or a
        Dask scheduler address such as ``"tcp://10.0.0.5:8786"`` (see
        :func:`bag_of_songs.parallel.resolve_scheduler`).
    progress : bool
    log : callable, optional
        Receives one line per clip left out (default: stderr).

    Returns
    -------
    table : pandas.DataFrame
        ``audio_file``, the label column(s) (every column of ``annotations.csv`` but
        ``audio_file`` and ``source``), for a segment table ``segment`` (0, 1, ... within each
        clip, the clip's rows together and in order), then the feature columns; also written
        to ``split_dir/features.csv``. A missing or unreadable clip is reported (``log``) and
        left out, never written as a NaN row; the clips left out and why are listed in
        ``split_dir/features_skipped.csv``.

        ``split_dir/features.json`` records: ``format_version``
        (:data:`FEATURES_FORMAT_VERSION`), the settings (``sr, n_fft, hop_length, n_mfcc,
        stats, feature_set, tuning, segment, segment_hop``; with an embedding also
        ``musicnn_model, musicnn_layer, musicnn_settings``, the last with the checkpoint's
        SHA-256, see :func:`feature_settings`), ``label_columns``,
        ``feature_columns`` (in table order, without ``segment``), ``n_rows`` (rows of
        ``features.csv``), ``n_clips`` (clips kept; ``n_rows`` for a whole-clip table),
        ``annotations_sha256`` (of ``annotations.csv`` as read), ``features_sha256`` (of
        ``features.csv`` as written) and ``clip_stamps`` (``audio_file -> [size, mtime_ns]``
        of every clip listed, null for a missing one, taken before the clips were read).

    Raises
    ------
    FileNotFoundError
        When the split has no ``annotations.csv``.
    FeatureError
        On an unknown statistic or feature set, ``n_mfcc`` outside 1..128, or an unknown
        musicnn model or layer.
    EmbeddingError
        With an embedding, when the musicnn checkpoint files are not installed (before any
        clip is read; the message names ``pip install --no-deps musicnn==0.1.0``), or a
        worker's differ from this process's.
    FolderLockedError
        When another run (``prepare``, ``features``) is writing into the data folder.
    SchedulerError
        When the Dask scheduler cannot be used (``distributed`` missing, address unreachable).
    StaleFeaturesError
        When ``annotations.csv`` or a clip changed while the features were extracted (nothing
        is written).
    """
    split_dir = Path(split_dir)
    settings = feature_settings(n_mfcc=n_mfcc, stats=stats, feature_set=feature_set,
                                segment=segment, segment_hop=segment_hop,
                                musicnn_model=musicnn_model, musicnn_layer=musicnn_layer)
    with _locked(split_dir.parent):
        _remove_debris(split_dir)
        staged = _stage_split(split_dir, settings, n_jobs=n_jobs, scheduler=scheduler,
                              progress=progress, log=log or log_to_stderr)
        try:
            staged.publish()
        finally:
            staged.discard()
        _remove_partials(split_dir)  # published: the side file is no longer needed
    return staged.table


def extract_feature_table(split_dir: str | os.PathLike, *, stats: Iterable[str] = ("mean",),
                          feature_set: str | Iterable[str] = "seed", n_mfcc: int = 13,
                          segment: float | None = None, segment_hop: float | None = None,
                          musicnn_model: str | None = None, musicnn_layer: str | None = None,
                          n_jobs: int = -1, scheduler=None, progress: bool = True, log=None
                          ) -> pd.DataFrame:
    """The table :func:`build_feature_table` would write, computed in memory: nothing is
    written, and the split's ``features.csv`` is left as it is.

    For comparing feature settings side by side (segments, another feature set, an
    embedding) without replacing the table the other steps read, as
    :func:`bag_of_songs.models.compare_feature_sets` and the notebooks do. The rows are the
    same, clip for clip, as a table built with the same settings; clips that cannot be read
    are reported (``log``) and left out.

    Used in ``notebooks/2-features-explanation.ipynb`` (texture windows),
    ``notebooks/3-models-prediction.ipynb`` (segment models) and
    ``notebooks/5-pretrained-embeddings.ipynb`` (musicnn tables).

    Parameters
    ----------
    split_dir : path-like
        A prepared split, e.g. ``ccmusic/train``.
    stats, feature_set, n_mfcc, segment, segment_hop, musicnn_model, musicnn_layer, n_jobs, \
scheduler, progress, log
        As for :func:`build_feature_table`.

    Returns
    -------
    table : pandas.DataFrame
        ``audio_file``, the label columns, ``segment`` for a segment table, then the feature
        columns. ``table.attrs["settings"]`` holds the feature settings
        (:func:`feature_settings`), ``table.attrs["skipped"]`` the clips left out as
        ``(audio_file, reason)`` pairs.

    Raises
    ------
    FileNotFoundError
        When the split has no ``annotations.csv``.
    FeatureError, EmbeddingError, SchedulerError
        As for :func:`build_feature_table`.
    StaleFeaturesError
        When ``annotations.csv`` or a clip changed while the features were extracted.
    """
    return extract_setting_tables(
        split_dir, [{"stats": stats, "feature_set": feature_set, "n_mfcc": n_mfcc,
                     "segment": segment, "segment_hop": segment_hop,
                     "musicnn_model": musicnn_model, "musicnn_layer": musicnn_layer}],
        n_jobs=n_jobs, scheduler=scheduler, progress=progress, log=log)[0]


#: The keywords of :func:`extract_feature_table` that are feature settings.
EXTRACTION_KEYWORDS = ("stats", "feature_set", "n_mfcc", "segment", "segment_hop",
                       "musicnn_model", "musicnn_layer")


def extract_setting_tables(split_dir: str | os.PathLike, settings: Sequence[Mapping], *,
                           n_jobs: int = -1, scheduler=None, progress: bool = True, log=None
                           ) -> list[pd.DataFrame]:
    """:func:`extract_feature_table` for several settings in one pass over the clips.

    Each clip is decoded once, and each part of a feature set (the hand-crafted set, the
    embedding) is computed once per pooling setting: ``seed`` and ``seed+musicnn`` share the
    study's columns, ``musicnn`` and ``seed+musicnn`` share the network's forward passes. A
    combined set's row is its parts' columns side by side, as :func:`extract_features`
    returns it, so every table equals the one :func:`extract_feature_table` gives for its
    setting alone. Nothing is written.

    Used by :func:`bag_of_songs.models.compare_feature_sets`.

    Parameters
    ----------
    split_dir : path-like
        A prepared split.
    settings : sequence of mapping
        Keywords of :func:`extract_feature_table` (:data:`EXTRACTION_KEYWORDS`), one mapping
        per table, e.g. ``[{}, {"segment": 3.0}, {"feature_set": "seed+musicnn"}]``.
    n_jobs, scheduler, progress, log
        As for :func:`build_feature_table`.

    Returns
    -------
    tables : list of pandas.DataFrame
        One per setting, in order, each with ``attrs["settings"]`` and ``attrs["skipped"]``.

    Raises
    ------
    FeatureError
        On an unknown keyword or a bad setting (before any clip is read).
    EmbeddingError, SchedulerError, StaleFeaturesError
        As for :func:`extract_feature_table`.
    """
    split_dir = Path(split_dir)
    resolved = []
    for kwargs in settings:
        unknown = sorted(set(kwargs) - set(EXTRACTION_KEYWORDS))
        if unknown:
            raise FeatureError(f"unknown extraction keyword(s) {unknown}; choose from "
                               f"{list(EXTRACTION_KEYWORDS)}")
        resolved.append(feature_settings(**kwargs))
    if not resolved:
        return []
    results = _compute_tables(split_dir, resolved, n_jobs=n_jobs, scheduler=scheduler,
                              progress=progress, log=log or log_to_stderr)
    tables = []
    for s, (table, skipped, *_) in zip(resolved, results, strict=True):
        table.attrs["settings"] = s
        table.attrs["skipped"] = [tuple(x) for x in skipped]
        tables.append(table)
    return tables


def build_feature_tables(data_dir: str | os.PathLike, **kwargs) -> dict[str, pd.DataFrame]:
    """Run :func:`build_feature_table` on every prepared split under ``data_dir``.

    Every split's table is built first (beside the current ones) and only then are all put in
    place, so an interruption while extracting leaves the previous tables as they were; an
    interruption while renaming (a few milliseconds) leaves splits with different settings,
    which :func:`check_feature_tables` refuses. The data folder is locked throughout. The
    clips finished before an interruption are kept in each split's side file, and the same
    call again resumes from them (see :func:`build_feature_table`).

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    data_dir : path-like
        A prepared folder (see :func:`bag_of_songs.data.prepare`), e.g. ``ccmusic``.
    **kwargs
        Passed to :func:`build_feature_table`: ``stats``, ``feature_set``, ``n_mfcc``,
        ``segment``, ``segment_hop``, ``musicnn_model``, ``musicnn_layer``, ``n_jobs``,
        ``scheduler``, ``progress``, ``log``.

    Returns
    -------
    tables : dict split name -> pandas.DataFrame
        In split order (train, validation, test, then the others by name); each also written
        to ``data_dir/<split>/features.csv``, with its settings in ``features.json``.

    Raises
    ------
    FileNotFoundError
        When ``data_dir`` holds no prepared split (no ``*/annotations.csv``).
    FeatureError
        On an unknown statistic or feature set, ``n_mfcc`` outside 1..128, or an unknown
        musicnn model or layer.
    EmbeddingError
        With an embedding, when the musicnn checkpoint files are not installed (before any
        clip is read).
    """
    data_dir = Path(data_dir)
    setting_args = ("stats", "feature_set", "n_mfcc", "segment", "segment_hop",
                    "musicnn_model", "musicnn_layer")
    unknown = set(kwargs) - {*setting_args, "n_jobs", "scheduler", "progress", "log"}
    if unknown:
        raise TypeError(f"build_feature_tables() got unexpected keyword argument(s) "
                        f"{sorted(unknown)}")
    settings = feature_settings(**{k: kwargs[k] for k in setting_args if k in kwargs})
    options = {"n_jobs": kwargs.get("n_jobs", -1), "scheduler": kwargs.get("scheduler"),
               "progress": kwargs.get("progress", True),
               "log": kwargs.get("log") or log_to_stderr}
    splits = list_splits(data_dir)
    if not splits:
        raise FileNotFoundError(f"{data_dir}: no prepared split (no */annotations.csv); "
                                "run `bag-of-songs prepare` first")
    with _locked(data_dir):
        staged: dict[str, _StagedSplit] = {}
        try:
            for s in splits:
                _remove_debris(data_dir / s)
                staged[s] = _stage_split(data_dir / s, settings, **options)
            for s in splits:
                staged[s].publish()
        finally:
            for st in staged.values():
                st.discard()
        for s in splits:  # published: the side files are no longer needed
            _remove_partials(data_dir / s)
    return {s: st.table for s, st in staged.items()}


def rank_features(table: pd.DataFrame, *, label_column: str) -> pd.DataFrame:
    """How well each feature separates the classes, by effect size, best first.

    Two classes: Cohen's d (difference of means over the pooled standard deviation), ranked
    by its absolute value. More classes: eta squared from a one-way ANOVA (the share of the
    feature's variance explained by the class), also reported as ``effect``.

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    table : pandas.DataFrame
        A feature table (``features.csv``); only its feature columns are ranked (never
        ``audio_file``, labels or a segment table's ``segment`` index).
    label_column : str

    Returns
    -------
    ranking : pandas.DataFrame
        Columns ``feature, effect, measure`` and, for two classes, ``higher_in`` (the class
        with the larger mean).
    """
    if label_column not in table.columns:
        raise FeatureError(f"no column {label_column!r} in the table")
    labels = table[label_column].astype(str).to_numpy()
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise FeatureError(f"{label_column!r} has fewer than two classes")
    cols = feature_columns(table, exclude=[label_column, "segment"])
    rows = []
    for c in cols:
        x = table[c].to_numpy(dtype=float)
        groups = [x[labels == k] for k in classes]
        if len(classes) == 2:
            a, b = groups
            pooled = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1))
                             / max(len(a) + len(b) - 2, 1)) if min(len(a), len(b)) > 1 else 0.0
            diff = b.mean() - a.mean()
            d = diff / pooled if pooled > 0 else 0.0
            rows.append({"feature": c, "effect": float(abs(d)), "measure": "|Cohen's d|",
                         "higher_in": classes[1] if diff > 0 else classes[0]})
        else:
            grand = x.mean()
            between = sum(len(g) * (g.mean() - grand) ** 2 for g in groups if len(g))
            total = ((x - grand) ** 2).sum()
            rows.append({"feature": c, "effect": float(between / total) if total > 0 else 0.0,
                         "measure": "eta squared"})
    return pd.DataFrame(rows).sort_values("effect", ascending=False, ignore_index=True)


def correlated_pairs(table: pd.DataFrame, *, top: int | None = 5) -> pd.DataFrame:
    """The most strongly correlated pairs of features, by absolute Pearson correlation.

    Used in ``notebooks/2-features-explanation.ipynb`` (section 7, beside the correlation
    heatmap): strongly correlated features add little information to each other.

    Parameters
    ----------
    table : pandas.DataFrame [shape=(n_clips, n_columns)]
        A feature table; only its feature columns (:func:`bag_of_songs.data.feature_columns`)
        count, never the labels, ids or a segment table's ``segment`` index.
    top : int or None
        How many pairs to return (None: all ``n_features * (n_features - 1) / 2``).

    Returns
    -------
    pairs : pandas.DataFrame [shape=(top, 3)]
        Columns ``feature_a, feature_b, r``, one row per pair of distinct features
        (``feature_a`` comes first in the table), sorted by ``|r|``, largest first (ties in
        table order). Pairs involving a constant feature, whose ``r`` is undefined, are left
        out.

    Examples
    --------
    >>> t = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [2.0, 4, 6, 8], "c": [4.0, 1, 3, 2]})
    >>> correlated_pairs(t, top=2)
      feature_a feature_b    r
    0         a         b  1.0
    1         a         c -0.4
    """
    cols = feature_columns(table, exclude=["segment"])
    corr = table[cols].corr().to_numpy()
    i, j = np.triu_indices(len(cols), k=1)
    r = corr[i, j]
    keep = np.isfinite(r)
    pairs = pd.DataFrame({"feature_a": np.asarray(cols, dtype=object)[i[keep]],
                          "feature_b": np.asarray(cols, dtype=object)[j[keep]],
                          "r": r[keep]})
    pairs = pairs.sort_values("r", key=np.abs, ascending=False, kind="stable",
                              ignore_index=True)
    return pairs if top is None else pairs.head(top)
