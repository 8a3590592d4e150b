r"""musicnn's front end: a clip as 16 kHz log-mel patches of 187 frames (3 s).

The same input as musicnn's ``batch_data`` (``librosa.feature.melspectrogram`` with its
defaults), computed with the project's STFT (:func:`bag_of_songs.spectrum.compute_spectrogram`)
in float32 throughout. librosa (its soxr resampler and Slaney mel filters) is imported when a
clip first needs it, not when the package is imported: it is a slow import that reading the
constants does not need.

Explained in ``notebooks/5-pretrained-embeddings.ipynb``.
"""

from __future__ import annotations

import functools

import numpy as np

from ..._librosa import load_librosa
from ...spectrum import compute_spectrogram
from .config import HOP_LENGTH, N_FFT, N_FRAMES, N_MELS, SR, MusicnnError

__all__ = ["musicnn_input"]


@functools.lru_cache(maxsize=2)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    librosa = load_librosa()  # deferred: a slow import, needed only once a clip is embedded

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


def musicnn_input(y: np.ndarray, *, sr: int) -> np.ndarray:
    r"""The network's input: log-mel patches of 187 frames (3 s) at 16 kHz.

    The signal is resampled to 16 kHz with soxr (``soxr_hq``, as ``librosa.load`` and
    :func:`bag_of_songs.data.load_audio` do) unless it is at 16 kHz already; then, in float32,
    the power spectrogram with the project's STFT
    (:func:`bag_of_songs.spectrum.compute_spectrogram`: centred frames zero-padded at the ends,
    periodic Hann window, ``n_fft`` 512, hop 256), librosa's 96 Slaney mel filters (``htk``
    off, ``norm="slaney"``), and :math:`X = \log_{10}(10000\,M + 1)`: the same as musicnn's
    ``batch_data`` (``librosa.feature.melspectrogram`` with its defaults) except that musicnn
    casts the mel power to float16 before the log, which overflows to infinity on loud music;
    this uses float32 throughout, as the reference activations do.

    Patches do not overlap. A trailing part shorter than a patch is dropped (as musicnn does):
    a 30 s clip (1876 frames) gives 10 patches covering its first 29.9 s. A clip shorter than
    one patch (under 2.99 s) is repeated (its frames tiled, as musicnn's training did with
    ``pad_short="repeat-pad"``) to fill one patch.

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal, floating point.
    sr : int > 0
        Its sampling rate.

    Returns
    -------
    patches : np.ndarray [shape=(n_patches, 187, 96), dtype=float32]
        Time along axis 1, mel band along axis 2 (musicnn's layout).

    Raises
    ------
    MusicnnError
        If ``y`` is not a non-empty 1-D floating-point signal of finite samples, or ``sr`` is
        not positive.

    Examples
    --------
    A 30 s clip at 16 kHz gives 10 patches; at another rate it is resampled first:

    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> y = synthesize_demo_clip("rock", 0, sr=16000)
    >>> musicnn_input(y, sr=16000).shape
    (10, 187, 96)
    >>> musicnn_input(synthesize_demo_clip("solo", 1, sr=22050, duration=6.0), sr=22050).shape
    (2, 187, 96)

    A clip shorter than a patch is repeated to fill one:

    >>> musicnn_input(y[:16000], sr=16000).shape
    (1, 187, 96)
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise MusicnnError(f"expected a mono signal of shape (n,), got shape {y.shape}")
    if y.size == 0:
        raise MusicnnError("the signal is empty")
    if not np.issubdtype(y.dtype, np.floating):
        raise MusicnnError(f"expected floating-point samples, got dtype {y.dtype}")
    if not np.all(np.isfinite(y)):
        raise MusicnnError("the signal holds non-finite samples (NaN or infinity)")
    if not sr > 0:
        raise MusicnnError(f"invalid sampling rate {sr}")
    y = y.astype(np.float32, copy=False)
    if sr != SR:
        librosa = load_librosa()  # deferred: a slow import, needed only once a clip is resampled

        y = librosa.resample(y, orig_sr=sr, target_sr=SR, res_type="soxr_hq")
    power = compute_spectrogram(y, n_fft=N_FFT, hop_length=HOP_LENGTH, power=2.0)
    mel = (_mel_basis(SR, N_FFT, N_MELS) @ power).T  # (frames, bands)
    logmel = np.log10(np.float32(10000) * mel + np.float32(1)).astype(np.float32, copy=False)
    n = logmel.shape[0]
    if n < N_FRAMES:
        logmel = np.tile(logmel, (-(-N_FRAMES // n), 1))
        n = logmel.shape[0]
    n_patches = n // N_FRAMES
    return np.ascontiguousarray(logmel[: n_patches * N_FRAMES].reshape(n_patches, N_FRAMES,
                                                                        N_MELS))
