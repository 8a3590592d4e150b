"""Reading and checking ``model.json``: every field, its type, range and agreement with the rest.

A saved model's metadata is untrusted input: :func:`_read_meta` parses it strictly (no NaN)
and :func:`_validate_meta` checks every field before anything is built from it, raising a
:class:`~bag_of_songs.errors.ModelError` that names the first bad field. The feature settings'
cost per clip is bounded (:data:`MAX_CLIP_VALUES`), so no file can make prediction allocate
without bound.

See ``notebooks/3-models-prediction.ipynb`` (section 6, saved models).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
from sklearn.preprocessing import StandardScaler

from .._constants import DURATION, FRAME_SIZE, HOP_LENGTH, SAMPLE_RATE
from ..cnn import MAX_CLIP_VALUES, check_model_config
from ..errors import CNNError, FeatureError, ModelError
from ..features import SETTING_KEYS, check_settings
from .kinds import MODEL_KINDS, SPECTROGRAM_KINDS

#: The version of ``model.json`` that :func:`~bag_of_songs.models.save_model` writes (1 is
#: still read).
_FORMAT_VERSION = 2


#: Names of the weights files :func:`save_model` writes: the kind's stem and the first 16 hex
#: digits of the file's SHA-256.
_WEIGHTS_NAME = re.compile(r"^(weights|estimator)-([0-9a-f]{16})\.(pt|skops)$")


class _MetaError(ModelError):
    pass


#: The most classes and feature columns a saved model may name (far above any real table).
_MAX_WIDTH = 1 << 16


def _strict_json(text: str):
    """json.loads that refuses NaN and infinities (Python's json accepts them by default)."""
    def refuse(name):
        raise ValueError(f"{name} is not a valid JSON number")
    return json.loads(text, parse_constant=refuse)


def _want(cond: bool, field_name: str, why: str) -> None:
    if not cond:
        raise _MetaError(f"field {field_name!r} {why}")


def _validate_uncertainty(u) -> None:
    """``info.uncertainty`` (absent in older models): its ``threshold`` is what ``predict``
    compares probabilities with, so it must be a probability."""
    if u is None:
        return
    _want(isinstance(u, dict), "info.uncertainty", "must be a mapping")
    t = u.get("threshold")
    _want(isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t)
          and 0.0 <= t <= 1.0, "info.uncertainty.threshold", "must be a number in [0, 1]")


def _int_in(v, field_name: str, lo: int, hi: int) -> int:
    _want(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi, field_name,
          f"must be an integer in {lo}..{hi}, got {v!r}")
    return int(v)


def _float_in(v, field_name: str, lo: float, hi: float) -> float:
    _want(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
          and lo <= v <= hi, field_name, f"must be a finite number in [{lo}, {hi}], got {v!r}")
    return float(v)


def _names(v, field_name: str, *, min_len: int = 1) -> list[str]:
    _want(isinstance(v, list) and len(v) >= min_len
          and all(isinstance(c, str) and c.strip() for c in v), field_name,
          f"must be a list of at least {min_len} non-empty strings")
    _want(len(set(v)) == len(v), field_name, "holds duplicate names")
    return list(v)


def _numbers(v, field_name: str, n: int, *, positive: bool = False,
             non_negative: bool = False) -> np.ndarray:
    _want(isinstance(v, list) and len(v) == n
          and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v),
          field_name, f"must be a list of {n} numbers (one per feature column)")
    a = np.asarray(v, dtype=np.float64)
    _want(bool(np.all(np.isfinite(a))), field_name, "holds a non-finite value")
    if positive:
        _want(bool(np.all(a > 0)), field_name, "must be positive (a zero scale divides by zero)")
    if non_negative:
        _want(bool(np.all(a >= 0)), field_name, "must not be negative")
    return a


def _validate_settings(s) -> dict:
    """Check a model's feature settings: known keys, types, ranges, agreement.

    :func:`bag_of_songs.features.check_settings` (the same check as a table's
    ``features.json``), its error naming the field (``settings.hop_length``).
    """
    _want(isinstance(s, dict), "settings", "must be a mapping")
    s = {k: v for k, v in s.items() if k != "label_columns"}  # format 1 kept it here
    unknown = sorted(set(s) - set(SETTING_KEYS))
    _want(not unknown, "settings", f"has unknown key(s) {unknown}")
    try:
        s = check_settings(s)
    except FeatureError as exc:
        raise _MetaError(f"field {exc}") from None
    _check_settings_cost(s)
    return s


# MAX_CLIP_VALUES (one home: bag_of_songs.cnn, which bounds a spectrogram model's front end by
# it) is also the most values the feature settings of a saved model may make of one clip of the
# project's length (DURATION): frames x frequency bins (or mel bands), and segments x frames per
# segment x rows of a frame feature. Far above any real setting (the defaults make a few
# percent of it), low enough that no model file can make ``predict`` allocate without bound.


