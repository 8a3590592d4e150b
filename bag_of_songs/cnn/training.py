"""Training a spectrogram CNN or hybrid: seeded, deterministic, with early stopping.

Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 3); the solver of Won et al.'s
split. :func:`train_cnn` runs named steps: check the inputs (:func:`_check_inputs`), build the
loss (:func:`_loss_function`), then, inside :func:`_deterministic` (seeded, forked random
state, deterministic algorithms, one torch thread), build the module (:func:`_new_module`) and
run the epochs (:func:`_run_epochs`: :func:`_train_epoch` on random crops,
:func:`_validate_epoch` on whole validation clips, early stopping by
:func:`bag_of_songs.early_stopping.run_epochs`, shared with the MLP), and describe the run
(:func:`_training_info`).

Adam, early stopping on the clip-level validation loss (the log-loss of the crop-averaged
probabilities, the quantity that is deployed) with patience, the best epoch's weights restored.
A seeded run repeats exactly on CPU (same torch version; one torch thread by default, which is
also the fastest on a busy 2-core machine): the initialisation and dropout draw from a forked,
seeded torch generator, crops and batch order from a seeded numpy generator, and deterministic
algorithms are on while it trains. ``device="auto"`` uses a GPU when torch sees one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from .._threads import torch_threads
from ..data import log_to_stderr
from ..early_stopping import run_epochs
from ..errors import CNNError
from ._checks import _check_labels, _check_n_threads, _check_specs, _check_tab
from .crops import _check_normalizer, _crops, crop_starts, fit_normalizer
from .inference import predict_clip_proba, resolve_device
from .metrics import _clip_metrics
from .nets import HybridNet, SpectrogramCNN, architecture


@dataclass
class _Inputs:
    """The checked inputs of one :func:`train_cnn` run."""

    specs: object  # np.ndarray, np.memmap or ClipSubset [shape=(n_train, n_mels, t)]
    y: np.ndarray
    tab: np.ndarray | None
    val_specs: object | None
    val_y: np.ndarray | None
    val_tab: np.ndarray | None
    n_mels: int
    t: int
    n_tab: int | None
    normalizer: dict
    mean: float
    std: float
    device: torch.device
    options: dict

    @property
    def hybrid(self) -> bool:
        return self.tab is not None

    @property
    def has_val(self) -> bool:
        return self.val_specs is not None


def train_cnn(train_specs, train_y, val_specs=None, val_y=None, *, n_classes: int,
              train_tab=None, val_tab=None, normalizer: dict | None = None,
              crop_frames: int = 129, crop_hop: int | None = None, crops_per_clip: int = 4,
              epochs: int = 30, patience: int = 5, batch_size: int = 16, lr: float = 3e-4,
              weight_decay: float = 0.0, class_weight: str | None = None,
              arch: dict | None = None, seed: int = 0, device: str | torch.device = "auto",
              n_threads: int | None = 1,
              progress: Callable[[dict], None] | bool | None = None
              ) -> tuple[nn.Module, pd.DataFrame, dict]:
    """Train a :class:`SpectrogramCNN` (or, with ``train_tab``, a :class:`HybridNet`).

    Each epoch draws ``crops_per_clip`` random crops of ``crop_frames`` frames from every
    training clip (seeded), shuffles them into mini-batches, and takes Adam steps on the
    cross-entropy; then the validation clips are decided by averaging the probabilities of
    all their crops (:func:`predict_clip_proba`) and the clip-level validation loss is
    monitored: training stops after ``patience`` epochs without a lower one, and the best
    epoch's weights are restored. Without validation clips it trains for ``epochs`` and keeps
    the last weights.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 3).

    Parameters
    ----------
    train_specs : np.ndarray, np.memmap or ClipSubset [shape=(n_train, n_mels, t)]
        dB spectrograms (e.g. a :func:`log_mel_cache`, or :func:`take_clips` of one), not
        normalised.
    train_y : np.ndarray [shape=(n_train,), dtype=int]
        Class indices 0 .. ``n_classes - 1``.
    val_specs, val_y : optional
        The validation clips, for early stopping.
    n_classes : int >= 2
    train_tab, val_tab : np.ndarray [shape=(n, n_tab)], optional
        Scaled hand-crafted features, one row per clip aligned with the spectrograms: with
        them the model is a :class:`HybridNet` trained end to end.
    normalizer : dict, optional
        Default: :func:`fit_normalizer` of ``train_specs`` (training statistics only).
    crop_frames : int
        Frames per training and prediction crop (129 = 3.0 s).
    crop_hop : int, optional
        Hop between prediction crops (default ``crop_frames``: non-overlapping).
    crops_per_clip : int
        Random crops of each training clip per epoch (4: enough optimiser steps per epoch on
        small corpora; 1 is plenty for CCMusic-sized ones).
    epochs : int
        At most this many epochs (30).
    patience : int
        Epochs without a lower validation loss before stopping (5).
    batch_size : int
        Crops per step (16).
    lr, weight_decay : float
        Adam's learning rate (3e-4: on the 120 Emotify clips, 4 genres, artist-grouped 5-fold
        cross-validation, it gave a macro-F1 of 0.63 against 0.53 with 1e-3, and steadier
        validation losses) and L2 weight decay (0).
    class_weight : {None, "balanced"}
        ``"balanced"`` weighs the loss of each class by ``n_train / (n_classes * count)``.
    arch : dict, optional
        Constructor options of the module: ``channels``, ``blocks``, ``dropout`` (and for the
        hybrid ``hidden``).
    seed : int
        Seeds initialisation, dropout, crops and shuffling: the same seed gives identical
        weights on CPU (the global torch random state is left as it was).
    device : {"auto", "cpu", "cuda", ...}
        ``"auto"`` uses a GPU when torch sees one.
    n_threads : int or None
        Torch CPU threads while training (restored afterwards). 1 by default: on this
        project's busy 2-core machine one thread trained 5 times faster than two (measured
        in ``benchmarks/bench_cnn.py``), and a fixed count keeps seeded runs identical across
        machines. None leaves torch's setting.
    progress : callable or bool, optional
        Called with each epoch's history row (a dict); ``True`` prints one line per epoch
        on stderr.

    Returns
    -------
    module : SpectrogramCNN or HybridNet
        With the best weights, on the CPU, in eval mode.
    history : pandas.DataFrame
        One row per epoch: ``epoch, train_loss, train_accuracy`` (on the training crops, in
        training mode), ``val_loss, val_accuracy, val_f1_macro`` (clip-level; NaN without
        validation), ``seconds``; ``history.attrs`` holds ``best_epoch`` and ``stopped_epoch``.
    info : dict
        JSON: ``architecture``, ``normalizer``, ``crop_frames``, ``crop_hop``, the training
        settings, ``best_epoch``, ``stopped_epoch``, ``device``, ``seconds``, ``n_train``.

    Raises
    ------
    CNNError
        On mismatched shapes or lengths, labels out of range, a clip shorter than a crop, or
        features for only one of train and validation.
    """
    n_classes = int(n_classes)
    if n_classes < 2:
        raise CNNError(f"need at least two classes to train, got n_classes={n_classes}")
    data = _check_inputs(train_specs, train_y, val_specs, val_y, train_tab, val_tab,
                         n_classes=n_classes, normalizer=normalizer, crop_frames=crop_frames,
                         crop_hop=crop_hop, crops_per_clip=crops_per_clip, epochs=epochs,
                         patience=patience, batch_size=batch_size, class_weight=class_weight,
                         arch=arch, device=device)
    loss_fn = _loss_function(class_weight, data.y, n_classes, data.device)
    _check_n_threads(n_threads)
    emit = log_to_stderr if progress is True else None
    callback = progress if callable(progress) else None
    t_start = time.perf_counter()
    with _deterministic(data.device, seed, n_threads):
        module = _new_module(data, n_classes)
        opt = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
        rows, best_epoch = _run_epochs(
            module, opt, loss_fn, data, n_classes=n_classes, seed=seed, epochs=epochs,
            patience=patience, crop_frames=crop_frames, crop_hop=crop_hop,
            crops_per_clip=crops_per_clip, batch_size=batch_size, emit=emit, callback=callback)
    module.to("cpu").eval()
    history = pd.DataFrame(rows)
    history.attrs["best_epoch"] = int(best_epoch)
    history.attrs["stopped_epoch"] = int(len(rows))
    info = _training_info(
        module, data, crop_frames=crop_frames, crop_hop=crop_hop,
        crops_per_clip=crops_per_clip, epochs=epochs, patience=patience, batch_size=batch_size,
        lr=lr, weight_decay=weight_decay, class_weight=class_weight, seed=seed,
        best_epoch=best_epoch, stopped_epoch=len(rows), n_threads=n_threads,
        seconds=time.perf_counter() - t_start)
    return module, history, info


def _check_inputs(train_specs, train_y, val_specs, val_y, train_tab, val_tab, *, n_classes,
                  normalizer, crop_frames, crop_hop, crops_per_clip, epochs, patience,
                  batch_size, class_weight, arch, device) -> _Inputs:
    """:func:`train_cnn`'s arguments checked (in this order) and normalised."""
    train_specs = _check_specs(train_specs, "train_specs")
    n_mels, t = int(train_specs.shape[1]), int(train_specs.shape[2])
    y_tr = _check_labels(train_y, len(train_specs), n_classes, "train_y")
    has_val = val_specs is not None
    if has_val != (val_y is not None):
        raise CNNError("pass both val_specs and val_y, or neither")
    hybrid = train_tab is not None
    if has_val and hybrid != (val_tab is not None):
        raise CNNError("pass val_tab with train_tab (the hybrid needs features for both)")
    y_va = None
    if has_val:
        val_specs = _check_specs(val_specs, "val_specs")
        if val_specs.shape[1] != n_mels:
            raise CNNError(f"val_specs has {val_specs.shape[1]} mel bands, train {n_mels}")
        y_va = _check_labels(val_y, len(val_specs), n_classes, "val_y")
    tab_tr = _check_tab(train_tab, len(train_specs), "train_tab") if hybrid else None
    n_tab = tab_tr.shape[1] if hybrid else None
    tab_va = (_check_tab(val_tab, len(val_specs), "val_tab", n_tab) if hybrid and has_val
              else None)
    if t < crop_frames:
        raise CNNError(f"clips of {t} frames are shorter than one crop of {crop_frames}")
    crop_starts(t, crop_frames, crop_hop)  # validates crop_hop
    if crops_per_clip < 1 or epochs < 1 or patience < 1 or batch_size < 1:
        raise CNNError("crops_per_clip, epochs, patience and batch_size must be >= 1")
    if class_weight not in (None, "balanced"):
        raise CNNError(f"class_weight must be None or 'balanced', got {class_weight!r}")
    normalizer = dict(normalizer) if normalizer is not None else fit_normalizer(train_specs)
    mean, std = _check_normalizer(normalizer)
    dev = resolve_device(device)
    options = dict(arch or {})
    allowed = {"channels", "blocks", "dropout"} | ({"hidden"} if hybrid else set())
    if set(options) - allowed:
        raise CNNError(f"unknown arch option(s) {sorted(set(options) - allowed)}; "
                       f"allowed: {sorted(allowed)}")
    return _Inputs(specs=train_specs, y=y_tr, tab=tab_tr, val_specs=val_specs if has_val else None,
                   val_y=y_va, val_tab=tab_va, n_mels=n_mels, t=t, n_tab=n_tab,
                   normalizer=normalizer, mean=mean, std=std, device=dev, options=options)


