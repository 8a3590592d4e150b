"""What a saved model's weights file must pass before anything in it runs or is indexed.

``load_model`` (:mod:`bag_of_songs.models.persistence`) calls these checks; each refuses a file
with a :class:`~bag_of_songs.errors.ModelError` naming the file, the field and why:

- a scikit-learn file (a skops zip archive): its declared sizes before it is opened (no zip
  bomb), the types it names against an exact allow-list (:data:`TRUSTED_SKOPS_TYPES`), then
  the object skops built: one of this project's estimator types, and every index array that
  scikit-learn or libsvm follows without bounds checks (each tree's nodes and features, an
  SVC's support vectors);
- a torch weights file: the tensors it stores must add up to the architecture in
  ``model.json``, read from the archive's directory before any module is built.

Hand-written because neither skops nor scikit-learn validates a loaded estimator's arrays.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
from sklearn.calibration import (
    CalibratedClassifierCV,
    _CalibratedClassifier,
    _SigmoidCalibration,
)
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.tree._tree import Tree

from ..errors import ModelError
from .softmax_svc import _SoftmaxSVC

#: The exact types, beyond skops' own trusted defaults, that the scikit-learn models this
#: project saves contain (as ``skops.io.get_untrusted_types`` lists them for a calibrated SVC,
#: LDA or linear SVC, the softmax fallback SVC and a random forest; pinned by a test; the LDA,
#: the linear SVC and the logistic regression themselves are among skops' defaults). A file naming any other type
#: is refused before ``skops.io.load`` runs: names are compared whole, never by prefix, since a
#: crafted file can name e.g. ``sklearn.svm._libsvm.__builtins__.eval``.
TRUSTED_SKOPS_TYPES = frozenset({
    "bag_of_songs.models._SoftmaxSVC",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.tree._tree.Tree",
})


#: The part of :data:`TRUSTED_SKOPS_TYPES` each kind's file may name (a tree in an SVC file, or
#: anything in a logistic regression's, is refused).
_CALIBRATION_TYPES = frozenset({"sklearn.calibration._CalibratedClassifier",
                                "sklearn.calibration._SigmoidCalibration"})
_TRUSTED_BY_KIND = {
    "svc": _CALIBRATION_TYPES | {"bag_of_songs.models._SoftmaxSVC"},
    "rf": frozenset({"sklearn.tree._tree.Tree"}),
    "logreg": frozenset(),
    "lda": _CALIBRATION_TYPES,
    "linsvc": _CALIBRATION_TYPES | {"bag_of_songs.models._SoftmaxSVC"},
}


#: Bounds on a scikit-learn model file (a zip archive), checked before skops opens it: the
#: members' declared (inflated) sizes in total, their number, the size of ``schema.json``, and
#: the compression ratio of a member above 1 MiB and of the whole archive above 64 MiB. skops
#: stores members uncompressed; a forest of 500 trees on a few thousand rows is tens of MB.
_SKOPS_MAX_BYTES = 4 << 30


_SKOPS_MAX_MEMBERS = 100_000


_SKOPS_MAX_SCHEMA_BYTES = 64 << 20


_SKOPS_MAX_RATIO = 200


_SKOPS_MAX_ARCHIVE_RATIO = 20


def _check_skops_archive(path: Path) -> None:
    """Refuse a skops file (a zip archive) that would inflate beyond any real model.

    Reads only the archive's directory (declared sizes), never a member, so a zip bomb is
    refused without being inflated.
    """
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot load the scikit-learn model: not a readable skops "
                         f"file ({exc})") from exc
    if len(infos) > _SKOPS_MAX_MEMBERS:
        raise ModelError(f"{path}: the archive holds {len(infos):,} members, more than the "
                         f"{_SKOPS_MAX_MEMBERS:,} a model may have; refusing it")
    total = sum(i.file_size for i in infos)
    if total > _SKOPS_MAX_BYTES:
        raise ModelError(f"{path}: the archive declares {total:,} bytes once inflated, more "
                         f"than the {_SKOPS_MAX_BYTES:,} a model may have; refusing it")
    for i in infos:
        if i.filename == "schema.json" and i.file_size > _SKOPS_MAX_SCHEMA_BYTES:
            raise ModelError(f"{path}: its schema.json declares {i.file_size:,} bytes, more "
                             f"than the {_SKOPS_MAX_SCHEMA_BYTES:,} a model may have")
        if i.file_size > 1 << 20 and i.file_size > _SKOPS_MAX_RATIO * max(i.compress_size, 1):
            raise ModelError(f"{path}: member {i.filename!r} inflates {i.compress_size:,} bytes "
                             f"to {i.file_size:,} (a zip bomb?); refusing it")
    size = path.stat().st_size
    if total > 64 << 20 and total > _SKOPS_MAX_ARCHIVE_RATIO * size:
        raise ModelError(f"{path}: the archive inflates {size:,} bytes to {total:,} (a zip "
                         "bomb?); refusing it")


def _check_torch_weights(path: Path, state_bytes: int, n_tensors: int, kind: str) -> None:
    """Refuse a torch weights file whose stored tensors do not add up to the architecture's.

    Reads only the zip archive's directory: the sum of the sizes of the stored tensors
    (``<archive>/data/<key>``, stored uncompressed by ``torch.save``) must equal what the
    architecture in ``model.json`` implies, so that ``model.json`` cannot make the loader build
    a network larger than the file it was saved with.
    """
    what = f"{path}: cannot load the {'MLP' if kind == 'mlp' else kind} weights"
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelError(f"{what}: not a torch weights file ({exc})") from exc
    if len(infos) > 4 * n_tensors + 16:
        raise ModelError(f"{what}: the file holds {len(infos):,} members, not the {n_tensors} "
                         "tensors of the architecture in model.json")
    data = [i for i in infos if re.fullmatch(r"[^/]+/data/\d+", i.filename)]
    if any(i.compress_type != zipfile.ZIP_STORED or i.compress_size != i.file_size
           for i in infos):
        raise ModelError(f"{what}: the file holds compressed members; torch.save writes none")
    stored = sum(i.file_size for i in data)
    pickled = sum(i.file_size for i in infos if i.filename.endswith("/data.pkl"))
    if pickled > 1 << 20:
        raise ModelError(f"{what}: its data.pkl declares {pickled:,} bytes, far more than a "
                         "state_dict of tensors takes")
    if stored != state_bytes:
        raise ModelError(f"{what}: the file stores {stored:,} bytes of tensors but the field "
                         f"'architecture' in model.json implies {state_bytes:,}; the two do not "
                         "belong together")


def _fail(weights: Path, field_name: str, why: str):
    raise ModelError(f"{weights}: the estimator's {field_name} {why}; refusing the file")


def _int_attr(obj, name: str, weights: Path, where: str) -> int:
    v = getattr(obj, name, None)
    if not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_)):
        _fail(weights, f"{where}{name}", f"must be an integer, got {type(v).__name__}")
    return int(v)


def _array_attr(obj, name: str, weights: Path, where: str, *, shape=None, kind: str = "if",
                finite: bool = True) -> np.ndarray:
    """An ndarray attribute of a loaded estimator, of the dtype kind and shape expected."""
    a = getattr(obj, name, None)
    if not isinstance(a, np.ndarray) or a.dtype.kind not in kind:
        _fail(weights, f"{where}{name}", f"must be a numeric array, got {type(a).__name__}")
    if shape is not None and a.shape != tuple(shape):
        _fail(weights, f"{where}{name}", f"has shape {a.shape}, not {tuple(shape)}")
    if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
        _fail(weights, f"{where}{name}", "holds non-finite values")
    return a


def _check_tree(tree, n_features: int, n_classes: int, weights: Path, where: str) -> None:
    """Check a loaded ``sklearn.tree._tree.Tree`` before scikit-learn follows its indices.

    scikit-learn reads ``nodes[child]`` and ``X[i, feature]`` without bounds checks, and
    ``Tree.__setstate__`` checks only the arrays' dtypes and shapes. Here, with numpy on whole
    arrays: ``node_count`` equals the nodes held; each internal node's children lie after it
    and before ``node_count`` (so the tree has no cycle), every node but the root is the child
    of exactly one node, leaves are ``-1/-1``, the features of splits lie in
    ``0..n_features - 1``, thresholds and values are finite, and ``max_depth`` is the depth.
    """
    if type(tree) is not Tree:
        _fail(weights, f"{where}tree_", f"is a {type(tree).__name__}, not a Tree")
    n = _int_attr(tree, "node_count", weights, where)
    capacity = _int_attr(tree, "capacity", weights, where)
    if not 1 <= n == capacity:  # before any array is read: they are views of node_count nodes
        _fail(weights, f"{where}node_count", f"is {n} but the tree holds {capacity} nodes")
    if _int_attr(tree, "n_features", weights, where) != n_features:
        _fail(weights, f"{where}n_features", f"is {tree.n_features}, not {n_features}")
    if (_int_attr(tree, "n_outputs", weights, where) != 1
            or _int_attr(tree, "max_n_classes", weights, where) != n_classes
            or tree.n_classes.tolist() != [n_classes]):
        _fail(weights, f"{where}n_classes", f"must be [{n_classes}] with one output")
    left, right = tree.children_left, tree.children_right
    feature, threshold, value = tree.feature, tree.threshold, tree.value
    if not len(left) == len(right) == len(feature) == len(threshold) == len(value) == n:
        _fail(weights, f"{where}node_count", "differs from the length of the node arrays")
    if value.shape != (n, 1, n_classes):
        _fail(weights, f"{where}value", f"has shape {value.shape}, not {(n, 1, n_classes)}")
    leaf = left == -1
    if not np.array_equal(leaf, right == -1):
        _fail(weights, f"{where}children_left/right", "hold a node with one child (a leaf is "
              "-1/-1)")
    idx = np.arange(n)
    internal = ~leaf
    parents, li, ri = idx[internal], left[internal], right[internal]
    if ((li <= parents) | (li >= n) | (ri <= parents) | (ri >= n)).any():
        _fail(weights, f"{where}children_left/right", "hold a child index that is not after "
              f"its node and below node_count {n}")
    children = np.concatenate([li, ri])
    if len(children) != n - 1 or not np.array_equal(np.bincount(children, minlength=n),
                                                    np.r_[0, np.ones(n - 1, dtype=np.intp)]):
        _fail(weights, f"{where}children_left/right", "do not form a tree (a node is the "
              "child of several nodes, or of none)")
    f = feature[internal]
    if ((f < 0) | (f >= n_features)).any():
        _fail(weights, f"{where}feature", f"holds a split on a feature outside 0..{n_features - 1}")
    if not np.isfinite(threshold[internal]).all():
        _fail(weights, f"{where}threshold", "holds non-finite values")
    if not np.isfinite(value).all():
        _fail(weights, f"{where}value", "holds non-finite values")
    # Depth by pointer jumping (parents come before their children, so it ends).
    parent = np.zeros(n, dtype=np.intp)
    parent[li], parent[ri] = parents, parents
    depth = (idx > 0).astype(np.int64)
    while parent.any():
        depth += depth[parent]
        parent = parent[parent]
    if _int_attr(tree, "max_depth", weights, where) != int(depth.max()):
        _fail(weights, f"{where}max_depth", f"is {tree.max_depth} but the tree is "
              f"{int(depth.max())} deep")


def _check_forest(est, n_features: int, weights: Path) -> None:
    """Every tree of a loaded random forest, and the forest's own attributes."""
    trees = getattr(est, "estimators_", None)
    if not isinstance(trees, list) or not trees:
        _fail(weights, "estimators_", "must be a non-empty list of trees")
    if _int_attr(est, "n_estimators", weights, "") != len(trees):
        _fail(weights, "n_estimators", f"is {est.n_estimators} but the forest holds "
              f"{len(trees)} trees")
    n_classes = len(est.classes_)
    if _int_attr(est, "n_classes_", weights, "") != n_classes:
        _fail(weights, "n_classes_", f"is {est.n_classes_}, not the {n_classes} classes_")
    if _int_attr(est, "n_outputs_", weights, "") != 1:
        _fail(weights, "n_outputs_", "must be 1")
    est.n_jobs = 1  # predictions of a loaded model stay single-process
    for i, t in enumerate(trees):
        where = f"estimators_[{i}]."
        if type(t) is not DecisionTreeClassifier:
            _fail(weights, f"estimators_[{i}]", f"is a {type(t).__name__}, not a decision tree")
        if (_int_attr(t, "n_features_in_", weights, where) != n_features
                or _int_attr(t, "n_outputs_", weights, where) != 1
                or _int_attr(t, "n_classes_", weights, where) != n_classes):
            _fail(weights, f"estimators_[{i}]", f"must take {n_features} features and give "
                  f"{n_classes} classes with one output")
        classes = _array_attr(t, "classes_", weights, where, shape=(n_classes,))
        if not np.array_equal(classes, np.arange(n_classes)):
            _fail(weights, f"{where}classes_", "must be the class indices 0..n_classes - 1")
        _check_tree(getattr(t, "tree_", None), n_features, n_classes, weights, where)


