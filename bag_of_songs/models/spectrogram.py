"""The spectrogram kinds: the CNN (``"cnn"``) and the hybrid (``"hybrid"``) as models.

The bridge to :mod:`bag_of_songs.cnn`: a table's clips become log-mel spectrograms (read from
each split's cache) and labels, a trained network becomes a :class:`GenreClassifier`, and a
clip is decided by the mean of its crops' probabilities.

Explained in ``notebooks/4-spectrogram-cnn.ipynb``.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pandas as pd

from .._logging import forward_records
from ..cnn import (
    model_config,
    predict_clip_proba,
    spectrogram_settings,
    table_log_mels,
    train_cnn,
)
from ..errors import CNNError, ModelError
from .classifier import GenreClassifier
from .dataset import TabularDataset, _check_trainable, _pool, read_features
from .feature_settings import _check_table_settings
from .kinds import SPECTROGRAM_KINDS

logger = logging.getLogger(__name__)


def fit_spectrogram_model(kind: str, train_ds: TabularDataset,
                          val_ds: TabularDataset | None = None, *,
                          data_dir: str | os.PathLike | None = None, seed: int = 0,
                          epochs: int = 30, patience: int = 5, crops_per_clip: int = 4,
                          spectrogram: dict | None = None, device: str = "auto",
                          n_jobs: int = 1, log=None, progress: bool = False
                          ) -> tuple[GenreClassifier, pd.DataFrame]:
    """Train the spectrogram CNN (``"cnn"``) or the hybrid (``"hybrid"``) on a table's clips.

    The table gives the clips (``audio_file``), their labels and, for the hybrid, the scaled
    hand-crafted features (a segment table's rows are averaged per clip); the log-mel
    spectrograms come from each split's cache (:func:`bag_of_songs.cnn.table_log_mels`, built
    on first use). Training is :func:`bag_of_songs.cnn.train_cnn`: random 3 s crops, Adam,
    early stopping on the validation clips' loss with the best weights restored; a seeded run
    repeats exactly on the CPU. Without ``val_ds`` it trains for ``epochs``.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb``.

    Parameters
    ----------
    kind : {"cnn", "hybrid"}
    train_ds, val_ds : TabularDataset
        Built like :func:`load_splits` builds them (``val_ds`` with ``train_ds.derive``).
    data_dir : path-like, optional
        The prepared folder the ``audio_file`` paths are relative to (default: the folder the
        tables were read from).
    seed, epochs, patience, crops_per_clip, device
        As in :func:`bag_of_songs.cnn.train_cnn`.
    spectrogram : dict, optional
        :func:`bag_of_songs.cnn.spectrogram_settings` overrides (e.g. ``n_mels``).
    n_jobs : int
        Worker processes when a spectrogram cache is built.
    log : callable, optional
        Deprecated: attach a handler to the ``bag_of_songs`` logger instead. Receives the
        package's log lines (``INFO`` and up: one per epoch) while this call runs.
    progress : bool
        Show a progress bar while a spectrogram cache is built.

    Returns
    -------
    model : GenreClassifier
        ``model.cnn`` holds the architecture, spectrogram settings, normaliser and crops.
    history : pandas.DataFrame
        One row per epoch (losses, validation accuracy and macro F1, seconds).
    """
    with forward_records(log):
        return _fit_spectrogram_model(kind, train_ds, val_ds, data_dir=data_dir, seed=seed,
                                      epochs=epochs, patience=patience,
                                      crops_per_clip=crops_per_clip, spectrogram=spectrogram,
                                      device=device, n_jobs=n_jobs, progress=progress)


def _fit_spectrogram_model(kind: str, train_ds: TabularDataset, val_ds: TabularDataset | None,
                           *, data_dir, seed: int, epochs: int, patience: int,
                           crops_per_clip: int, spectrogram: dict | None, device: str,
                           n_jobs: int, progress: bool) -> tuple[GenreClassifier, pd.DataFrame]:
    """:func:`fit_spectrogram_model`'s work, its lines going to the module logger."""
    if kind not in SPECTROGRAM_KINDS:
        raise ModelError(f"not a spectrogram kind: {kind!r}; choose from {SPECTROGRAM_KINDS}")
    _check_trainable(train_ds, val_ds)
    try:
        settings = spectrogram_settings(**(spectrogram or {}))
    except CNNError as exc:
        raise ModelError(str(exc)) from exc
    probe = GenreClassifier(kind, None, list(train_ds.classes), list(train_ds.feature_columns),
                            train_ds.label_column, train_ds.scaler,
                            cnn={"spectrogram": settings})
    _, tr_specs, tr_tab, tr_y = _spectrogram_inputs(probe, train_ds.frame, data_dir=data_dir,
                                                    n_jobs=n_jobs, progress=progress)
    va_specs = va_tab = va_y = None
    if val_ds is not None:
        _, va_specs, va_tab, va_y = _spectrogram_inputs(probe, val_ds.frame, data_dir=data_dir,
                                                        n_jobs=n_jobs, progress=progress)

    def on_epoch(row):  # train_cnn calls it after each epoch
        val = (f", validation loss {row['val_loss']:.3f}, macro F1 {row['val_f1_macro']:.3f}"
               if row.get("val_loss") == row.get("val_loss") else "")
        logger.info(f"  epoch {row['epoch']}: train loss {row['train_loss']:.3f}{val} "
                    f"({row['seconds']:.1f} s)")

    try:
        module, history, info = train_cnn(
            tr_specs, tr_y, va_specs, va_y, n_classes=len(train_ds.classes),
            train_tab=tr_tab if kind == "hybrid" else None,
            val_tab=va_tab if kind == "hybrid" else None, epochs=epochs, patience=patience,
            crops_per_clip=crops_per_clip, seed=seed, device=device, progress=on_epoch)
    except CNNError as exc:
        raise ModelError(str(exc)) from exc
    module = module.cpu().eval()
    config = model_config(module, info, settings)
    keep = {k: v for k, v in info.items() if k not in ("normalizer", "architecture")}
    keep = json.loads(json.dumps(keep, default=str))
    keep.update({"selection": "validation split (early stopping)" if val_ds is not None
                 else f"{epochs} epochs (no validation split)", "seed": seed})
    hybrid = kind == "hybrid"
    model = GenreClassifier(kind, module, list(train_ds.classes),
                            list(train_ds.feature_columns) if hybrid else [],
                            train_ds.label_column, train_ds.scaler if hybrid else None,
                            info=keep, cnn=config)
    return model, history


