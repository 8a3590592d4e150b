"""Saving and loading a fitted scikit-learn ``Pipeline`` of this project's estimators.

:func:`~bag_of_songs.models.save_model` and :func:`~bag_of_songs.models.load_model` take, besides
a :class:`~bag_of_songs.models.GenreClassifier`, a fitted :class:`~sklearn.pipeline.Pipeline`
made of an optional :class:`~bag_of_songs.FeatureExtractor` (first), ``StandardScaler`` steps
and one classifier (last): scikit-learn's ``SVC``, ``LinearSVC``, ``LogisticRegression``,
``RandomForestClassifier``, ``LinearDiscriminantAnalysis``, a sigmoid ``CalibratedClassifierCV``
of an SVC, a linear SVC or an LDA, or :class:`~bag_of_songs.StudyMLPClassifier`; or a
:class:`~bag_of_songs.SegmentClassifier` (alone, or as the only step of a ``Pipeline``) whose
``estimator`` is such a classifier or pipeline of feature rows.

On disk the folder holds ``model.json`` (``"kind": "pipeline"``, the steps' types, the
classes, the skops file's name and SHA-256) and one skops file. A ``StudyMLPClassifier``'s
network is stored in that file as plain arrays (its ``state_dict``, one array per tensor),
never as a torch pickle, and its training history is not stored. On load, the skops file must
name no type outside :data:`PIPELINE_TRUSTED_TYPES`, and every step is checked before use as
:mod:`bag_of_songs.models.safety` checks the project's own models: exact types, feature counts
that agree from step to step, finite arrays of the shapes their classes and features imply,
trees and support vectors whose indices stay in bounds, feature settings whose cost per clip is
bounded; the feature extractor and the network are rebuilt from their checked settings and
arrays. Hand-written, for the reason given in :mod:`bag_of_songs.models.safety`.

See ``notebooks/3-models-prediction.ipynb`` (use it from scikit-learn).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from sklearn.calibration import CalibratedClassifierCV
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.utils.validation import check_is_fitted

from ..errors import EmbeddingError, FeatureError, ModelError
from ..features import check_settings
from ..features.sklearn import _SETTINGS, FeatureExtractor
from .estimators import StudyMLPClassifier
from .metadata import (
    _FORMAT_VERSION,
    _MAX_WIDTH,
    _check_settings_cost,
    _MetaError,
    _validate_weights_name,
    _want,
)
from .mlp import MLP
from .safety import (
    TRUSTED_SKOPS_TYPES,
    _array_attr,
    _check_calibrated,
    _check_forest,
    _check_lda_model,
    _check_libsvm,
    _check_linear_svc_model,
    _check_logreg,
    _check_skops_archive,
    _fail,
    _int_attr,
)
from .segments import AGGREGATES, SegmentClassifier
from .softmax_svc import _SoftmaxSVC

#: The types, beyond skops' own trusted defaults, that a saved pipeline's skops file may name:
#: those of the project's scikit-learn models, and the project's three estimators.
PIPELINE_TRUSTED_TYPES = TRUSTED_SKOPS_TYPES | {
    "bag_of_songs.features.sklearn.FeatureExtractor",
    "bag_of_songs.models.estimators.StudyMLPClassifier",
    "bag_of_songs.models.segments.SegmentClassifier",
}

#: The classifiers a pipeline may end with, by the name ``model.json`` gives them.
_HEADS = {f"{t.__module__.split('._')[0]}.{t.__name__}": t for t in (
    SVC, LinearSVC, LogisticRegression, RandomForestClassifier, LinearDiscriminantAnalysis,
    CalibratedClassifierCV)}
_HEADS.update({"bag_of_songs.models._SoftmaxSVC": _SoftmaxSVC,
               "bag_of_songs.StudyMLPClassifier": StudyMLPClassifier})
_STEP_NAMES = {**{t: n for n, t in _HEADS.items()},
               FeatureExtractor: "bag_of_songs.FeatureExtractor",
               StandardScaler: "sklearn.preprocessing.StandardScaler",
               SegmentClassifier: "bag_of_songs.SegmentClassifier"}

#: At most this many steps in a pipeline, layers in an MLP, worker processes in an extractor.
_MAX_STEPS, _MAX_LAYERS, _MAX_JOBS = 16, 16, 256


def is_savable_pipeline(model) -> bool:
    """Whether ``model`` is an estimator this module saves (a Pipeline or SegmentClassifier)."""
    return type(model) in (Pipeline, SegmentClassifier)


def _describe(obj) -> list:
    """The types of ``obj``'s steps as ``model.json`` lists them (nested for a segment
    classifier's estimator)."""
    if type(obj) is Pipeline:
        return [_describe(step) for _, step in obj.steps]
    if type(obj) is SegmentClassifier:
        return {"bag_of_songs.SegmentClassifier": _describe(obj.estimator_)}
    return _STEP_NAMES.get(type(obj), f"{type(obj).__module__}.{type(obj).__name__}")