def _check_libsvm(svc, n_features: int, weights: Path, where: str, *, user: bool = False
                  ) -> None:
    """The arrays a loaded SVC hands to libsvm, which indexes them without bounds checks.

    ``user=True`` (an SVC in a user's saved ``Pipeline``) also allows the other dense kernels
    and libsvm's own probabilities (``probability=True``), whose arrays are checked too.
    """
    if type(svc) is not SVC:
        _fail(weights, where.rstrip("."), f"is a {type(svc).__name__}, not an SVC")
    kernels = ("rbf", "linear", "poly", "sigmoid") if user else ("rbf",)
    if svc.kernel not in kernels or getattr(svc, "_sparse", None) is not False:
        _fail(weights, f"{where}kernel", f"must be a dense kernel among {kernels}")
    probability = getattr(svc, "_effective_probability", False)
    if svc._impl != "c_svc" or probability is not False and not (user and probability is True):
        _fail(weights, f"{where}_impl", "must be a C-SVC without libsvm probabilities")
    if user and not (isinstance(svc.degree, (int, np.integer)) and 0 <= svc.degree <= 10):
        _fail(weights, f"{where}degree", "must be an integer in 0..10")
    if _int_attr(svc, "fit_status_", weights, where) != 0:
        _fail(weights, f"{where}fit_status_", "must be 0 (a fitted SVC)")
    if _int_attr(svc, "n_features_in_", weights, where) != n_features:
        _fail(weights, f"{where}n_features_in_", f"must be {n_features}")
    shape_fit = getattr(svc, "shape_fit_", None)
    if (not isinstance(shape_fit, tuple) or len(shape_fit) != 2
            or not all(isinstance(v, (int, np.integer)) for v in shape_fit)
            or shape_fit[1] != n_features or shape_fit[0] < 1):
        _fail(weights, f"{where}shape_fit_", f"must be (n_samples, {n_features})")
    sv = _array_attr(svc, "support_vectors_", weights, where, kind="f")
    if sv.ndim != 2 or sv.shape[1] != n_features or len(sv) < 1:
        _fail(weights, f"{where}support_vectors_", f"has shape {sv.shape}, not (n_SV, "
              f"{n_features})")
    n_sv = len(sv)
    n_class = len(_array_attr(svc, "classes_", weights, where, kind="iuU"))
    n_pairs = n_class * (n_class - 1) // 2
    support = _array_attr(svc, "support_", weights, where, shape=(n_sv,), kind="i")
    if ((support < 0) | (support >= shape_fit[0])).any():
        _fail(weights, f"{where}support_", f"holds indices outside 0..{shape_fit[0] - 1}")
    n_support = _array_attr(svc, "_n_support", weights, where, shape=(n_class,), kind="i")
    if (n_support < 0).any() or int(n_support.sum()) != n_sv:
        _fail(weights, f"{where}n_support_", f"must be counts adding up to the {n_sv} support "
              "vectors")
    _array_attr(svc, "_dual_coef_", weights, where, shape=(n_class - 1, n_sv), kind="f")
    _array_attr(svc, "_intercept_", weights, where, shape=(n_pairs,), kind="f")
    _array_attr(svc, "class_weight_", weights, where, shape=(n_class,), kind="f")
    for name in ("_probA", "_probB"):
        a = _array_attr(svc, name, weights, where, kind="f")
        if a.shape not in ((0,), (n_pairs,)) or probability and a.shape != (n_pairs,):
            _fail(weights, f"{where}{name}", f"has shape {a.shape}")
    for name in ("_gamma", "coef0", "degree", "cache_size"):
        v = getattr(svc, name, None)
        if (not isinstance(v, (int, float, np.number)) or isinstance(v, bool)
                or not np.isfinite(v) or not 0 <= v <= 1e6 and name != "coef0"):
            _fail(weights, f"{where}{name}", f"must be a finite number, got {v!r}")