def _table_of(dataset) -> pd.DataFrame:
    if isinstance(dataset, TabularDataset):
        return dataset.frame
    return read_features(dataset)


def _clip_frame(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Clip ids in order of first appearance, and each row's clip index."""
    if "audio_file" not in frame.columns:
        raise ModelError("a spectrogram model needs the table's audio_file column")
    codes, order = pd.factorize(frame["audio_file"].astype(str))
    return order.to_numpy(dtype=object), codes


def _spectrogram_inputs(model: GenreClassifier, frame: pd.DataFrame, *, data_dir=None,
                        n_jobs: int = 1, classes=None, progress: bool = False):
    """(clips, spectrograms, scaled feature vector per clip or None, class index per clip)."""
    data_dir = data_dir or frame.attrs.get("data_dir")
    if data_dir is None:
        raise ModelError("a spectrogram model reads the clips of the table: pass data_dir= (the "
                         "prepared folder its audio_file paths are relative to)")
    clips, codes = _clip_frame(frame)
    classes = list(classes if classes is not None else model.classes)
    index = {c: i for i, c in enumerate(classes)}
    labels = frame[model.label_column].astype(str).groupby(codes).first().to_numpy() \
        if model.label_column in frame.columns else None
    y = None
    if labels is not None:
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise ModelError(f"label(s) {unknown} in {model.label_column!r} are not among the "
                             f"classes {classes}")
        y = np.array([index[v] for v in labels], dtype=np.int64)
    try:
        specs = table_log_mels(data_dir, clips, model.cnn["spectrogram"] if model.cnn
                                   else spectrogram_settings(), n_jobs=n_jobs,
                                   progress=progress)
    except CNNError as exc:
        raise ModelError(str(exc)) from exc
    tab = None
    if model.kind == "hybrid":
        _check_table_settings(model, frame)
        ds = TabularDataset(frame, label_column=model.label_column, scaler=model.scaler,
                            classes=classes, feature_columns=model.feature_columns)
        _, tab = _pool(ds.X.astype(np.float64), ds.clips)  # a segment table: its mean row
        tab = tab.astype(np.float32)
    return clips, specs, tab, y


def _spectrogram_clips(model: GenreClassifier, dataset, *, data_dir=None, n_jobs: int = 1,
                       progress: bool = False):
    frame = _table_of(dataset)
    clips, specs, tab, y = _spectrogram_inputs(model, frame, data_dir=data_dir, n_jobs=n_jobs,
                                               progress=progress)
    cfg = model.cnn
    proba = predict_clip_proba(model.estimator, specs, tab=tab,
                                   normalizer=cfg["normalizer"], crop_frames=cfg["crop_frames"],
                                   crop_hop=cfg["crop_hop"])
    return clips, np.asarray(proba, dtype=np.float64), y
