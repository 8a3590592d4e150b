"""Honest model selection: cross-validation folds that keep clips (and artists) whole.

:func:`fit_model` chooses a kind's hyper-parameters on the validation split;
:func:`select_model` applies the rule (grouped cross-validation over train + validation for
small corpora, the validation split for large ones) and fits the chosen setting. The grids
searched are :data:`~bag_of_songs.models.baselines.PARAM_GRIDS`.

Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, model selection).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from sklearn import config_context
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metadata_routing import MetadataRequest

from .._logging import forward_records
from ..errors import ModelError
from .baselines import (
    _make_estimator,
    _SoftmaxSVC,
    fit_lda,
    fit_linear_svc,
    fit_logreg,
    fit_random_forest,
    fit_svc,
    param_grid,
)
from .calibration import selective_accuracy, uncertainty_threshold
from .classifier import GenreClassifier
from .dataset import TabularDataset, _check_trainable, _first_labels, _pool, concat_datasets
from .evaluation import _macro_f1
from .kinds import MODEL_KINDS, SPECTROGRAM_KINDS
from .mlp_training import train_mlp

logger = logging.getLogger(__name__)

#: ``selection="auto"`` cross-validates when train and validation together hold fewer clips.
CV_MAX_CLIPS = 1000


#: Folds of that cross-validation.
CV_FOLDS = 5


def row_groups(ds: TabularDataset, groups: dict | None = None) -> np.ndarray:
    """The group of every row of ``ds``: its clip's group, looked up by ``audio_file``.

    Parameters
    ----------
    ds : TabularDataset [n rows]
    groups : dict audio_file -> group, optional
        E.g. from :func:`read_clip_groups`. A clip it does not list is a group of its own.

    Returns
    -------
    groups : numpy.ndarray of str [n rows]
        ``"group:<name>"`` for a listed clip, ``"clip:<clip id>"`` otherwise; all the rows
        (segments) of a clip share one value.
    """
    groups = groups or {}
    files = (ds.frame["audio_file"].astype(str).to_numpy() if "audio_file" in ds.frame.columns
             else [None] * len(ds.clips))
    return np.array([f"group:{groups[f]}" if f in groups else f"clip:{c}"
                     for f, c in zip(files, ds.clips, strict=True)], dtype=object)


def grouped_folds(ds: TabularDataset, *, n_splits: int = CV_FOLDS,
                  groups: dict | None = None, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified cross-validation folds that never split a clip, nor a group of clips.

    Every row of a clip (all its segments) lands in the same fold; with ``groups`` (e.g. each
    clip's artist), every clip of a group does too, so a model is never scored on an artist it
    was trained on. Folds are stratified by class as far as the groups allow
    (:class:`~sklearn.model_selection.StratifiedGroupKFold`, shuffled with ``seed``).

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, model selection).

    Parameters
    ----------
    ds : TabularDataset [n rows]
    n_splits : int
        Folds wanted; fewer when there are fewer groups (at least 2). A class with fewer groups
        than folds is held out in as many folds as it has groups (and absent from the others).
    groups : dict audio_file -> group, optional
        The group of each clip, by its ``audio_file`` (:func:`row_groups`); clips it does not
        list are groups of their own.
    seed : int

    Returns
    -------
    folds : list of (train_rows, test_rows)
        Row indices of ``ds``; each row is in exactly one ``test_rows``.

    Raises
    ------
    ModelError
        When there are fewer than two groups.
    """
    g = row_groups(ds, groups)
    # at most one fold per group; and scikit-learn needs some class with at least as many
    # rows as folds
    k = int(min(n_splits, len(set(g)), np.bincount(ds.y).max()))
    if k < 2:
        raise ModelError(f"the table holds fewer than two {'groups' if groups else 'clips'}: "
                         "cannot cross-validate")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # a class with fewer groups than folds is held out once
        warnings.simplefilter("ignore", category=UserWarning)
        return [(tr, te) for tr, te in splitter.split(ds.X, ds.y, groups=g)]


class _ClipF1:
    """The project's score as a scikit-learn scorer: clip-level macro F1 of a fitted pipeline
    on held-out rows, each clip decided by the mean of its rows' probabilities (a segment
    table's texture windows). The rows' clips reach it through scikit-learn's metadata routing
    (``GridSearchCV.fit(X, y, clips=...)``)."""

    def __init__(self, n_classes: int):
        self.n_classes = n_classes

    def get_metadata_routing(self) -> MetadataRequest:
        request = MetadataRequest(owner=type(self).__name__)
        request.score.add_request(param="clips", alias=True)
        return request

    def __call__(self, estimator, X, y, clips) -> float:
        proba = np.zeros((len(X), self.n_classes))
        proba[:, estimator.classes_] = estimator.predict_proba(X)
        _, clip_proba = _pool(proba, clips)
        codes = pd.factorize(pd.Series(clips, dtype=object))[0]
        y_clip = pd.Series(y).groupby(codes).first().to_numpy()
        return _macro_f1(y_clip, clip_proba.argmax(axis=1))


