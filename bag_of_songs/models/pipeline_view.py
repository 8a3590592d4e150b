"""A fitted :class:`GenreClassifier` of feature rows as a fitted scikit-learn ``Pipeline``.

A model trained by the command line, :func:`train_on_folder` or :func:`compare_models` holds its
scaler and its estimator side by side, and its ``predict_proba`` takes rows already scaled.
:func:`as_pipeline` puts them in one ``Pipeline(StandardScaler, classifier)`` that takes the
table's feature columns as they are and speaks labels: ``classes_`` are the class names and
``predict`` returns them. The pipeline shares the model's fitted arrays (nothing is refitted);
``clone`` gives the same recipe unfitted, which ``fit`` trains on labels; :func:`save_model`
saves it as any pipeline.

Explained in ``notebooks/3-models-prediction.ipynb`` (section 7).
"""

from __future__ import annotations

import copy

import numpy as np
from sklearn.pipeline import Pipeline
from torch import nn

from ..errors import ModelError
from .classifier import GenreClassifier
from .estimators import StudyMLPClassifier
from .kinds import SPECTROGRAM_KINDS

__all__ = ["as_pipeline"]


def _mlp_head(model: GenreClassifier) -> StudyMLPClassifier:
    """The model's trained network as a fitted StudyMLPClassifier with its training settings."""
    widths = [m.out_features for m in model.estimator.net if isinstance(m, nn.Linear)]
    info = model.info
    head = StudyMLPClassifier(
        hidden=tuple(widths[:-1]), lr=info.get("lr", 1e-3),
        batch_size=info.get("batch_size", 32), max_epochs=info.get("epochs", 50),
        patience=info.get("patience", 5), random_state=info.get("seed", 0))
    head.module_ = model.estimator
    head.classes_ = np.asarray(model.classes)
    head.n_features_in_ = len(model.feature_columns)
    if "best_epoch" in info:
        head.best_epoch_ = info["best_epoch"]
    return head


def _relabelled(est, names: np.ndarray):
    """A shallow copy of a scikit-learn classifier fitted on class indices whose ``classes_``
    are the names of those indices: the classifier's own, a wrapped SVC's (the softmax
    fallback) and, in a calibrated classifier, each calibrated fold's and its estimator's."""
    out = copy.copy(est)
    out.classes_ = names[np.asarray(est.classes_, dtype=np.intp)]
    if hasattr(est, "svc") and hasattr(est.svc, "classes_"):  # the softmax fallback of an SVC
        out.svc = _relabelled(est.svc, names)
    if hasattr(est, "calibrated_classifiers_"):  # CalibratedClassifierCV
        folds = []
        for fold in est.calibrated_classifiers_:
            fold = copy.copy(fold)
            fold.classes = names[np.asarray(fold.classes, dtype=np.intp)]
            fold.estimator = _relabelled(fold.estimator, names)
            folds.append(fold)
        out.calibrated_classifiers_ = folds
    return out


def as_pipeline(model: GenreClassifier) -> Pipeline:
    """A fitted ``Pipeline(scaler, classifier)`` that predicts as ``model`` does, from raw rows.

    Parameters
    ----------
    model : GenreClassifier
        A model of feature rows (``mlp``, ``svc``, ``rf``, ``logreg``, ``lda``, ``linsvc``).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``scaler`` (the model's fitted StandardScaler) and ``classifier`` (for the MLP a
        fitted :class:`StudyMLPClassifier` holding the same network; else a shallow copy of the
        scikit-learn estimator whose ``classes_`` are the class names). It takes rows of
        ``model.feature_columns`` unscaled, ``(n, d)``; ``predict`` returns class names. Its
        probabilities equal ``model.predict_proba`` of the scaled rows (for the scikit-learn
        estimators, to within the float32 rounding the model applies to scaled rows); a class
        the estimator never saw in training has no column (``model`` gives it 0).

    Raises
    ------
    ModelError
        For a spectrogram model (``cnn``, ``hybrid``), which does not classify feature rows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bag_of_songs.models import TabularDataset, fit_svc
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 3)), rng.normal(3, 1, (20, 3))]
    >>> table = pd.DataFrame(X, columns=["a", "b", "c"]).assign(genre=["pop"] * 20 + ["rock"] * 20)
    >>> model = fit_svc(TabularDataset(table, label_column="genre"))
    >>> pipe = as_pipeline(model)
    >>> pipe.classes_.tolist(), pipe.predict(table[["a", "b", "c"]].to_numpy()[[0, -1]]).tolist()
    (['pop', 'rock'], ['pop', 'rock'])
    """
    if not isinstance(model, GenreClassifier):
        raise ModelError(f"as_pipeline takes a GenreClassifier, got {type(model).__name__}")
    if model.kind in SPECTROGRAM_KINDS:
        raise ModelError(f"a {model.kind} model classifies spectrograms, not feature rows: it "
                         "has no scikit-learn pipeline")
    if model.kind == "mlp":
        head = _mlp_head(model)
    else:
        head = _relabelled(model.estimator, np.asarray(model.classes))
    return Pipeline([("scaler", model.scaler), ("classifier", head)])
