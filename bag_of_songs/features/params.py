"""What the feature settings can be: names, constants and the check of each parameter.

The vocabulary every other module of :mod:`bag_of_songs.features` shares: the pooling
statistics (:data:`STATS`), the feature sets (:data:`FEATURE_SETS`,
:data:`TABLE_FEATURE_SETS`, :func:`split_feature_set`), the musicnn layers a table can hold,
the layout of ``features.json`` (:data:`FEATURES_FORMAT_VERSION`), and
one check per parameter (``_check_params``, ``_check_stats``, ``_check_n_mfcc``,
``_check_segment``) that raises a :class:`~bag_of_songs.errors.FeatureError` with a sentence
naming it.

Explained in ``notebooks/2-features-explanation.ipynb``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import FeatureError
from ..spectrum import _check_params as _check_signal_params
from ..spectrum import _real, _whole

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


#: Version of the ``features.json`` layout that :func:`build_feature_table` writes;
#: :func:`check_feature_table` refuses a table recorded with another (or none). Version 3
#: added ``clip_stamps`` (each clip's size and modification time).
FEATURES_FORMAT_VERSION = 3


#: The ``features.json`` keys of a table's musicnn embedding: present only in tables whose
#: ``feature_set`` holds ``musicnn`` (so the ``features.json`` of a seed or extended table is
#: what it was before embeddings existed). ``musicnn_settings`` is
#: :func:`bag_of_songs.musicnn.musicnn_settings`: the front end, model, layer, width and the
#: SHA-256 of the checkpoint files. One model: ``musicnn_model`` its name and
#: ``musicnn_settings`` one dict; several: a list of names and a list of dicts, one per model.
MUSICNN_SETTING_KEYS = ("musicnn_model", "musicnn_layer", "musicnn_settings")


# The other keys of features.json, which tie the table to its inputs and its own content.
_PROVENANCE_KEYS = ("label_columns", "feature_columns", "n_rows", "n_clips",
                    "annotations_sha256", "features_sha256", "clip_stamps")


# A split's table files, in the order they are published (features.json last).
_TABLE_FILES = ("features.csv", "features_skipped.csv", "features.json")


#: The lowest sampling rate the study's features work at: the band-energy ratio splits at
#: 2 kHz, which must lie below the Nyquist frequency sr / 2.
_MIN_SR_SEED = 4000


#: Spectral contrast (extended set) has octave bands from 200 Hz up to 6.4 kHz, all below sr / 2.
_CONTRAST_FMIN, _CONTRAST_BANDS = 200.0, 6


def _check_params(**params):
    """Check feature parameters once, up front; return their values (as ints where whole).

    :func:`bag_of_songs.spectrum._check_params` (``sr``, ``n_fft``, ``frame_length``,
    ``hop_length``, ``n_mels``, ``tuning``, ``top_db``, ``power``), and ``feature_set`` (one of
    :data:`FEATURE_SETS`; with ``sr`` and ``n_fft``, also checks that every feature of the set
    can be computed at that rate and frame size). Returns the values in the order given, so
    ``sr, feature_set = _check_params(sr=sr, feature_set=feature_set)``.

    Raises
    ------
    FeatureError
        With a sentence naming the parameter and what it must be.
    """
    values = iter(_check_signal_params(**{k: v for k, v in params.items()
                                          if k != "feature_set"}))
    out = {}
    for name, value in params.items():
        if name != "feature_set":
            out[name] = next(values)
        elif value not in FEATURE_SETS:
            raise FeatureError(f"unknown feature_set {value!r}; choose from {FEATURE_SETS}")
        else:
            out[name] = value
    if "feature_set" in out and "sr" in out:
        _check_rate_for_set(out["feature_set"], out["sr"], out.get("n_fft"))
    return tuple(out.values())


def _check_rate_for_set(feature_set: str, sr: int, n_fft: int | None) -> None:
    """Refuse an ``sr`` (and ``n_fft``) at which a feature of the set cannot be computed."""
    if sr <= _MIN_SR_SEED:
        raise FeatureError(f"sr={sr} Hz is too low for the study's features: the "
                           f"band-energy ratio splits at 2,000 Hz, which must lie below "
                           f"sr / 2; use sr > {_MIN_SR_SEED}")
    if feature_set != "extended":
        return
    edges = _CONTRAST_FMIN * 2.0 ** np.arange(_CONTRAST_BANDS + 1)
    if edges[-2] >= sr / 2:
        raise FeatureError(
            f"sr={sr} Hz is too low for feature_set='extended': spectral contrast "
            f"has octave bands up to {edges[-2]:.0f} Hz, which must lie below sr / 2; "
            f"use sr > {2 * edges[-2]:.0f}")
    if n_fft is not None:
        freq = np.fft.rfftfreq(n_fft, d=1.0 / sr)
        lows = np.concatenate([[0.0], edges[:-1]])
        counts = [int(np.sum((freq >= lo) & (freq <= hi)))
                  for lo, hi in zip(lows, edges, strict=True)]
        if counts[0] < 2 or min(counts) < 1:
            raise FeatureError(
                f"n_fft={n_fft} is too small for feature_set='extended' at "
                f"sr={sr}: spectral contrast needs FFT bins in every octave band "
                f"(0-200 Hz, 200-400 Hz, ...); use n_fft >= {int(np.ceil(sr / 200))}")


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