def _check_calibrated(est, n_features: int, weights: Path, check_inner) -> None:
    """A ``CalibratedClassifierCV`` of one sigmoid-calibrated model (``ensemble=False``), and
    the model inside it (``check_inner(model, n_features, weights, where)``)."""
    inner = getattr(est, "calibrated_classifiers_", None)
    if not isinstance(inner, list) or len(inner) != 1:
        _fail(weights, "calibrated_classifiers_", "must be a list of one calibrated model")
    cal = inner[0]
    if type(cal) is not _CalibratedClassifier:
        _fail(weights, "calibrated_classifiers_[0]", "is not a calibrated classifier")
    where = "calibrated_classifiers_[0].estimator."
    check_inner(getattr(cal, "estimator", None), n_features, weights, where)
    n_class = len(cal.estimator.classes_)
    calibrators = getattr(cal, "calibrators", None)
    if (not isinstance(calibrators, list) or len(calibrators) != (1 if n_class == 2 else n_class)
            or any(type(c) is not _SigmoidCalibration for c in calibrators)):
        _fail(weights, "calibrators", "must be one sigmoid calibration per class")
    for c in calibrators:
        if not all(isinstance(getattr(c, k, None), (float, np.floating))
                   and np.isfinite(getattr(c, k)) for k in ("a_", "b_")):
            _fail(weights, "calibrators", "must hold finite a_ and b_")
    if not np.array_equal(np.asarray(cal.classes), np.asarray(est.classes_)):
        _fail(weights, "calibrated_classifiers_[0].classes", "differ from classes_")
    if not np.array_equal(np.asarray(cal.estimator.classes_), np.asarray(est.classes_)):
        _fail(weights, f"{where}classes_", "differ from classes_")


