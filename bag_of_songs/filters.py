"""Mel and chroma filterbanks in plain numpy, equal bit for bit to librosa's.

Why not call ``librosa.filters``: importing it pulls in ``scipy.signal``, ``numba`` and the rest
of librosa, which costs a fresh process about as much as extracting a hundred clips' worth of
the study's features (``benchmarks/bench_startup.py`` measures it). The two filterbanks the
features need are a few lines of numpy; they are written here with the same operations in the
same order as ``librosa.filters.mel`` (Slaney mel scale and area normalisation) and
``librosa.filters.chroma`` (Ellis' Gaussian chroma bumps, L2-normalised columns, octave
weighting centred on C5), so the arrays are identical to librosa's and the feature tables stay
byte-identical. ``tests/test_filters.py`` pins that equality against librosa itself.

See ``notebooks/2-features-explanation.ipynb`` (sections on chroma and MFCCs).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["fft_frequencies", "hz_to_mel", "mel_to_hz", "mel_frequencies", "mel", "chroma"]

# The Slaney mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def fft_frequencies(*, sr: float, n_fft: int) -> np.ndarray:
    """Centre frequency of each STFT bin.

    Parameters
    ----------
    sr : float > 0
    n_fft : int > 0

    Returns
    -------
    freqs : np.ndarray [shape=(1 + n_fft // 2,)]

    Examples
    --------
    >>> fft_frequencies(sr=22050, n_fft=8)
    array([    0.  ,  2756.25,  5512.5 ,  8268.75, 11025.  ])
    """
    return np.fft.rfftfreq(n=n_fft, d=1.0 / sr)


def hz_to_mel(frequencies) -> np.ndarray:
    """Hz to mels on the Slaney scale (linear below 1 kHz, logarithmic above).

    Parameters
    ----------
    frequencies : float or np.ndarray

    Returns
    -------
    mels : np.ndarray [shape=frequencies.shape]

    Examples
    --------
    >>> round(float(hz_to_mel(1000.0)), 9)
    15.0
    """
    frequencies = np.asanyarray(frequencies)
    mels = (frequencies - 0.0) / _F_SP
    if frequencies.ndim:
        log_t = frequencies >= _MIN_LOG_HZ
        mels[log_t] = _MIN_LOG_MEL + np.log(frequencies[log_t] / _MIN_LOG_HZ) / _LOGSTEP
    elif frequencies >= _MIN_LOG_HZ:
        mels = _MIN_LOG_MEL + np.log(frequencies / _MIN_LOG_HZ) / _LOGSTEP
    return mels


def mel_to_hz(mels) -> np.ndarray:
    """Mels on the Slaney scale to Hz (the inverse of :func:`hz_to_mel`).

    Parameters
    ----------
    mels : float or np.ndarray

    Returns
    -------
    frequencies : np.ndarray [shape=mels.shape]

    Examples
    --------
    >>> round(float(mel_to_hz(15.0)), 9)
    1000.0
    """
    mels = np.asanyarray(mels)
    freqs = 0.0 + _F_SP * mels
    if mels.ndim:
        log_t = mels >= _MIN_LOG_MEL
        freqs[log_t] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels[log_t] - _MIN_LOG_MEL))
    elif mels >= _MIN_LOG_MEL:
        freqs = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels - _MIN_LOG_MEL))
    return freqs


def mel_frequencies(n_mels: int, *, fmin: float = 0.0, fmax: float) -> np.ndarray:
    """``n_mels`` frequencies equally spaced on the Slaney mel scale from ``fmin`` to ``fmax``.

    Parameters
    ----------
    n_mels : int > 0
    fmin, fmax : float >= 0

    Returns
    -------
    freqs : np.ndarray [shape=(n_mels,)]

    Examples
    --------
    >>> mel_frequencies(3, fmax=2000.0).round(1)
    array([   0. ,  836.1, 2000. ])
    """
    mels = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels)
    return mel_to_hz(mels)


@functools.lru_cache(maxsize=8)
def mel(*, sr: int, n_fft: int, n_mels: int = 128, fmin: float = 0.0,
        fmax: float | None = None) -> np.ndarray:
    """Slaney-normalised triangular mel filterbank (``librosa.filters.mel``'s defaults).

    Each filter is a triangle between its neighbours' centres on the mel scale, scaled by
    ``2 / (f_{i+2} - f_i)`` so that every band holds about the same energy. Cached per
    setting; the returned array is read-only (copy it before changing it).

    Parameters
    ----------
    sr : int > 0
    n_fft : int > 0
    n_mels : int > 0
    fmin : float >= 0
    fmax : float > fmin, optional
        Defaults to ``sr / 2``.

    Returns
    -------
    M : np.ndarray [shape=(n_mels, 1 + n_fft // 2), dtype=float32]

    Examples
    --------
    >>> M = mel(sr=22050, n_fft=2048, n_mels=128)
    >>> M.shape, M.dtype
    ((128, 1025), dtype('float32'))
    >>> bool((M >= 0).all()) and bool((M.max(axis=1) > 0).all())
    True
    """
    if fmax is None:
        fmax = float(sr) / 2
    n_mels = int(n_mels)
    weights = np.zeros((n_mels, int(1 + n_fft // 2)), dtype=np.float32)
    mel_f = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_frequencies(sr=sr, n_fft=n_fft))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    weights.setflags(write=False)
    return weights


def _l2_normalise_columns(S: np.ndarray) -> np.ndarray:
    # As librosa.util.normalize(S, norm=2, axis=0): columns whose norm is below the dtype's
    # smallest normal number are left as they are.
    mag = np.abs(S).astype(float)
    length = np.sum(mag ** 2, axis=0, keepdims=True) ** (1.0 / 2)
    length[length < np.finfo(S.dtype).tiny] = 1.0
    out = np.empty_like(S)
    out[:] = S / length
    return out


@functools.lru_cache(maxsize=8)
def chroma(*, sr: int, n_fft: int, tuning: float = 0.0, n_chroma: int = 12,
           ctroct: float = 5.0, octwidth: float = 2.0) -> np.ndarray:
    """Chroma filterbank: each STFT bin's weight on each pitch class, C first.

    Every bin above 0 Hz gets a Gaussian bump around its pitch class (width one chroma bin,
    wider for the low bins that span more than one), columns are L2-normalised, then weighted
    by a Gaussian over octaves centred on ``ctroct`` (in octaves above A0 = 27.5 Hz) with
    half-width ``octwidth``. As ``librosa.filters.chroma`` with ``norm=2, base_c=True``.
    Cached per setting; the returned array is read-only.

    Parameters
    ----------
    sr : int > 0
    n_fft : int > 0
    tuning : float
        Deviation from A440 in fractions of a chroma bin.
    n_chroma : int > 0
    ctroct, octwidth : float > 0

    Returns
    -------
    C : np.ndarray [shape=(n_chroma, 1 + n_fft // 2), dtype=float32]

    Examples
    --------
    >>> C = chroma(sr=22050, n_fft=2048)
    >>> C.shape
    (12, 1025)
    >>> int(C[:, 40].argmax())  # bin 40 is 430.7 Hz, closest to A (index 9)
    9
    """
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    a440 = 440.0 * 2.0 ** (tuning / n_chroma)
    frqbins = n_chroma * np.log2(np.asanyarray(frequencies) / (float(a440) / 16))
    # A made-up value for the 0 Hz bin, 1.5 octaves below bin 1.
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidthbins = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1]))
    D = np.subtract.outer(frqbins, np.arange(0, n_chroma, dtype="d")).T
    n_chroma2 = np.round(float(n_chroma) / 2)
    # Distances wrapped into -n_chroma/2 .. n_chroma/2 (the offset keeps them positive).
    D = np.remainder(D + n_chroma2 + 10 * n_chroma, n_chroma) - n_chroma2
    wts = np.exp(-0.5 * (2 * D / np.tile(binwidthbins, (n_chroma, 1))) ** 2)
    wts = _l2_normalise_columns(wts)
    wts *= np.tile(np.exp(-0.5 * (((frqbins / n_chroma - ctroct) / octwidth) ** 2)),
                   (n_chroma, 1))
    wts = np.roll(wts, -3 * (n_chroma // 12), axis=0)
    out = np.ascontiguousarray(wts[:, :int(1 + n_fft / 2)], dtype=np.float32)
    out.setflags(write=False)
    return out