def _loss_function(class_weight: str | None, y: np.ndarray, n_classes: int,
                   dev: torch.device) -> nn.CrossEntropyLoss:
    """Cross-entropy, each class weighed by ``n / (n_classes * count)`` when ``"balanced"``."""
    weight = None
    if class_weight == "balanced":
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
        weight = torch.tensor(np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)),
                                       0.0), dtype=torch.float32, device=dev)
    return nn.CrossEntropyLoss(weight=weight)


@contextlib.contextmanager
def _deterministic(dev: torch.device, seed: int, n_threads: int | None) -> Iterator[None]:
    """Run a block seeded and deterministic, leaving torch's global state as it was.

    Deterministic algorithms on (warning only), cuDNN benchmarking off, the random state
    forked (on the CPU and ``dev``'s GPU) and seeded with ``seed``, ``n_threads`` torch
    threads; all restored afterwards, also on an error.
    """
    det_before = torch.are_deterministic_algorithms_enabled()
    warn_before = torch.is_deterministic_algorithms_warn_only_enabled()
    bench_before = torch.backends.cudnn.benchmark
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        with torch.random.fork_rng(devices=fork_devices), torch_threads(n_threads):
            torch.manual_seed(seed)
            if dev.type == "cuda":
                torch.cuda.manual_seed_all(seed)
            yield
    finally:
        torch.use_deterministic_algorithms(det_before, warn_only=warn_before)
        torch.backends.cudnn.benchmark = bench_before


