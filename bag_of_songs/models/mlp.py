"""The study's network: a 128-64-out MLP in torch, trained with Adam and early stopping.

Explained in ``notebooks/3-models-prediction.ipynb`` (section 2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from .._threads import torch_threads
from .classifier import GenreClassifier
from .dataset import TabularDataset, _check_trainable


class MLP(nn.Module):
    """The study's network: Linear-128, ReLU, Linear-64, ReLU, Linear-``n_outputs``.

    Two classes use one output (a logit for ``classes[1]``, trained with
    ``BCEWithLogitsLoss`` as in the study); more classes use one output per class
    (``CrossEntropyLoss``).

    Explained in ``notebooks/3-models-prediction.ipynb``.
    """

    def __init__(self, n_features: int, n_outputs: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, 128), nn.ReLU(),
            nn.Linear(128, 64), nn.ReLU(),
            nn.Linear(64, n_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _loss_fn(n_classes: int):
    if n_classes == 2:
        bce = nn.BCEWithLogitsLoss()
        return lambda logits, y: bce(logits[:, 0], y.float())
    ce = nn.CrossEntropyLoss()
    return lambda logits, y: ce(logits, y)


def _predict_indices(logits: torch.Tensor, n_classes: int) -> torch.Tensor:
    if n_classes == 2:
        return (logits[:, 0] > 0).long()
    return logits.argmax(dim=1)


def train_mlp(train_ds: TabularDataset, val_ds: TabularDataset | None = None, *,
              epochs: int = 50, patience: int = 5, batch_size: int = 32, lr: float = 1e-3,
              seed: int = 0) -> tuple[GenreClassifier, pd.DataFrame]:
    """Train the study's MLP with Adam and early stopping on the validation loss.

    Explained in ``notebooks/3-models-prediction.ipynb``.

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
    """
    # The MLP's matrices are tiny (at most 128 x 64 per batch of 32): spreading them over
    # threads costs far more than it saves, many times more on a busy machine.
    with torch_threads(1):
        return _train_mlp(train_ds, val_ds, epochs=epochs, patience=patience,
                          batch_size=batch_size, lr=lr, seed=seed)


def _train_mlp(train_ds, val_ds, *, epochs, patience, batch_size, lr, seed):
    _check_trainable(train_ds, val_ds)
    n_classes = len(train_ds.classes)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = MLP(train_ds.n_features, 1 if n_classes == 2 else n_classes)
    loss_fn = _loss_fn(n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(train_ds, batch_size=batch_size, shuffle=True, generator=gen)
    Xtr, ytr = torch.from_numpy(train_ds.X), torch.from_numpy(train_ds.y)
    Xva = torch.from_numpy(val_ds.X) if val_ds is not None else None
    yva = torch.from_numpy(val_ds.y) if val_ds is not None else None

    def measure(X, y):
        model.eval()
        with torch.no_grad():
            logits = model(X)
            return (float(loss_fn(logits, y)),
                    float((_predict_indices(logits, n_classes) == y).float().mean()))

    rows = []
    best_loss, best_epoch, best_state, waited = np.inf, 0, None, 0
    for epoch in range(1, epochs + 1):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        tr_loss, tr_acc = measure(Xtr, ytr)
        row = {"epoch": epoch, "train_loss": tr_loss, "train_accuracy": tr_acc,
               "val_loss": np.nan, "val_accuracy": np.nan}
        monitored = tr_loss
        if val_ds is not None:
            row["val_loss"], row["val_accuracy"] = measure(Xva, yva)
            monitored = row["val_loss"]
        rows.append(row)
        if monitored < best_loss - 1e-12:
            best_loss, best_epoch, waited = monitored, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if val_ds is not None and waited >= patience:
                break
    if val_ds is None:  # no early stopping: keep the last weights
        best_epoch, best_state = len(rows), None
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history = pd.DataFrame(rows)
    history.attrs["best_epoch"] = int(best_epoch)
    history.attrs["stopped_epoch"] = int(len(rows))
    info = {"best_epoch": int(best_epoch), "stopped_epoch": int(len(rows)), "epochs": epochs,
            "patience": patience, "batch_size": batch_size, "lr": lr, "seed": seed}
    clf = GenreClassifier("mlp", model, list(train_ds.classes), list(train_ds.feature_columns),
                          train_ds.label_column, train_ds.scaler, info=info)
    return clf, history