def _storable(obj):
    """A shallow copy of ``obj`` whose MLP networks are plain arrays (and no history)."""
    if type(obj) is Pipeline:
        out = copy.copy(obj)
        out.steps = [(name, _storable(step)) for name, step in obj.steps]
        return out
    if type(obj) is SegmentClassifier:
        out = copy.copy(obj)
        out.estimator_ = _storable(obj.estimator_)
        return out
    if type(obj) is StudyMLPClassifier:
        out = copy.copy(obj)
        out.module_ = {k: v.detach().cpu().numpy().copy()
                       for k, v in obj.module_.state_dict().items()}
        out.__dict__.pop("history_", None)
        return out
    return obj


def pipeline_payload(model, path: Path):
    """Check a fitted pipeline and return ``(write, describe)`` for ``save_model``.

    ``write(tmp)`` dumps it with skops; ``describe(weights_name, digest)`` gives its
    ``model.json``. Raises :class:`ModelError` when ``model`` holds a type this module does
    not save, or is not fitted.
    """
    import skops.io as sio  # deferred: slow to import, needed only for these files

    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise ModelError(f"{path}: fit the {type(model).__name__} before saving it") from exc
    where = Path(f"{path} (the model being saved)")
    # checked on a copy (the checks rebuild the extractor and the networks they pass)
    classes = _check_object(_storable(model), None, where, top=True)
    stored = _storable(model)

    def describe(name: str, digest: str) -> dict:
        return {"format_version": _FORMAT_VERSION, "kind": "pipeline",
                "steps": _describe(model), "classes": _json_classes(classes),
                "weights_file": name, "weights_sha256": digest}

    return (lambda tmp: sio.dump(stored, tmp)), describe


def _json_classes(classes: np.ndarray) -> list:
    if classes.dtype.kind == "U":
        return [str(c) for c in classes]
    return [int(c) for c in classes]


def validate_pipeline_meta(meta: dict) -> dict:
    """Check a pipeline's ``model.json`` (kind, version, steps, classes, weights file).

    Raises ``_MetaError`` (a ModelError) naming the first bad field.
    """
    for key in ("format_version", "steps", "classes", "weights_file", "weights_sha256"):
        _want(key in meta, key, "is missing")
    _want(meta["format_version"] == _FORMAT_VERSION, "format_version",
          f"must be {_FORMAT_VERSION} for a pipeline, got {meta['format_version']!r}")
    steps = meta["steps"]
    _want(isinstance(steps, (list, dict)) and len(steps) >= 1, "steps",
          "must list the pipeline's steps")
    classes = meta["classes"]
    _want(isinstance(classes, list) and 2 <= len(classes) <= _MAX_WIDTH
          and (all(isinstance(c, str) for c in classes)
               or all(isinstance(c, int) and not isinstance(c, bool) for c in classes))
          and len(set(classes)) == len(classes), "classes",
          "must be a list of at least two distinct labels (all strings or all integers)")
    name, digest = _validate_weights_name(meta["weights_file"], meta["weights_sha256"],
                                          "pipeline")
    return {"kind": "pipeline", "steps": steps, "classes": classes, "weights_file": name,
            "weights_sha256": digest}