def _new_module(data: _Inputs, n_classes: int) -> nn.Module:
    """A freshly initialised network on ``data.device`` (draws from torch's random state)."""
    if data.hybrid:
        module = HybridNet(data.n_mels, n_classes, data.n_tab, **data.options)
    else:
        module = SpectrogramCNN(data.n_mels, n_classes, **data.options)
    module.to(data.device)
    return module


def _run_epochs(module: nn.Module, opt: torch.optim.Optimizer, loss_fn: nn.Module,
                data: _Inputs, *, n_classes: int, seed: int, epochs: int, patience: int,
                crop_frames: int, crop_hop: int | None, crops_per_clip: int, batch_size: int,
                emit: Callable[[str], None] | None, callback: Callable[[dict], None] | None
                ) -> tuple[list[dict], int]:
    """The epochs, with early stopping on the validation loss (:func:`run_epochs`).

    Returns
    -------
    rows : list of dict
        One history row per epoch run.
    best_epoch : int
        The epoch whose weights ``module`` now holds: the one with the lowest validation loss,
        or the last one without validation clips.
    """
    rng = np.random.default_rng(seed)

    def run_epoch(epoch: int) -> dict:
        t0 = time.perf_counter()
        row = {"epoch": epoch,
               **_train_epoch(module, opt, loss_fn, data, rng, crop_frames=crop_frames,
                              crops_per_clip=crops_per_clip, batch_size=batch_size),
               "val_loss": np.nan, "val_accuracy": np.nan, "val_f1_macro": np.nan}
        if data.has_val:
            m = _validate_epoch(module, data, n_classes, crop_frames, crop_hop)
            row.update(val_loss=m["loss"], val_accuracy=m["accuracy"], val_f1_macro=m["f1_macro"])
        row["seconds"] = time.perf_counter() - t0
        _report(row, emit, callback)
        return row

    return run_epochs(run_epoch, module, max_epochs=epochs,
                      patience=patience if data.has_val else None)


