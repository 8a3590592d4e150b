"""Audio decoding and homogenisation: any file or array to a mono 22,050 Hz clip of 30 s.

Every clip is decoded (wav, flac, ogg, mp3 via soundfile), mixed to mono, resampled to
:data:`SAMPLE_RATE` with soxr (as ``librosa.load`` does) and cropped (from the start) or
zero-padded (at the end) to :data:`N_SAMPLES`. :func:`clip_warnings` says when a clip is mostly
padding or silent; :func:`write_clip` and :func:`is_complete_clip` write and check a
prepared clip. Re-exported by :mod:`bag_of_songs.data` (and, for old imports, by
:mod:`bag_of_songs.audio`).

Explained in ``notebooks/1-data-preparation.ipynb`` (section 4, homogenisation).
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from .._constants import (
    AUDIO_EXTENSIONS,
    DURATION,
    FRAME_SIZE,
    HOP_LENGTH,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    N_SAMPLES,
    SAMPLE_RATE,
)
from .._librosa import load_librosa
from ..errors import AudioLoadError

__all__ = [
    "SAMPLE_RATE",
    "DURATION",
    "N_SAMPLES",
    "FRAME_SIZE",
    "HOP_LENGTH",
    "AUDIO_EXTENSIONS",
    "MIN_SAMPLE_RATE",
    "MAX_SAMPLE_RATE",
    "MAX_CHANNELS",
    "MIN_REAL_FRACTION",
    "SILENCE_PEAK",
    "SILENCE_RMS",
    "AudioLoadError",
    "fix_length",
    "to_clip",
    "load_audio",
    "clip_warnings",
]

#: At most this many channels: the axis of a 2-D array that is this short is the channel axis.
MAX_CHANNELS = 8

#: A clip is "mostly padding" when less than this fraction of it is real audio.
MIN_REAL_FRACTION = 0.5
#: A clip is "silent" when its peak is below this (-60 dBFS) ...
SILENCE_PEAK = 1e-3
#: ... or the RMS of its real (unpadded) part is below this (-80 dBFS).
SILENCE_RMS = 1e-4


def fix_length(y: np.ndarray, n_samples: int = N_SAMPLES) -> np.ndarray:
    """Crop a signal from the start or zero-pad it at the end to exactly ``n_samples``.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 4, homogenisation).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal.
    n_samples : int > 0
        Target length in samples (default 661,500 = 30 s at 22,050 Hz).

    Returns
    -------
    y_fixed : np.ndarray [shape=(n_samples,), dtype=float32]

    Raises
    ------
    ValueError
        If ``y`` is not 1-D, is empty, or holds non-finite samples (a dataset row with no
        audio must not become a silent clip).
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"fix_length expects a mono signal of shape (n,), got shape {y.shape}")
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    if y.size == 0:
        raise ValueError("the signal holds no samples")
    if not np.all(np.isfinite(y)):
        raise ValueError("the signal holds non-finite samples (NaN or infinity)")
    if len(y) >= n_samples:
        return np.ascontiguousarray(y[:n_samples])
    out = np.zeros(n_samples, dtype=np.float32)
    out[: len(y)] = y
    return out


def _check_rate(orig_sr) -> None:
    if not MIN_SAMPLE_RATE <= orig_sr <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"a sampling rate of {orig_sr:,} Hz is outside the plausible range "
            f"{MIN_SAMPLE_RATE:,} .. {MAX_SAMPLE_RATE:,} Hz (a corrupt or wrong header)")


def _channel_axis(shape: tuple[int, int]) -> int:
    """The channel axis of a 2-D array: the one axis of at most MAX_CHANNELS entries."""
    short = [ax for ax in (0, 1) if shape[ax] <= MAX_CHANNELS]
    if len(short) == 1:
        return short[0]
    if not short:
        raise ValueError(
            f"cannot tell the channel axis of audio of shape {shape}: neither axis is "
            f"{MAX_CHANNELS} or shorter; pass channel_axis")
    raise ValueError(
        f"cannot tell the channel axis of audio of shape {shape}: both axes are "
        f"{MAX_CHANNELS} or shorter; pass channel_axis=0 (channels first) or -1 (last)")


