"""The fitted model as one object: :class:`GenreClassifier`, whatever its kind.

It carries what is needed to use the model later: the fitted estimator (the torch MLP or
network, or a scikit-learn estimator), the class names, the feature columns, the scaler fitted
on the training split, the feature settings and the label hierarchy. Every function that uses a
model (evaluation, prediction, saving) takes one.

Explained in ``notebooks/3-models-prediction.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from torch import nn

from .._threads import torch_threads
from ..errors import ModelError
from .dataset import TabularDataset, _dataset_like
from .kinds import SPECTROGRAM_KINDS


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


def _mlp_proba(module: nn.Module, X: np.ndarray, n_classes: int) -> np.ndarray:
    module.eval()
    # The MLP's matrices are tiny (at most 128 x 64 per batch of 32): spreading them over
    # threads costs far more than it saves.
    with torch.no_grad(), torch_threads(1):
        logits = module(torch.from_numpy(X))
    if n_classes == 2:
        p = torch.sigmoid(logits[:, 0]).numpy().astype(np.float64)
        return np.stack([1 - p, p], axis=1)
    return torch.softmax(logits, dim=1).numpy().astype(np.float64)


def _sk_proba(est, X: np.ndarray, n_classes: int) -> np.ndarray:
    proba = np.zeros((len(X), n_classes))
    proba[:, est.classes_] = est.predict_proba(X)
    return proba
