"""The fitted model as one object: :class:`GenreClassifier`, whatever its kind.

It carries what is needed to use the model later: the fitted estimator (the torch MLP or
network, or a scikit-learn estimator), the class names, the feature columns, the scaler fitted
on the training split, the feature settings and the label hierarchy. Every function that uses a
model (evaluation, prediction, saving) takes one.

A model of feature rows *is* a fitted scikit-learn ``Pipeline(StandardScaler, classifier)``
plus what the project knows about it (feature settings, label hierarchy, training record):
:attr:`GenreClassifier.pipeline` is that pipeline, :meth:`GenreClassifier.from_pipeline` makes
a model of one, and :func:`as_pipeline` is the attribute as a function. The model keeps the
pipeline's parts as its saved folders always have (the scaler, the classifier coded by class
index, the class names), so every folder saved before loads as it did.

Explained in ``notebooks/3-models-prediction.ipynb``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ..errors import FeatureError, ModelError
from ..features import check_settings
from .dataset import TabularDataset, _dataset_like
from .feature_settings import extraction_settings
from .kinds import SPECTROGRAM_KINDS
from .metadata import _validate_hierarchy, _validate_uncertainty
from .mlp import _mlp_proba
from .pipeline_view import parts_of, pipeline_of


@dataclass
class GenreClassifier:
    """A fitted model with everything needed to use it on new data.

    Returned by :func:`train_mlp`, :func:`fit_svc` and :func:`fit_random_forest`; explained in
    ``notebooks/3-models-prediction.ipynb``.

    Attributes
    ----------
    kind : {"mlp", "svc", "rf"}
    estimator : torch.nn.Module or sklearn estimator
    classes : list of str
    feature_columns : list of str
    label_column : str
    scaler : StandardScaler
    settings : dict
        Feature settings (``stats``, ``feature_set``, ``n_mfcc``, ``segment``...) used to
        build the table; :func:`predict_file` featurises new audio with them.
    info : dict
        Training details (best epoch, chosen hyper-parameters, how they were chosen...).
    hierarchy : dict
        Coarser label levels this model's classes determine: ``{level: {class: parent}}``
        (e.g. ``{"fst_level_label": {"Rock": "Non_classic", ...}}``), from the training
        labels; :func:`derive_proba` and :func:`predict_file` with ``levels="all"`` use it.
    cnn : dict or None
        For the spectrogram kinds (``"cnn"``, ``"hybrid"``): the
        :func:`bag_of_songs.cnn.model_config` (architecture, spectrogram settings, normaliser,
        crops). A ``"cnn"`` has no feature columns and no scaler; a ``"hybrid"`` has both (its
        feature branch).
    """

    kind: str
    estimator: object
    classes: list
    feature_columns: list
    label_column: str
    scaler: StandardScaler
    settings: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    hierarchy: dict = field(default_factory=dict)
    cnn: dict | None = None

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, *, label_column: str,
                      feature_columns: list | None = None, settings: dict | None = None,
                      hierarchy: dict | None = None, info: dict | None = None
                      ) -> GenreClassifier:
        """A model of a fitted ``Pipeline(StandardScaler, classifier)`` of feature rows.

        The way into the project's tools (:func:`evaluate`, :func:`predict_file`,
        :func:`save_model` as a model folder, ``bag-of-songs predict``) for a pipeline trained
        with scikit-learn, e.g. the best of a ``GridSearchCV``. The model shares the
        pipeline's fitted arrays; its :attr:`pipeline` predicts as ``pipeline`` does (the
        scikit-learn classifiers, to within the float32 rounding the model applies to scaled
        rows).

        Parameters
        ----------
        pipeline : sklearn.pipeline.Pipeline
            Fitted, with string labels; a ``StandardScaler`` then one of the project's kinds:
            :class:`StudyMLPClassifier` (the study's ``(128, 64)``), a sigmoid
            ``CalibratedClassifierCV(..., ensemble=False)`` of an ``SVC``, a ``LinearSVC`` or
            an LDA, a ``RandomForestClassifier``, a ``LogisticRegression``, or an LDA (the
            LDAs with ``solver="lsqr"``, as the project fits them).
        label_column : str
            The table column the labels come from (e.g. ``"sec_level_label"``).
        feature_columns : list of str, optional
            The table columns the pipeline takes, in order; default: the column names it was
            fitted with (``feature_names_in_``, when it was fitted on a DataFrame).
        settings : dict, optional
            The feature settings of the table (:func:`read_feature_settings` of the training
            split; the extraction part is kept), which :func:`predict_file` featurises new
            audio with.
        hierarchy : dict, optional
            Coarser levels the classes determine, ``{level: {class: parent}}`` naming a parent
            for every class (:func:`coarse_parents`).
        info : dict, optional
            Training details to keep with the model (JSON values: it is saved in
            ``model.json``).

        Returns
        -------
        model : GenreClassifier

        Raises
        ------
        ModelError
            When the pipeline is not of that shape or kind (:func:`parts_of` says why); when
            the feature columns are missing, do not match its number of features or differ from
            the columns it was fitted on; when the hierarchy, the info or the settings are not
            what a model folder can hold.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn.preprocessing import StandardScaler
        >>> from sklearn.linear_model import LogisticRegression
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(3, 1, (20, 2))]
        >>> y = np.array(["pop"] * 20 + ["rock"] * 20)
        >>> pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
        >>> model = GenreClassifier.from_pipeline(pipe, label_column="genre",
        ...                                       feature_columns=["a", "b"])
        >>> model.kind, model.classes, model.pipeline.predict(X[[0, -1]]).tolist()
        ('logreg', ['pop', 'rock'], ['pop', 'rock'])
        """
        kind, estimator, scaler, classes, fit_info = parts_of(pipeline)
        columns = _columns_of(pipeline, feature_columns, n_features=len(scaler.mean_))
        if not isinstance(label_column, str) or not label_column:
            raise ModelError(f"label_column must be a column name, got {label_column!r}")
        hierarchy = _validate_hierarchy(dict(hierarchy or {}), label_column, classes)
        info = {**fit_info, **(info or {})}
        try:
            info = json.loads(json.dumps(info, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ModelError(f"info must hold JSON values only (it is saved in model.json): "
                             f"{exc}") from None
        _validate_uncertainty(info.get("uncertainty"))
        settings = extraction_settings(settings or {})
        if settings:
            try:
                check_settings(settings)
            except FeatureError as exc:
                raise ModelError(f"invalid feature settings: {exc}") from None
        return cls(kind, estimator, classes, columns, label_column, scaler, settings=settings,
                   info=info, hierarchy=hierarchy)

    @property
    def pipeline(self) -> Pipeline:
        """The model as a fitted scikit-learn ``Pipeline(scaler, classifier)``.

        It takes rows of :attr:`feature_columns` unscaled, ``(n, d)``, and speaks labels:
        ``classes_`` are the class names, ``predict`` returns them, ``predict_proba`` gives
        this model's probabilities (for the scikit-learn classifiers, to within the float32
        rounding the model applies to scaled rows; a class the classifier never saw in
        training has no column, where :meth:`predict_proba` gives it 0). Building it trains
        nothing: each access gives a new view whose steps share the model's fitted arrays, and
        fitting or re-parametrising the view leaves the model as it was. ``clone`` gives the
        same recipe unfitted; :func:`save_model` saves it as any pipeline.

        Raises
        ------
        ModelError
            For a spectrogram model (``cnn``, ``hybrid``), which does not classify rows.
        """
        if self.kind in SPECTROGRAM_KINDS:
            raise ModelError(f"a {self.kind} model classifies spectrograms, not feature rows: "
                             "it has no scikit-learn pipeline")
        return pipeline_of(self.kind, self.estimator, self.scaler, self.classes, self.info)

    def dataset(self, features) -> TabularDataset:
        """A table as a dataset scaled and labelled for this model."""
        return _dataset_like(self, features)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities for **scaled** features.

        Parameters
        ----------
        X : np.ndarray [shape=(n, d)]
            Features in the order of ``feature_columns``, already transformed by ``scaler``
            (e.g. ``model.dataset(table).X``).

        Returns
        -------
        proba : np.ndarray [shape=(n, n_classes), dtype=float64]
            Column ``i`` is the probability of ``classes[i]``; each row sums to 1. With an SVC
            or a random forest, a class the estimator was not fitted on has probability 0.
        """
        if self.kind in SPECTROGRAM_KINDS:
            raise ModelError(f"a {self.kind} model classifies spectrograms, not feature rows: "
                             "use predict_clips, evaluate or predict_file")
        X = np.asarray(X, dtype=np.float32)
        if self.kind == "mlp":
            return _mlp_proba(self.estimator, X, len(self.classes))
        return _sk_proba(self.estimator, X, len(self.classes))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class indices for **scaled** features: the most probable class of each row.

        Parameters
        ----------
        X : np.ndarray [shape=(n, d)]
            As for :meth:`predict_proba`.

        Returns
        -------
        y_pred : np.ndarray [shape=(n,), dtype=int]
            Indices into ``classes`` (``classes[i]`` names class ``i``).
        """
        return np.argmax(self.predict_proba(X), axis=1)


def _columns_of(pipeline: Pipeline, feature_columns, *, n_features: int) -> list[str]:
    """The table columns a pipeline takes: ``feature_columns`` or the names it was fitted
    with, which must agree when both are known."""
    names = getattr(pipeline, "feature_names_in_", None)
    if feature_columns is None:
        if names is None:
            raise ModelError("the pipeline was not fitted on a DataFrame: pass feature_columns, "
                             "the table columns it takes")
        feature_columns = names
    columns = [str(c) for c in feature_columns]
    if len(columns) != n_features or len(set(columns)) != n_features:
        raise ModelError(f"the pipeline takes {n_features} features; feature_columns names "
                         f"{len(columns)} (distinct: {len(set(columns))})")
    if names is not None and columns != [str(c) for c in names]:
        raise ModelError("feature_columns differ from the columns the pipeline was fitted on "
                         f"(in order): {[str(c) for c in names][:5]}...")
    return columns


def as_pipeline(model: GenreClassifier) -> Pipeline:
    """A fitted ``Pipeline(scaler, classifier)`` that predicts as ``model`` does, from raw rows.

    The same as ``model.pipeline`` (:attr:`GenreClassifier.pipeline`).

    Parameters
    ----------
    model : GenreClassifier
        A model of feature rows (``mlp``, ``svc``, ``rf``, ``logreg``, ``lda``, ``linsvc``).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``scaler`` (a shallow copy of the model's fitted StandardScaler) and
        ``classifier`` (for the MLP a fitted :class:`StudyMLPClassifier` holding the same
        network; else a shallow copy of the scikit-learn estimator whose ``classes_`` are the
        class names). Fitting it again leaves the model as it was.

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
    return model.pipeline


def _sk_proba(est, X: np.ndarray, n_classes: int) -> np.ndarray:
    proba = np.zeros((len(X), n_classes))
    proba[:, est.classes_] = est.predict_proba(X)
    return proba