def _check_settings_cost(s: dict) -> None:
    """Refuse feature settings whose cost per clip no real model reaches, naming the field."""
    sr, n_fft = s.get("sr", SAMPLE_RATE), s.get("n_fft", FRAME_SIZE)
    hop = s.get("hop_length", HOP_LENGTH)
    frames = 1 + int(round(sr * DURATION)) // hop
    rows = max(n_fft // 2 + 1, 128)  # STFT bins, or the 128 mel bands of the MFCCs
    if frames * rows > MAX_CLIP_VALUES:
        growth = {"hop_length": HOP_LENGTH / hop, "n_fft": n_fft / FRAME_SIZE,
                  "sr": sr / SAMPLE_RATE}
        key = max(growth, key=growth.get)
        raise _MetaError(f"field 'settings.{key}' ({s.get(key, 'default')}; sr {sr}, n_fft "
                         f"{n_fft}, hop_length {hop}) makes {frames:,} frames x {rows:,} bins "
                         f"per {DURATION:g} s clip, more than a model may ask for "
                         f"({MAX_CLIP_VALUES:,} values)")
    if s.get("segment") is not None:
        n_f = max(1, int(round(s["segment"] * sr / hop)))
        h_f = max(1, int(round((s.get("segment_hop") or s["segment"]) * sr / hop)))
        n_seg = 1 if frames < n_f else 1 + (frames - n_f) // h_f
        width = max(s.get("n_mfcc", 13), 12)  # the widest frame feature (MFCCs or chroma)
        if n_seg * min(n_f, frames) * width > MAX_CLIP_VALUES:
            key = "segment_hop" if s.get("segment_hop") is not None else "segment"
            raise _MetaError(f"field 'settings.{key}' ({s[key]} s; segment {s['segment']} s) "
                             f"makes {n_seg:,} segments of {min(n_f, frames):,} frames per "
                             f"{DURATION:g} s clip, more than a model may ask for "
                             f"({MAX_CLIP_VALUES:,} values)")


def _validate_meta(meta) -> dict:
    """Check every field of a parsed ``model.json``; returns them normalised.

    Raises ``_MetaError`` (a ModelError) naming the first bad field.
    """
    _want(isinstance(meta, dict), "(top level)", "must be a JSON object")
    for key in ("format_version", "kind", "classes", "feature_columns", "label_column",
                "scaler", "weights_file", "weights_sha256"):
        _want(key in meta, key, "is missing")
    _want(meta["format_version"] in (1, _FORMAT_VERSION), "format_version",
          f"must be 1 or {_FORMAT_VERSION} (saved by another version of bag-of-songs?), "
          f"got {meta['format_version']!r}")
    kind = meta["kind"]
    _want(kind in MODEL_KINDS, "kind", f"must be one of {list(MODEL_KINDS)}, got {kind!r}")
    classes = _names(meta["classes"], "classes", min_len=2)
    _want(len(classes) <= _MAX_WIDTH, "classes", f"must name at most {_MAX_WIDTH} classes")
    columns = (_names(meta["feature_columns"], "feature_columns", min_len=0) if kind == "cnn"
               else _names(meta["feature_columns"], "feature_columns"))
    _want(len(columns) <= _MAX_WIDTH, "feature_columns",
          f"must name at most {_MAX_WIDTH} columns")
    _want(kind != "cnn" or not columns, "feature_columns", "must be empty for a cnn model")
    label = meta["label_column"]
    _want(isinstance(label, str) and label.strip() != "", "label_column",
          "must be a non-empty string")
    scaler = _validate_scaler(meta["scaler"], kind, len(columns))
    settings = _validate_settings(meta.get("settings", {}))
    info = meta.get("info", {})
    _want(isinstance(info, dict), "info", "must be a mapping")
    _validate_uncertainty(info.get("uncertainty"))
    hierarchy = _validate_hierarchy(meta.get("hierarchy", {}), label, classes)
    name, digest = _validate_weights_name(meta["weights_file"], meta["weights_sha256"], kind)
    arch = meta.get("architecture", {})
    _want(isinstance(arch, dict), "architecture", "must be a mapping")
    config = _validate_architecture(arch, meta, kind, len(classes), len(columns))
    return {"kind": kind, "classes": classes, "feature_columns": columns, "label_column": label,
            "scaler": scaler, "settings": settings, "info": info, "hierarchy": hierarchy,
            "architecture": arch, "cnn": config,
            "weights_file": name, "weights_sha256": digest}


def _validate_scaler(sc, kind: str, d: int) -> StandardScaler | None:
    """The fitted scaler of ``d`` feature columns that ``model.json`` stores as numbers."""
    if kind == "cnn":
        _want(sc is None, "scaler", "must be null for a cnn model (it reads no features)")
        return None
    _want(isinstance(sc, dict), "scaler", "must be a mapping")
    for key in ("mean", "scale", "var", "n_samples_seen"):
        _want(key in sc, f"scaler.{key}", "is missing")
    scaler = StandardScaler()
    scaler.mean_ = _numbers(sc["mean"], "scaler.mean", d)
    scaler.scale_ = _numbers(sc["scale"], "scaler.scale", d, positive=True)
    scaler.var_ = _numbers(sc["var"], "scaler.var", d, non_negative=True)
    scaler.n_samples_seen_ = _int_in(sc["n_samples_seen"], "scaler.n_samples_seen", 1, 1 << 40)
    scaler.n_features_in_ = d
    return scaler


def _validate_hierarchy(hierarchy, label: str, classes: list[str]) -> dict:
    """``{coarse level: {class: parent}}``, naming a parent for exactly the model's classes."""
    _want(isinstance(hierarchy, dict), "hierarchy", "must be a mapping")
    for level, parents in hierarchy.items():
        where = f"hierarchy.{level}"
        _want(level != label and isinstance(parents, dict), where,
              "must map each class to its parent at a coarser level")
        _want(sorted(parents) == sorted(classes), where, f"must name a parent for exactly the "
              f"classes {classes}")
        _want(all(isinstance(v, str) and v.strip() for v in parents.values()), where,
              "must have non-empty class names as parents")
    return hierarchy


def _validate_weights_name(name, digest, kind: str) -> tuple[str, str]:
    """The weights file's name (:data:`_WEIGHTS_NAME`, the kind's stem) and its SHA-256."""
    m = _WEIGHTS_NAME.match(name) if isinstance(name, str) else None
    torch_kind = kind == "mlp" or kind in SPECTROGRAM_KINDS
    stem = "weights" if torch_kind else "estimator"
    _want(m is not None and m.group(1) == stem, "weights_file",
          f"must be a file name {stem}-<16 hex digits>.{'pt' if torch_kind else 'skops'} "
          f"inside the model folder, got {name!r}")
    _want(isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest) is not None
          and digest.startswith(m.group(2)), "weights_sha256",
          "must be the 64-digit SHA-256 of the weights file (its first 16 digits name it)")
    return name, digest