def _check_svc(est, n_features: int, weights: Path) -> None:
    """A calibrated SVC (or the softmax fallback) and the SVC inside it."""
    if isinstance(est, _SoftmaxSVC):
        _check_libsvm(getattr(est, "svc", None), n_features, weights, "svc.")
        if not np.array_equal(np.asarray(est.classes_), est.svc.classes_):
            _fail(weights, "classes_", "differ from the SVC's")
        return
    _check_calibrated(est, n_features, weights, _check_libsvm)


def _check_linear(est, n_features: int, weights: Path, where: str, cls: type) -> None:
    """A fitted linear model of type ``cls``: integer classes, and ``coef_`` and
    ``intercept_`` of the shapes its classes and ``n_features`` imply, finite."""
    if type(est) is not cls:
        _fail(weights, where.rstrip(".") or "estimator", f"is a {type(est).__name__}, not a "
              f"{cls.__name__}")
    classes = _array_attr(est, "classes_", weights, where, kind="iuU")
    if classes.ndim != 1 or len(classes) < 2 or len(np.unique(classes)) != len(classes):
        _fail(weights, f"{where}classes_", "must be at least two distinct class indices")
    if _int_attr(est, "n_features_in_", weights, where) != n_features:
        _fail(weights, f"{where}n_features_in_", f"must be {n_features}")
    rows = 1 if len(classes) == 2 else len(classes)
    _array_attr(est, "coef_", weights, where, shape=(rows, n_features), kind="f")
    _array_attr(est, "intercept_", weights, where, shape=(rows,), kind="f")


