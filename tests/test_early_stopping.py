"""Tests of ``bag_of_songs.early_stopping``: known answers on scripted loss sequences, the best
weights restored, no early stopping without validation, and both networks (the MLP and the
CNN) training through the one loop."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from bag_of_songs import early_stopping
from bag_of_songs.cnn import train_cnn
from bag_of_songs.early_stopping import EarlyStopping, run_epochs
from bag_of_songs.models import TabularDataset, train_mlp
from bag_of_songs.models import mlp as mlp_module


def scripted(losses, net):
    """An epoch function whose epoch ``e`` sets every weight of ``net`` to ``e`` and reports
    ``losses[e - 1]`` as its validation loss."""

    def run_epoch(epoch):
        with torch.no_grad():
            for p in net.parameters():
                p.fill_(float(epoch))
        return {"epoch": epoch, "val_loss": losses[epoch - 1]}

    return run_epoch


@pytest.mark.parametrize(("losses", "patience", "stopped", "best"), [
    ([5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 1.0], 3, 6, 3),  # three epochs without a lower loss
    ([5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 1.0], 4, 7, 7),  # the fourth would have been one
    ([5.0, 5.0, 5.0], 1, 2, 1),                      # an equal loss is no improvement
    ([3.0, 2.0, 1.0, 0.5], 1, 4, 4),                 # always improving: every epoch runs
])
def test_run_epochs_known_answers(losses, patience, stopped, best):
    net = nn.Linear(2, 1)
    rows, best_epoch = run_epochs(scripted(losses, net), net, max_epochs=len(losses),
                                  patience=patience)
    assert [r["epoch"] for r in rows] == list(range(1, stopped + 1))
    assert best_epoch == best
    # the weights are those of the best epoch, not of the last one
    assert all(torch.all(p == float(best)) for p in net.parameters())


def test_no_early_stopping_without_validation_keeps_the_last_weights():
    net = nn.Linear(2, 1)
    losses = [1.0, 2.0, 3.0, 4.0, 5.0]  # would stop after epoch 3 with patience 2
    rows, best_epoch = run_epochs(scripted(losses, net), net, max_epochs=5, patience=None)
    assert len(rows) == best_epoch == 5
    assert all(torch.all(p == 5.0) for p in net.parameters())


def test_early_stopping_bookkeeping_min_delta_and_nan():
    net = nn.Linear(1, 1)
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    assert stopper.best_epoch == 0 and stopper.best_loss == math.inf
    assert not stopper.step(1.0, net)
    assert not stopper.step(0.95, net)  # less than min_delta lower: not an improvement
    assert stopper.step(float("nan"), net)  # NaN never improves
    assert (stopper.best_epoch, stopper.best_loss, stopper.epoch, stopper.waited) == (1, 1.0,
                                                                                      3, 2)
    # the copy is a snapshot: later changes of the module do not reach it
    with torch.no_grad():
        net.weight.fill_(7.0)
    assert not torch.all(stopper.best_state["weight"] == 7.0)
    stopper.restore(net)
    assert torch.equal(net.weight, stopper.best_state["weight"])


def test_restore_before_any_improvement_leaves_the_module():
    net = nn.Linear(1, 1)
    before = net.weight.detach().clone()
    stopper = EarlyStopping(patience=1)
    assert stopper.step(float("nan"), net)
    stopper.restore(net)
    assert torch.equal(net.weight, before) and stopper.best_epoch == 0


@pytest.mark.parametrize("patience", [0, -1, 1.5, True, "3"])
def test_bad_patience_is_refused(patience):
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience)


def test_bad_max_epochs_is_refused():
    net = nn.Linear(1, 1)
    with pytest.raises(ValueError, match="max_epochs"):
        run_epochs(lambda e: {"val_loss": 1.0}, net, max_epochs=0, patience=2)


def spy(monkeypatch, module):
    """Record the calls of ``module.run_epochs`` (the shared loop as that module imported it)."""
    calls = []

    def recording(*args, **kwargs):
        calls.append(kwargs)
        return early_stopping.run_epochs(*args, **kwargs)

    monkeypatch.setattr(module, "run_epochs", recording)
    return calls


def test_the_mlp_trains_through_the_shared_loop(monkeypatch, rng):
    calls = spy(monkeypatch, mlp_module)
    df = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    df["label"] = np.repeat(["x", "y", "z"], 10)
    train = TabularDataset(df.iloc[::2])
    model, history = train_mlp(train, train.derive(df.iloc[1::2]), epochs=4, patience=2)
    train_mlp(train, epochs=2)
    assert [(c["max_epochs"], c["patience"]) for c in calls] == [(4, 2), (2, None)]
    assert model.info["stopped_epoch"] == len(history) <= 4


def test_the_cnn_trains_through_the_shared_loop(monkeypatch, rng):
    from bag_of_songs.cnn import training

    calls = spy(monkeypatch, training)
    specs = rng.normal(-50, 5, size=(4, 8, 16)).astype(np.float16)
    y = np.array([0, 1, 0, 1])
    arch = {"channels": [4], "blocks": ["conv"], "dropout": 0.0}
    train_cnn(specs, y, specs, y, n_classes=2, crop_frames=8, epochs=2, patience=3, arch=arch,
              device="cpu")
    train_cnn(specs, y, n_classes=2, crop_frames=8, epochs=1, arch=arch, device="cpu")
    assert [(c["max_epochs"], c["patience"]) for c in calls] == [(2, 3), (1, None)]