def _validate_architecture(arch: dict, meta: dict, kind: str, n_classes: int, d: int
                           ) -> dict | None:
    """The architecture agrees with the classes and columns; returns a spectrogram model's
    checked ``cnn`` settings (None for the other kinds)."""
    if kind in SPECTROGRAM_KINDS:
        _want("cnn" in meta, "cnn", "is missing (the spectrogram model's settings)")
        try:
            config = check_model_config(meta["cnn"])
        except CNNError as exc:
            raise _MetaError(f"field 'cnn' is invalid: {exc}") from None
        _want(arch == config["architecture"], "architecture",
              "must equal cnn.architecture")
        want = "HybridNet" if kind == "hybrid" else "SpectrogramCNN"
        _want(arch.get("class") == want, "architecture.class",
              f"must be {want} for a {kind} model, got {arch.get('class')!r}")
        _want(arch.get("n_classes") == n_classes, "architecture.n_classes",
              f"must equal the {n_classes} classes, got {arch.get('n_classes')!r}")
        if kind == "hybrid":
            _want(arch.get("n_tab") == d, "architecture.n_tab",
                  f"must equal the {d} feature columns, got {arch.get('n_tab')!r}")
        return config
    if kind == "mlp":
        n_out = 1 if n_classes == 2 else n_classes
        _want(arch.get("n_features") == d, "architecture.n_features",
              f"must equal the {d} feature columns, got {arch.get('n_features')!r}")
        _want(arch.get("n_outputs") == n_out, "architecture.n_outputs",
              f"must be {n_out} for {n_classes} classes, got {arch.get('n_outputs')!r}")
    elif meta["format_version"] >= 2:
        _want(arch.get("n_features") == d, "architecture.n_features",
              f"must equal the {d} feature columns, got {arch.get('n_features')!r}")
        _want(arch.get("n_classes") == n_classes, "architecture.n_classes",
              f"must equal the {n_classes} classes, got {arch.get('n_classes')!r}")
    return None


def _read_json(meta_path: Path):
    """``model.json`` parsed strictly (not yet checked)."""
    try:
        return _strict_json(meta_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{meta_path}: unreadable model metadata ({exc})") from exc


def _read_meta(meta_path: Path, raw=None) -> dict:
    """``model.json`` parsed and checked (:func:`_validate_meta`); ``raw``: already parsed."""
    raw = _read_json(meta_path) if raw is None else raw
    try:
        return _validate_meta(raw)
    except _MetaError as exc:
        raise ModelError(f"{meta_path}: invalid model metadata: {exc}") from None