def _cv_search(kind: str, grid: list[dict], ds: TabularDataset, folds, *, seed: int,
               n_jobs: int) -> GridSearchCV:
    """Every setting of ``grid`` scored by ``GridSearchCV`` on the folds: a pipeline that
    scales on each fold's training part, then ``kind`` (SVCs scored without the calibration,
    which does not change the ranking; 200 trees rank forest settings as 500 do, at 40 % of
    the cost), scored per clip (:class:`_ClipF1`). Ties go to the first setting of the grid."""
    est = _make_estimator(kind, grid[0], seed=seed, n_jobs=n_jobs, calibrated=False,
                          n_estimators=200)
    prefix = "model__svc__" if isinstance(est, _SoftmaxSVC) else "model__"
    pipe = Pipeline([("scale", StandardScaler()), ("model", est)])
    search = GridSearchCV(pipe, [{f"{prefix}{k}": [v] for k, v in p.items()} for p in grid],
                          cv=folds, scoring=_ClipF1(len(ds.classes)), refit=False,
                          error_score="raise")
    with config_context(enable_metadata_routing=True):
        search.fit(ds.X, ds.y, clips=ds.clips)
    return search


def _cv_score_mlp(full: TabularDataset, folds, *, epochs: int, seed: int
                  ) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean clip-level macro F1 of the MLP trained for the chosen ``epochs`` on each fold's
    training part (scaled on its own) and scored on its held-out part, as
    :func:`_cv_search` scores the other kinds' settings; and the held-out clips'
    probabilities and labels over all folds."""
    scores, probas, labels = [], [], []
    for tr, te in folds:
        fold_train = TabularDataset(full.frame.iloc[tr], label_column=full.label_column,
                                    classes=full.classes, feature_columns=full.feature_columns)
        model, _ = train_mlp(fold_train, None, epochs=epochs, seed=seed)
        held = fold_train.derive(full.frame.iloc[te])
        _, clip_proba = _pool(model.predict_proba(held.X), held.clips)
        _, _, y_clip = _first_labels(held, np.arange(len(held)))
        scores.append(_macro_f1(y_clip, clip_proba.argmax(axis=1)))
        probas.append(clip_proba)
        labels.append(y_clip)
    return float(np.mean(scores)), np.concatenate(probas), np.concatenate(labels)


def _out_of_fold(kind: str, params: dict, ds: TabularDataset, folds, *, seed: int,
                 n_jobs: int, groups: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The held-out clips' probabilities over all folds from the estimator the final model is
    (calibrated as it is, on ``groups``' folds: one per row), fitted on each fold's training
    part, and their labels."""
    probas, labels = [], []
    for tr, te in folds:
        sc = StandardScaler().fit(ds.X[tr])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            est = _make_estimator(kind, params, seed=seed, y=ds.y[tr], n_jobs=n_jobs,
                                  groups=None if groups is None else groups[tr])
            est.fit(sc.transform(ds.X[tr]), ds.y[tr])
        proba = np.zeros((len(te), len(ds.classes)))
        proba[:, est.classes_] = est.predict_proba(sc.transform(ds.X[te]))
        _, clip_proba = _pool(proba, ds.clips[te])
        probas.append(clip_proba)
        labels.append(_first_labels(ds, te)[2])
    return np.concatenate(probas), np.concatenate(labels)


def _uncertainty(proba: np.ndarray, y: np.ndarray, how: str) -> dict:
    """``model.info["uncertainty"]``: the threshold chosen on held-out predictions (the
    rule of :func:`~bag_of_songs.models.calibration.uncertainty_threshold`), what it keeps."""
    out = selective_accuracy(proba, y, uncertainty_threshold(proba, y))
    plain = {k: (None if v is None else float(v) if isinstance(v, float | np.floating)
                 else int(v)) for k, v in out.items()}
    return {**plain, "chosen_on": how}


