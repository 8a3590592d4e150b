"""A model of feature rows and a fitted scikit-learn ``Pipeline``: one from the other.

A :class:`~bag_of_songs.models.GenreClassifier` of feature rows keeps, as its saved folders
always have, a fitted ``StandardScaler`` and an estimator fitted on class *indices*, with the
class names beside them. :func:`pipeline_of` puts the two in one ``Pipeline(scaler,
classifier)`` that takes the table's feature columns as they are and speaks labels
(``classes_`` are the class names, ``predict`` returns them), sharing the fitted arrays
(nothing is refitted). :func:`parts_of` is the way back: the parts of a fitted pipeline of the
project's kinds, its classifier recoded to class indices.

:attr:`GenreClassifier.pipeline` and :meth:`GenreClassifier.from_pipeline` are built on these.

Explained in ``notebooks/3-models-prediction.ipynb`` (section 7).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from numbers import Integral

import numpy as np
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..errors import ModelError
from .estimators import StudyMLPClassifier
from .safety import _check_estimator
from .softmax_svc import _SoftmaxSVC

__all__ = ["parts_of", "pipeline_of"]

#: The hidden layers of the MLP a model folder stores (``model.json`` records no others).
_STUDY_HIDDEN = (128, 64)


def _mlp_head(module: nn.Module, classes: list, n_features: int, info: dict
              ) -> StudyMLPClassifier:
    """A trained network as a fitted StudyMLPClassifier with its training settings."""
    widths = [m.out_features for m in module.net if isinstance(m, nn.Linear)]
    head = StudyMLPClassifier(
        hidden=tuple(widths[:-1]), lr=info.get("lr", 1e-3),
        batch_size=info.get("batch_size", 32), max_epochs=info.get("epochs", 50),
        patience=info.get("patience", 5),
        validation_fraction=info.get("validation_fraction", 0.1),
        random_state=info.get("seed", 0), device=info.get("device", "cpu"))
    head.module_ = module
    head.classes_ = np.asarray(classes)
    head.n_features_in_ = n_features
    if "best_epoch" in info:
        head.best_epoch_ = info["best_epoch"]
    return head


def _detached(est):
    """A shallow copy of a fitted estimator that shares its arrays and fitted sub-estimators
    but nothing a later ``set_params`` or ``fit`` changes in place: its parameters that are
    estimators (templates such as a calibration's ``estimator``) are cloned, its lists (a
    forest's ``estimators_``, which ``warm_start`` extends) are new lists."""
    out = copy.copy(est)
    if hasattr(est, "get_params") and not isinstance(est, _SoftmaxSVC):
        for name, value in est.get_params(deep=False).items():
            if hasattr(value, "get_params") and not isinstance(value, type):
                setattr(out, name, clone(value))
    for name, value in vars(est).items():
        if isinstance(value, list):
            setattr(out, name, list(value))
    return out


def _recoded(est, recode: Callable[[np.ndarray], np.ndarray]):
    """A copy of a scikit-learn classifier (:func:`_detached`) whose class labels are
    ``recode``\\ d: its own ``classes_``, a wrapped SVC's (the softmax fallback) and, in a
    calibrated classifier, each calibrated fold's and its estimator's. The fitted arrays are
    shared."""
    out = _detached(est)
    out.classes_ = recode(np.asarray(est.classes_))
    if isinstance(est, _SoftmaxSVC) and hasattr(est.svc, "classes_"):
        out.svc = _recoded(est.svc, recode)
    if hasattr(est, "calibrated_classifiers_"):  # CalibratedClassifierCV
        folds = []
        for fold in est.calibrated_classifiers_:
            fold = copy.copy(fold)
            fold.classes = recode(np.asarray(fold.classes))
            fold.estimator = _recoded(fold.estimator, recode)
            folds.append(fold)
        out.calibrated_classifiers_ = folds
    return out


def pipeline_of(kind: str, estimator, scaler: StandardScaler, classes: list,
                info: dict) -> Pipeline:
    """The fitted ``Pipeline(scaler, classifier)`` of a model's parts.

    Parameters
    ----------
    kind : {"mlp", "svc", "rf", "logreg", "lda", "linsvc"}
    estimator : MLP or scikit-learn classifier
        Fitted on class indices.
    scaler : StandardScaler
        Fitted.
    classes : list of str
        ``classes[i]`` names class ``i``.
    info : dict
        The model's training details (the MLP's settings are read from it).

    Returns
    -------
    pipeline : Pipeline
        Steps ``scaler`` and ``classifier``, shallow copies that share the fitted arrays (so
        that fitting the pipeline again leaves the model as it was): for the MLP a fitted
        :class:`StudyMLPClassifier` holding the same network, else a copy of ``estimator``
        whose ``classes_`` are the class names.
    """
    names = np.asarray(classes)
    if kind == "mlp":
        head = _mlp_head(estimator, classes, len(scaler.mean_), info)
    else:
        head = _recoded(estimator, lambda idx: names[idx.astype(np.intp)])
    # shallow copies: the fitted arrays are shared, but fitting the pipeline (which rebinds
    # them) leaves the model as it was
    return Pipeline([("scaler", copy.copy(scaler)), ("classifier", head)])


#: The kind of a plain classifier, and of the estimator inside a wrapper (a sigmoid
#: calibration or the softmax fallback).
_PLAIN_KINDS = {StudyMLPClassifier: "mlp", RandomForestClassifier: "rf",
                LogisticRegression: "logreg", LinearDiscriminantAnalysis: "lda"}
_WRAPPED_KINDS = {SVC: "svc", LinearSVC: "linsvc", LinearDiscriminantAnalysis: "lda"}


def _kind_of(head) -> str | None:
    """The model kind a fitted classifier is, or None. (Whether a wrapper holds its kind as a
    model folder does, e.g. an LDA only calibrated, is :func:`_check_estimator`'s to say.)"""
    if isinstance(head, CalibratedClassifierCV):
        if head.method != "sigmoid":
            return None
        return _WRAPPED_KINDS.get(type(head.calibrated_classifiers_[0].estimator))
    if isinstance(head, _SoftmaxSVC):
        return _WRAPPED_KINDS.get(type(head.svc))
    return _PLAIN_KINDS.get(type(head))


def parts_of(pipeline) -> tuple[str, object, StandardScaler, list, dict]:
    """The parts of a model in a fitted ``Pipeline(StandardScaler, classifier)``.

    The way back from :func:`pipeline_of`, for a pipeline of the kinds a model folder holds:
    the study's MLP (:class:`StudyMLPClassifier` with the hidden layers ``(128, 64)``), a
    random forest, a logistic regression, an LDA (plain or calibrated), a sigmoid-calibrated
    ``SVC`` or ``LinearSVC`` (as :func:`fit_svc` and :func:`fit_linear_svc` make them), or the
    softmax fallback of those.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted; two steps, a ``StandardScaler`` then the classifier; class labels that are
        strings.

    Returns
    -------
    kind : str
    estimator : MLP or scikit-learn classifier
        The network, or a shallow copy of the classifier recoded to class indices.
    scaler : StandardScaler
        A shallow copy of the fitted scaler (sharing its statistics; without the column names
        when it was fitted on a DataFrame).
    classes : list of str
        The classifier's ``classes_``, in their order.
    info : dict
        For the MLP, its training settings (``seed`` None when ``random_state`` was not an
        int) and best epoch.

    Raises
    ------
    ModelError
        When the pipeline is not fitted, has other steps, ends with a classifier of another
        kind (e.g. an uncalibrated ``SVC``: save such a pipeline as it is, with
        :func:`~bag_of_songs.models.save_model`) or of another shape than a model folder
        holds (the checks :func:`~bag_of_songs.models.load_model` applies to a saved
        estimator, e.g. a calibration with ``ensemble=False``), or its labels are not
        strings.
    """
    steps = pipeline.steps if isinstance(pipeline, Pipeline) else None
    if not steps or len(steps) != 2 or type(steps[0][1]) is not StandardScaler:
        raise ModelError("a model of feature rows is a Pipeline of two steps, a StandardScaler "
                         "and a classifier; save any other pipeline as it is with save_model")
    scaler, head = steps[0][1], steps[1][1]
    if not (scaler.with_mean and scaler.with_std):
        raise ModelError("the pipeline's StandardScaler must centre and scale (with_mean and "
                         "with_std True), as a model folder stores it; save the pipeline as it "
                         "is with save_model")
    if not hasattr(head, "predict_proba"):
        raise ModelError(f"the pipeline's last step ({head!r}) gives no class probabilities; a "
                         "model of the project's kinds ends with a classifier that does")
    try:
        check_is_fitted(scaler)
        check_is_fitted(head)
    except NotFittedError:
        raise ModelError("the pipeline is not fitted: fit it first") from None
    # a copy sharing the statistics, so that refitting the pipeline leaves the model as it was;
    # without a DataFrame's column names (the model scales arrays of its feature columns, and
    # scikit-learn would warn)
    scaler = copy.copy(scaler)
    if hasattr(scaler, "feature_names_in_"):
        del scaler.feature_names_in_
    kind = _kind_of(head)
    if kind is None:
        raise ModelError(f"a {type(head).__name__} is not one of the project's model kinds "
                         "(the study's MLP, a calibrated SVC or linear SVC, a random forest, a "
                         "logistic regression, an LDA); save the pipeline as it is with "
                         "save_model")
    classes = np.asarray(head.classes_)
    if classes.dtype.kind not in "UO" or not all(isinstance(c, str) for c in classes.tolist()):
        raise ModelError(f"the class labels must be strings (genre names), got "
                         f"{classes.tolist()[:5]}")
    if kind == "mlp":
        if tuple(head.hidden) != _STUDY_HIDDEN:
            raise ModelError(f"a model folder holds the study's MLP, hidden layers "
                             f"{_STUDY_HIDDEN}, not {tuple(head.hidden)}; save the pipeline as "
                             "it is with save_model")
        seeded = isinstance(head.random_state, Integral) and not isinstance(head.random_state,
                                                                              bool)
        info = {"best_epoch": int(getattr(head, "best_epoch_", 0)),
                "epochs": head.max_epochs, "patience": head.patience,
                "batch_size": head.batch_size, "lr": head.lr,
                "validation_fraction": head.validation_fraction,
                "seed": int(head.random_state) if seeded else None, "device": str(head.device)}
        return kind, head.module_, scaler, classes.tolist(), info
    index = {c: i for i, c in enumerate(classes.tolist())}
    estimator = _recoded(head, lambda labels: np.array([index[c] for c in labels.tolist()],
                                                       dtype=np.int64))
    try:  # what load_model would check of the saved estimator, checked now
        _check_estimator(kind, estimator, len(classes), len(scaler.mean_), "the pipeline")
    except ModelError as exc:
        raise ModelError(f"the pipeline's classifier is not a {kind} model as a model folder "
                         f"holds it ({exc}); save the pipeline as it is with save_model"
                         ) from None
    return kind, estimator, scaler, classes.tolist(), {}