def load_pipeline(weights: Path, meta: dict):
    """The pipeline in a checked skops file: the archive's sizes, the types it names
    (:data:`PIPELINE_TRUSTED_TYPES`), then every step (the network and the feature extractor
    rebuilt from their checked arrays and settings)."""
    import skops.io as sio  # deferred: slow to import

    _check_skops_archive(weights)
    try:
        untrusted = sio.get_untrusted_types(file=weights)
    except Exception as exc:
        raise ModelError(f"{weights}: cannot load the pipeline: not a readable skops file "
                         f"({exc})") from exc
    refused = sorted(set(untrusted) - PIPELINE_TRUSTED_TYPES)
    if refused:
        raise ModelError(f"{weights}: refusing to load untrusted type(s) {refused}: a "
                         "pipeline saved by bag-of-songs holds none of them")
    try:
        est = sio.load(weights, trusted=sorted(untrusted))
    except Exception as exc:
        raise ModelError(f"{weights}: cannot load the pipeline ({exc})") from exc
    if not is_savable_pipeline(est):
        raise ModelError(f"{weights}: holds a {type(est).__module__}.{type(est).__name__}, not "
                         "a Pipeline or SegmentClassifier; refusing it")
    classes = _check_object(est, None, weights, top=True)
    if _json_classes(classes) != meta["classes"] or _describe(est) != meta["steps"]:
        raise ModelError(f"{weights}: its steps or classes differ from those model.json lists; "
                         "refusing it")
    return est


def _check_object(obj, d: int | None, weights: Path, *, top: bool = False) -> np.ndarray:
    """Check a Pipeline or SegmentClassifier (in place: networks and extractors rebuilt);
    returns its classes."""
    if type(obj) is SegmentClassifier:
        return _check_segments(obj, weights)
    if type(obj) is not Pipeline:
        _fail(weights, "type", f"is {type(obj).__module__}.{type(obj).__name__}, not a Pipeline")
    if getattr(obj, "memory", None) is not None or getattr(obj, "transform_input", None):
        _fail(weights, "memory/transform_input", "must be None (no cache folder)")
    steps = getattr(obj, "steps", None)
    if (not isinstance(steps, list) or not 1 <= len(steps) <= _MAX_STEPS
            or not all(isinstance(s, tuple) and len(s) == 2 and isinstance(s[0], str)
                       for s in steps) or len({s[0] for s in steps}) != len(steps)):
        _fail(weights, "steps", f"must be 1..{_MAX_STEPS} (name, step) pairs with distinct "
              "names")
    for i, (name, step) in enumerate(steps):
        where = f"steps[{name!r}]."
        if type(step) is SegmentClassifier and top and len(steps) == 1:
            return _check_segments(step, weights)
        if type(step) is FeatureExtractor and i == 0:
            obj.steps[i] = (name, _rebuilt_extractor(step, weights, where))
            d = obj.steps[i][1].n_features_out_
        elif type(step) is StandardScaler and i < len(steps) - 1:
            d = _check_scaler(step, d, weights, where)
        elif i == len(steps) - 1 and type(step) in _HEADS.values():
            return _check_head(step, d, weights, where)
        else:
            _fail(weights, f"steps[{name!r}]", f"is a {type(step).__module__}."
                  f"{type(step).__name__}, which a saved pipeline may not hold there (allowed: "
                  "FeatureExtractor first, StandardScaler, then one classifier of "
                  f"{sorted(_HEADS)} or a SegmentClassifier alone)")
    _fail(weights, "steps", "must end with a classifier")


