"""The study's MLP trained on a :class:`TabularDataset`: :func:`train_mlp`.

The training is :func:`bag_of_songs.models.mlp.fit_mlp_module`, the loop
:class:`~bag_of_songs.models.estimators.StudyMLPClassifier` also runs; the result is a
:class:`GenreClassifier` (whose :attr:`~GenreClassifier.pipeline` is that estimator, fitted).

Explained in ``notebooks/3-models-prediction.ipynb`` (section 2).
"""

from __future__ import annotations

import pandas as pd

from .classifier import GenreClassifier
from .dataset import TabularDataset, _check_trainable
from .mlp import fit_mlp_module

__all__ = ["train_mlp"]


def train_mlp(train_ds: TabularDataset, val_ds: TabularDataset | None = None, *,
              epochs: int = 50, patience: int = 5, batch_size: int = 32, lr: float = 1e-3,
              seed: int = 0) -> tuple[GenreClassifier, pd.DataFrame]:
    """Train the study's MLP with Adam and early stopping on the validation loss.

    Explained in ``notebooks/3-models-prediction.ipynb``. The same training as
    :class:`~bag_of_songs.models.estimators.StudyMLPClassifier` with an ``eval_set``.

    Parameters
    ----------
    train_ds : TabularDataset
    val_ds : TabularDataset, optional
        Built with ``train_ds.derive(...)``. Without it, the MLP trains for ``epochs``.
    epochs : int
        At most this many epochs (50).
    patience : int
        Stop after this many epochs without a lower validation loss (5); the weights of the
        best epoch are restored.
    batch_size : int
        32.
    lr : float
        Adam's learning rate, 1e-3.
    seed : int
        Seeds initialisation and shuffling: the same seed gives identical results on CPU.

    Returns
    -------
    model : GenreClassifier
        ``model.estimator`` is the :class:`MLP`; ``model.info["best_epoch"]`` and
        ``["stopped_epoch"]`` say where it stopped.
    history : pandas.DataFrame
        One row per epoch: ``epoch, train_loss, train_accuracy, val_loss, val_accuracy``;
        ``history.attrs`` holds ``best_epoch`` and ``stopped_epoch``.

    Raises
    ------
    ModelError
        On fewer than two classes, a validation set not built with ``train_ds.derive``, or
        bad settings (see :func:`fit_mlp_module`).
    """
    _check_trainable(train_ds, val_ds)
    module, history = fit_mlp_module(
        train_ds.X, train_ds.y, len(train_ds.classes),
        eval_set=None if val_ds is None else (val_ds.X, val_ds.y), max_epochs=epochs,
        patience=patience, batch_size=batch_size, lr=lr, seed=seed)
    best, stopped = history.attrs["best_epoch"], history.attrs["stopped_epoch"]
    info = {"best_epoch": best, "stopped_epoch": stopped, "epochs": epochs,
            "patience": patience, "batch_size": batch_size, "lr": lr, "seed": seed}
    clf = GenreClassifier("mlp", module, list(train_ds.classes), list(train_ds.feature_columns),
                          train_ds.label_column, train_ds.scaler, info=info)
    return clf, history