def fit_model(kind: str, train_ds: TabularDataset, val_ds: TabularDataset | None = None, *,
              seed: int = 0, n_jobs: int = -1) -> GenreClassifier:
    """Fit a model of ``kind`` (``"mlp"``, ``"svc"``, ``"rf"`` or ``"logreg"``), selected on
    ``val_ds``.

    For the choice of hyper-parameters by grouped cross-validation see :func:`select_model`.

    Explained in ``notebooks/3-models-prediction.ipynb`` (sections 2 and 4, one function per
    kind).

    Parameters
    ----------
    kind : {"mlp", "svc", "rf", "logreg"}
    train_ds : TabularDataset
    val_ds : TabularDataset, optional
        For early stopping (MLP) or hyper-parameter choice (the others).
    seed : int
    n_jobs : int
        Worker processes of the random forest (-1 = all cores).

    Returns
    -------
    model : GenreClassifier

    Raises
    ------
    ModelError
        On an unknown ``kind``, and as :func:`train_mlp`, :func:`fit_svc`,
        :func:`fit_random_forest`, :func:`fit_logreg`, :func:`fit_lda` and
        :func:`fit_linear_svc`.
    """
    if kind == "mlp":
        return train_mlp(train_ds, val_ds, seed=seed)[0]
    if kind == "svc":
        return fit_svc(train_ds, val_ds, seed=seed)
    if kind == "rf":
        return fit_random_forest(train_ds, val_ds, seed=seed, n_jobs=n_jobs)
    if kind == "logreg":
        return fit_logreg(train_ds, val_ds, seed=seed)
    if kind == "lda":
        return fit_lda(train_ds, val_ds, seed=seed)
    if kind == "linsvc":
        return fit_linear_svc(train_ds, val_ds, seed=seed)
    raise ModelError(f"unknown model kind {kind!r}; choose from {MODEL_KINDS}")


def select_model(kind: str, train_ds: TabularDataset, val_ds: TabularDataset | None = None, *,
                 selection: str = "auto", groups: dict | None = None, n_splits: int = CV_FOLDS,
                 grid: list[dict] | None = None, seed: int = 0, n_jobs: int = -1, log=None
                 ) -> GenreClassifier:
    """Choose a model's hyper-parameters honestly, then fit it.

    The rule (``selection="auto"``): when train and validation together hold fewer than
    :data:`CV_MAX_CLIPS` clips, one small validation split makes every choice a coin toss, so
    the choice is made by ``n_splits``-fold cross-validation over train + validation, with folds
    that keep every clip (all its segments) and every group (e.g. artist, with ``groups``)
    whole (:func:`grouped_folds`), scored by clip-level macro F1; the chosen setting is then
    refitted on train + validation (scaled with their own statistics). Larger corpora keep the
    single validation split (``"split"``: :func:`fit_model`), which is then big enough and
    ``n_splits`` times cheaper. The test split is never seen either way.

    What is chosen: SVC ``C`` and ``gamma``, random-forest ``max_features`` and
    ``min_samples_leaf``, logistic-regression ``C``, and the MLP's number of epochs (the median
    of the best epochs of early stopping in each fold; the final MLP trains that long on train
    + validation).

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, model selection).

    Parameters
    ----------
    kind : {"mlp", "svc", "rf", "logreg"}
    train_ds : TabularDataset
    val_ds : TabularDataset, optional
        Built with ``train_ds.derive``.
    selection : {"auto", "cv", "split"}
    groups : dict clip -> group, optional
        E.g. the artist of each clip (``audio_file``), read with :func:`read_groups`.
    n_splits : int
    grid : list of dict, optional
        The settings to cross-validate (default: the grids of :func:`fit_svc`,
        :func:`fit_random_forest` and :func:`fit_logreg`); not used for the MLP.
    seed : int
    n_jobs : int
        Worker processes of the random forest.
    log : callable, optional
        Deprecated: attach a handler to the ``bag_of_songs`` logger instead. Receives the
        package's log lines (``INFO`` and up: one per fold and setting) while this call runs.

    Returns
    -------
    model : GenreClassifier
        ``model.info["selection"]`` says how the setting was chosen, ``["params"]`` which it
        is, ``["cv_f1_macro"]`` its cross-validated clip-level macro F1 (CV only; for the
        MLP, of networks trained for the chosen number of epochs on each fold's training
        part).

    Raises
    ------
    ModelError
        On an unknown ``kind`` or ``selection``, and as :func:`fit_model`.
    """
    with forward_records(log):
        return _select_model(kind, train_ds, val_ds, selection=selection, groups=groups,
                             n_splits=n_splits, grid=grid, seed=seed, n_jobs=n_jobs)


