r"""The study's frame-level features, one function each, from the signal or a spectrogram.

Time domain: :func:`amplitude_envelope`, :func:`rms`, :func:`zero_crossing_rate`; frequency
domain: :func:`band_energy_ratio`, :func:`spectral_centroid`, :func:`spectral_bandwidth`,
:func:`spectral_rolloff`, :func:`chroma`, :func:`log_mel_spectrogram` and :func:`mfcc`.

Notation (as in the study): a clip :math:`s(i)` is cut into frames of :math:`F = 2048` samples
every :math:`H = 512` samples, centred as librosa does (frame :math:`k` is centred on sample
:math:`kH`); :math:`m_k(n)` is the magnitude of bin :math:`n` of the Fourier transform of
frame :math:`k` (Hann window), at frequency :math:`f(n) = n \cdot sr / F`.

Every spectral feature takes either the signal ``y=`` or a precomputed spectrogram ``S=``
(each docstring says which kind; :func:`bag_of_songs.spectrum.compute_spectrogram` computes
it), so that one STFT per clip serves them all. Values equal librosa's own functions with the
same parameters (``librosa.feature.rms``, ``zero_crossing_rate``, ``spectral_centroid``,
``spectral_bandwidth``, ``spectral_rolloff``, ``chroma_stft(tuning=0.0)``, ``mfcc``) up to
float32 rounding. On a silent frame every feature is finite: envelope, RMS, ZCR, BER,
centroid, bandwidth, rolloff and chroma are 0; MFCCs are those of the floor level (-100 dB).

Hand-written with numpy and ``scipy.fft`` rather than calling librosa: one shared STFT per
clip is several times faster, and importing librosa costs a fresh process seconds
(``benchmarks/bench_features.py``, ``benchmarks/bench_startup.py``).

Explained in ``notebooks/2-features-explanation.ipynb``.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft
import scipy.sparse

from .._constants import FRAME_SIZE, HOP_LENGTH, SAMPLE_RATE
from .._librosa import load_librosa
from ..errors import FeatureError
from ..filters import chroma as _chroma_filters
from ..filters import mel as _mel_filters
from ..spectrum import (
    _check_params,
    _check_S,
    _check_y,
    _fft_frequencies,
    _frame,
    _spectrogram,
    _whole,
)

#: Pitch-class names of the 12 chroma bins, in librosa's order (C first).
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


#: Floor used in the dB conversion of the mel spectrogram and in the band-energy ratio.
AMIN = 1e-10


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

    Examples
    --------
    >>> y = np.array([0.0, 0.5, -1.0, 0.25] * 1024, dtype=np.float32)
    >>> ae = amplitude_envelope(y)
    >>> ae.shape, float(ae.max())  # the largest sample, not the largest magnitude
    ((9,), 0.5)
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
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> from bag_of_songs.spectrum import compute_spectrogram
    >>> y = synthesize_demo_clip("rock", 0)  # a 30 s clip at 22,050 Hz
    >>> rms(y=y).shape
    (1292,)

    From the magnitude spectrogram the spectral features share (as ``librosa.feature.rms(S=S)``;
    for a steady signal about 0.61 times ``rms(y=y)``, the Hann window's RMS):

    >>> S = compute_spectrogram(y)
    >>> rms(S=S).shape
    (1292,)
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

    Examples
    --------
    A signal that changes sign at every sample, and silence:

    >>> alternating = np.tile(np.array([1.0, -1.0], dtype=np.float32), 4096)
    >>> round(float(np.median(zero_crossing_rate(alternating))), 3)  # F - 1 changes in F
    1.0
    >>> float(zero_crossing_rate(np.zeros(8192, dtype=np.float32)).max())
    0.0
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
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> from bag_of_songs.spectrum import compute_spectrogram
    >>> y = synthesize_demo_clip("rock", 0)  # a 30 s clip at 22,050 Hz
    >>> ber = band_energy_ratio(y=y, sr=22050)
    >>> S = compute_spectrogram(y)  # magnitude, computed once for every feature
    >>> np.allclose(band_energy_ratio(S=S, sr=22050), ber)
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
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> from bag_of_songs.spectrum import compute_spectrogram
    >>> y = synthesize_demo_clip("rock", 0)  # a 30 s clip at 22,050 Hz
    >>> cent = spectral_centroid(y=y, sr=22050)
    >>> S = compute_spectrogram(y)  # magnitude, computed once for every feature
    >>> np.allclose(spectral_centroid(S=S, sr=22050), cent)
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
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> from bag_of_songs.spectrum import compute_spectrogram
    >>> y = synthesize_demo_clip("rock", 0)  # a 30 s clip at 22,050 Hz
    >>> bw = spectral_bandwidth(y=y, sr=22050)
    >>> S = compute_spectrogram(y)  # magnitude
    >>> np.allclose(spectral_bandwidth(S=S, sr=22050), bw)
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
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> from bag_of_songs.spectrum import compute_spectrogram
    >>> y = synthesize_demo_clip("rock", 0)  # a 30 s clip at 22,050 Hz
    >>> ro = spectral_rolloff(y=y, sr=22050)
    >>> S = compute_spectrogram(y)  # magnitude
    >>> np.allclose(spectral_rolloff(S=S, sr=22050), ro)
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
    return _chroma_filters(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=12)


@functools.lru_cache(maxsize=8)
def _mel_filterbank(sr: int, n_fft: int, n_mels: int):
    # Each mel filter covers a few bins: a sparse product is several times faster.
    return scipy.sparse.csr_array(_mel_filters(sr=sr, n_fft=n_fft, n_mels=n_mels))


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
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> from bag_of_songs.spectrum import compute_spectrogram
    >>> y = synthesize_demo_clip("rock", 0)  # a 30 s clip at 22,050 Hz
    >>> C = chroma(y=y, sr=22050)
    >>> S = compute_spectrogram(y)  # magnitude
    >>> np.allclose(chroma(S=S**2, sr=22050), C)  # S**2: chroma takes the power
    True
    """
    sr, n_fft, hop_length, tuning = _check_params(sr=sr, n_fft=n_fft, hop_length=hop_length,
                                                  tuning=tuning)
    S = _spectrogram(y, S, n_fft=n_fft, hop_length=hop_length, power=2.0)
    if tuning is None:
        librosa = load_librosa()  # deferred: importing librosa costs a fresh process seconds

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
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> from bag_of_songs.spectrum import compute_spectrogram
    >>> y = synthesize_demo_clip("rock", 0)  # a 30 s clip at 22,050 Hz
    >>> S_db = log_mel_spectrogram(y=y, sr=22050)
    >>> S = compute_spectrogram(y)  # magnitude
    >>> np.allclose(log_mel_spectrogram(S=S**2, sr=22050), S_db)  # from the power
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
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> from bag_of_songs.spectrum import compute_spectrogram
    >>> y = synthesize_demo_clip("rock", 0)  # a 30 s clip at 22,050 Hz
    >>> M = mfcc(y=y, sr=22050, n_mfcc=13)
    >>> S = compute_spectrogram(y)  # magnitude
    >>> S_db = log_mel_spectrogram(S=S**2, sr=22050)  # log-power mel
    >>> np.allclose(mfcc(S=S_db, n_mfcc=13), M)
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
