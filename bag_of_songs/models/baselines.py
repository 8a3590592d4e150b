"""The scikit-learn baselines and heads: an RBF SVC, a random forest, and the regularised
linear heads (logistic regression, shrinkage LDA, linear SVC).

Their hyper-parameter grids live here, once (:data:`PARAM_GRIDS`): :func:`fit_svc`,
:func:`fit_random_forest`, :func:`fit_logreg`, :func:`fit_lda` and :func:`fit_linear_svc`
search them on the validation split, and :func:`~bag_of_songs.models.select_model` by grouped
cross-validation. The SVCs' and the LDA's probabilities are Platt-calibrated by
cross-validation on the data the final model is fitted on (:func:`_calibrated`), on grouped
folds when the groups are given.

Explained in ``notebooks/3-models-prediction.ipynb`` (sections 2 and 4).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, make_scorer
from sklearn.model_selection import GridSearchCV, PredefinedSplit, StratifiedGroupKFold
from sklearn.svm import SVC, LinearSVC

from ..errors import ModelError
from .classifier import GenreClassifier
from .dataset import TabularDataset, _check_trainable
from .kinds import MODEL_KINDS
from .softmax_svc import _SoftmaxSVC

#: The hyper-parameter grids of the scikit-learn kinds (the one place they are defined), each
#: parameter's values in the order they are tried, the first parameter outermost
#: (:func:`param_grid`). A numeric SVC ``gamma`` is per feature column: 0.5 is 0.5 / d on a
#: table of d columns. The linear heads reach down to strong regularisation (``C`` 1e-4, LDA
#: shrinkage towards the diagonal), which small corpora of wide embeddings need.
PARAM_GRIDS = {
    "svc": {"C": (1.0, 10.0, 100.0), "gamma": ("scale", 0.5)},
    "rf": {"max_features": ("sqrt", 0.33), "min_samples_leaf": (1, 3)},
    "logreg": {"C": (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.1, 1.0, 10.0)},
    "lda": {"shrinkage": (0.1, 0.3, 0.5, 0.7, 0.9, "auto")},
    "linsvc": {"C": (1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0)},
}

#: The setting of each kind when there is nothing to choose on (no validation split).
DEFAULT_PARAMS = {
    "svc": {"C": 10.0, "gamma": "scale"},
    "rf": {"max_features": "sqrt", "min_samples_leaf": 1},
    "logreg": {"C": 1.0},
    "lda": {"shrinkage": "auto"},
    "linsvc": {"C": 1e-3},
}

#: Folds (at most) of the cross-validation that fits a model's Platt scaling.
CALIBRATION_FOLDS = 5


def param_grid(kind: str, n_features: int) -> list[dict]:
    """The settings of :data:`PARAM_GRIDS` for ``kind`` on a table of ``n_features`` columns.

    Parameters
    ----------
    kind : str
        A key of :data:`PARAM_GRIDS`; any other kind (the MLP) has no grid.
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


def _param_path(est, name: str) -> str:
    """Where parameter ``name`` of the estimator a model kind wraps lives in ``est``
    (``C``, ``estimator__C`` in a calibrated SVC, ``svc__C`` in the softmax fallback)."""
    if name in est.get_params(deep=False):
        return name
    inner = getattr(est, "estimator", None) or getattr(est, "svc", None)
    if inner is None:
        raise ModelError(f"{type(est).__name__} has no parameter {name!r}")
    return f"{'estimator' if getattr(est, 'estimator', None) is not None else 'svc'}__" + \
        _param_path(inner, name)


def _select_on_validation(make, grid: list[dict], train_ds, val_ds):
    """The single-split rule over ``GridSearchCV``: one model per setting fitted on train and
    scored on validation (``PredefinedSplit``; macro F1 of the rows), the best (the first on a
    tie) refitted on train + validation (the test split is never seen)."""
    X = np.vstack([train_ds.X, val_ds.X])
    y = np.concatenate([train_ds.y, val_ds.y])
    base = make(**grid[0])
    paths = {k: _param_path(base, k) for k in grid[0]}
    split = PredefinedSplit(np.r_[np.full(len(train_ds), -1), np.zeros(len(val_ds), int)])
    search = GridSearchCV(base, [{paths[k]: [v] for k, v in p.items()} for p in grid],
                          cv=split, scoring=_MACRO_F1, refit=False, error_score="raise")
    search.fit(X, y)
    best = grid[search.best_index_]
    score = float(search.cv_results_["mean_test_score"][search.best_index_])
    return make(y=y, **best).fit(X, y), best, score