def _select_model(kind: str, train_ds: TabularDataset, val_ds: TabularDataset | None, *,
                  selection: str = "auto", groups: dict | None = None, n_splits: int = CV_FOLDS,
                  grid: list[dict] | None = None, seed: int = 0, n_jobs: int = -1
                  ) -> GenreClassifier:
    """:func:`select_model`'s work, its lines going to the module logger."""
    if kind in SPECTROGRAM_KINDS:
        raise ModelError(f"{kind} models are early-stopped on the validation split: use "
                         "fit_spectrogram_model (or train_on_folder)")
    if kind not in MODEL_KINDS:
        raise ModelError(f"unknown model kind {kind!r}; choose from {MODEL_KINDS}")
    if selection not in ("auto", "cv", "split"):
        raise ModelError(f"unknown selection {selection!r}; choose auto, cv or split")
    _check_trainable(train_ds, val_ds)
    n_clips = train_ds.n_clips + (val_ds.n_clips if val_ds is not None else 0)
    if selection == "auto":
        selection = "cv" if n_clips < CV_MAX_CLIPS else "split"
    if selection == "split":
        model = fit_model(kind, train_ds, val_ds, seed=seed, n_jobs=n_jobs)
        model.info["selection"] = ("validation split" if val_ds is not None
                                   else "defaults (no validation split)")
        if val_ds is not None and val_ds.n_clips:
            # the validation clips, held out of the final fit, stand in for held-out folds
            _, proba = _pool(model.predict_proba(val_ds.X), val_ds.clips)
            y_val = _first_labels(val_ds, np.arange(len(val_ds)))[2]
            model.info["uncertainty"] = _uncertainty(proba, y_val, "validation split")
        return model
    full = concat_datasets(train_ds, val_ds) if val_ds is not None else train_ds
    folds = grouped_folds(full, n_splits=n_splits, groups=groups, seed=seed)
    grouped = "artist" if groups else "clip"
    how = (f"{len(folds)}-fold CV over train + validation ({full.n_clips} clips), "
           f"grouped by {grouped}")
    if kind == "mlp":
        epochs = []
        for i, (tr, te) in enumerate(folds, 1):
            fold_train = TabularDataset(full.frame.iloc[tr], label_column=full.label_column,
                                        classes=full.classes,
                                        feature_columns=full.feature_columns)
            _, hist = train_mlp(fold_train, fold_train.derive(full.frame.iloc[te]), seed=seed)
            epochs.append(hist.attrs["best_epoch"])
            logger.info(f"  fold {i}/{len(folds)}: best epoch {epochs[-1]}")
        n_epochs = int(np.median(epochs))
        score, oof, y_oof = _cv_score_mlp(full, folds, epochs=n_epochs, seed=seed)
        logger.info(f"  {n_epochs} epochs: CV macro F1 {score:.3f}")
        model, _ = train_mlp(full, None, epochs=n_epochs, seed=seed)
        model.info.update({"selection": how, "params": {"epochs": n_epochs},
                           "fold_best_epochs": epochs, "cv_f1_macro": score,
                           "uncertainty": _uncertainty(oof, y_oof, "cross-validation")})
        return model
    grid = grid or param_grid(kind, full.n_features)
    search = _cv_search(kind, grid, full, folds, seed=seed, n_jobs=n_jobs)
    scores = search.cv_results_["mean_test_score"]
    for params, score in zip(grid, scores, strict=True):
        logger.info(f"  {params}: CV macro F1 {score:.3f}")
    best, best_score = grid[search.best_index_], float(scores[search.best_index_])
    # The calibration's inner folds keep groups whole too (a clip's segments, an artist), when
    # there are groups to keep: with --group-by, or a segment table.
    cal_groups = row_groups(full, groups) if groups or len(full) > full.n_clips else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        est = _make_estimator(kind, best, seed=seed, y=full.y, n_jobs=n_jobs,
                              groups=cal_groups).fit(full.X, full.y)
    if kind == "rf":
        est.n_jobs = 1  # predictions of a loaded model stay single-process
    oof, y_oof = _out_of_fold(kind, best, full, folds, seed=seed, n_jobs=n_jobs,
                              groups=cal_groups)
    return GenreClassifier(kind, est, list(full.classes), list(full.feature_columns),
                           full.label_column, full.scaler,
                           info={"selection": how, "params": best,
                                 "cv_f1_macro": float(best_score), "seed": seed,
                                 "uncertainty": _uncertainty(oof, y_oof, "cross-validation")})
