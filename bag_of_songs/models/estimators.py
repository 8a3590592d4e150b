"""The study's MLP as a scikit-learn classifier: :class:`StudyMLPClassifier`.

Labels in, labels out, so that it drops into a ``Pipeline``, ``GridSearchCV`` or
``cross_val_score``. The training is :func:`bag_of_songs.models.mlp.fit_mlp_module`, the
loop :func:`~bag_of_songs.models.mlp_training.train_mlp` also runs, so an estimator fitted
with an ``eval_set`` of the same scaled rows and the same seed gives the same network.

The settings are checked when ``fit`` runs (``__init__`` only stores them, as scikit-learn's
contract asks), by the MLP's own checks, which raise :class:`~bag_of_songs.errors.ModelError`
(a ``ValueError``) naming the setting; scikit-learn's declarative ``_parameter_constraints``
machinery is private API and is not used.

Explained in ``notebooks/3-models-prediction.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..errors import ModelError
from .mlp import _mlp_proba, fit_mlp_module

__all__ = ["StudyMLPClassifier"]


class StudyMLPClassifier(ClassifierMixin, BaseEstimator):
    """The study's 128-64-out MLP (torch, Adam, early stopping) as a scikit-learn classifier.

    Two classes use one output, a logit for ``classes_[1]`` trained with ``BCEWithLogitsLoss``
    as in the study; more classes use one output per class and the cross-entropy. Early
    stopping monitors the loss on a validation set: an internal stratified split of
    ``validation_fraction`` of the training rows (seeded by ``random_state``), or the
    ``eval_set`` passed to :meth:`fit`; training stops after ``patience`` epochs without a
    lower validation loss and the best epoch's weights are restored. The features are used as
    they come: scale them first (e.g. ``make_pipeline(StandardScaler(), StudyMLPClassifier())``).

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    hidden : sequence of int
        Widths of the hidden layers, each followed by a ReLU (the study's ``(128, 64)``).
    lr : float
        Adam's learning rate (1e-3).
    batch_size : int
        Rows per step (32).
    max_epochs : int
        At most this many epochs (50).
    patience : int
        Epochs without a lower validation loss before stopping (5).
    validation_fraction : float in (0, 1) or None
        The share of the training rows held out (stratified, at least one row of each class
        on each side) to monitor for early stopping (0.1). None or 0: no early stopping, train
        ``max_epochs`` epochs and keep the last weights. Not used when :meth:`fit` gets an
        ``eval_set``.
    random_state : int, numpy.random.RandomState or None
        Seeds the validation split, the initialisation and the batch order: an int gives the
        same network on every fit (on CPU). None draws a seed from numpy's global state.
    device : str
        Where to train (``"cpu"``, ``"cuda"``, ...); the fitted module is kept on the CPU.

    Attributes
    ----------
    classes_ : np.ndarray [shape=(n_classes,)]
        The labels, sorted.
    n_features_in_ : int
    feature_names_in_ : np.ndarray [shape=(n_features_in_,)]
        Only when ``X`` was a DataFrame with string column names.
    module_ : MLP
        The fitted torch network (eval mode, CPU).
    history_ : pandas.DataFrame
        One row per epoch: ``epoch, train_loss, train_accuracy, val_loss, val_accuracy``.
    n_iter_ : int
        Epochs run.
    best_epoch_ : int
        The epoch whose weights ``module_`` holds.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4))
    >>> y = np.where(X[:, 0] > 0, "rock", "pop")
    >>> clf = StudyMLPClassifier(max_epochs=5, random_state=0).fit(X, y)
    >>> clf.classes_.tolist(), clf.predict(X[:2]).shape, clf.predict_proba(X[:2]).shape
    (['pop', 'rock'], (2,), (2, 2))
    >>> clf.n_iter_ <= 5
    True
    """

    def __init__(self, hidden: Sequence[int] = (128, 64), lr: float = 1e-3,
                 batch_size: int = 32, max_epochs: int = 50, patience: int = 5,
                 validation_fraction: float | None = 0.1, random_state=None,
                 device: str = "cpu"):
        self.hidden = hidden
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device

    def fit(self, X, y, eval_set: tuple | None = None) -> StudyMLPClassifier:
        """Train the network on ``X`` and the labels ``y``.

        Parameters
        ----------
        X : array-like [shape=(n_samples, n_features)]
            Scaled features.
        y : array-like [shape=(n_samples,)]
            Labels of any type (e.g. genre names).
        eval_set : (X_val, y_val), optional
            An external validation set for early stopping (e.g. the project's validation
            split); its labels must be among those of ``y``. With it, every row of ``X``
            trains and ``validation_fraction`` is not used.

        Returns
        -------
        self : StudyMLPClassifier

        Raises
        ------
        ModelError
            On bad settings, fewer than two classes, an internal validation split that cannot
            hold each class, or validation labels not seen in ``y``.
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ModelError(f"need at least two classes to train, got one class: "
                             f"{self.classes_.tolist()}")
        seed = _seed(self.random_state)
        if eval_set is not None:
            train, val = (X, y_idx), self._encoded_eval_set(eval_set)
        elif self.validation_fraction is None or self.validation_fraction == 0:
            train, val = (X, y_idx), None
        else:
            train, val = _stratified_split(X, y_idx, self.validation_fraction, seed)
        self.module_, self.history_ = fit_mlp_module(
            *train, len(self.classes_), eval_set=val, hidden=self.hidden,
            max_epochs=self.max_epochs, patience=self.patience, batch_size=self.batch_size,
            lr=self.lr, seed=seed, device=self.device)
        self.n_iter_ = int(self.history_.attrs["stopped_epoch"])
        self.best_epoch_ = int(self.history_.attrs["best_epoch"])
        return self

    def _encoded_eval_set(self, eval_set) -> tuple[np.ndarray, np.ndarray]:
        """``eval_set`` checked like ``X`` and its labels as indices into ``classes_``."""
        try:
            X_val, y_val = eval_set
        except (TypeError, ValueError) as exc:
            raise ModelError("eval_set must be a pair (X_val, y_val)") from exc
        X_val = validate_data(self, X_val, reset=False, dtype=[np.float64, np.float32])
        y_val = np.asarray(y_val)
        if y_val.ndim != 1 or len(y_val) != len(X_val):
            raise ModelError(f"eval_set has {len(X_val)} rows but labels of shape {y_val.shape}")
        unseen = sorted({str(v) for v in set(y_val.tolist()) - set(self.classes_.tolist())})
        if unseen:
            raise ModelError(f"eval_set label(s) {unseen[:5]} are not among the training "
                             f"classes {self.classes_.tolist()}")
        return X_val, np.searchsorted(self.classes_, y_val)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``; each row sums to 1.

        Parameters
        ----------
        X : array-like [shape=(n_samples, n_features)]

        Returns
        -------
        proba : np.ndarray [shape=(n_samples, n_classes)]
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return _mlp_proba(self.module_, np.array(X, dtype=np.float32), len(self.classes_))

    def predict(self, X) -> np.ndarray:
        """The most probable label of each row.

        Parameters
        ----------
        X : array-like [shape=(n_samples, n_features)]

        Returns
        -------
        y_pred : np.ndarray [shape=(n_samples,)]
            Labels from ``classes_``.
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _seed(random_state) -> int:
    """An int seed for torch: ``random_state`` itself when an int, else drawn from it."""
    rs = check_random_state(random_state)  # refuses what numpy cannot seed with
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return int(rs.randint(np.iinfo(np.int32).max))


def _stratified_split(X: np.ndarray, y: np.ndarray, fraction, seed: int):
    """Training and validation rows: ``fraction`` held out, stratified, each class on each side."""
    if isinstance(fraction, bool) or not isinstance(fraction, Real) or not 0 < fraction < 1:
        raise ModelError(f"validation_fraction must be in (0, 1) or None, got {fraction!r}")
    n, counts = len(y), np.bincount(y)
    n_classes = len(counts)
    n_val = max(n_classes, math.ceil(fraction * n))
    if counts.min() < 2 or n - n_val < n_classes:
        raise ModelError(
            f"validation_fraction={fraction} cannot hold out a stratified validation set from "
            f"{n} rows with {n_classes} classes (each class needs a row on each side, the "
            f"smallest class has {counts.min()}): pass validation_fraction=None (no early "
            "stopping) or an eval_set")
    rows = np.arange(n)
    tr, va = train_test_split(rows, test_size=n_val, stratify=y, random_state=seed)
    return (X[tr], y[tr]), (X[va], y[va])