def _check_lda_model(lda, n_features: int, weights: Path, where: str) -> None:
    """A loaded shrinkage LDA: its linear decision function, priors and class means."""
    _check_linear(lda, n_features, weights, where, LinearDiscriminantAnalysis)
    if lda.solver != "lsqr":
        _fail(weights, f"{where}solver", f"must be 'lsqr' (as bag-of-songs fits), got "
              f"{lda.solver!r}")
    n_class = len(lda.classes_)
    _array_attr(lda, "priors_", weights, where, shape=(n_class,), kind="f")
    _array_attr(lda, "means_", weights, where, shape=(n_class, n_features), kind="f")


def _check_linear_svc_model(svc, n_features: int, weights: Path, where: str) -> None:
    _check_linear(svc, n_features, weights, where, LinearSVC)


def _check_lda(est, n_features: int, weights: Path) -> None:
    """A calibrated LDA (or the LDA alone, with its own posteriors, for tiny classes)."""
    if isinstance(est, LinearDiscriminantAnalysis):
        _check_lda_model(est, n_features, weights, "")
        return
    _check_calibrated(est, n_features, weights, _check_lda_model)


def _check_linear_svc(est, n_features: int, weights: Path) -> None:
    """A calibrated linear SVC (or the softmax fallback) and the linear SVC inside it."""
    if isinstance(est, _SoftmaxSVC):
        _check_linear_svc_model(getattr(est, "svc", None), n_features, weights, "svc.")
        if not np.array_equal(np.asarray(est.classes_), est.svc.classes_):
            _fail(weights, "classes_", "differ from the linear SVC's")
        return
    _check_calibrated(est, n_features, weights, _check_linear_svc_model)