def _rebuilt_extractor(fe, weights: Path, where: str) -> FeatureExtractor:
    """A fresh FeatureExtractor from a loaded one's checked settings (its columns must agree)."""
    params = {k: getattr(fe, k, None) for k in (*_SETTINGS, "n_jobs")}
    settings = {k: params[k] for k in ("sr", "n_fft", "hop_length", "n_mfcc", "tuning")}
    settings["stats"] = list(params["stats"]) if isinstance(params["stats"], (list, tuple)) \
        else params["stats"]
    try:
        _check_settings_cost(check_settings(settings))
    except (FeatureError, _MetaError) as exc:
        _fail(weights, f"{where}settings", f"are refused ({exc})")
    n_jobs = params["n_jobs"]
    if (isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0
            or not -_MAX_JOBS <= n_jobs <= _MAX_JOBS):
        _fail(weights, f"{where}n_jobs", f"must be a non-zero integer in -{_MAX_JOBS}.."
              f"{_MAX_JOBS}")
    try:
        fresh = FeatureExtractor(**params).fit()
    except EmbeddingError:
        raise
    except (FeatureError, TypeError, ValueError) as exc:
        _fail(weights, f"{where}settings", f"are refused ({exc})")
    if list(getattr(fe, "feature_names_out_", [])) != list(fresh.feature_names_out_):
        _fail(weights, f"{where}feature_names_out_", "differ from the columns its settings make")
    return fresh


def _check_scaler(sc, d: int | None, weights: Path, where: str) -> int:
    """A fitted StandardScaler (with mean and scale) of ``d`` columns; returns its width."""
    if sc.with_mean is not True or sc.with_std is not True:
        _fail(weights, f"{where}with_mean/with_std", "must both be True")
    n = _int_attr(sc, "n_features_in_", weights, where)
    if d is not None and n != d or not 1 <= n <= _MAX_WIDTH:
        _fail(weights, f"{where}n_features_in_", f"is {n}, not the {d} columns before it")
    _array_attr(sc, "mean_", weights, where, shape=(n,), kind="f")
    _array_attr(sc, "var_", weights, where, shape=(n,), kind="f")
    scale = _array_attr(sc, "scale_", weights, where, shape=(n,), kind="f")
    if (scale <= 0).any():
        _fail(weights, f"{where}scale_", "must be positive")
    return n


def _check_head(est, d: int | None, weights: Path, where: str) -> np.ndarray:
    """The pipeline's classifier: its classes, its input width, then its own arrays."""
    classes = _array_attr(est, "classes_", weights, where, kind="iuU")
    if classes.ndim != 1 or not 2 <= len(classes) <= _MAX_WIDTH \
            or len(np.unique(classes)) != len(classes):
        _fail(weights, f"{where}classes_", "must be at least two distinct labels")
    inner = est.svc if type(est) is _SoftmaxSVC else est
    n_in = getattr(inner, "n_features_in_", None)
    if not isinstance(n_in, (int, np.integer)) or not 1 <= n_in <= _MAX_WIDTH \
            or d is not None and n_in != d:
        _fail(weights, f"{where}n_features_in_", f"is {n_in!r}, not the {d} columns before it")
    d = int(n_in)
    t = type(est)
    if t is StudyMLPClassifier:
        est.module_ = _rebuilt_mlp(est, d, len(classes), weights, where)
    elif t is SVC:
        _check_libsvm(est, d, weights, where, user=True)
    elif t is LinearSVC:
        _check_linear_svc_model(est, d, weights, where)
    elif t is LinearDiscriminantAnalysis:
        _check_lda_model(est, d, weights, where)
    elif t is LogisticRegression:
        _check_logreg(est, d, weights)
    elif t is RandomForestClassifier:
        _check_forest(est, d, weights)
    elif t is _SoftmaxSVC:
        if type(est.svc) not in (SVC, LinearSVC):
            _fail(weights, f"{where}svc", "must be an SVC or a LinearSVC")
        _check_head(est.svc, d, weights, f"{where}svc.")
    else:  # CalibratedClassifierCV
        if getattr(est, "method", None) != "sigmoid":
            _fail(weights, f"{where}method", "must be 'sigmoid'")
        _check_calibrated(est, d, weights, _check_calibrated_inner)
    return classes