#: Macro F1 of the rows (classes absent from both sides count as nothing, not as a warning).
_MACRO_F1 = make_scorer(f1_score, average="macro", zero_division=0)


def _calibrated(base, *, y, groups=None, seed: int = 0, fallback=None):
    """``base`` with Platt-scaled probabilities (sigmoid), fitted by cross-validation.

    The folds are stratified by class (:data:`CALIBRATION_FOLDS` at most); with ``groups``
    (one per row, e.g. :func:`~bag_of_songs.models.row_groups`), grouped too, so that no clip
    (nor artist) is on both sides of a fold. When the smallest class has fewer than 3 rows (3
    groups with ``groups``), there are not enough folds: ``fallback`` is returned instead
    (``base`` itself when None).
    """
    if y is None:
        raise ModelError("a calibrated model needs the labels it will be fitted on (y)")
    y = np.asarray(y)
    present = np.unique(y)
    if groups is None:
        n_min = int(min((np.sum(y == c) for c in present), default=0))
    else:
        groups = np.asarray(groups)
        if len(groups) != len(y):
            raise ModelError(f"{len(groups)} groups for {len(y)} rows")
        n_min = int(min((len(set(groups[y == c].tolist())) for c in present), default=0))
    if n_min < 3:
        return base if fallback is None else fallback
    k = min(CALIBRATION_FOLDS, n_min)
    cv = k
    if groups is not None:
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        with warnings.catch_warnings():  # a class spread unevenly over the groups
            warnings.simplefilter("ignore", category=UserWarning)
            cv = list(splitter.split(np.zeros(len(y)), y, groups))
    return CalibratedClassifierCV(base, method="sigmoid", cv=cv, ensemble=False)


def _calibrated_svc(*, C: float, gamma, seed: int, y: np.ndarray, groups=None):
    """An RBF SVC with probabilities (Platt scaling by cross-validation when classes allow,
    else :class:`_SoftmaxSVC`)."""
    svc = SVC(kernel="rbf", C=C, gamma=gamma, random_state=seed)
    return _calibrated(svc, y=y, groups=groups, seed=seed, fallback=_SoftmaxSVC(svc))


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
    return _fit_head("svc", train_ds, val_ds, seed=seed, grid=grid)


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
    model = _fit_head("rf", train_ds, val_ds, seed=seed, grid=grid, n_jobs=n_jobs)
    model.estimator.n_jobs = 1  # predictions of a loaded model stay single-process
    return model


