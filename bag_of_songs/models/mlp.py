"""The study's network: a 128-64-out MLP in torch, trained with Adam and early stopping.

:func:`fit_mlp_module` is the one training loop (shared by
:func:`~bag_of_songs.models.mlp_training.train_mlp`, which works on a
:class:`~bag_of_songs.models.TabularDataset`, and by the scikit-learn estimator
:class:`~bag_of_songs.models.estimators.StudyMLPClassifier`); the epochs and early stopping are
:func:`bag_of_songs.early_stopping.run_epochs`, as for the spectrogram CNN.

Explained in ``notebooks/3-models-prediction.ipynb`` (section 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .._threads import torch_threads
from ..early_stopping import run_epochs
from ..errors import ModelError


class MLP(nn.Module):
    """The study's network: Linear-128, ReLU, Linear-64, ReLU, Linear-``n_outputs``.

    Two classes use one output (a logit for ``classes[1]``, trained with
    ``BCEWithLogitsLoss`` as in the study); more classes use one output per class
    (``CrossEntropyLoss``).

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    n_features : int
        Inputs.
    n_outputs : int
        Outputs (1 for two classes).
    hidden : sequence of int
        The widths of the hidden layers, each followed by a ReLU; the study's ``(128, 64)``.

    Examples
    --------
    >>> net = MLP(10, 3)
    >>> net(torch.zeros(4, 10)).shape
    torch.Size([4, 3])
    >>> [m.out_features for m in MLP(10, 1, hidden=(16,)).net if isinstance(m, nn.Linear)]
    [16, 1]
    """

    def __init__(self, n_features: int, n_outputs: int, hidden: Sequence[int] = (128, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.ReLU()]
            width = int(h)
        layers.append(nn.Linear(width, n_outputs))
        self.net = nn.Sequential(*layers)

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


def fit_mlp_module(X: np.ndarray, y: np.ndarray, n_classes: int, *,
                   eval_set: tuple[np.ndarray, np.ndarray] | None = None,
                   hidden: Sequence[int] = (128, 64), max_epochs: int = 50, patience: int = 5,
                   batch_size: int = 32, lr: float = 1e-3, seed: int = 0,
                   device: str | torch.device = "cpu") -> tuple[MLP, pd.DataFrame]:
    """Train an :class:`MLP` on class indices with Adam; early stopping on ``eval_set``.

    The one training loop of the study's MLP. Seeded: the initialisation and the batch order
    draw from torch generators seeded with ``seed`` (the global torch random state is left as
    it was), so the same seed gives identical weights on CPU. Runs with one torch thread: the
    MLP's matrices are tiny (at most 128 x 64 per batch of 32), and spreading them over
    threads costs far more than it saves, many times more on a busy machine.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
        Scaled features (used as float32).
    y : np.ndarray [shape=(n,), dtype=int]
        Class indices 0 .. ``n_classes - 1``.
    n_classes : int >= 2
        Two classes use one output (a logit for class 1); more use one per class.
    eval_set : (X_val, y_val), optional
        Monitored after each epoch: training stops after ``patience`` epochs without a lower
        validation loss and the best epoch's weights are restored. Without it the MLP trains
        for ``max_epochs`` and keeps the last weights.
    hidden : sequence of int
        Widths of the hidden layers.
    max_epochs, patience, batch_size : int >= 1
    lr : float > 0
        Adam's learning rate.
    seed : int
    device : str or torch.device
        Where to train; the returned module is on the CPU.

    Returns
    -------
    module : MLP
        In eval mode, on the CPU.
    history : pandas.DataFrame
        One row per epoch: ``epoch, train_loss, train_accuracy, val_loss, val_accuracy``;
        ``history.attrs`` holds ``best_epoch`` and ``stopped_epoch``.

    Raises
    ------
    ModelError
        On bad settings, fewer than two classes or labels out of range.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(np.int64)
    >>> module, history = fit_mlp_module(X, y, 2, max_epochs=3, seed=0)
    >>> list(history["epoch"]), history.attrs["best_epoch"]
    ([1, 2, 3], 3)
    """
    _check_settings(n_classes, hidden, max_epochs, patience, batch_size, lr)
    dev = _device(device)
    data = [_tensors(X, y, n_classes, "y")]
    if eval_set is not None:
        data.append(_tensors(*eval_set, n_classes, "the validation labels"))
    if data[-1][0].shape[1] != data[0][0].shape[1]:
        raise ModelError(f"the validation set has {data[-1][0].shape[1]} features, the "
                         f"training set {data[0][0].shape[1]}")
    with torch_threads(1), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        module = MLP(data[0][0].shape[1], 1 if n_classes == 2 else n_classes, hidden).to(dev)
        epoch_fn = _epoch_function(module, data, n_classes, dev, batch_size=batch_size, lr=lr,
                                   gen=gen)
        rows, best_epoch = run_epochs(epoch_fn, module, max_epochs=max_epochs,
                                      patience=None if eval_set is None else patience)
    module.to("cpu").eval()
    history = pd.DataFrame(rows)
    history.attrs["best_epoch"] = int(best_epoch)
    history.attrs["stopped_epoch"] = int(len(rows))
    return module, history


def _epoch_function(module: MLP, data: list, n_classes: int, dev: torch.device, *,
                    batch_size: int, lr: float, gen: torch.Generator):
    """``run_epoch(epoch)``: one epoch of Adam steps, then the history row of that epoch."""
    loss_fn = _loss_fn(n_classes)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(*data[0]), batch_size=batch_size, shuffle=True,
                        generator=gen)
    full = [(X.to(dev), y.to(dev)) for X, y in data]

    def measure(X, y):
        module.eval()
        with torch.no_grad():
            logits = module(X)
            return (float(loss_fn(logits, y)),
                    float((_predict_indices(logits, n_classes) == y).float().mean()))

    def run_epoch(epoch: int) -> dict:
        module.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(module(xb.to(dev)), yb.to(dev))
            loss.backward()
            opt.step()
        tr_loss, tr_acc = measure(*full[0])
        row = {"epoch": epoch, "train_loss": tr_loss, "train_accuracy": tr_acc,
               "val_loss": np.nan, "val_accuracy": np.nan}
        if len(full) > 1:
            row["val_loss"], row["val_accuracy"] = measure(*full[1])
        return row

    return run_epoch


def _tensors(X, y, n_classes: int, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Features as a float32 and labels as an int64 tensor (copies), checked."""
    X = np.array(X, dtype=np.float32)
    y = np.array(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y) or len(X) == 0:
        raise ModelError(f"need features of shape (n, d) and n labels, got {X.shape} and "
                         f"{y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes:
        raise ModelError(f"{what} must be class indices 0 .. {n_classes - 1}")
    return torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))


def _check_settings(n_classes, hidden, max_epochs, patience, batch_size, lr) -> None:
    """Refuse settings no MLP can be trained with, naming the setting."""
    if not _positive_int(n_classes) or n_classes < 2:
        raise ModelError(f"need at least two classes to train, got {n_classes!r}")
    iterable = isinstance(hidden, Iterable) and not isinstance(hidden, str | bytes)
    widths = list(hidden) if iterable else []
    if not widths or not all(_positive_int(h) for h in widths):
        raise ModelError(f"hidden must be a non-empty sequence of positive integers, got "
                         f"{hidden!r}")
    for name, value in (("max_epochs", max_epochs), ("patience", patience),
                        ("batch_size", batch_size)):
        if not _positive_int(value):
            raise ModelError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(lr, bool) or not isinstance(lr, Real) or not 0 < lr < np.inf:
        raise ModelError(f"lr must be a positive number, got {lr!r}")


def _positive_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= 1


def _device(device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ModelError(f"unknown device {device!r} ({exc})") from exc