def _check_calibrated_inner(model, d: int, weights: Path, where: str) -> None:
    checks = {SVC: lambda: _check_libsvm(model, d, weights, where, user=True),
              LinearSVC: lambda: _check_linear_svc_model(model, d, weights, where),
              LinearDiscriminantAnalysis: lambda: _check_lda_model(model, d, weights, where)}
    if type(model) not in checks:
        _fail(weights, where.rstrip("."), f"is a {type(model).__name__}, not an SVC, "
              "LinearSVC or LinearDiscriminantAnalysis")
    checks[type(model)]()


def _rebuilt_mlp(est, d: int, n_classes: int, weights: Path, where: str) -> MLP:
    """The MLP of a loaded StudyMLPClassifier, built from its ``hidden`` widths and filled
    with its stored arrays, once their names and shapes are exactly the network's."""
    hidden = est.hidden
    if (not isinstance(hidden, (list, tuple)) or len(hidden) > _MAX_LAYERS
            or not all(isinstance(h, (int, np.integer)) and not isinstance(h, bool)
                       and 1 <= h <= _MAX_WIDTH for h in hidden)):
        _fail(weights, f"{where}hidden", f"must be at most {_MAX_LAYERS} widths in "
              f"1..{_MAX_WIDTH}")
    widths = [d, *map(int, hidden), 1 if n_classes == 2 else n_classes]
    want = {}
    for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        want[f"net.{2 * i}.weight"], want[f"net.{2 * i}.bias"] = (w_out, w_in), (w_out,)
    state = est.module_
    if not isinstance(state, dict) or set(state) != set(want):
        _fail(weights, f"{where}module_", f"must hold exactly the arrays {sorted(want)}")
    for k, shape in want.items():
        a = state[k]
        if not isinstance(a, np.ndarray) or a.dtype != np.float32 or a.shape != shape:
            _fail(weights, f"{where}module_[{k!r}]", f"must be a float32 array of shape {shape}")
        if not np.isfinite(a).all():
            _fail(weights, f"{where}module_[{k!r}]", "holds non-finite values")
    net = MLP(d, widths[-1], hidden=tuple(widths[1:-1]))
    net.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    return net.eval()


def _check_segments(seg, weights: Path) -> np.ndarray:
    """A fitted SegmentClassifier: its extractor, segment settings and row classifier."""
    where = "segment_classifier."
    if type(seg.extractor_) is not FeatureExtractor:
        _fail(weights, f"{where}extractor_", "must be a FeatureExtractor")
    if seg.aggregate not in AGGREGATES:
        _fail(weights, f"{where}aggregate", f"must be one of {AGGREGATES}")
    seconds = [seg.segment, seg.segment_hop if seg.segment_hop is not None else seg.segment]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 3600
               for v in seconds):
        _fail(weights, f"{where}segment/segment_hop", "must be seconds in (0, 3600]")
    seg.extractor_ = _rebuilt_extractor(seg.extractor_, weights, f"{where}extractor_.")
    fe = seg.extractor_
    try:
        _check_settings_cost({"sr": fe.sr, "n_fft": fe.n_fft, "hop_length": fe.hop_length,
                              "n_mfcc": fe.n_mfcc, "segment": float(seg.segment),
                              "segment_hop": seg.segment_hop})
    except _MetaError as exc:
        _fail(weights, f"{where}segment", f"is refused ({exc})")
    est, d = seg.estimator_, fe.n_features_out_
    if type(est) is Pipeline:
        classes = _check_object(est, d, weights)
        if type(est.steps[0][1]) is FeatureExtractor:
            _fail(weights, f"{where}estimator_", "must classify feature rows, not clips")
    elif type(est) in _HEADS.values():
        classes = _check_head(est, d, weights, f"{where}estimator_.")
    else:
        _fail(weights, f"{where}estimator_", f"is a {type(est).__name__}, not a classifier a "
              "saved pipeline may hold")
    if not np.array_equal(np.asarray(seg.classes_), classes):
        _fail(weights, f"{where}classes_", "differ from its estimator's")
    if seg.aggregate == "mean" and not hasattr(est, "predict_proba"):
        _fail(weights, f"{where}aggregate", "is 'mean' but the estimator has no predict_proba")
    return classes