def _to_clip(y, orig_sr, *, sr, duration, channel_axis) -> tuple[np.ndarray, int]:
    """:func:`to_clip`, also returning how many samples of the clip are real (not padding)."""
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer):  # PCM integers: scale to [-1, 1) as soundfile does
        y = y.astype(np.float32) / np.float32(-np.iinfo(y.dtype).min)
    y = y.astype(np.float32, copy=False)
    if y.ndim not in (1, 2):
        raise ValueError(f"expected audio of shape (n,) or (n, channels), got shape {y.shape}")
    if y.size == 0:
        raise ValueError("the signal holds no samples")
    if not np.all(np.isfinite(y)):
        raise ValueError("the signal holds non-finite samples (NaN or infinity)")
    if y.ndim == 2:
        axis = _channel_axis(y.shape) if channel_axis is None else channel_axis
        y = y.mean(axis=axis, dtype=np.float32)
    if orig_sr <= 0:
        raise ValueError(f"invalid sampling rate {orig_sr}")
    _check_rate(orig_sr)
    n_samples = int(round(sr * duration))
    # Only resample what the crop keeps (plus a little for the resampler's edge).
    keep = int(math.ceil(duration * orig_sr))
    if len(y) > keep:
        y = y[:keep]
    n_real = min(n_samples, int(round(len(y) * sr / orig_sr)))
    if orig_sr != sr:
        librosa = load_librosa()  # deferred: a slow import, needed only to resample

        y = librosa.resample(y, orig_sr=orig_sr, target_sr=sr, res_type="soxr_hq")
    return fix_length(y, n_samples), n_real


def to_clip(
    y: np.ndarray,
    orig_sr: int,
    *,
    sr: int = SAMPLE_RATE,
    duration: float = DURATION,
    channel_axis: int | None = None,
) -> np.ndarray:
    """Homogenise a decoded signal: mono, ``sr`` Hz, exactly ``duration`` seconds.

    Use this for arrays that come from a dataset (e.g. a Hugging Face ``Audio`` column).

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 4, homogenisation).

    Parameters
    ----------
    y : np.ndarray [shape=(n,), (n, channels) or (channels, n)]
        Decoded audio, floating point in [-1, 1] or PCM integers (scaled by their range).
    orig_sr : int
        Sampling rate of ``y``, within :data:`MIN_SAMPLE_RATE` .. :data:`MAX_SAMPLE_RATE`.
    sr : int > 0
        Target sampling rate.
    duration : float > 0
        Target length in seconds; longer signals are cropped from the start, shorter ones
        zero-padded at the end.
    channel_axis : int, optional
        Axis of the channels of 2-D input. By default the axis with at most
        :data:`MAX_CHANNELS` entries (soundfile gives ``(n, channels)``, torchaudio and
        librosa ``(channels, n)``); when both axes are that short, pass it.

    Returns
    -------
    y_clip : np.ndarray [shape=(round(sr * duration),), dtype=float32]

    Raises
    ------
    ValueError
        If the signal is empty, holds non-finite samples, has an implausible sampling rate,
        or is 2-D with no clear channel axis.

    Examples
    --------
    >>> stereo = np.zeros((2, 44100), dtype=np.float32)  # channels first, 1 s at 44.1 kHz
    >>> to_clip(stereo, 44100).shape
    (661500,)
    """
    return _to_clip(y, orig_sr, sr=sr, duration=duration, channel_axis=channel_axis)[0]


def _load(path, *, sr: int, duration: float) -> tuple[np.ndarray, int]:
    """:func:`load_audio`, also returning how many samples of the clip are real audio."""
    if isinstance(path, (str, os.PathLike)):
        name = os.fspath(path)  # the whole path (a Path's .name would be the base name only)
    else:
        name = str(getattr(path, "name", None) or path)
    if isinstance(path, (str, os.PathLike)):
        p = Path(path)
        if not p.exists():
            raise AudioLoadError(f"{name}: no such file")
        if p.is_dir():
            raise AudioLoadError(f"{name}: is a folder, not an audio file")
        if p.stat().st_size == 0:
            raise AudioLoadError(f"{name}: the file is empty")
    if isinstance(path, (str, os.PathLike)) and os.name != "nt":
        # soundfile encodes a str path strictly as UTF-8; the file system's own bytes open
        # a file whose name is not UTF-8 too (e.g. Latin-1).
        path = os.fsencode(path)
    try:
        with sf.SoundFile(path) as f:
            orig_sr = f.samplerate
            try:
                _check_rate(orig_sr)  # before reading: a huge rate would ask for huge memory
            except ValueError as exc:
                raise AudioLoadError(f"{name}: {exc}") from None
            n_read = int(np.round(orig_sr * duration))
            y = f.read(frames=n_read, dtype="float32", always_2d=True)
    except AudioLoadError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError, EOFError) as exc:
        reason = str(exc).strip() or type(exc).__name__
        if "does not exist" in reason:
            # libsndfile says "File does not exist or is not a regular file" when its MP3
            # decoder rejects the content of a file that does exist.
            reason = "not a recognised audio format, or a corrupt file"
        raise AudioLoadError(f"{name}: cannot decode audio ({reason})") from exc
    if y.shape[0] == 0:
        raise AudioLoadError(f"{name}: holds no audio samples")
    try:
        return _to_clip(y, orig_sr, sr=sr, duration=duration, channel_axis=-1)
    except ValueError as exc:
        raise AudioLoadError(f"{name}: {exc}") from exc


