"""Audio decoding and homogenisation: the code lives in :mod:`bag_of_songs.data.audio`.

This module re-exports its names under the name other modules and tests have imported so far
(``from bag_of_songs.audio import load_audio``); prefer ``from bag_of_songs.data import ...``.
Private helpers are not re-exported: patch them in their new home.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 4, homogenisation).
"""

from __future__ import annotations

from .data.audio import (
    AUDIO_EXTENSIONS,
    DURATION,
    FRAME_SIZE,
    HOP_LENGTH,
    MAX_CHANNELS,
    MAX_SAMPLE_RATE,
    MIN_REAL_FRACTION,
    MIN_SAMPLE_RATE,
    N_SAMPLES,
    SAMPLE_RATE,
    SILENCE_PEAK,
    SILENCE_RMS,
    AudioLoadError,
    clip_warnings,
    fix_length,
    is_complete_clip,
    load_audio,
    to_clip,
    write_clip,
)

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
    "write_clip",
    "is_complete_clip",
]
