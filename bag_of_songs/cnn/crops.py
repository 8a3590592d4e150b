"""Normalisation and crops: what the network sees of a clip's dB spectrogram.

Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (sections 1 and 2).

Normalisation: one global mean and standard deviation of the dB values, from the training
clips only (:func:`fit_normalizer`). Every band shares the dB scale, so one shift and one scale
keep the spectral envelope (brighter or darker, louder bass) exactly as it was, which is a genre
cue; per-band statistics would rescale each band by its own spread and make a given dB step
mean different things in different bands. The first convolution's batch norm adapts the scale
per channel anyway, and two numbers estimated from a hundred clips are stable.

Crops: the network is trained on short random crops of each clip and decides a clip by
averaging the class probabilities of all its crops (:func:`crop_starts`: non-overlapping crops
from the start, plus one that ends at the last frame, so every frame counts).
"""

from __future__ import annotations

import numpy as np

from ..errors import CNNError
from ._checks import _check_specs


def fit_normalizer(specs, *, chunk_size: int = 32) -> dict:
    """The global mean and standard deviation of the training spectrograms' dB values.

    Computed in float64 over chunks of clips (bounded memory on a memory map). Fit it on the
    **training** clips only and apply it to every split (:func:`normalize`).

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).

    Parameters
    ----------
    specs : np.ndarray, np.memmap or ClipSubset [shape=(n_clips, n_mels, t)]
    chunk_size : int
        Clips read at a time.

    Returns
    -------
    normalizer : dict
        ``{"kind": "global", "mean": float, "std": float, "n_clips": int}`` (JSON).

    Raises
    ------
    CNNError
        On a bad shape, non-finite values, or constant spectrograms (no spread to scale by).
    """
    specs = _check_specs(specs)
    total, total_sq, count = 0.0, 0.0, 0
    for a in range(0, len(specs), chunk_size):
        x = np.stack([np.asarray(specs[i], dtype=np.float64)
                      for i in range(a, min(a + chunk_size, len(specs)))])
        if not np.isfinite(x).all():
            raise CNNError("the spectrograms hold non-finite values")
        total += float(x.sum())
        total_sq += float(np.square(x).sum())
        count += x.size
    mean = total / count
    std = float(np.sqrt(max(total_sq / count - mean**2, 0.0)))
    if not std > 1e-6:
        raise CNNError("the training spectrograms are constant: nothing to normalise by")
    return {"kind": "global", "mean": float(mean), "std": std, "n_clips": int(len(specs))}


def _check_normalizer(normalizer: dict) -> tuple[float, float]:
    try:
        if normalizer.get("kind", "global") != "global":
            raise CNNError(f"unknown normaliser kind {normalizer.get('kind')!r}")
        mean, std = float(normalizer["mean"]), float(normalizer["std"])
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise CNNError(f"not a normaliser from fit_normalizer: {normalizer!r}") from exc
    if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
        raise CNNError(f"normaliser with a bad mean or std: {normalizer!r}")
    return mean, std


def normalize(S_db: np.ndarray, normalizer: dict) -> np.ndarray:
    """``(S_db - mean) / std`` with a normaliser from :func:`fit_normalizer`, as float32.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).

    Parameters
    ----------
    S_db : np.ndarray [shape=(..., n_mels, t)]
    normalizer : dict

    Returns
    -------
    X : np.ndarray [shape=S_db.shape, dtype=float32]

    Examples
    --------
    >>> specs = np.stack([np.full((4, 10), -60.0), np.full((4, 10), -20.0)])
    >>> normalizer = fit_normalizer(specs)
    >>> normalizer["mean"], normalizer["std"]
    (-40.0, 20.0)
    >>> normalize(specs[1], normalizer)[0, :3].tolist()
    [1.0, 1.0, 1.0]
    """
    mean, std = _check_normalizer(normalizer)
    return ((np.asarray(S_db, dtype=np.float32) - np.float32(mean)) / np.float32(std))


def crop_starts(t: int, crop_frames: int = 129, crop_hop: int | None = None) -> np.ndarray:
    """First frames of the crops that decide a clip of ``t`` frames.

    Crops of ``crop_frames`` frames start at ``0, crop_hop, 2 crop_hop, ...``; when the last of
    them stops short of the clip's end, one more crop ends exactly at the last frame, so every
    frame is seen. ``crop_hop = crop_frames`` (the default) gives non-overlapping crops.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).

    Parameters
    ----------
    t : int
        Frames of the clip.
    crop_frames : int
        Frames per crop (129 = 3.0 s at H = 512 and 22,050 Hz).
    crop_hop : int, optional
        Frames between crop starts (default ``crop_frames``).

    Returns
    -------
    starts : np.ndarray [shape=(n_crops,), dtype=int64]

    Raises
    ------
    CNNError
        When the clip is shorter than one crop, or ``crop_frames`` or ``crop_hop`` < 1.

    Examples
    --------
    >>> crop_starts(1292, 129).tolist()  # 10 non-overlapping crops and one ending at 1292
    [0, 129, 258, 387, 516, 645, 774, 903, 1032, 1161, 1163]
    >>> crop_starts(10, 4, 3).tolist()
    [0, 3, 6]
    """
    crop_hop = crop_frames if crop_hop is None else int(crop_hop)
    if crop_frames < 1 or crop_hop < 1:
        raise CNNError(f"crop_frames and crop_hop must be >= 1, got {crop_frames}, {crop_hop}")
    if t < crop_frames:
        raise CNNError(f"a clip of {t} frames is shorter than one crop of {crop_frames} frames")
    starts = list(range(0, t - crop_frames + 1, crop_hop))
    if starts[-1] + crop_frames < t:
        starts.append(t - crop_frames)
    return np.asarray(starts, dtype=np.int64)


def _crops(specs, idx, starts, crop_frames, mean, std) -> np.ndarray:
    """Normalised float32 crops ``specs[idx[j], :, starts[j]:starts[j] + crop_frames]``."""
    out = np.empty((len(idx), specs.shape[1], crop_frames), dtype=np.float32)
    for j, (i, s) in enumerate(zip(idx, starts, strict=True)):
        out[j] = specs[int(i)][:, int(s):int(s) + crop_frames]
    out -= np.float32(mean)
    out /= np.float32(std)
    return out