def _check_logreg(est, n_features: int, weights: Path) -> None:
    n_class = len(est.classes_)
    rows = 1 if n_class == 2 else n_class
    _array_attr(est, "coef_", weights, "", shape=(rows, n_features), kind="f")
    _array_attr(est, "intercept_", weights, "", shape=(rows,), kind="f")


#: The estimator types a saved model of each scikit-learn kind may hold, and its check.
_MODEL_TYPES = {
    "svc": ((CalibratedClassifierCV, _SoftmaxSVC), _check_svc),
    "rf": ((RandomForestClassifier,), _check_forest),
    "logreg": ((LogisticRegression,), _check_logreg),
    "lda": ((CalibratedClassifierCV, LinearDiscriminantAnalysis), _check_lda),
    "linsvc": ((CalibratedClassifierCV, _SoftmaxSVC), _check_linear_svc),
}


def _check_estimator(kind: str, est, n_classes: int, n_features: int, weights: Path) -> None:
    """The object skops built is one of this project's model types, shaped like model.json."""
    allowed, check = _MODEL_TYPES[kind]
    if type(est) not in allowed:
        raise ModelError(f"{weights}: holds a {type(est).__module__}.{type(est).__name__}, not a "
                         f"{kind} model of bag-of-songs; refusing it")
    classes_ = np.asarray(getattr(est, "classes_", []))
    if (classes_.ndim != 1 or len(classes_) < 1 or not np.issubdtype(classes_.dtype, np.integer)
            or classes_.min() < 0 or classes_.max() >= n_classes):
        raise ModelError(f"{weights}: the estimator's classes {classes_.tolist()[:10]} are not "
                         f"indices of the {n_classes} classes in model.json")
    n_in = getattr(est, "n_features_in_", None)
    if isinstance(est, _SoftmaxSVC):
        n_in = getattr(est.svc, "n_features_in_", None)
    if n_in != n_features:
        raise ModelError(f"{weights}: the model takes {n_in} features but model.json lists "
                         f"{n_features} feature columns")
    check(est, n_features, weights)
