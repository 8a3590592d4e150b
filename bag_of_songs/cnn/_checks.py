"""Checks of what the spectrogram models are given: clip arrays, labels, features, threads.

Shared by :mod:`~bag_of_songs.cnn.crops`, :mod:`~bag_of_songs.cnn.inference`,
:mod:`~bag_of_songs.cnn.training` and :mod:`~bag_of_songs.cnn.fusion` (notebook 4), so that
each refuses bad input with the same :class:`~bag_of_songs.errors.CNNError` sentence.
"""

from __future__ import annotations

import numpy as np

from ..errors import CNNError
from .clips import ClipSubset


def _check_specs(specs, name: str = "specs"):
    """``specs`` as an array-like of shape (n_clips, n_mels, n_frames) holding a clip."""
    if not hasattr(specs, "shape") or len(specs.shape) != 3:
        raise CNNError(f"{name} must be an array of shape (n_clips, n_mels, n_frames), got "
                       f"{getattr(specs, 'shape', type(specs).__name__)}")
    if specs.shape[0] == 0:
        raise CNNError(f"{name} holds no clip")
    if not isinstance(specs, ClipSubset) and not isinstance(specs, np.ndarray):
        specs = np.asarray(specs)
    return specs


def _check_labels(y, n: int, n_classes: int, name: str) -> np.ndarray:
    """``y`` as ``n`` int64 class indices in 0 .. ``n_classes - 1``."""
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise CNNError(f"{name} must be {n} integer class indices, got shape {y.shape} "
                       f"dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise CNNError(f"{name} holds class indices outside 0..{n_classes - 1}")
    return y.astype(np.int64)


def _check_tab(tab, n: int, name: str, n_tab: int | None = None) -> np.ndarray:
    """``tab`` as a finite float32 array of one feature vector (of ``n_tab``) per clip."""
    tab = np.asarray(tab, dtype=np.float32)
    if tab.ndim != 2 or tab.shape[0] != n or (n_tab is not None and tab.shape[1] != n_tab):
        want = f"({n}, {n_tab if n_tab is not None else 'n_features'})"
        raise CNNError(f"{name} must have shape {want}, one scaled feature vector per clip, got "
                       f"{tab.shape}")
    if not np.isfinite(tab).all():
        raise CNNError(f"{name} holds non-finite values")
    return tab


def _check_n_threads(n) -> None:
    """Refuse a torch thread count below 1 (None leaves torch's setting).

    Checked before :func:`bag_of_songs._threads.torch_threads` is entered, so that the
    spectrogram models keep refusing it with a :class:`~bag_of_songs.errors.CNNError`.
    """
    if n is not None and int(n) < 1:
        raise CNNError(f"n_threads must be >= 1 or None, got {n}")