def _fit_head(kind: str, train_ds: TabularDataset, val_ds: TabularDataset | None, *,
              seed: int, grid: list[dict] | None, n_jobs: int = 1) -> GenreClassifier:
    """Fit a model of ``kind`` on the table: its grid searched on ``val_ds`` (then refitted on
    train + validation), or without it its default setting (the one setting of a one-setting
    ``grid``)."""
    _check_trainable(train_ds, val_ds)
    grid = grid or param_grid(kind, train_ds.n_features)

    def make(y=train_ds.y, **p):
        return _make_estimator(kind, p, seed=seed, y=y, n_jobs=n_jobs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        if val_ds is None:
            params = dict(DEFAULT_PARAMS[kind]) if len(grid) > 1 else grid[0]
            est, score = make(**params).fit(train_ds.X, train_ds.y), None
        else:
            est, params, score = _select_on_validation(make, grid, train_ds, val_ds)
    return GenreClassifier(kind, est, list(train_ds.classes), list(train_ds.feature_columns),
                           train_ds.label_column, train_ds.scaler,
                           info={"params": params, "val_f1_macro": score, "seed": seed})


def fit_logreg(train_ds: TabularDataset, val_ds: TabularDataset | None = None, *,
               seed: int = 0, grid: list[dict] | None = None) -> GenreClassifier:
    """A multinomial logistic regression on the scaled features (beyond the study).

    A linear model with an L2 penalty: on small corpora it often generalises as well as the
    SVC, and on wide embeddings it wants strong regularisation. With ``val_ds``, ``C`` (1e-4
    to 10; :data:`PARAM_GRIDS`) is chosen on the validation split (macro F1) and the model
    refitted on train + validation; without it, ``C=1``.

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
    return _fit_head("logreg", train_ds, val_ds, seed=seed, grid=grid)


def fit_lda(train_ds: TabularDataset, val_ds: TabularDataset | None = None, *,
            seed: int = 0, grid: list[dict] | None = None) -> GenreClassifier:
    """A shrinkage linear discriminant analysis on the scaled features (beyond the study).

    ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage=...)``: one covariance shared by the
    classes, shrunk towards its diagonal, so that it can be estimated from fewer clips than
    feature columns. With ``val_ds``, ``shrinkage`` (0.1 to 0.9, or ``"auto"``, the
    Ledoit-Wolf choice; :data:`PARAM_GRIDS`) is chosen on the validation split (macro F1) and
    the model refitted on train + validation; without it, ``"auto"``. Its probabilities are
    Platt-calibrated by cross-validation on the data it is fitted on (the LDA's own posteriors
    when the smallest class has fewer than 3 clips).

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 4, baselines).

    Parameters
    ----------
    train_ds : TabularDataset
    val_ds : TabularDataset, optional
        Built with ``train_ds.derive(...)``.
    seed : int
        Seeds the calibration folds.
    grid : list of dict, optional
        Settings to try (each a dict with ``shrinkage``; default: ``param_grid("lda", d)``).

    Returns
    -------
    model : GenreClassifier
        ``model.info["params"]`` holds the chosen setting.

    Examples
    --------
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> frame = pd.DataFrame({"f0": np.r_[rng.normal(0, 1, 9), rng.normal(4, 1, 9)],
    ...                       "f1": rng.normal(size=18), "label": ["a"] * 9 + ["b"] * 9,
    ...                       "audio_file": [f"{i}.wav" for i in range(18)]})
    >>> model = fit_lda(TabularDataset(frame))
    >>> model.kind, model.info["params"], model.predict_proba(np.zeros((1, 2))).shape
    ('lda', {'shrinkage': 'auto'}, (1, 2))
    """
    return _fit_head("lda", train_ds, val_ds, seed=seed, grid=grid)


def fit_linear_svc(train_ds: TabularDataset, val_ds: TabularDataset | None = None, *,
                   seed: int = 0, grid: list[dict] | None = None) -> GenreClassifier:
    """A linear support-vector classifier on the scaled features (beyond the study).

    ``LinearSVC(C=...)`` (squared hinge loss, L2 penalty, one-vs-rest). With ``val_ds``,
    ``C`` (1e-4 to 10; :data:`PARAM_GRIDS`) is chosen on the validation split (macro F1) and
    the model refitted on train + validation; without it, ``C=1e-3``. Probabilities as
    :func:`fit_svc`'s: Platt scaling fitted by cross-validation on the data the final model is
    fitted on, or a softmax of the decision function when the smallest class has fewer than 3
    clips.

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 4, baselines).

    Parameters
    ----------
    train_ds : TabularDataset
    val_ds : TabularDataset, optional
        Built with ``train_ds.derive(...)``.
    seed : int
        Seeds the solver and the calibration folds.
    grid : list of dict, optional
        Settings to try (each a dict with ``C``; default: ``param_grid("linsvc", d)``).

    Returns
    -------
    model : GenreClassifier
        ``model.info["params"]`` holds the chosen setting.
    """
    return _fit_head("linsvc", train_ds, val_ds, seed=seed, grid=grid)


def _make_estimator(kind: str, params: dict, *, seed: int, y=None, n_jobs: int = 1,
                    calibrated: bool = True, n_estimators: int = 500, groups=None):
    """A fresh scikit-learn estimator of ``kind`` with ``params``.

    ``calibrated=False`` (for ranking settings) gives the SVCs a softmax of their decision
    function and the LDA its own posteriors; ``calibrated=True`` needs ``y`` (the labels it
    will be fitted on) and takes ``groups`` (one per row) for grouped calibration folds.
    """
    if kind == "svc":
        if calibrated:
            return _calibrated_svc(seed=seed, y=y, groups=groups, **params)
        return _SoftmaxSVC(SVC(kernel="rbf", random_state=seed, **params))
    if kind == "rf":
        return RandomForestClassifier(n_estimators=n_estimators, random_state=seed,
                                      n_jobs=n_jobs, **params)
    if kind == "logreg":
        return LogisticRegression(max_iter=5000, random_state=seed, **params)
    if kind == "lda":
        lda = LinearDiscriminantAnalysis(solver="lsqr", **params)
        return _calibrated(lda, y=y, groups=groups, seed=seed) if calibrated else lda
    if kind == "linsvc":
        svc = LinearSVC(max_iter=20_000, random_state=seed, **params)
        fallback = _SoftmaxSVC(svc)
        return (_calibrated(svc, y=y, groups=groups, seed=seed, fallback=fallback)
                if calibrated else fallback)
    raise ModelError(f"unknown model kind {kind!r}; choose from {MODEL_KINDS}")
