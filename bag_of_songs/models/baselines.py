"""The scikit-learn baselines: an RBF SVC, a random forest and a logistic regression.

Their hyper-parameter grids live here, once (:data:`PARAM_GRIDS`): :func:`fit_svc`,
:func:`fit_random_forest` and :func:`fit_logreg` search them on the validation split, and
:func:`~bag_of_songs.models.select_model` by grouped cross-validation.

Explained in ``notebooks/3-models-prediction.ipynb`` (sections 2 and 4).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.svm import SVC

from ..errors import ModelError
from .classifier import GenreClassifier
from .dataset import TabularDataset, _check_trainable
from .kinds import MODEL_KINDS

#: The hyper-parameter grids of the scikit-learn kinds (the one place they are defined), each
#: parameter's values in the order they are tried, the first parameter outermost
#: (:func:`param_grid`). A numeric SVC ``gamma`` is per feature column: 0.5 is 0.5 / d on a
#: table of d columns.
PARAM_GRIDS = {
    "svc": {"C": (1.0, 10.0, 100.0), "gamma": ("scale", 0.5)},
    "rf": {"max_features": ("sqrt", 0.33), "min_samples_leaf": (1, 3)},
    "logreg": {"C": (0.01, 0.1, 1.0, 10.0)},
}

#: The setting of each kind when there is nothing to choose on (no validation split).
DEFAULT_PARAMS = {
    "svc": {"C": 10.0, "gamma": "scale"},
    "rf": {"max_features": "sqrt", "min_samples_leaf": 1},
    "logreg": {"C": 1.0},
}


def param_grid(kind: str, n_features: int) -> list[dict]:
    """The settings of :data:`PARAM_GRIDS` for ``kind`` on a table of ``n_features`` columns.

    Parameters
    ----------
    kind : str
        ``"svc"``, ``"rf"`` or ``"logreg"``; any other kind (the MLP) has no grid.
    n_features : int
        Feature columns of the table (an SVC's numeric ``gamma`` is divided by it).

    Returns
    -------
    grid : list of dict
        One dict of keyword arguments per setting, the first parameter varying slowest.

    Examples
    --------
    >>> param_grid("svc", 4)[:2]
    [{'C': 1.0, 'gamma': 'scale'}, {'C': 1.0, 'gamma': 0.125}]
    >>> len(param_grid("rf", 10)), param_grid("mlp", 10)
    (4, [])
    """
    space = dict(PARAM_GRIDS.get(kind, {}))
    if not space:
        return []
    if "gamma" in space:
        space["gamma"] = tuple(g if isinstance(g, str) else g / n_features
                               for g in space["gamma"])
    return [dict(zip(space, values, strict=True))
            for values in itertools.product(*space.values())]


def _select_on_validation(make, grid: list[dict], train_ds, val_ds):
    """Fit one model per setting on train, keep the best macro-F1 on validation, then refit
    that setting on train + validation (the test split is never seen)."""
    best_score, best_params = -np.inf, None
    for params in grid:
        est = make(**params).fit(train_ds.X, train_ds.y)
        score = f1_score(val_ds.y, est.predict(val_ds.X), average="macro", zero_division=0)
        if score > best_score + 1e-12:
            best_score, best_params = score, params
    X = np.vstack([train_ds.X, val_ds.X])
    y = np.concatenate([train_ds.y, val_ds.y])
    return make(y=y, **best_params).fit(X, y), best_params, float(best_score)


def _calibrated_svc(*, C: float, gamma, seed: int, y: np.ndarray):
    """An RBF SVC with probabilities (Platt scaling by cross-validation when classes allow)."""
    svc = SVC(kernel="rbf", C=C, gamma=gamma, random_state=seed)
    counts = np.bincount(y) if len(y) else np.zeros(0, dtype=int)
    counts = counts[counts > 0]  # classes absent from train (seen only in test) do not count
    n_min = int(counts.min()) if len(counts) else 0
    if n_min >= 3:
        return CalibratedClassifierCV(svc, method="sigmoid", cv=min(5, n_min), ensemble=False)
    return _SoftmaxSVC(svc)


class _SoftmaxSVC:
    """Fallback for tiny classes: scores from the decision function, normalised to sum to 1."""

    def __init__(self, svc):
        self.svc = svc

    def fit(self, X, y):
        self.svc.fit(X, y)
        self.classes_ = self.svc.classes_
        return self

    def predict(self, X):
        return self.svc.predict(X)

    def predict_proba(self, X):
        d = self.svc.decision_function(X)
        if d.ndim == 1:
            d = np.stack([-d, d], axis=1)
        e = np.exp(d - d.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


# Saved scikit-learn models name the class by module and name (skops), and the allow-list of
# bag_of_songs.models.safety pins "bag_of_songs.models._SoftmaxSVC": it keeps the name it had
# before the package split, so that files saved before and after load alike.
_SoftmaxSVC.__module__ = "bag_of_songs.models"


def fit_svc(train_ds: TabularDataset, val_ds: TabularDataset | None = None, *, seed: int = 0,
            grid: list[dict] | None = None) -> GenreClassifier:
    """An RBF support-vector classifier on the scaled features.

    Defaults: ``C=10``, ``gamma="scale"``. With ``val_ds``, a small grid (``C`` in 1, 10, 100;
    ``gamma`` ``"scale"`` or ``0.5 / d``; :data:`PARAM_GRIDS`) is searched on the validation
    split (macro F1), and the best setting refitted on train + validation; the test split is
    never looked at.
    Probabilities come from Platt scaling fitted by cross-validation (up to 5 folds) on the data
    the final model is fitted on; when its smallest class has fewer than 3 clips, from a softmax
    of the SVC's decision function instead.

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    train_ds : TabularDataset
        The training split; its scaler, classes and feature columns carry over to the model.
    val_ds : TabularDataset, optional
        The validation split, built with ``train_ds.derive(...)``. Without it, the default
        setting is fitted on train alone and ``grid`` is not used.
    seed : int
        Seeds the SVC (``random_state``).
    grid : list of dict, optional
        Settings to try on the validation split, each a dict of ``C`` and ``gamma``
        (default: ``param_grid("svc", d)``, the grid above).

    Returns
    -------
    model : GenreClassifier
        ``model.info["params"]`` holds the chosen setting, ``model.info["val_f1_macro"]`` its
        validation macro F1 (None without ``val_ds``).

    Raises
    ------
    ModelError
        When ``train_ds`` has fewer than two classes, or ``val_ds`` was not built with
        ``train_ds.derive``.
    """
    _check_trainable(train_ds, val_ds)
    if grid is None:
        grid = param_grid("svc", train_ds.n_features)
    if val_ds is None:
        grid = [dict(DEFAULT_PARAMS["svc"])]

    def make(y=train_ds.y, **p):
        return _calibrated_svc(seed=seed, y=y, **p)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        if val_ds is None:
            est, params, score = make(**grid[0]).fit(train_ds.X, train_ds.y), grid[0], None
        else:
            est, params, score = _select_on_validation(make, grid, train_ds, val_ds)
    return GenreClassifier("svc", est, list(train_ds.classes), list(train_ds.feature_columns),
                           train_ds.label_column, train_ds.scaler,
                           info={"params": params, "val_f1_macro": score, "seed": seed})


def fit_random_forest(train_ds: TabularDataset, val_ds: TabularDataset | None = None, *,
                      seed: int = 0, grid: list[dict] | None = None,
                      n_jobs: int = -1) -> GenreClassifier:
    """A random forest (500 trees) on the scaled features.

    With ``val_ds``, ``max_features`` (``"sqrt"``, 0.33) and ``min_samples_leaf`` (1, 3;
    :data:`PARAM_GRIDS`) are chosen on the validation split (macro F1) and the forest refitted
    on train + validation.

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    train_ds : TabularDataset
        The training split; its scaler, classes and feature columns carry over to the model.
    val_ds : TabularDataset, optional
        The validation split, built with ``train_ds.derive(...)``. Without it,
        ``max_features="sqrt"`` and ``min_samples_leaf=1`` are fitted on train alone and
        ``grid`` is not used.
    seed : int
        Seeds the forest (``random_state``).
    grid : list of dict, optional
        Settings to try on the validation split, each a dict of
        :class:`~sklearn.ensemble.RandomForestClassifier` arguments other than
        ``n_estimators``, ``random_state`` and ``n_jobs`` (default: ``param_grid("rf", d)``).
    n_jobs : int
        Worker processes while fitting (-1 = all cores); the returned forest predicts in one
        process.

    Returns
    -------
    model : GenreClassifier
        ``model.info["params"]`` holds the chosen setting, ``model.info["val_f1_macro"]`` its
        validation macro F1 (None without ``val_ds``).

    Raises
    ------
    ModelError
        When ``train_ds`` has fewer than two classes, or ``val_ds`` was not built with
        ``train_ds.derive``.
    """
    _check_trainable(train_ds, val_ds)
    if grid is None:
        grid = param_grid("rf", train_ds.n_features)
    if val_ds is None:
        grid = [dict(DEFAULT_PARAMS["rf"])]

    def make(y=None, **p):
        return RandomForestClassifier(n_estimators=500, random_state=seed, n_jobs=n_jobs, **p)

    if val_ds is None:
        est, params, score = make(**grid[0]).fit(train_ds.X, train_ds.y), grid[0], None
    else:
        est, params, score = _select_on_validation(make, grid, train_ds, val_ds)
    est.n_jobs = 1  # predictions of a loaded model stay single-process
    return GenreClassifier("rf", est, list(train_ds.classes), list(train_ds.feature_columns),
                           train_ds.label_column, train_ds.scaler,
                           info={"params": params, "val_f1_macro": score, "seed": seed})


def fit_logreg(train_ds: TabularDataset, val_ds: TabularDataset | None = None, *,
               seed: int = 0, grid: list[dict] | None = None) -> GenreClassifier:
    """A multinomial logistic regression on the scaled features (beyond the study).

    A linear model with an L2 penalty: on small corpora it often generalises as well as the
    SVC. With ``val_ds``, ``C`` (0.01, 0.1, 1, 10; :data:`PARAM_GRIDS`) is chosen on the
    validation split (macro F1) and the model refitted on train + validation; without it,
    ``C=1``.

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 4, baselines).

    Parameters
    ----------
    train_ds : TabularDataset
    val_ds : TabularDataset, optional
        Built with ``train_ds.derive(...)``.
    seed : int
    grid : list of dict, optional
        Settings to try (each a dict with ``C``; default: ``param_grid("logreg", d)``).

    Returns
    -------
    model : GenreClassifier
        ``model.info["params"]`` holds the chosen setting.
    """
    _check_trainable(train_ds, val_ds)
    grid = grid or param_grid("logreg", train_ds.n_features)

    def make(y=None, **p):
        return _make_estimator("logreg", p, seed=seed, y=y)

    if val_ds is None:
        params = dict(DEFAULT_PARAMS["logreg"]) if len(grid) > 1 else grid[0]
        est, score = make(**params).fit(train_ds.X, train_ds.y), None
    else:
        est, params, score = _select_on_validation(make, grid, train_ds, val_ds)
    return GenreClassifier("logreg", est, list(train_ds.classes), list(train_ds.feature_columns),
                           train_ds.label_column, train_ds.scaler,
                           info={"params": params, "val_f1_macro": score, "seed": seed})


def _make_estimator(kind: str, params: dict, *, seed: int, y=None, n_jobs: int = 1,
                    calibrated: bool = True, n_estimators: int = 500):
    """A fresh scikit-learn estimator of ``kind`` with ``params``."""
    if kind == "svc":
        if calibrated:
            return _calibrated_svc(seed=seed, y=y, **params)
        return _SoftmaxSVC(SVC(kernel="rbf", random_state=seed, **params))
    if kind == "rf":
        return RandomForestClassifier(n_estimators=n_estimators, random_state=seed,
                                      n_jobs=n_jobs, **params)
    if kind == "logreg":
        return LogisticRegression(max_iter=5000, random_state=seed, **params)
    raise ModelError(f"unknown model kind {kind!r}; choose from {MODEL_KINDS}")