def load_audio(
    path: str | os.PathLike | io.IOBase,
    *,
    sr: int = SAMPLE_RATE,
    duration: float = DURATION,
) -> np.ndarray:
    """Decode an audio file into a mono ``sr`` Hz clip of exactly ``duration`` seconds.

    Decodes wav, flac, ogg and mp3 with soundfile, reading only the first ``duration`` seconds;
    mixes the channels to mono (their mean), resamples with soxr (as ``librosa.load`` does),
    then crops from the start or zero-pads at the end. The result equals
    ``librosa.fix_length(librosa.load(path, sr=sr, duration=duration)[0], size=...)``.

    Explained in ``notebooks/1-data-preparation.ipynb``.

    Parameters
    ----------
    path : str, path-like or binary file object
        The audio file.
    sr : int > 0
        Target sampling rate (default 22,050 Hz).
    duration : float > 0
        Target length in seconds (default 30).

    Returns
    -------
    y : np.ndarray [shape=(round(sr * duration),), dtype=float32]
        With the defaults, shape ``(661500,)``.

    Raises
    ------
    AudioLoadError
        If the file is missing, empty, not audio, corrupt, holds non-finite samples, or its
        header states a sampling rate outside :data:`MIN_SAMPLE_RATE` ..
        :data:`MAX_SAMPLE_RATE`.

    Examples
    --------
    >>> buf = io.BytesIO()  # a 1 s WAV at 44.1 kHz, in memory
    >>> sf.write(buf, np.zeros(44100, dtype=np.float32), 44100, format="WAV")
    >>> _ = buf.seek(0)
    >>> load_audio(buf).shape  # resampled to 22,050 Hz and padded to 30 s
    (661500,)
    """
    return _load(path, sr=sr, duration=duration)[0]


def clip_warnings(y: np.ndarray, *, n_real: int | None = None, sr: int = SAMPLE_RATE
                  ) -> list[str]:
    """What is suspicious about a prepared clip: mostly padding, or silent.

    ``prepare`` logs these and lists them in ``OUT/<split>/warnings.csv``; the clip is kept
    (it may be a genuinely short or quiet piece), but a truncated file or a broken decoder
    shows up here instead of becoming a near-silent clip without a word.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 7: skipped inputs and
    warnings).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        A clip (e.g. from :func:`load_audio`).
    n_real : int, optional
        How many of its samples are real audio (the rest is zero padding); default ``len(y)``.
    sr : int > 0
        Its sampling rate.

    Returns
    -------
    warnings : list of str
        Empty for a healthy clip. "mostly padding" when less than :data:`MIN_REAL_FRACTION`
        of the clip is real audio; "silent" when its peak is below :data:`SILENCE_PEAK`
        (-60 dBFS) or the RMS of its real part below :data:`SILENCE_RMS` (-80 dBFS).

    Examples
    --------
    >>> clip_warnings(np.zeros(22050 * 30, dtype=np.float32), n_real=1543)
    ['mostly padding: only 0.07 s of the 30.00 s clip is audio, the rest is zero padding', \
'silent: peak -inf dBFS, below the -60 dBFS floor']
    """
    y = np.asarray(y, dtype=np.float32)
    n = len(y)
    n_real = n if n_real is None else max(0, min(int(n_real), n))
    out = []
    if n and n_real < MIN_REAL_FRACTION * n:
        out.append(f"mostly padding: only {n_real / sr:.2f} s of the {n / sr:.2f} s clip is "
                   f"audio, the rest is zero padding")
    peak = float(np.max(np.abs(y))) if n else 0.0
    rms = float(np.sqrt(np.mean(np.square(y[:n_real], dtype=np.float64)))) if n_real else 0.0

    def dbfs(v):
        return f"{20 * math.log10(v):.0f}" if v > 0 else "-inf"

    if peak < SILENCE_PEAK:
        out.append(f"silent: peak {dbfs(peak)} dBFS, below the "
                   f"{dbfs(SILENCE_PEAK)} dBFS floor")
    elif rms < SILENCE_RMS:
        out.append(f"silent: RMS {dbfs(rms)} dBFS, below the {dbfs(SILENCE_RMS)} dBFS floor")
    return out


def write_clip(path: str | os.PathLike, y: np.ndarray, *, sr: int = SAMPLE_RATE) -> None:
    """Write a clip as a 32-bit float WAV: exact (no clipping or quantisation) and byte-for-byte
    reproducible (libsndfile would add a PEAK chunk with a time stamp). Not atomic by itself:
    ``prepare`` calls it through :func:`bag_of_songs.files.atomic_write`."""
    import scipy.io.wavfile

    scipy.io.wavfile.write(os.fspath(path), sr, np.ascontiguousarray(y, dtype=np.float32))


def is_complete_clip(path: str | os.PathLike, *, sr: int = SAMPLE_RATE,
                     n_samples: int = N_SAMPLES) -> bool:
    """Whether ``path`` is a readable mono WAV of exactly ``n_samples`` at ``sr`` Hz."""
    try:
        info = sf.info(os.fspath(path))
    except Exception:
        return False
    return info.frames == n_samples and info.samplerate == sr and info.channels == 1
