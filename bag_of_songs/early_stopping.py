"""Early stopping with patience, shared by the study's MLP and the spectrogram CNN.

One loop for both networks: :func:`run_epochs` runs an epoch function until the monitored loss
has not improved for ``patience`` epochs, then puts back the weights of the best epoch;
:class:`EarlyStopping` is the bookkeeping it uses (best loss, best epoch, a copy of the best
weights, epochs waited). A torch-only module: it imports nothing of the package.

Explained in ``notebooks/3-models-prediction.ipynb`` (the MLP) and
``notebooks/4-spectrogram-cnn.ipynb`` (the CNN).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

from torch import nn

__all__ = ["EarlyStopping", "run_epochs"]


class EarlyStopping:
    """Track a monitored loss epoch by epoch; say when to stop and keep the best weights.

    An epoch improves when its loss is lower than the best so far by more than ``min_delta``;
    its weights are then copied. :meth:`step` says to stop once ``patience`` epochs in a row
    have not improved.

    Parameters
    ----------
    patience : int >= 1
        Epochs without improvement before stopping.
    min_delta : float >= 0
        The least decrease that counts as an improvement.

    Attributes
    ----------
    best_loss : float
        The lowest loss seen (``inf`` before the first epoch).
    best_epoch : int
        The epoch (counted from 1) of ``best_loss``; 0 before the first improvement.
    best_state : dict or None
        A copy of the module's ``state_dict`` at ``best_epoch``.
    epoch : int
        Epochs seen by :meth:`step`.
    waited : int
        Epochs since the last improvement.

    Raises
    ------
    ValueError
        When ``patience`` is not a positive integer or ``min_delta`` is negative.

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Linear(1, 1)
    >>> stopper = EarlyStopping(patience=2)
    >>> [stopper.step(loss, net) for loss in (3.0, 2.0, 2.5, 2.1)]
    [False, False, False, True]
    >>> stopper.best_epoch, stopper.best_loss
    (2, 2.0)
    """

    def __init__(self, patience: int, *, min_delta: float = 1e-12):
        if isinstance(patience, bool) or int(patience) != patience or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        if not min_delta >= 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.best_loss = math.inf
        self.best_epoch = 0
        self.best_state: dict | None = None
        self.epoch = 0
        self.waited = 0

    def step(self, loss: float, module: nn.Module) -> bool:
        """Record one epoch's monitored ``loss`` (``module`` holds its weights); True: stop.

        Parameters
        ----------
        loss : float
            The epoch's monitored loss (NaN never improves).
        module : torch.nn.Module
            Its weights are copied when the epoch improves.

        Returns
        -------
        stop : bool
            Whether ``patience`` epochs in a row have now passed without improvement.
        """
        self.epoch += 1
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.waited = loss, self.epoch, 0
            self.best_state = copy.deepcopy(module.state_dict())
        else:
            self.waited += 1
        return self.waited >= self.patience

    def restore(self, module: nn.Module) -> None:
        """Load the best epoch's weights into ``module`` (nothing before a first improvement)."""
        if self.best_state is not None:
            module.load_state_dict(self.best_state)


def run_epochs(run_epoch: Callable[[int], dict], module: nn.Module, *, max_epochs: int,
               patience: int | None, monitor: str = "val_loss", min_delta: float = 1e-12
               ) -> tuple[list[dict], int]:
    """Run epochs until early stopping; leave ``module`` with the best epoch's weights.

    Parameters
    ----------
    run_epoch : callable
        ``run_epoch(epoch)`` trains one epoch (``epoch`` counts from 1) and returns its history
        row, a dict holding the monitored loss under ``monitor``.
    module : torch.nn.Module
        The network being trained.
    max_epochs : int >= 1
        At most this many epochs.
    patience : int >= 1 or None
        Stop after this many epochs without a lower monitored loss and restore the best
        epoch's weights. None: no early stopping (there is nothing to monitor, e.g. no
        validation set): run every epoch and keep the last weights.
    monitor : str
        The key of the monitored loss in each row.
    min_delta : float
        The least decrease that counts as an improvement.

    Returns
    -------
    rows : list of dict
        The rows of the epochs run, in order.
    best_epoch : int
        The epoch whose weights ``module`` now holds (the last one without early stopping).

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Linear(1, 1)
    >>> losses = [3.0, 2.0, 2.5, 2.1, 1.0]
    >>> rows, best = run_epochs(lambda e: {"epoch": e, "val_loss": losses[e - 1]}, net,
    ...                         max_epochs=5, patience=2)
    >>> len(rows), best
    (4, 2)
    >>> rows, best = run_epochs(lambda e: {"epoch": e}, net, max_epochs=3, patience=None)
    >>> len(rows), best
    (3, 3)
    """
    if isinstance(max_epochs, bool) or int(max_epochs) != max_epochs or max_epochs < 1:
        raise ValueError(f"max_epochs must be a positive integer, got {max_epochs!r}")
    stopper = None if patience is None else EarlyStopping(patience, min_delta=min_delta)
    rows: list[dict] = []
    for epoch in range(1, int(max_epochs) + 1):
        row = run_epoch(epoch)
        rows.append(row)
        if stopper is not None and stopper.step(row[monitor], module):
            break
    if stopper is None:
        return rows, len(rows)
    stopper.restore(module)
    return rows, stopper.best_epoch