def _train_epoch(module: nn.Module, opt: torch.optim.Optimizer, loss_fn: nn.Module,
                 data: _Inputs, rng: np.random.Generator, *, crop_frames: int,
                 crops_per_clip: int, batch_size: int) -> dict:
    """One epoch of Adam steps on ``crops_per_clip`` fresh random crops of every clip.

    Returns ``train_loss`` and ``train_accuracy`` over those crops (in training mode).
    """
    dev, y_tr, tab_tr = data.device, data.y, data.tab
    module.train()
    order = rng.permutation(np.repeat(np.arange(len(y_tr)), crops_per_clip))
    starts = rng.integers(0, data.t - crop_frames + 1, size=len(order))
    loss_sum, correct = 0.0, 0
    for a in range(0, len(order), batch_size):
        idx, st = order[a:a + batch_size], starts[a:a + batch_size]
        xb = torch.from_numpy(_crops(data.specs, idx, st, crop_frames, data.mean, data.std)
                              ).to(dev)
        yb = torch.from_numpy(y_tr[idx]).to(dev)
        tb = torch.from_numpy(tab_tr[idx]).to(dev) if data.hybrid else None
        opt.zero_grad()
        logits = module(xb, tb)
        loss = loss_fn(logits, yb)
        loss.backward()
        opt.step()
        loss_sum += float(loss.detach()) * len(idx)
        correct += int((logits.detach().argmax(dim=1) == yb).sum())
    return {"train_loss": loss_sum / len(order), "train_accuracy": correct / len(order)}


def _validate_epoch(module: nn.Module, data: _Inputs, n_classes: int, crop_frames: int,
                    crop_hop: int | None) -> dict:
    """Clip-level ``loss``, ``accuracy`` and ``f1_macro`` of the validation clips."""
    proba = predict_clip_proba(module, data.val_specs, tab=data.val_tab,
                               normalizer=data.normalizer, crop_frames=crop_frames,
                               crop_hop=crop_hop, device=data.device, n_threads=None)
    return _clip_metrics(proba, data.val_y, n_classes)


def _report(row: dict, emit: Callable[[str], None] | None,
            callback: Callable[[dict], None] | None) -> None:
    """One epoch's line on ``emit`` and its row to ``callback``."""
    if emit is not None:
        emit(f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}, val loss "
             f"{row['val_loss']:.4f}, val accuracy {row['val_accuracy']:.3f} "
             f"({row['seconds']:.1f} s)")
    if callback is not None:
        callback(dict(row))


def _training_info(module: nn.Module, data: _Inputs, *, crop_frames, crop_hop, crops_per_clip,
                   epochs, patience, batch_size, lr, weight_decay, class_weight, seed,
                   best_epoch, stopped_epoch, n_threads, seconds) -> dict:
    """:func:`train_cnn`'s ``info`` (JSON)."""
    return {"architecture": architecture(module), "normalizer": data.normalizer,
            "crop_frames": int(crop_frames),
            "crop_hop": int(crop_frames if crop_hop is None else crop_hop),
            "crops_per_clip": int(crops_per_clip), "epochs": int(epochs),
            "patience": int(patience), "batch_size": int(batch_size), "lr": float(lr),
            "weight_decay": float(weight_decay), "class_weight": class_weight,
            "seed": int(seed), "best_epoch": int(best_epoch), "stopped_epoch": int(stopped_epoch),
            "monitor": "val_loss" if data.has_val else "none (no validation clips)",
            "device": str(data.device), "n_threads": n_threads, "seconds": float(seconds),
            "n_train": int(len(data.y)),
            "n_val": int(len(data.val_specs)) if data.has_val else 0}
