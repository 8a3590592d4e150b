"""The short-time Fourier transform every spectral feature and the musicnn front end share.

:func:`compute_spectrogram` is the one STFT of a clip, with librosa's conventions (centred
frames zero-padded by ``n_fft // 2``, periodic Hann window, float32 real FFT), so that
:mod:`bag_of_songs.features` computes it once per clip and shares it among every spectral
feature (each of which takes ``y=`` or ``S=``, through :func:`_spectrogram`), and
:mod:`bag_of_songs.musicnn` reuses it for its 16 kHz log-mel front end. Also here: the input
checks the features share (:func:`_check_y`, :func:`_check_S`, :func:`_check_params`) and
:class:`~bag_of_songs.errors.FeatureError`, the error they raise (re-exported here and by
:mod:`bag_of_songs.features`).

Why hand-written rather than ``librosa.stft``: one STFT per clip with ``scipy.fft`` is several
times faster than librosa's and avoids importing librosa (``benchmarks/bench_features.py``,
``benchmarks/bench_startup.py``); ``tests/test_features.py`` pins the equality with librosa.

Like librosa's ``core/spectrum.py`` beside ``filters.py``, this module imports nothing of the
package but the leaf modules ``_constants`` and ``errors``, so that both the features and the
embeddings build on it.

Explained in ``notebooks/2-features-explanation.ipynb``.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np
import scipy.fft

from ._constants import FRAME_SIZE, HOP_LENGTH, SAMPLE_RATE
from .errors import FeatureError

__all__ = ["FeatureError", "compute_spectrogram"]


# ---------------------------------------------------------------------------------------------
# Input checks


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


def _check_params(**params):
    """Check feature parameters once, up front; return their values (as ints where whole).

    Knows ``sr`` (a whole number >= 1), ``n_fft`` and ``frame_length`` (whole, >= 2),
    ``hop_length`` (whole, >= 1), ``n_mels`` (whole, >= 1), ``tuning`` (None, or a finite
    number of chroma bins in [-0.5, 0.5]), ``top_db`` (finite, >= 0), ``power`` (finite, > 0)
    (:func:`bag_of_songs.features.settings._check_params` adds ``feature_set``). Returns the
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
        else:  # a programming error, not a user's
            raise TypeError(f"_check_params does not know {name!r}")
        out[name] = v
    return tuple(out.values())



# ---------------------------------------------------------------------------------------------
# Framing and the STFT


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
    A 30 s clip (as ``prepare`` writes them) of 661,500 samples:

    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> y = synthesize_demo_clip("rock", 0)
    >>> S = compute_spectrogram(y)  # magnitude; S**2 is the power spectrogram
    >>> S.shape  # 1 + F/2 bins, 1 + 661500 // H frames
    (1025, 1292)

    A pure tone puts its energy in the bin of its frequency, :math:`f(n) = n \cdot sr / F`:

    >>> tone = np.sin(2 * np.pi * 1000 * np.arange(22050) / 22050).astype(np.float32)
    >>> int(compute_spectrogram(tone)[:, 20].argmax()), round(93 * 22050 / 2048)
    (93, 1001)
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
