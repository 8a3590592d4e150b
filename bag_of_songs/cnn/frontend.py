r"""The CNN's front end: the log-mel settings and one clip's log-mel spectrogram.

Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).

A clip :math:`s(i)` (22,050 Hz, 30 s) becomes a log-power mel spectrogram :math:`X_k(b)` in dB
(:math:`F = 2048`, :math:`H = 512`, 96 mel bands, values more than ``top_db`` = 80 dB below the
clip's maximum raised to that floor), computed with the project's own one-STFT code:
:func:`bag_of_songs.features.compute_spectrogram` (the power spectrogram, once) and
:func:`bag_of_songs.features.log_mel_spectrogram` from it. A 30 s clip gives
``1 + 661500 // 512 = 1292`` frames. The settings live in a small dict
(:func:`spectrogram_settings`) stored with every cache and every model, so training and
prediction see the same input.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from .._constants import DURATION, FRAME_SIZE, HOP_LENGTH, SAMPLE_RATE
from ..audio import load_audio
from ..errors import CNNError
from ..features.spectral import log_mel_spectrogram
from ..spectrum import compute_spectrogram

#: dtype of the cached spectrograms (dB values; float16 keeps 0.03 dB near 60 dB).
CACHE_DTYPE = np.float16

#: Version of the front end (bumped when the way spectrograms are computed changes, so that
#: caches and models made the old way are rebuilt or refused).
FRONTEND = "log_mel_db/1"



def spectrogram_settings(**overrides) -> dict:
    """The settings of the log-mel front end, with the project's defaults.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).

    Parameters
    ----------
    **overrides
        Any of ``sr`` (22,050), ``n_fft`` (F = 2048), ``hop_length`` (H = 512), ``n_mels``
        (96), ``top_db`` (80.0) and ``duration`` (30.0 s, the prepared clips' length).

    Returns
    -------
    settings : dict
        Those six keys plus ``frontend`` (the front end's version), JSON-serialisable; its
        :func:`settings_hash` names the cache.

    Raises
    ------
    CNNError
        On an unknown key or a value out of range.

    Examples
    --------
    >>> spectrogram_settings(n_mels=128)["n_mels"]
    128
    >>> n_frames(spectrogram_settings())  # 1 + 661500 // 512
    1292
    """
    s = {"sr": SAMPLE_RATE, "n_fft": FRAME_SIZE, "hop_length": HOP_LENGTH, "n_mels": 96,
         "top_db": 80.0, "duration": DURATION}
    unknown = sorted(set(overrides) - set(s) - {"frontend"})
    if unknown:
        raise CNNError(f"unknown spectrogram setting(s) {unknown}; known: {sorted(s)}")
    if overrides.get("frontend", FRONTEND) != FRONTEND:
        raise CNNError(f"spectrograms made with front end {overrides['frontend']!r} cannot be "
                       f"reproduced by this version ({FRONTEND!r})")
    s.update({k: v for k, v in overrides.items() if k != "frontend"})
    try:
        out = {"sr": int(s["sr"]), "n_fft": int(s["n_fft"]), "hop_length": int(s["hop_length"]),
               "n_mels": int(s["n_mels"]), "top_db": float(s["top_db"]),
               "duration": float(s["duration"]), "frontend": FRONTEND}
    except (TypeError, ValueError) as exc:
        raise CNNError(f"spectrogram settings must be numbers ({exc})") from exc
    if out["sr"] <= 0 or out["n_fft"] < 16 or not 0 < out["hop_length"] <= out["n_fft"]:
        raise CNNError(f"need sr > 0, n_fft >= 16 and 0 < hop_length <= n_fft, got {out}")
    if not 1 <= out["n_mels"] <= out["n_fft"] // 2 + 1:
        raise CNNError(f"n_mels must lie in 1..{out['n_fft'] // 2 + 1}, got {out['n_mels']}")
    if not (out["top_db"] > 0 and out["duration"] > 0 and np.isfinite(out["top_db"])
            and np.isfinite(out["duration"])):
        raise CNNError(f"top_db and duration must be positive, got {out}")
    return out


def settings_hash(settings: dict) -> str:
    """A short stable hash of spectrogram settings (12 hex digits), used in cache file names.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).

    Parameters
    ----------
    settings : dict
        From :func:`spectrogram_settings` (validated again here).

    Returns
    -------
    digest : str
        The first 12 hex digits of the SHA-256 of the settings as sorted JSON.
    """
    s = spectrogram_settings(**settings)
    return hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest()[:12]


def n_frames(settings: dict) -> int:
    """Frames of a clip of ``settings["duration"]`` seconds: ``1 + round(sr * duration) // H``.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).
    """
    s = spectrogram_settings(**settings)
    return 1 + int(round(s["sr"] * s["duration"])) // s["hop_length"]


def clip_log_mel(y: np.ndarray, settings: dict | None = None, *, dtype=CACHE_DTYPE
                 ) -> np.ndarray:
    """Log-power mel spectrogram (dB) of one clip, as the cache and the models see it.

    One power STFT (:func:`bag_of_songs.features.compute_spectrogram` with ``power=2``) and
    the mel filterbank and dB conversion of
    :func:`bag_of_songs.features.log_mel_spectrogram` applied to it.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        A mono clip at ``settings["sr"]`` (e.g. from :func:`bag_of_songs.data.load_audio`).
    settings : dict, optional
        From :func:`spectrogram_settings` (default: the defaults).
    dtype : numpy dtype
        Default float16, the cache's dtype, so that a new file is seen exactly as the cached
        training clips were; pass ``np.float32`` for full precision.

    Returns
    -------
    S_db : np.ndarray [shape=(n_mels, 1 + n // hop_length)]
        Finite dB values, at most ``top_db`` below the clip's maximum.

    Raises
    ------
    bag_of_songs.features.FeatureError
        On an empty, multi-channel or non-finite signal.

    Examples
    --------
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> y = synthesize_demo_clip("rock", 0, duration=3.0)  # 3 s at 22,050 Hz
    >>> clip_log_mel(y).shape  # 96 mel bands, 1 + 66150 // 512 frames
    (96, 130)
    """
    s = spectrogram_settings(**(settings or {}))
    power = compute_spectrogram(y, n_fft=s["n_fft"], hop_length=s["hop_length"], power=2.0)
    S_db = log_mel_spectrogram(S=power, sr=s["sr"], n_fft=s["n_fft"], n_mels=s["n_mels"],
                               top_db=s["top_db"])
    return np.asarray(S_db, dtype=dtype)


def file_log_mel(path: str | os.PathLike, settings: dict | None = None, *,
                 dtype=CACHE_DTYPE) -> np.ndarray:
    """:func:`clip_log_mel` of an audio file, decoded as the prepared clips were.

    :func:`bag_of_songs.data.load_audio` at ``settings["sr"]``, cropped or zero-padded to
    ``settings["duration"]`` (so the result always has :func:`n_frames` frames).

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 6: a new mp3).

    Parameters
    ----------
    path : path-like
        Any audio file soundfile decodes (wav, flac, ogg, mp3).
    settings : dict, optional
    dtype : numpy dtype

    Returns
    -------
    S_db : np.ndarray [shape=(n_mels, n_frames(settings))]

    Raises
    ------
    bag_of_songs.data.AudioLoadError
        When the file cannot be decoded.
    """
    s = spectrogram_settings(**(settings or {}))
    y = load_audio(path, sr=s["sr"], duration=s["duration"])
    return clip_log_mel(y, s, dtype=dtype)
