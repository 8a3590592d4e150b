"""Models: a TabularDataset, the study's 128-64-out MLP, SVC and random-forest baselines,
evaluation, safe saving, and prediction of new audio files.

Explained in ``notebooks/3-models-prediction.ipynb``.

Every model is wrapped in a :class:`GenreClassifier` that carries what is needed to use it later:
the fitted estimator, the class names, the feature columns, the scaler fitted on the training
split, and the feature settings. :func:`evaluate` works the same for all three kinds.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
)
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .data import (
    SAMPLE_RATE,
    atomic_write,
    label_columns,
    list_splits,
    load_audio,
)
from .data import feature_columns as data_feature_columns
from .features import check_feature_table, read_feature_settings
from .files import sha256_file

__all__ = [
    "ModelError",
    "TabularDataset",
    "MLP",
    "GenreClassifier",
    "train_mlp",
    "fit_svc",
    "fit_random_forest",
    "fit_model",
    "evaluate",
    "save_model",
    "load_model",
    "extraction_settings",
    "describe_feature_settings",
    "features_command",
    "check_model_folder",
    "select_model",
    "grouped_folds",
    "row_groups",
    "predict_clips",
    "featurize_file",
    "derive_hierarchy",
    "coarse_parents",
    "derive_proba",
    "decide_levels",
    "read_clip_groups",
    "training_record",
    "describe_split_rule",
    "concat_datasets",
    "fit_logreg",
    "fit_spectrogram_model",
    "SPECTROGRAM_KINDS",
    "TABULAR_KINDS",
    "DEFAULT_KINDS",
    "CV_MAX_CLIPS",
    "TRUSTED_SKOPS_TYPES",
    "predict_file",
    "read_features",
    "available_levels",
    "compare_models",
    "compare_feature_sets",
    "MODEL_KINDS",
    "best_per_level",
]

#: The model kinds, as the CLI names them.
MODEL_KINDS = ("mlp", "svc", "rf", "logreg", "cnn", "hybrid")
#: Kinds that learn from log-mel spectrograms (bag_of_songs.cnn) rather than feature rows.
SPECTROGRAM_KINDS = ("cnn", "hybrid")
#: Kinds that learn from feature rows only.
TABULAR_KINDS = ("mlp", "svc", "rf", "logreg")
#: The kinds ``compare_models`` and ``bag-of-songs run`` train by default (the study's MLP and
#: its two baselines).
DEFAULT_KINDS = ("mlp", "svc", "rf")


_FORMAT_VERSION = 2


class ModelError(ValueError):
    """Bad model input: unknown labels, missing columns, non-finite values, bad model files."""


# ---------------------------------------------------------------------------------------------
# Data


def read_features(features: str | os.PathLike | pd.DataFrame, *, check: bool = True
                  ) -> pd.DataFrame:
    """A features table from a CSV path (or a split folder holding ``features.csv``) or a DataFrame.

    A table read from disk is first checked against what it was derived from
    (:func:`bag_of_songs.features.check_feature_table`): a table built before its split's
    ``annotations.csv`` was rewritten describes other songs and is refused. Label columns
    (listed in the ``features.json`` beside the table) are read as text, so that labels such as
    ``"NA"`` or ``"1"`` stay labels; ``df.attrs["label_columns"]`` lists them and
    ``df.attrs["feature_columns"]`` the feature columns, each of which must hold numbers only.

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    features : path-like or pandas.DataFrame
        A ``features.csv``, the split folder holding it (e.g. ``ccmusic/test``), or a
        DataFrame, which is returned as it is.
    check : bool
        Check the provenance (default) of a table in a prepared split (a folder with
        ``annotations.csv`` or ``features.json``). Any other CSV (e.g. a published table such
        as GTZAN's) is read as it is.

    Returns
    -------
    table : pandas.DataFrame
        As :func:`bag_of_songs.features.build_feature_table` wrote it: ``audio_file``, the
        label column(s), ``segment`` for a segment table, then the feature columns. For a
        table of a prepared split, ``attrs`` also hold ``data_dir`` (the prepared folder) and,
        with a ``features.json``, ``feature_settings`` (its :func:`extraction_settings`) and
        ``split_dir``.

    Raises
    ------
    FileNotFoundError
        When there is no feature table at that path.
    StaleFeaturesError
        When the table is stale or was altered (the message says to re-run ``features``).
    ModelError
        When the file is not a readable CSV table, or a feature column holds text.
    """
    if isinstance(features, pd.DataFrame):
        return features
    path = Path(features)
    if path.is_dir():
        path = path / "features.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no feature table; run `bag-of-songs features` first")
    # A table of a prepared split (annotations.csv or features.json beside it) must be current;
    # any other CSV (e.g. a published table such as GTZAN's) is read as it is.
    ours = (path.parent / "annotations.csv").exists() or (path.parent / "features.json").exists()
    if check and ours and path.name == "features.csv":
        meta = check_feature_table(path.parent)
    else:
        meta = read_feature_settings(path.parent) if ours else {}
    labels = meta.get("label_columns")
    try:
        if labels is None:
            df = pd.read_csv(path)
        else:
            df = pd.read_csv(path, dtype={c: str for c in labels}, keep_default_na=False,
                             na_values=[""])
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ModelError(f"{path}: not a readable feature table ({exc})") from exc
    if labels is not None:
        df.attrs["label_columns"] = [c for c in labels if c in df.columns]
    if ours:  # where audio_file paths are relative to (spectrogram models read the clips)
        df.attrs["data_dir"] = str(path.parent.parent)
    if ours and (path.parent / "features.json").exists():
        # what the table was built with, so that a model trained with other settings is told
        # so (_check_table_settings) rather than "missing columns"
        df.attrs["feature_settings"] = extraction_settings(meta)
        df.attrs["split_dir"] = str(path.parent)
    if meta.get("feature_columns"):
        columns = [c for c in meta["feature_columns"] if c in df.columns]
        text = [c for c in columns if not pd.api.types.is_numeric_dtype(df[c])]
        if text:
            raise ModelError(f"{path}: feature column(s) {text[:5]} hold values that are not "
                             f"numbers (e.g. {df[text[0]].dropna().astype(str).iloc[0]!r}); the "
                             "table was edited or damaged: run `bag-of-songs features` again")
        df.attrs["feature_columns"] = columns
    return df


#: Columns that identify a row rather than describe it: never features, never labels.
ID_COLUMNS = ("audio_file", "source", "segment")


class TabularDataset(Dataset):
    """A feature table as a ``torch.utils.data.Dataset`` of (scaled features, class index).

    As in the original study. Feature columns are every numeric column except the label and
    ``drop_columns`` (``audio_file``, ``source``, ``segment`` and the other label levels are
    dropped automatically). Without ``scaler`` a :class:`~sklearn.preprocessing.StandardScaler`
    is fitted on this table; with one, the table is only transformed, so validation and test
    splits are scaled with the training statistics and nothing leaks.

    A **segment table** (one row per texture window, with a ``segment`` column; see
    :func:`bag_of_songs.features.extract_features`) holds several rows per clip; ``clips``
    names the clip of each row, so that folds keep a clip's segments together and predictions
    are pooled per clip (:func:`predict_clips`).

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    features : path-like or pandas.DataFrame
        A ``features.csv`` (or the split folder holding it) or a DataFrame.
    label_column : str
        The label column (``label``, or a CCMusic level such as ``fst_level_label``).
    drop_columns : list of str, optional
        Further columns that are not features (e.g. GTZAN's ``length``).
    scaler : StandardScaler, optional
        A fitted scaler (from the training dataset).
    classes : list of str, optional
        Class names; label ``classes[i]`` becomes index ``i``. Default: sorted names found.
    feature_columns : list of str, optional
        The feature columns, in order (from the training dataset); default: inferred.

    Attributes
    ----------
    X : np.ndarray [shape=(n, d), dtype=float32]
        Scaled features.
    y : np.ndarray [shape=(n,), dtype=int64]
        Class indices.
    clips : np.ndarray [shape=(n,), dtype=object]
        The clip of each row: its ``audio_file`` in a segment table (a table with a
        ``segment`` column); in a whole-clip table every row is a clip of its own.
    classes, scaler, feature_columns, label_column, frame

    Raises
    ------
    ModelError
        On a missing column, a label not in ``classes``, a non-finite value (named), or a clip
        whose segments carry different labels.
    """

    def __init__(self, features, *, label_column: str = "label",
                 drop_columns: list[str] | None = None, scaler: StandardScaler | None = None,
                 classes: list[str] | None = None, feature_columns: list[str] | None = None):
        df = read_features(features)
        if label_column not in df.columns:
            raise ModelError(f"no label column {label_column!r}; columns: {list(df.columns)}")
        if len(df) == 0:
            raise ModelError("the feature table is empty")
        if feature_columns is None:
            feature_columns = df.attrs.get("feature_columns") or data_feature_columns(
                df, exclude=[*ID_COLUMNS, *(drop_columns or ()), label_column])
            feature_columns = [c for c in feature_columns
                               if c not in {*(drop_columns or ()), label_column, *ID_COLUMNS}]
            if not feature_columns:
                raise ModelError("the table has no numeric feature columns")
        missing = [c for c in feature_columns if c not in df.columns]
        if missing:
            raise ModelError(
                f"feature column(s) missing from the table: {missing[:10]}"
                f"{f' (and {len(missing) - 10} more)' if len(missing) > 10 else ''}; the "
                "table was built with other feature settings than the model or the training "
                "split: run `bag-of-songs features DIR` again (with the model's settings)")
        text = [c for c in feature_columns if not pd.api.types.is_numeric_dtype(df[c])]
        if text:
            raise ModelError(f"feature column(s) {text[:5]} hold values that are not numbers")
        X = df[list(feature_columns)].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(X)
        if bad.any():
            rows, cols = np.nonzero(bad)
            names = sorted({feature_columns[c] for c in cols})
            raise ModelError(f"non-finite value(s) in column(s) {names} "
                             f"(row(s) {sorted(set(rows.tolist()))[:10]})")
        missing_labels = df[label_column].isna().to_numpy()
        if missing_labels.any():
            raise ModelError(f"missing label(s) in {label_column!r} (row(s) "
                             f"{np.flatnonzero(missing_labels).tolist()[:10]})")
        labels = df[label_column].astype(str).to_numpy()
        if classes is None:
            classes = sorted(set(labels))
        classes = [str(c) for c in classes]
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise ModelError(f"label(s) {unknown} in {label_column!r} are not among the classes "
                             f"{classes}")
        if "segment" in df.columns and "audio_file" in df.columns:  # a segment table
            clips = df["audio_file"].astype(str).to_numpy(dtype=object)
        else:  # one row per clip (even if two rows share a file name)
            clips = np.array([f"{f}#{i}" for i, f in enumerate(
                df["audio_file"].astype(str) if "audio_file" in df else [""] * len(df))],
                dtype=object)
        mixed = pd.Series(labels).groupby(clips, sort=False).nunique()
        if (mixed > 1).any():
            raise ModelError(f"clip(s) {mixed[mixed > 1].index.tolist()[:5]} have segments with "
                             f"different labels in {label_column!r}")
        if scaler is None:
            scaler = StandardScaler().fit(X)
        self.scaler = scaler
        self.classes = classes
        self.feature_columns = list(feature_columns)
        self.label_column = label_column
        self.X = scaler.transform(X).astype(np.float32)
        self.y = np.array([index[v] for v in labels], dtype=np.int64)
        self.clips = clips
        self.frame = df

    def derive(self, features) -> TabularDataset:
        """Another table (validation, test) with this dataset's scaler, classes and columns."""
        return _dataset_like(self, features)

    def subset(self, rows) -> TabularDataset:
        """The rows ``rows`` (indices or a mask), with this dataset's scaler, classes, columns."""
        return self.derive(self.frame.iloc[np.arange(len(self))[rows]])

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return torch.from_numpy(self.X[i]), torch.tensor(self.y[i])

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def n_clips(self) -> int:
        """Clips in the table (rows, for a whole-clip table)."""
        return len(pd.unique(self.clips))

    @property
    def is_segmented(self) -> bool:
        """Whether some clip has several rows (a segment table)."""
        return self.n_clips < len(self)


def _dataset_like(ref, features) -> TabularDataset:
    """A table scaled, labelled and column-ordered like ``ref`` (a dataset or a model)."""
    return TabularDataset(features, label_column=ref.label_column, scaler=ref.scaler,
                          classes=ref.classes, feature_columns=ref.feature_columns)


def concat_datasets(first: TabularDataset, *others: TabularDataset, refit_scaler: bool = True
                    ) -> TabularDataset:
    """Several tables (e.g. train and validation) as one dataset with the first one's classes.

    Parameters
    ----------
    first, *others : TabularDataset
        Built alike (the others with ``first.derive``).
    refit_scaler : bool
        Fit the scaler on all the rows (default), as a model refitted on train + validation
        should be; False keeps ``first``'s scaler.

    Returns
    -------
    dataset : TabularDataset
    """
    frame = pd.concat([first.frame, *(o.frame for o in others)], ignore_index=True)
    frame.attrs = dict(first.frame.attrs)
    return TabularDataset(frame, label_column=first.label_column, classes=first.classes,
                          feature_columns=first.feature_columns,
                          scaler=None if refit_scaler else first.scaler)


# ---------------------------------------------------------------------------------------------
# Classifier wrapper


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
    with torch.no_grad(), _torch_threads(1):
        logits = module(torch.from_numpy(X))
    if n_classes == 2:
        p = torch.sigmoid(logits[:, 0]).numpy().astype(np.float64)
        return np.stack([1 - p, p], axis=1)
    return torch.softmax(logits, dim=1).numpy().astype(np.float64)


def _sk_proba(est, X: np.ndarray, n_classes: int) -> np.ndarray:
    proba = np.zeros((len(X), n_classes))
    proba[:, est.classes_] = est.predict_proba(X)
    return proba


# ---------------------------------------------------------------------------------------------
# MLP


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


@contextlib.contextmanager
def _torch_threads(n: int = 1):
    """Run a block with ``n`` torch threads (then restore the setting).

    The MLP's matrices are tiny (at most 128 x 64 per batch of 32): spreading them over threads
    costs far more than it saves, 25 times more on a busy 2-core machine (measured).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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


def _same_scaling(a: StandardScaler, b: StandardScaler) -> bool:
    """Whether two fitted scalers transform identically (the same object, or equal numbers)."""
    if a is b:
        return True
    return (np.array_equal(np.asarray(a.mean_), np.asarray(b.mean_))
            and np.array_equal(np.asarray(a.scale_), np.asarray(b.scale_)))


def _check_trainable(train_ds: TabularDataset, val_ds: TabularDataset | None) -> None:
    """At least two classes, and a validation set built with ``train_ds.derive``."""
    if len(train_ds.classes) < 2:
        raise ModelError(f"need at least two classes to train, got {train_ds.classes}")
    if val_ds is None:
        return
    if (val_ds.classes != train_ds.classes or val_ds.feature_columns != train_ds.feature_columns
            or not _same_scaling(val_ds.scaler, train_ds.scaler)):
        raise ModelError("the validation dataset was not built like the training dataset: "
                         "make it with train_ds.derive(table)")


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
    with _torch_threads(1):
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


# ---------------------------------------------------------------------------------------------
# scikit-learn baselines


def _select_on_validation(make, grid: list[dict], train_ds, val_ds):
    """Fit one model per setting on train, keep the best macro-F1 on validation, then refit
    that setting on train + validation (the test split is never seen)."""
    best_score, best_params = -np.inf, None
    for params in grid:
        est = make(**params).fit(train_ds.X, train_ds.y)
        score = f1_score(val_ds.y, est.predict(val_ds.X), average="macro", zero_division=0)
        if score > best_score + 1e-12:
            best_score, best_params = score, params
    X = np.vstack([train_ds.X, val_ds.X])
    y = np.concatenate([train_ds.y, val_ds.y])
    return make(y=y, **best_params).fit(X, y), best_params, float(best_score)


def _calibrated_svc(*, C: float, gamma, seed: int, y: np.ndarray):
    """An RBF SVC with probabilities (Platt scaling by cross-validation when classes allow)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    svc = SVC(kernel="rbf", C=C, gamma=gamma, random_state=seed)
    counts = np.bincount(y) if len(y) else np.zeros(0, dtype=int)
    counts = counts[counts > 0]  # classes absent from train (seen only in test) do not count
    n_min = int(counts.min()) if len(counts) else 0
    if n_min >= 3:
        return CalibratedClassifierCV(svc, method="sigmoid", cv=min(5, n_min), ensemble=False)
    return _SoftmaxSVC(svc)


class _SoftmaxSVC:
    """Fallback for tiny classes: scores from the decision function, normalised to sum to 1."""

    def __init__(self, svc):
        self.svc = svc

    def fit(self, X, y):
        self.svc.fit(X, y)
        self.classes_ = self.svc.classes_
        return self

    def predict(self, X):
        return self.svc.predict(X)

    def predict_proba(self, X):
        d = self.svc.decision_function(X)
        if d.ndim == 1:
            d = np.stack([-d, d], axis=1)
        e = np.exp(d - d.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def fit_svc(train_ds: TabularDataset, val_ds: TabularDataset | None = None, *, seed: int = 0,
            grid: list[dict] | None = None) -> GenreClassifier:
    """An RBF support-vector classifier on the scaled features.

    Defaults: ``C=10``, ``gamma="scale"``. With ``val_ds``, a small grid (``C`` in 1, 10, 100;
    ``gamma`` ``"scale"`` or ``0.5 / d``) is searched on the validation split (macro F1), and
    the best setting refitted on train + validation; the test split is never looked at.
    Probabilities come from Platt scaling fitted by cross-validation (up to 5 folds) on the data
    the final model is fitted on; when its smallest class has fewer than 3 clips, from a softmax
    of the SVC's decision function instead.

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    train_ds : TabularDataset
        The training split; its scaler, classes and feature columns carry over to the model.
    val_ds : TabularDataset, optional
        The validation split, built with ``train_ds.derive(...)``. Without it, the default
        setting is fitted on train alone and ``grid`` is not used.
    seed : int
        Seeds the SVC (``random_state``).
    grid : list of dict, optional
        Settings to try on the validation split, each a dict of ``C`` and ``gamma``
        (default: the grid above).

    Returns
    -------
    model : GenreClassifier
        ``model.info["params"]`` holds the chosen setting, ``model.info["val_f1_macro"]`` its
        validation macro F1 (None without ``val_ds``).

    Raises
    ------
    ModelError
        When ``train_ds`` has fewer than two classes, or ``val_ds`` was not built with
        ``train_ds.derive``.
    """
    _check_trainable(train_ds, val_ds)
    d = train_ds.n_features
    if grid is None:
        grid = [{"C": C, "gamma": g} for C in (1.0, 10.0, 100.0) for g in ("scale", 0.5 / d)]
    if val_ds is None:
        grid = [{"C": 10.0, "gamma": "scale"}]

    def make(y=train_ds.y, **p):
        return _calibrated_svc(seed=seed, y=y, **p)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        if val_ds is None:
            est, params, score = make(**grid[0]).fit(train_ds.X, train_ds.y), grid[0], None
        else:
            est, params, score = _select_on_validation(make, grid, train_ds, val_ds)
    return GenreClassifier("svc", est, list(train_ds.classes), list(train_ds.feature_columns),
                           train_ds.label_column, train_ds.scaler,
                           info={"params": params, "val_f1_macro": score, "seed": seed})


def fit_random_forest(train_ds: TabularDataset, val_ds: TabularDataset | None = None, *,
                      seed: int = 0, grid: list[dict] | None = None,
                      n_jobs: int = -1) -> GenreClassifier:
    """A random forest (500 trees) on the scaled features.

    With ``val_ds``, ``max_features`` (``"sqrt"``, 0.33) and ``min_samples_leaf`` (1, 3) are
    chosen on the validation split (macro F1) and the forest refitted on train + validation.

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    train_ds : TabularDataset
        The training split; its scaler, classes and feature columns carry over to the model.
    val_ds : TabularDataset, optional
        The validation split, built with ``train_ds.derive(...)``. Without it,
        ``max_features="sqrt"`` and ``min_samples_leaf=1`` are fitted on train alone and
        ``grid`` is not used.
    seed : int
        Seeds the forest (``random_state``).
    grid : list of dict, optional
        Settings to try on the validation split, each a dict of
        :class:`~sklearn.ensemble.RandomForestClassifier` arguments other than
        ``n_estimators``, ``random_state`` and ``n_jobs`` (default: the grid above).
    n_jobs : int
        Worker processes while fitting (-1 = all cores); the returned forest predicts in one
        process.

    Returns
    -------
    model : GenreClassifier
        ``model.info["params"]`` holds the chosen setting, ``model.info["val_f1_macro"]`` its
        validation macro F1 (None without ``val_ds``).

    Raises
    ------
    ModelError
        When ``train_ds`` has fewer than two classes, or ``val_ds`` was not built with
        ``train_ds.derive``.
    """
    from sklearn.ensemble import RandomForestClassifier

    _check_trainable(train_ds, val_ds)
    if grid is None:
        grid = [{"max_features": m, "min_samples_leaf": n} for m in ("sqrt", 0.33) for n in (1, 3)]
    if val_ds is None:
        grid = [{"max_features": "sqrt", "min_samples_leaf": 1}]

    def make(y=None, **p):
        return RandomForestClassifier(n_estimators=500, random_state=seed, n_jobs=n_jobs, **p)

    if val_ds is None:
        est, params, score = make(**grid[0]).fit(train_ds.X, train_ds.y), grid[0], None
    else:
        est, params, score = _select_on_validation(make, grid, train_ds, val_ds)
    est.n_jobs = 1  # predictions of a loaded model stay single-process
    return GenreClassifier("rf", est, list(train_ds.classes), list(train_ds.feature_columns),
                           train_ds.label_column, train_ds.scaler,
                           info={"params": params, "val_f1_macro": score, "seed": seed})


def fit_logreg(train_ds: TabularDataset, val_ds: TabularDataset | None = None, *,
               seed: int = 0, grid: list[dict] | None = None) -> GenreClassifier:
    """A multinomial logistic regression on the scaled features (beyond the study).

    A linear model with an L2 penalty: on small corpora it often generalises as well as the
    SVC. With ``val_ds``, ``C`` (0.01, 0.1, 1, 10) is chosen on the validation split (macro F1)
    and the model refitted on train + validation; without it, ``C=1``.

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 4, baselines).

    Parameters
    ----------
    train_ds : TabularDataset
    val_ds : TabularDataset, optional
        Built with ``train_ds.derive(...)``.
    seed : int
    grid : list of dict, optional
        Settings to try (each a dict with ``C``).

    Returns
    -------
    model : GenreClassifier
        ``model.info["params"]`` holds the chosen setting.
    """
    _check_trainable(train_ds, val_ds)
    grid = grid or [{"C": C} for C in (0.01, 0.1, 1.0, 10.0)]

    def make(y=None, **p):
        return _make_estimator("logreg", p, seed=seed, y=y)

    if val_ds is None:
        params = {"C": 1.0} if len(grid) > 1 else grid[0]
        est, score = make(**params).fit(train_ds.X, train_ds.y), None
    else:
        est, params, score = _select_on_validation(make, grid, train_ds, val_ds)
    return GenreClassifier("logreg", est, list(train_ds.classes), list(train_ds.feature_columns),
                           train_ds.label_column, train_ds.scaler,
                           info={"params": params, "val_f1_macro": score, "seed": seed})


def _make_estimator(kind: str, params: dict, *, seed: int, y=None, n_jobs: int = 1,
                    calibrated: bool = True, n_estimators: int = 500):
    """A fresh scikit-learn estimator of ``kind`` with ``params``."""
    if kind == "svc":
        if calibrated:
            return _calibrated_svc(seed=seed, y=y, **params)
        from sklearn.svm import SVC

        return _SoftmaxSVC(SVC(kernel="rbf", random_state=seed, **params))
    if kind == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=n_estimators, random_state=seed,
                                      n_jobs=n_jobs, **params)
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=5000, random_state=seed, **params)
    raise ModelError(f"unknown model kind {kind!r}; choose from {MODEL_KINDS}")


def fit_model(kind: str, train_ds: TabularDataset, val_ds: TabularDataset | None = None, *,
              seed: int = 0, n_jobs: int = -1) -> GenreClassifier:
    """Fit a model of ``kind`` (``"mlp"``, ``"svc"``, ``"rf"`` or ``"logreg"``), selected on
    ``val_ds``.

    For the choice of hyper-parameters by grouped cross-validation see :func:`select_model`.

    Explained in ``notebooks/3-models-prediction.ipynb`` (sections 2 and 4, one function per
    kind).

    Parameters
    ----------
    kind : {"mlp", "svc", "rf", "logreg"}
    train_ds : TabularDataset
    val_ds : TabularDataset, optional
        For early stopping (MLP) or hyper-parameter choice (the others).
    seed : int
    n_jobs : int
        Worker processes of the random forest (-1 = all cores).

    Returns
    -------
    model : GenreClassifier

    Raises
    ------
    ModelError
        On an unknown ``kind``, and as :func:`train_mlp`, :func:`fit_svc`,
        :func:`fit_random_forest` and :func:`fit_logreg`.
    """
    if kind == "mlp":
        return train_mlp(train_ds, val_ds, seed=seed)[0]
    if kind == "svc":
        return fit_svc(train_ds, val_ds, seed=seed)
    if kind == "rf":
        return fit_random_forest(train_ds, val_ds, seed=seed, n_jobs=n_jobs)
    if kind == "logreg":
        return fit_logreg(train_ds, val_ds, seed=seed)
    raise ModelError(f"unknown model kind {kind!r}; choose from {MODEL_KINDS}")


# ---------------------------------------------------------------------------------------------
# Spectrogram models: the CNN and the hybrid (bag_of_songs.cnn)


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
        Receives a line per epoch.
    progress : bool
        Show a progress bar while a spectrogram cache is built.

    Returns
    -------
    model : GenreClassifier
        ``model.cnn`` holds the architecture, spectrogram settings, normaliser and crops.
    history : pandas.DataFrame
        One row per epoch (losses, validation accuracy and macro F1, seconds).
    """
    from . import cnn

    if kind not in SPECTROGRAM_KINDS:
        raise ModelError(f"not a spectrogram kind: {kind!r}; choose from {SPECTROGRAM_KINDS}")
    _check_trainable(train_ds, val_ds)
    try:
        settings = cnn.spectrogram_settings(**(spectrogram or {}))
    except cnn.CNNError as exc:
        raise ModelError(str(exc)) from exc
    probe = GenreClassifier(kind, None, list(train_ds.classes), list(train_ds.feature_columns),
                            train_ds.label_column, train_ds.scaler,
                            cnn={"spectrogram": settings})
    _, tr_specs, tr_tab, tr_y = _spectrogram_inputs(probe, train_ds.frame, data_dir=data_dir,
                                                    n_jobs=n_jobs, log=log, progress=progress)
    va_specs = va_tab = va_y = None
    if val_ds is not None:
        _, va_specs, va_tab, va_y = _spectrogram_inputs(probe, val_ds.frame, data_dir=data_dir,
                                                        n_jobs=n_jobs, log=log,
                                                        progress=progress)

    def progress(row):
        if log is not None:
            val = (f", validation loss {row['val_loss']:.3f}, macro F1 {row['val_f1_macro']:.3f}"
                   if row.get("val_loss") == row.get("val_loss") else "")
            log(f"  epoch {row['epoch']}: train loss {row['train_loss']:.3f}{val} "
                f"({row['seconds']:.1f} s)")

    try:
        module, history, info = cnn.train_cnn(
            tr_specs, tr_y, va_specs, va_y, n_classes=len(train_ds.classes),
            train_tab=tr_tab if kind == "hybrid" else None,
            val_tab=va_tab if kind == "hybrid" else None, epochs=epochs, patience=patience,
            crops_per_clip=crops_per_clip, seed=seed, device=device, progress=progress)
    except cnn.CNNError as exc:
        raise ModelError(str(exc)) from exc
    module = module.cpu().eval()
    config = cnn.model_config(module, info, settings)
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


# ---------------------------------------------------------------------------------------------
# Honest model selection: cross-validation folds that keep clips (and artists) whole

#: ``selection="auto"`` cross-validates when train and validation together hold fewer clips.
CV_MAX_CLIPS = 1000
#: Folds of that cross-validation.
CV_FOLDS = 5


def _default_grid(kind: str, n_features: int) -> list[dict]:
    if kind == "svc":
        return [{"C": C, "gamma": g} for C in (1.0, 10.0, 100.0)
                for g in ("scale", 0.5 / n_features)]
    if kind == "rf":
        return [{"max_features": m, "min_samples_leaf": n} for m in ("sqrt", 0.33)
                for n in (1, 3)]
    if kind == "logreg":
        return [{"C": C} for C in (0.01, 0.1, 1.0, 10.0)]
    return []


def row_groups(ds: TabularDataset, groups: dict | None = None) -> np.ndarray:
    """The group of every row of ``ds``: its clip's group, looked up by ``audio_file``.

    Parameters
    ----------
    ds : TabularDataset [n rows]
    groups : dict audio_file -> group, optional
        E.g. from :func:`read_clip_groups`. A clip it does not list is a group of its own.

    Returns
    -------
    groups : numpy.ndarray of str [n rows]
        ``"group:<name>"`` for a listed clip, ``"clip:<clip id>"`` otherwise; all the rows
        (segments) of a clip share one value.
    """
    groups = groups or {}
    files = (ds.frame["audio_file"].astype(str).to_numpy() if "audio_file" in ds.frame.columns
             else [None] * len(ds.clips))
    return np.array([f"group:{groups[f]}" if f in groups else f"clip:{c}"
                     for f, c in zip(files, ds.clips, strict=True)], dtype=object)


def grouped_folds(ds: TabularDataset, *, n_splits: int = CV_FOLDS,
                  groups: dict | None = None, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified cross-validation folds that never split a clip, nor a group of clips.

    Every row of a clip (all its segments) lands in the same fold; with ``groups`` (e.g. each
    clip's artist), every clip of a group does too, so a model is never scored on an artist it
    was trained on. Folds are stratified by class as far as the groups allow
    (:class:`~sklearn.model_selection.StratifiedGroupKFold`, shuffled with ``seed``).

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, model selection).

    Parameters
    ----------
    ds : TabularDataset [n rows]
    n_splits : int
        Folds wanted; fewer when there are fewer groups (at least 2). A class with fewer groups
        than folds is held out in as many folds as it has groups (and absent from the others).
    groups : dict audio_file -> group, optional
        The group of each clip, by its ``audio_file`` (:func:`row_groups`); clips it does not
        list are groups of their own.
    seed : int

    Returns
    -------
    folds : list of (train_rows, test_rows)
        Row indices of ``ds``; each row is in exactly one ``test_rows``.

    Raises
    ------
    ModelError
        When there are fewer than two groups.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    g = row_groups(ds, groups)
    # at most one fold per group; and scikit-learn needs some class with at least as many
    # rows as folds
    k = int(min(n_splits, len(set(g)), np.bincount(ds.y).max()))
    if k < 2:
        raise ModelError(f"the table holds fewer than two {'groups' if groups else 'clips'}: "
                         "cannot cross-validate")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # a class with fewer groups than folds is held out once
        warnings.simplefilter("ignore", category=UserWarning)
        return [(tr, te) for tr, te in splitter.split(ds.X, ds.y, groups=g)]


def _pool(proba: np.ndarray, clips: np.ndarray, aggregate: str = "mean"
          ) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip probabilities from per-row ones; clips in order of first appearance."""
    codes, order = pd.factorize(pd.Series(clips, dtype=object))
    n = len(order)
    if aggregate == "mean":
        sums = np.zeros((n, proba.shape[1]))
        np.add.at(sums, codes, proba)
        return order.to_numpy(dtype=object), sums / np.bincount(codes, minlength=n)[:, None]
    if aggregate == "vote":
        votes = np.zeros((n, proba.shape[1]))
        np.add.at(votes, (codes, proba.argmax(axis=1)), 1.0)
        # ties are broken by the mean probability (a tiny addition that cannot outvote a vote)
        _, mean = _pool(proba, clips, "mean")
        votes += 1e-6 * mean
        return order.to_numpy(dtype=object), votes / votes.sum(axis=1, keepdims=True)
    raise ModelError(f"unknown aggregate {aggregate!r}; choose 'mean' or 'vote'")


def predict_clips(model: GenreClassifier, dataset, *, aggregate: str = "mean",
                  data_dir: str | os.PathLike | None = None, n_jobs: int = 1,
                  progress: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class probabilities per **clip**: the mean of its segments' probabilities.

    A whole-clip table has one row per clip, so this is the model's row probabilities. For a
    segment table, ``aggregate="mean"`` (default) averages the segments' class probabilities
    (the sum rule): it keeps each segment's confidence, so a few confident segments outweigh
    many undecided ones, ties are rare, and the result is again a probability. Majority vote
    (``"vote"``: the share of segments whose top class is each class, ties broken by the mean)
    throws that confidence away and ties often with few segments; it is offered for
    comparison.

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, segments).

    Parameters
    ----------
    model : GenreClassifier
    dataset : TabularDataset, pandas.DataFrame or path-like
        A table with the model's feature columns (and its label column).
    aggregate : {"mean", "vote"}
    data_dir : path-like, optional
        Spectrogram models (``cnn``, ``hybrid``): the prepared folder the table's
        ``audio_file`` paths are relative to (default: the folder the table was read from).
        A clip is decided by the mean of its crops' probabilities
        (:func:`bag_of_songs.cnn.predict_clip_proba`).
    n_jobs : int
        Spectrogram models: worker processes when a split's spectrogram cache is built.
    progress : bool
        Spectrogram models: show a progress bar while a cache is built.

    Returns
    -------
    clips : np.ndarray [shape=(n_clips,), dtype=object]
        Clip ids (``audio_file``), in order of first appearance.
    proba : np.ndarray [shape=(n_clips, n_classes)]
        Rows sum to 1; column ``i`` is ``model.classes[i]``.
    y_true : np.ndarray [shape=(n_clips,), dtype=int]
        Each clip's class index.
    """
    if model.kind in SPECTROGRAM_KINDS:
        return _spectrogram_clips(model, dataset, data_dir=data_dir, n_jobs=n_jobs,
                                  progress=progress)
    ds = _as_model_dataset(model, dataset)
    clips, proba = _pool(model.predict_proba(ds.X), ds.clips, aggregate)
    first = pd.Series(ds.y).groupby(pd.factorize(pd.Series(ds.clips, dtype=object))[0]).first()
    return clips, proba, first.to_numpy()


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
                        n_jobs: int = 1, log=None, classes=None, progress: bool = False):
    """(clips, spectrograms, scaled feature vector per clip or None, class index per clip)."""
    from . import cnn

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
        specs = cnn.table_log_mels(data_dir, clips, model.cnn["spectrogram"] if model.cnn
                                   else cnn.spectrogram_settings(), n_jobs=n_jobs, log=log,
                                   progress=progress)
    except cnn.CNNError as exc:
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
    from . import cnn

    frame = _table_of(dataset)
    clips, specs, tab, y = _spectrogram_inputs(model, frame, data_dir=data_dir, n_jobs=n_jobs,
                                               progress=progress)
    cfg = model.cnn
    proba = cnn.predict_clip_proba(model.estimator, specs, tab=tab,
                                   normalizer=cfg["normalizer"], crop_frames=cfg["crop_frames"],
                                   crop_hop=cfg["crop_hop"])
    return clips, np.asarray(proba, dtype=np.float64), y


def _as_model_dataset(model: GenreClassifier, dataset) -> TabularDataset:
    if not isinstance(model, GenreClassifier):
        raise ModelError(f"expected a GenreClassifier, got {type(model).__name__}")
    if isinstance(dataset, TabularDataset):
        ds = dataset
        _check_table_settings(model, ds.frame)
    else:
        frame = read_features(dataset)
        _check_table_settings(model, frame)  # before the columns: say which settings differ
        ds = model.dataset(frame)
    if (ds.feature_columns != model.feature_columns or ds.classes != model.classes
            or ds.label_column != model.label_column
            or not _same_scaling(ds.scaler, model.scaler)):
        # Built another way (e.g. its own scaler fitted on the test table): rebuild it with the
        # model's columns, classes and training statistics.
        ds = model.dataset(ds.frame)
    return ds


def _macro_f1(y_true, y_pred) -> float:
    seen = sorted(set(np.asarray(y_true).tolist()) | set(np.asarray(y_pred).tolist()))
    return float(f1_score(y_true, y_pred, labels=seen, average="macro", zero_division=0))


def _cv_score_params(kind: str, params: dict, ds: TabularDataset, folds, *, seed: int,
                     n_jobs: int) -> float:
    """Mean clip-level macro F1 of one setting over the folds (each fold scaled on its own
    training part; SVCs scored without the calibration, which does not change the ranking)."""
    scores = []
    for tr, te in folds:
        sc = StandardScaler().fit(ds.X[tr])
        # 200 trees rank forest settings as 500 do, at 40 % of the cost
        est = _make_estimator(kind, params, seed=seed, n_jobs=n_jobs, calibrated=False,
                              n_estimators=200)
        est.fit(sc.transform(ds.X[tr]), ds.y[tr])
        proba = np.zeros((len(te), len(ds.classes)))
        proba[:, est.classes_] = est.predict_proba(sc.transform(ds.X[te]))
        _, clip_proba = _pool(proba, ds.clips[te])
        _, _, y_clip = _first_labels(ds, te)
        scores.append(_macro_f1(y_clip, clip_proba.argmax(axis=1)))
    return float(np.mean(scores))


def _cv_score_mlp(full: TabularDataset, folds, *, epochs: int, seed: int) -> float:
    """Mean clip-level macro F1 of the MLP trained for the chosen ``epochs`` on each fold's
    training part (scaled on its own) and scored on its held-out part, as
    :func:`_cv_score_params` scores the other kinds' chosen setting."""
    scores = []
    for tr, te in folds:
        fold_train = TabularDataset(full.frame.iloc[tr], label_column=full.label_column,
                                    classes=full.classes, feature_columns=full.feature_columns)
        model, _ = train_mlp(fold_train, None, epochs=epochs, seed=seed)
        held = fold_train.derive(full.frame.iloc[te])
        _, clip_proba = _pool(model.predict_proba(held.X), held.clips)
        _, _, y_clip = _first_labels(held, np.arange(len(held)))
        scores.append(_macro_f1(y_clip, clip_proba.argmax(axis=1)))
    return float(np.mean(scores))


def _first_labels(ds: TabularDataset, rows):
    clips = ds.clips[rows]
    codes, order = pd.factorize(pd.Series(clips, dtype=object))
    y = pd.Series(ds.y[rows]).groupby(codes).first().to_numpy()
    return order.to_numpy(dtype=object), codes, y


def select_model(kind: str, train_ds: TabularDataset, val_ds: TabularDataset | None = None, *,
                 selection: str = "auto", groups: dict | None = None, n_splits: int = CV_FOLDS,
                 grid: list[dict] | None = None, seed: int = 0, n_jobs: int = -1, log=None
                 ) -> GenreClassifier:
    """Choose a model's hyper-parameters honestly, then fit it.

    The rule (``selection="auto"``): when train and validation together hold fewer than
    :data:`CV_MAX_CLIPS` clips, one small validation split makes every choice a coin toss, so
    the choice is made by ``n_splits``-fold cross-validation over train + validation, with folds
    that keep every clip (all its segments) and every group (e.g. artist, with ``groups``)
    whole (:func:`grouped_folds`), scored by clip-level macro F1; the chosen setting is then
    refitted on train + validation (scaled with their own statistics). Larger corpora keep the
    single validation split (``"split"``: :func:`fit_model`), which is then big enough and
    ``n_splits`` times cheaper. The test split is never seen either way.

    What is chosen: SVC ``C`` and ``gamma``, random-forest ``max_features`` and
    ``min_samples_leaf``, logistic-regression ``C``, and the MLP's number of epochs (the median
    of the best epochs of early stopping in each fold; the final MLP trains that long on train
    + validation).

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, model selection).

    Parameters
    ----------
    kind : {"mlp", "svc", "rf", "logreg"}
    train_ds : TabularDataset
    val_ds : TabularDataset, optional
        Built with ``train_ds.derive``.
    selection : {"auto", "cv", "split"}
    groups : dict clip -> group, optional
        E.g. the artist of each clip (``audio_file``), read with :func:`read_groups`.
    n_splits : int
    grid : list of dict, optional
        The settings to cross-validate (default: the grids of :func:`fit_svc`,
        :func:`fit_random_forest` and :func:`fit_logreg`); not used for the MLP.
    seed : int
    n_jobs : int
        Worker processes of the random forest.
    log : callable, optional
        Receives a line per fold and setting.

    Returns
    -------
    model : GenreClassifier
        ``model.info["selection"]`` says how the setting was chosen, ``["params"]`` which it
        is, ``["cv_f1_macro"]`` its cross-validated clip-level macro F1 (CV only; for the
        MLP, of networks trained for the chosen number of epochs on each fold's training
        part).

    Raises
    ------
    ModelError
        On an unknown ``kind`` or ``selection``, and as :func:`fit_model`.
    """
    if kind in SPECTROGRAM_KINDS:
        raise ModelError(f"{kind} models are early-stopped on the validation split: use "
                         "fit_spectrogram_model (or train_on_folder)")
    if kind not in MODEL_KINDS:
        raise ModelError(f"unknown model kind {kind!r}; choose from {MODEL_KINDS}")
    if selection not in ("auto", "cv", "split"):
        raise ModelError(f"unknown selection {selection!r}; choose auto, cv or split")
    _check_trainable(train_ds, val_ds)
    log = log or (lambda msg: None)
    n_clips = train_ds.n_clips + (val_ds.n_clips if val_ds is not None else 0)
    if selection == "auto":
        selection = "cv" if n_clips < CV_MAX_CLIPS else "split"
    if selection == "split":
        model = fit_model(kind, train_ds, val_ds, seed=seed, n_jobs=n_jobs)
        model.info["selection"] = ("validation split" if val_ds is not None
                                   else "defaults (no validation split)")
        return model
    full = concat_datasets(train_ds, val_ds) if val_ds is not None else train_ds
    folds = grouped_folds(full, n_splits=n_splits, groups=groups, seed=seed)
    grouped = "artist" if groups else "clip"
    how = (f"{len(folds)}-fold CV over train + validation ({full.n_clips} clips), "
           f"grouped by {grouped}")
    if kind == "mlp":
        epochs = []
        for i, (tr, te) in enumerate(folds, 1):
            fold_train = TabularDataset(full.frame.iloc[tr], label_column=full.label_column,
                                        classes=full.classes,
                                        feature_columns=full.feature_columns)
            _, hist = train_mlp(fold_train, fold_train.derive(full.frame.iloc[te]), seed=seed)
            epochs.append(hist.attrs["best_epoch"])
            log(f"  fold {i}/{len(folds)}: best epoch {epochs[-1]}")
        n_epochs = int(np.median(epochs))
        score = _cv_score_mlp(full, folds, epochs=n_epochs, seed=seed)
        log(f"  {n_epochs} epochs: CV macro F1 {score:.3f}")
        model, _ = train_mlp(full, None, epochs=n_epochs, seed=seed)
        model.info.update({"selection": how, "params": {"epochs": n_epochs},
                           "fold_best_epochs": epochs, "cv_f1_macro": score})
        return model
    best, best_score = None, -np.inf
    for params in grid or _default_grid(kind, full.n_features):
        score = _cv_score_params(kind, params, full, folds, seed=seed, n_jobs=n_jobs)
        log(f"  {params}: CV macro F1 {score:.3f}")
        if score > best_score + 1e-12:
            best, best_score = params, score
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        est = _make_estimator(kind, best, seed=seed, y=full.y, n_jobs=n_jobs).fit(full.X, full.y)
    if kind == "rf":
        est.n_jobs = 1  # predictions of a loaded model stay single-process
    return GenreClassifier(kind, est, list(full.classes), list(full.feature_columns),
                           full.label_column, full.scaler,
                           info={"selection": how, "params": best,
                                 "cv_f1_macro": float(best_score), "seed": seed})


# ---------------------------------------------------------------------------------------------
# Label hierarchies: coarse levels derived from a fine model


def derive_hierarchy(table: pd.DataFrame, fine: str, coarse: str) -> dict[str, str] | None:
    """The parent (``coarse`` class) of every ``fine`` class, when the labels nest.

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, hierarchy).

    Parameters
    ----------
    table : pandas.DataFrame
        An annotations or feature table with both columns (e.g. the training split).
    fine, coarse : str
        Label columns, e.g. ``thr_level_label`` and ``fst_level_label``.

    Returns
    -------
    parents : dict fine class -> coarse class, or None
        None when some fine class occurs under two coarse classes (the levels do not nest),
        or when ``coarse`` does not have fewer classes than ``fine``.
    """
    if fine not in table.columns or coarse not in table.columns or fine == coarse:
        return None
    pairs = table[[fine, coarse]].dropna().astype(str).drop_duplicates()
    if pairs[fine].duplicated().any() or pairs[coarse].nunique() >= pairs[fine].nunique():
        return None
    return dict(zip(pairs[fine].to_numpy(), pairs[coarse].to_numpy(), strict=True))


def coarse_parents(table: pd.DataFrame, level: str) -> dict[str, dict[str, str]]:
    """Every coarser label level of ``table`` that ``level``'s classes determine.

    Parameters
    ----------
    table : pandas.DataFrame
    level : str

    Returns
    -------
    hierarchy : dict coarse level -> {class of ``level``: coarse class}
    """
    out = {}
    for other in label_columns(table):
        parents = derive_hierarchy(table, level, other)
        if parents is not None:
            out[other] = parents
    return out


def derive_proba(proba: np.ndarray, classes: list[str], parents: dict[str, str]
                 ) -> tuple[list[str], np.ndarray]:
    """Coarse-level probabilities from fine ones: each parent gets the sum of its children.

    So a song's levels always agree: the coarse class is the parent of the most probable
    *group* of fine classes, and a prediction is never "Classic" at one level and "Rock" at
    another when the fine prediction is read through the same hierarchy.

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, hierarchy).

    Parameters
    ----------
    proba : np.ndarray [shape=(n, n_fine)]
    classes : list of str [length n_fine]
    parents : dict fine class -> coarse class
        Must name every class in ``classes``.

    Returns
    -------
    coarse_classes : list of str
        Sorted.
    coarse_proba : np.ndarray [shape=(n, n_coarse)]
        Rows sum to what the fine rows summed to (1).
    """
    missing = [c for c in classes if c not in parents]
    if missing:
        raise ModelError(f"the hierarchy names no parent for class(es) {missing}")
    coarse = sorted(set(parents[c] for c in classes))
    M = np.zeros((len(classes), len(coarse)))
    for i, c in enumerate(classes):
        M[i, coarse.index(parents[c])] = 1.0
    return coarse, np.asarray(proba) @ M


# ---------------------------------------------------------------------------------------------
# Evaluation


def _metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    labels = list(range(len(classes)))
    f1_macro = _macro_f1(y_true, y_pred)
    if len(classes) == 2:
        f1 = float(f1_score(y_true, y_pred, labels=labels, pos_label=1, average="binary",
                            zero_division=0))
    else:
        f1 = f1_macro
    report = classification_report(y_true, y_pred, labels=labels, target_names=classes,
                                   output_dict=True, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": f1_macro,
        "f1": f1,
        "report": report,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "classes": list(classes),
        "n": int(len(y_true)),
    }


def evaluate(model: GenreClassifier, dataset, *, level: str | None = None,
             aggregate: str = "mean", data_dir: str | os.PathLike | None = None,
             n_jobs: int = 1, progress: bool = False) -> dict:
    """Metrics of a model on a dataset (a TabularDataset, a DataFrame or a features CSV), per clip.

    A segment table is scored per **clip**: each clip's prediction is the mean of its
    segments' class probabilities (:func:`predict_clips`). A dataset built another way (e.g.
    with its own scaler) is rebuilt with the model's feature columns, classes and training
    statistics before it is scored. With ``level``, a coarser label level is scored from this
    model's predictions through its hierarchy (:func:`derive_proba`).

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    model : GenreClassifier
    dataset : TabularDataset, pandas.DataFrame or path-like
        The split to score: e.g. ``train_ds.derive(test_table)``, a test table, or
        ``ccmusic/test`` (its ``features.csv``). It needs the model's label column and
        feature columns (and ``level``).
    level : str, optional
        A coarser label column of ``model.hierarchy`` to score instead of the model's own.
    aggregate : {"mean", "vote"}
        How segments are pooled per clip.
    data_dir, n_jobs, progress
        Spectrogram models only, as in :func:`predict_clips`.

    Returns
    -------
    metrics : dict
        ``accuracy``; ``f1_macro`` (over the classes that occur in the split or its
        predictions); ``f1`` (binary: the F1 of the positive class ``classes[1]``, as the study
        reported; otherwise the macro F1); ``report`` (per-class precision, recall, F1 and
        support); ``confusion_matrix`` (rows true, columns predicted, in the order of
        ``classes``); ``classes``; ``n`` (clips scored); ``n_segments`` (table rows scored:
        ``n`` for a whole-clip table; a spectrogram model reads whole clips, so ``n`` too);
        ``level`` (the label column scored). A spectrogram model adds ``n_crops``: the crops
        of each clip whose probabilities it averages (:func:`bag_of_songs.cnn.crop_starts`)
        and ``crop_seconds``, their length.

    Raises
    ------
    ModelError
        When ``model`` is not a GenreClassifier, or the table lacks a feature or the label
        column, holds a non-finite value or a missing label, has a label not among
        ``model.classes``, or ``level`` is not in the model's hierarchy.
    FileNotFoundError
        When a path holds no ``features.csv``.
    """
    if not isinstance(model, GenreClassifier):
        raise ModelError(f"expected a GenreClassifier, got {type(model).__name__}")
    if model.kind in SPECTROGRAM_KINDS:
        frame = _table_of(dataset)
        codes = _clip_frame(frame)[1]
        clips, proba, y_true = predict_clips(model, frame, data_dir=data_dir, n_jobs=n_jobs,
                                             progress=progress)
    else:
        ds = _as_model_dataset(model, dataset)
        frame, codes = ds.frame, pd.factorize(pd.Series(ds.clips, dtype=object))[0]
        clips, proba, y_true = predict_clips(model, ds, aggregate=aggregate)
    if y_true is None:
        raise ModelError(f"the table has no label column {model.label_column!r}")
    classes = list(model.classes)
    if level is not None and level != model.label_column:
        if level not in model.hierarchy:
            raise ModelError(f"{model.label_column!r} does not determine {level!r} (the model's "
                             f"hierarchy has {sorted(model.hierarchy)})")
        if level not in frame.columns:
            raise ModelError(f"the table has no label column {level!r}")
        coarse, proba = derive_proba(proba, classes, model.hierarchy[level])
        truth = frame[level].astype(str).groupby(codes).first().to_numpy()
        unknown = sorted(set(truth) - set(coarse))
        if unknown:
            raise ModelError(f"label(s) {unknown} in {level!r} are not among {coarse}")
        y_true = np.array([coarse.index(t) for t in truth])
        classes = coarse
    metrics = _metrics(y_true, proba.argmax(axis=1), classes)
    spectrogram = model.kind in SPECTROGRAM_KINDS
    metrics["n_segments"] = metrics["n"] if spectrogram else int(len(frame))
    metrics["level"] = level or model.label_column
    if spectrogram:  # whole clips, each decided by the mean of its crops
        from . import cnn

        spec = cnn.spectrogram_settings(**model.cnn["spectrogram"])
        metrics["n_crops"] = int(len(cnn.crop_starts(cnn.n_frames(spec),
                                                     model.cnn["crop_frames"],
                                                     model.cnn["crop_hop"])))
        metrics["crop_seconds"] = model.cnn["crop_frames"] * spec["hop_length"] / spec["sr"]
    return metrics


# ---------------------------------------------------------------------------------------------
# Saving and loading (safe formats only)

#: The exact types, beyond skops' own trusted defaults, that the scikit-learn models this
#: project saves contain (as ``skops.io.get_untrusted_types`` lists them for a calibrated SVC,
#: the softmax fallback SVC and a random forest; pinned by a test). A file naming any other type
#: is refused before ``skops.io.load`` runs: names are compared whole, never by prefix, since a
#: crafted file can name e.g. ``sklearn.svm._libsvm.__builtins__.eval``.
TRUSTED_SKOPS_TYPES = frozenset({
    "bag_of_songs.models._SoftmaxSVC",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.tree._tree.Tree",
})

#: The part of :data:`TRUSTED_SKOPS_TYPES` each kind's file may name (a tree in an SVC file, or
#: anything in a logistic regression's, is refused).
_TRUSTED_BY_KIND = {
    "svc": frozenset({"bag_of_songs.models._SoftmaxSVC",
                      "sklearn.calibration._CalibratedClassifier",
                      "sklearn.calibration._SigmoidCalibration"}),
    "rf": frozenset({"sklearn.tree._tree.Tree"}),
    "logreg": frozenset(),
}

#: Bounds on a scikit-learn model file (a zip archive), checked before skops opens it: the
#: members' declared (inflated) sizes in total, their number, the size of ``schema.json``, and
#: the compression ratio of a member above 1 MiB and of the whole archive above 64 MiB. skops
#: stores members uncompressed; a forest of 500 trees on a few thousand rows is tens of MB.
_SKOPS_MAX_BYTES = 4 << 30
_SKOPS_MAX_MEMBERS = 100_000
_SKOPS_MAX_SCHEMA_BYTES = 64 << 20
_SKOPS_MAX_RATIO = 200
_SKOPS_MAX_ARCHIVE_RATIO = 20

#: Names of the weights files :func:`save_model` writes: the kind's stem and the first 16 hex
#: digits of the file's SHA-256.
_WEIGHTS_NAME = re.compile(r"^(weights|estimator)-([0-9a-f]{16})\.(pt|skops)$")

#: Feature-extraction settings a model carries (and nothing else from ``features.json``):
#: :data:`bag_of_songs.features.SETTING_KEYS`, the musicnn keys only for an embedding.
_SETTINGS_KEYS = ("sr", "n_fft", "hop_length", "n_mfcc", "stats", "feature_set", "tuning",
                  "segment", "segment_hop", "musicnn_model", "musicnn_layer",
                  "musicnn_settings")


def extraction_settings(settings: dict) -> dict:
    """The feature-extraction part of a table's settings (what a model needs to featurise audio).

    Parameters
    ----------
    settings : dict
        E.g. :func:`bag_of_songs.features.read_feature_settings` of a training split, which
        also holds provenance (hashes, row counts, label columns).

    Returns
    -------
    settings : dict
        Only the keys :func:`predict_file` uses: ``sr, n_fft, hop_length, n_mfcc, stats,
        feature_set, tuning, segment, segment_hop`` (those present).
    """
    return {k: settings[k] for k in _SETTINGS_KEYS if k in settings}


def describe_feature_settings(settings: Mapping) -> str:
    """Feature settings in a few words, e.g. ``feature_set=seed, stats=mean``.

    The feature set and the statistics always; ``n_mfcc``, the segments and the musicnn model
    and layer only when they are set or differ from the defaults.

    Parameters
    ----------
    settings : mapping
        Feature settings (:func:`extraction_settings`, ``features.json``, ``model.settings``).

    Returns
    -------
    text : str

    Examples
    --------
    >>> describe_feature_settings({"feature_set": "seed", "stats": ["mean", "std"]})
    'feature_set=seed, stats=mean,std'
    """
    parts = [f"feature_set={settings.get('feature_set', 'seed')}",
             f"stats={','.join(settings.get('stats') or ['mean'])}"]
    if settings.get("n_mfcc", 13) != 13:
        parts.append(f"n_mfcc={settings['n_mfcc']}")
    if settings.get("segment") is not None:
        parts.append(f"segment={settings['segment']:g} s")
        if settings.get("segment_hop") not in (None, settings["segment"]):
            parts.append(f"segment_hop={settings['segment_hop']:g} s")
    for key in ("musicnn_model", "musicnn_layer"):
        if settings.get(key) is not None:
            parts.append(f"{key}={settings[key]}")
    return ", ".join(parts)


def features_command(data_dir: str | os.PathLike, settings: Mapping) -> str:
    """The ``bag-of-songs features`` command that builds tables with ``settings``.

    Parameters
    ----------
    data_dir : path-like
        The prepared folder.
    settings : mapping
        Feature settings, as for :func:`describe_feature_settings`.

    Returns
    -------
    command : str

    Examples
    --------
    >>> features_command("runs/demo", {"feature_set": "seed", "stats": ["mean"]})
    'bag-of-songs features runs/demo --feature-set seed --stats mean'
    """
    words = ["bag-of-songs features", str(data_dir),
             f"--feature-set {settings.get('feature_set', 'seed')}",
             f"--stats {','.join(settings.get('stats') or ['mean'])}"]
    if settings.get("n_mfcc", 13) != 13:
        words.append(f"--n-mfcc {settings['n_mfcc']}")
    if settings.get("segment") is not None:
        words.append(f"--segment {settings['segment']:g}")
        if settings.get("segment_hop") not in (None, settings["segment"]):
            words.append(f"--segment-hop {settings['segment_hop']:g}")
    if settings.get("musicnn_model") is not None:
        words.append(f"--musicnn-model {settings['musicnn_model']} "
                     f"--musicnn-layer {settings['musicnn_layer']}")
    return " ".join(words)


#: Settings that change the value of a column or what a row covers (not only which columns a
#: table has): a model is refused on a table where one of these differs, even when the table
#: happens to have the model's columns.
_ROW_SETTING_KEYS = ("sr", "n_fft", "hop_length", "tuning", "segment", "segment_hop",
                     "musicnn_settings")


def _check_table_settings(model: GenreClassifier, frame: pd.DataFrame) -> None:
    """Refuse a table built with other feature settings than the model's, naming both.

    Only tables read from a prepared split carry their settings (``read_features``); a table
    without them, and a ``cnn`` (it reads no feature columns), are not checked here. The table
    is refused when it lacks one of the model's columns or differs in a setting of
    :data:`_ROW_SETTING_KEYS`; a table with more statistics than the model's (``mean,std``
    for a ``mean`` model) has the same values in the model's columns and is accepted.
    """
    from .features import feature_settings

    table = frame.attrs.get("feature_settings")
    if not table or not model.settings or not model.feature_columns:
        return
    defaults = feature_settings()  # a key left out means its default
    mine = {**defaults, **extraction_settings(model.settings)}
    table = {**defaults, **table}
    missing = [c for c in model.feature_columns if c not in frame.columns]
    differs = [k for k in _ROW_SETTING_KEYS if mine.get(k) != table.get(k)]
    if not missing and not differs:
        return
    split_dir = frame.attrs.get("split_dir") or "the table"
    data_dir = frame.attrs.get("data_dir") or "DIR"
    what = (f"lacks {len(missing)} of the model's {len(model.feature_columns)} feature columns"
            if missing else f"differs in {', '.join(differs)}")
    raise ModelError(
        f"this model was trained on features with {describe_feature_settings(mine)}; the table "
        f"in {split_dir} was built with {describe_feature_settings(table)} (it {what}): "
        f"re-run `{features_command(data_dir, mine)}` to rebuild the tables with the "
        "model's settings (it replaces them), or evaluate on a folder built with those "
        "settings")


class _MetaError(ModelError):
    pass


#: The most classes and feature columns a saved model may name (far above any real table).
_MAX_WIDTH = 1 << 16


def _strict_json(text: str):
    """json.loads that refuses NaN and infinities (Python's json accepts them by default)."""
    def refuse(name):
        raise ValueError(f"{name} is not a valid JSON number")
    return json.loads(text, parse_constant=refuse)


def _want(cond: bool, field_name: str, why: str) -> None:
    if not cond:
        raise _MetaError(f"field {field_name!r} {why}")


def _int_in(v, field_name: str, lo: int, hi: int) -> int:
    _want(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi, field_name,
          f"must be an integer in {lo}..{hi}, got {v!r}")
    return int(v)


def _float_in(v, field_name: str, lo: float, hi: float) -> float:
    _want(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
          and lo <= v <= hi, field_name, f"must be a finite number in [{lo}, {hi}], got {v!r}")
    return float(v)


def _names(v, field_name: str, *, min_len: int = 1) -> list[str]:
    _want(isinstance(v, list) and len(v) >= min_len
          and all(isinstance(c, str) and c.strip() for c in v), field_name,
          f"must be a list of at least {min_len} non-empty strings")
    _want(len(set(v)) == len(v), field_name, "holds duplicate names")
    return list(v)


def _numbers(v, field_name: str, n: int, *, positive: bool = False,
             non_negative: bool = False) -> np.ndarray:
    _want(isinstance(v, list) and len(v) == n
          and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v),
          field_name, f"must be a list of {n} numbers (one per feature column)")
    a = np.asarray(v, dtype=np.float64)
    _want(bool(np.all(np.isfinite(a))), field_name, "holds a non-finite value")
    if positive:
        _want(bool(np.all(a > 0)), field_name, "must be positive (a zero scale divides by zero)")
    if non_negative:
        _want(bool(np.all(a >= 0)), field_name, "must not be negative")
    return a


def _validate_settings(s) -> dict:
    """Check a model's feature settings: known keys, types, ranges, agreement.

    :func:`bag_of_songs.features.check_settings` (the same check as a table's
    ``features.json``), its error naming the field (``settings.hop_length``).
    """
    from .features import FeatureError, check_settings

    _want(isinstance(s, dict), "settings", "must be a mapping")
    s = {k: v for k, v in s.items() if k != "label_columns"}  # format 1 kept it here
    unknown = sorted(set(s) - set(_SETTINGS_KEYS))
    _want(not unknown, "settings", f"has unknown key(s) {unknown}")
    try:
        s = check_settings(s)
    except FeatureError as exc:
        raise _MetaError(f"field {exc}") from None
    _check_settings_cost(s)
    return s


#: The most values the feature settings of a saved model may make of one clip of the project's
#: length (:data:`bag_of_songs.audio.DURATION`): frames x frequency bins (or mel bands), and
#: segments x frames per segment x rows of a frame feature. Far above any real setting (the
#: defaults make a few percent of it), low enough that no model file can make ``predict``
#: allocate without bound.
MAX_CLIP_VALUES = 1 << 25


def _check_settings_cost(s: dict) -> None:
    """Refuse feature settings whose cost per clip no real model reaches, naming the field."""
    from .audio import DURATION, FRAME_SIZE, HOP_LENGTH

    sr, n_fft = s.get("sr", SAMPLE_RATE), s.get("n_fft", FRAME_SIZE)
    hop = s.get("hop_length", HOP_LENGTH)
    frames = 1 + int(round(sr * DURATION)) // hop
    rows = max(n_fft // 2 + 1, 128)  # STFT bins, or the 128 mel bands of the MFCCs
    if frames * rows > MAX_CLIP_VALUES:
        growth = {"hop_length": HOP_LENGTH / hop, "n_fft": n_fft / FRAME_SIZE,
                  "sr": sr / SAMPLE_RATE}
        key = max(growth, key=growth.get)
        raise _MetaError(f"field 'settings.{key}' ({s.get(key, 'default')}; sr {sr}, n_fft "
                         f"{n_fft}, hop_length {hop}) makes {frames:,} frames x {rows:,} bins "
                         f"per {DURATION:g} s clip, more than a model may ask for "
                         f"({MAX_CLIP_VALUES:,} values)")
    if s.get("segment") is not None:
        n_f = max(1, int(round(s["segment"] * sr / hop)))
        h_f = max(1, int(round((s.get("segment_hop") or s["segment"]) * sr / hop)))
        n_seg = 1 if frames < n_f else 1 + (frames - n_f) // h_f
        width = max(s.get("n_mfcc", 13), 12)  # the widest frame feature (MFCCs or chroma)
        if n_seg * min(n_f, frames) * width > MAX_CLIP_VALUES:
            key = "segment_hop" if s.get("segment_hop") is not None else "segment"
            raise _MetaError(f"field 'settings.{key}' ({s[key]} s; segment {s['segment']} s) "
                             f"makes {n_seg:,} segments of {min(n_f, frames):,} frames per "
                             f"{DURATION:g} s clip, more than a model may ask for "
                             f"({MAX_CLIP_VALUES:,} values)")


def _validate_meta(meta) -> dict:
    """Check every field of a parsed ``model.json``; returns them normalised.

    Raises ``_MetaError`` (a ModelError) naming the first bad field.
    """
    _want(isinstance(meta, dict), "(top level)", "must be a JSON object")
    for key in ("format_version", "kind", "classes", "feature_columns", "label_column",
                "scaler", "weights_file", "weights_sha256"):
        _want(key in meta, key, "is missing")
    _want(meta["format_version"] in (1, _FORMAT_VERSION), "format_version",
          f"must be 1 or {_FORMAT_VERSION} (saved by another version of bag-of-songs?), "
          f"got {meta['format_version']!r}")
    kind = meta["kind"]
    _want(kind in MODEL_KINDS, "kind", f"must be one of {list(MODEL_KINDS)}, got {kind!r}")
    classes = _names(meta["classes"], "classes", min_len=2)
    _want(len(classes) <= _MAX_WIDTH, "classes", f"must name at most {_MAX_WIDTH} classes")
    columns = (_names(meta["feature_columns"], "feature_columns", min_len=0) if kind == "cnn"
               else _names(meta["feature_columns"], "feature_columns"))
    _want(len(columns) <= _MAX_WIDTH, "feature_columns",
          f"must name at most {_MAX_WIDTH} columns")
    _want(kind != "cnn" or not columns, "feature_columns", "must be empty for a cnn model")
    label = meta["label_column"]
    _want(isinstance(label, str) and label.strip() != "", "label_column",
          "must be a non-empty string")
    sc = meta["scaler"]
    d = len(columns)
    if kind == "cnn":
        _want(sc is None, "scaler", "must be null for a cnn model (it reads no features)")
        scaler = None
    else:
        _want(isinstance(sc, dict), "scaler", "must be a mapping")
        for key in ("mean", "scale", "var", "n_samples_seen"):
            _want(key in sc, f"scaler.{key}", "is missing")
        scaler = StandardScaler()
        scaler.mean_ = _numbers(sc["mean"], "scaler.mean", d)
        scaler.scale_ = _numbers(sc["scale"], "scaler.scale", d, positive=True)
        scaler.var_ = _numbers(sc["var"], "scaler.var", d, non_negative=True)
        scaler.n_samples_seen_ = _int_in(sc["n_samples_seen"], "scaler.n_samples_seen", 1,
                                         1 << 40)
        scaler.n_features_in_ = d
    settings = _validate_settings(meta.get("settings", {}))
    info = meta.get("info", {})
    _want(isinstance(info, dict), "info", "must be a mapping")
    hierarchy = meta.get("hierarchy", {})
    _want(isinstance(hierarchy, dict), "hierarchy", "must be a mapping")
    for level, parents in hierarchy.items():
        where = f"hierarchy.{level}"
        _want(level != label and isinstance(parents, dict), where,
              "must map each class to its parent at a coarser level")
        _want(sorted(parents) == sorted(classes), where, f"must name a parent for exactly the "
              f"classes {classes}")
        _want(all(isinstance(v, str) and v.strip() for v in parents.values()), where,
              "must have non-empty class names as parents")
    name = meta["weights_file"]
    m = _WEIGHTS_NAME.match(name) if isinstance(name, str) else None
    torch_kind = kind == "mlp" or kind in SPECTROGRAM_KINDS
    stem = "weights" if torch_kind else "estimator"
    _want(m is not None and m.group(1) == stem, "weights_file",
          f"must be a file name {stem}-<16 hex digits>.{'pt' if torch_kind else 'skops'} "
          f"inside the model folder, got {name!r}")
    digest = meta["weights_sha256"]
    _want(isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest) is not None
          and digest.startswith(m.group(2)), "weights_sha256",
          "must be the 64-digit SHA-256 of the weights file (its first 16 digits name it)")
    arch = meta.get("architecture", {})
    _want(isinstance(arch, dict), "architecture", "must be a mapping")
    config = None
    if kind in SPECTROGRAM_KINDS:
        from . import cnn

        _want("cnn" in meta, "cnn", "is missing (the spectrogram model's settings)")
        try:
            config = cnn.check_model_config(meta["cnn"])
        except cnn.CNNError as exc:
            raise _MetaError(f"field 'cnn' is invalid: {exc}") from None
        _want(arch == config["architecture"], "architecture",
              "must equal cnn.architecture")
        want = "HybridNet" if kind == "hybrid" else "SpectrogramCNN"
        _want(arch.get("class") == want, "architecture.class",
              f"must be {want} for a {kind} model, got {arch.get('class')!r}")
        _want(arch.get("n_classes") == len(classes), "architecture.n_classes",
              f"must equal the {len(classes)} classes, got {arch.get('n_classes')!r}")
        if kind == "hybrid":
            _want(arch.get("n_tab") == d, "architecture.n_tab",
                  f"must equal the {d} feature columns, got {arch.get('n_tab')!r}")
    elif kind == "mlp":
        n_out = 1 if len(classes) == 2 else len(classes)
        _want(arch.get("n_features") == d, "architecture.n_features",
              f"must equal the {d} feature columns, got {arch.get('n_features')!r}")
        _want(arch.get("n_outputs") == n_out, "architecture.n_outputs",
              f"must be {n_out} for {len(classes)} classes, got {arch.get('n_outputs')!r}")
    elif meta["format_version"] >= 2:
        _want(arch.get("n_features") == d, "architecture.n_features",
              f"must equal the {d} feature columns, got {arch.get('n_features')!r}")
        _want(arch.get("n_classes") == len(classes), "architecture.n_classes",
              f"must equal the {len(classes)} classes, got {arch.get('n_classes')!r}")
    return {"kind": kind, "classes": classes, "feature_columns": columns, "label_column": label,
            "scaler": scaler, "settings": settings, "info": info, "hierarchy": hierarchy,
            "architecture": arch, "cnn": config,
            "weights_file": name, "weights_sha256": digest}


def _read_meta(meta_path: Path) -> dict:
    try:
        raw = _strict_json(meta_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{meta_path}: unreadable model metadata ({exc})") from exc
    try:
        return _validate_meta(raw)
    except _MetaError as exc:
        raise ModelError(f"{meta_path}: invalid model metadata: {exc}") from None


def _is_own_weights(p: Path) -> bool:
    """A weights file this project wrote: named by its kind and its own checksum."""
    m = _WEIGHTS_NAME.match(p.name)
    return bool(m) and p.is_file() and sha256_file(p).startswith(m.group(2))


def _remove_stale_temp_files(path: Path) -> None:
    """Temporary files a killed :func:`save_model` left (only the names it gives them)."""
    for p in path.iterdir():
        n = p.name
        if p.is_file() and (re.fullmatch(r"\.(weights|estimator)\.staged\.(pt|skops)", n)
                            or re.fullmatch(r"\.(weights|estimator)\.staged\.(pt|skops)\.\w+\.tmp", n)
                            or re.fullmatch(r"\.model\.json\.\w+\.tmp", n)):
            p.unlink(missing_ok=True)


def check_model_folder(path: str | os.PathLike) -> str | None:
    """Check that a folder can take a saved model: new, empty, or a model saved before.

    Cleans the temporary files a killed :func:`save_model` left there. Used by
    :func:`save_model`, and by ``bag-of-songs train`` before it trains.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    weights_file : str or None
        The weights file the folder's ``model.json`` names (None for a new or empty folder).

    Raises
    ------
    ModelError
        When ``path`` is a file, a non-empty folder that is not a saved model, or holds a
        ``model.json`` this project did not write.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ModelError(f"{path}: exists and is not a folder; choose a folder for the model")
    if not path.exists():
        parent = next(p for p in path.absolute().parents if p.exists())
        if not parent.is_dir():
            raise ModelError(f"{path}: cannot create the model folder, {parent} is a file")
        return None
    _remove_stale_temp_files(path)
    meta_path = path / "model.json"
    if meta_path.exists():
        try:
            previous = _strict_json(meta_path.read_text())
            name = previous["weights_file"]
            ok = isinstance(name, str) and _WEIGHTS_NAME.match(name) is not None
        except (ValueError, UnicodeDecodeError, KeyError, TypeError):
            ok, name = False, None
        if not ok:
            raise ModelError(f"{meta_path}: not a model.json written by bag-of-songs; refusing "
                             "to save over it (choose another folder)")
        return name
    others = sorted(p.name for p in path.iterdir() if not _is_own_weights(p))
    if others:
        raise ModelError(f"{path}: the folder is not empty and is not a saved model (it holds "
                         f"{others[:5]}); choose an empty or new folder")
    return None


def save_model(model: GenreClassifier, path: str | os.PathLike) -> Path:
    """Save a model as a folder: ``model.json`` (metadata) plus the weights.

    MLP weights are a torch ``state_dict`` (``weights-<sha>.pt``, loaded with
    ``weights_only=True``); scikit-learn models go through ``skops.io``
    (``estimator-<sha>.skops``), which loads without running arbitrary code. The scaler is
    stored as JSON numbers. The JSON records the weights file's SHA-256, so a truncated or
    altered file is refused on load. Saving over an existing model is atomic: until the new
    ``model.json`` is in place, the old model loads unchanged.

    Only files this project wrote are ever replaced: the weights file the previous
    ``model.json`` names, weights files named by their own checksum (left by a save that was
    killed), and the temporary files of a killed save. A folder that holds anything else and
    no ``model.json`` is refused.

    See ``notebooks/3-models-prediction.ipynb`` (section 6: ``bag-of-songs predict`` uses a
    saved model; the notebook keeps its models in memory).

    Parameters
    ----------
    model : GenreClassifier
    path : path-like
        The model folder (created if needed): new, empty, or a model saved before.

    Returns
    -------
    path : Path
        The model folder.

    Raises
    ------
    ModelError
        When ``path`` is a file, or a non-empty folder that is not a saved model.
    """
    path = Path(path)
    previous = check_model_folder(path)
    path.mkdir(parents=True, exist_ok=True)
    if model.kind in SPECTROGRAM_KINDS:
        stem, ext = "weights", ".pt"
        write = lambda tmp: torch.save(model.estimator.state_dict(), tmp)  # noqa: E731
        arch = dict(model.cnn["architecture"])
    elif model.kind == "mlp":
        stem, ext = "weights", ".pt"
        write = lambda tmp: torch.save(model.estimator.state_dict(), tmp)  # noqa: E731
        arch = {"n_features": len(model.feature_columns),
                "n_outputs": 1 if len(model.classes) == 2 else len(model.classes)}
    else:
        import skops.io as sio

        stem, ext = "estimator", ".skops"
        write = lambda tmp: sio.dump(model.estimator, tmp)  # noqa: E731
        arch = {"n_features": len(model.feature_columns), "n_classes": len(model.classes)}
    # The weights go to a file named by its checksum and model.json is replaced last, so a
    # crash at any point leaves the previous model (JSON and weights) whole.
    staged = path / f".{stem}.staged{ext}"
    atomic_write(staged, write)
    digest = sha256_file(staged)
    weights = path / f"{stem}-{digest[:16]}{ext}"
    os.replace(staged, weights)
    meta = {
        "format_version": _FORMAT_VERSION,
        "kind": model.kind,
        "classes": list(model.classes),
        "feature_columns": list(model.feature_columns),
        "label_column": model.label_column,
        "scaler": None if model.scaler is None else {
            "mean": model.scaler.mean_.tolist(), "scale": model.scaler.scale_.tolist(),
            "var": model.scaler.var_.tolist(),
            "n_samples_seen": int(np.max(model.scaler.n_samples_seen_))},
        "settings": extraction_settings(model.settings),
        "info": model.info,
        "hierarchy": model.hierarchy,
        "architecture": arch,
        "weights_file": weights.name,
        "weights_sha256": digest,
    }
    if model.kind in SPECTROGRAM_KINDS:
        meta["cnn"] = model.cnn
    _validate_meta(_strict_json(json.dumps(meta)))  # never write a file load_model refuses
    atomic_write(path / "model.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2, allow_nan=False)))
    # Now the new model is in place: remove the weights of the model it replaced, and any
    # orphan a killed save left (files named by their own checksum), nothing else.
    for old in path.iterdir():
        if old.name != weights.name and (old.name == previous or _is_own_weights(old)):
            old.unlink()
    return path


def _check_skops_archive(path: Path) -> None:
    """Refuse a skops file (a zip archive) that would inflate beyond any real model.

    Reads only the archive's directory (declared sizes), never a member, so a zip bomb is
    refused without being inflated.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot load the scikit-learn model: not a readable skops "
                         f"file ({exc})") from exc
    if len(infos) > _SKOPS_MAX_MEMBERS:
        raise ModelError(f"{path}: the archive holds {len(infos):,} members, more than the "
                         f"{_SKOPS_MAX_MEMBERS:,} a model may have; refusing it")
    total = sum(i.file_size for i in infos)
    if total > _SKOPS_MAX_BYTES:
        raise ModelError(f"{path}: the archive declares {total:,} bytes once inflated, more "
                         f"than the {_SKOPS_MAX_BYTES:,} a model may have; refusing it")
    for i in infos:
        if i.filename == "schema.json" and i.file_size > _SKOPS_MAX_SCHEMA_BYTES:
            raise ModelError(f"{path}: its schema.json declares {i.file_size:,} bytes, more "
                             f"than the {_SKOPS_MAX_SCHEMA_BYTES:,} a model may have")
        if i.file_size > 1 << 20 and i.file_size > _SKOPS_MAX_RATIO * max(i.compress_size, 1):
            raise ModelError(f"{path}: member {i.filename!r} inflates {i.compress_size:,} bytes "
                             f"to {i.file_size:,} (a zip bomb?); refusing it")
    size = path.stat().st_size
    if total > 64 << 20 and total > _SKOPS_MAX_ARCHIVE_RATIO * size:
        raise ModelError(f"{path}: the archive inflates {size:,} bytes to {total:,} (a zip "
                         "bomb?); refusing it")


def _check_torch_weights(path: Path, state_bytes: int, n_tensors: int, kind: str) -> None:
    """Refuse a torch weights file whose stored tensors do not add up to the architecture's.

    Reads only the zip archive's directory: the sum of the sizes of the stored tensors
    (``<archive>/data/<key>``, stored uncompressed by ``torch.save``) must equal what the
    architecture in ``model.json`` implies, so that ``model.json`` cannot make the loader build
    a network larger than the file it was saved with.
    """
    import zipfile

    what = f"{path}: cannot load the {'MLP' if kind == 'mlp' else kind} weights"
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelError(f"{what}: not a torch weights file ({exc})") from exc
    if len(infos) > 4 * n_tensors + 16:
        raise ModelError(f"{what}: the file holds {len(infos):,} members, not the {n_tensors} "
                         "tensors of the architecture in model.json")
    data = [i for i in infos if re.fullmatch(r"[^/]+/data/\d+", i.filename)]
    if any(i.compress_type != zipfile.ZIP_STORED or i.compress_size != i.file_size
           for i in infos):
        raise ModelError(f"{what}: the file holds compressed members; torch.save writes none")
    stored = sum(i.file_size for i in data)
    pickled = sum(i.file_size for i in infos if i.filename.endswith("/data.pkl"))
    if pickled > 1 << 20:
        raise ModelError(f"{what}: its data.pkl declares {pickled:,} bytes, far more than a "
                         "state_dict of tensors takes")
    if stored != state_bytes:
        raise ModelError(f"{what}: the file stores {stored:,} bytes of tensors but the field "
                         f"'architecture' in model.json implies {state_bytes:,}; the two do not "
                         "belong together")


def _fail(weights: Path, field_name: str, why: str):
    raise ModelError(f"{weights}: the estimator's {field_name} {why}; refusing the file")


def _int_attr(obj, name: str, weights: Path, where: str) -> int:
    v = getattr(obj, name, None)
    if not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_)):
        _fail(weights, f"{where}{name}", f"must be an integer, got {type(v).__name__}")
    return int(v)


def _array_attr(obj, name: str, weights: Path, where: str, *, shape=None, kind: str = "if",
                finite: bool = True) -> np.ndarray:
    """An ndarray attribute of a loaded estimator, of the dtype kind and shape expected."""
    a = getattr(obj, name, None)
    if not isinstance(a, np.ndarray) or a.dtype.kind not in kind:
        _fail(weights, f"{where}{name}", f"must be a numeric array, got {type(a).__name__}")
    if shape is not None and a.shape != tuple(shape):
        _fail(weights, f"{where}{name}", f"has shape {a.shape}, not {tuple(shape)}")
    if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
        _fail(weights, f"{where}{name}", "holds non-finite values")
    return a


def _check_tree(tree, n_features: int, n_classes: int, weights: Path, where: str) -> None:
    """Check a loaded ``sklearn.tree._tree.Tree`` before scikit-learn follows its indices.

    scikit-learn reads ``nodes[child]`` and ``X[i, feature]`` without bounds checks, and
    ``Tree.__setstate__`` checks only the arrays' dtypes and shapes. Here, with numpy on whole
    arrays: ``node_count`` equals the nodes held; each internal node's children lie after it
    and before ``node_count`` (so the tree has no cycle), every node but the root is the child
    of exactly one node, leaves are ``-1/-1``, the features of splits lie in
    ``0..n_features - 1``, thresholds and values are finite, and ``max_depth`` is the depth.
    """
    from sklearn.tree._tree import Tree

    if type(tree) is not Tree:
        _fail(weights, f"{where}tree_", f"is a {type(tree).__name__}, not a Tree")
    n = _int_attr(tree, "node_count", weights, where)
    capacity = _int_attr(tree, "capacity", weights, where)
    if not 1 <= n == capacity:  # before any array is read: they are views of node_count nodes
        _fail(weights, f"{where}node_count", f"is {n} but the tree holds {capacity} nodes")
    if _int_attr(tree, "n_features", weights, where) != n_features:
        _fail(weights, f"{where}n_features", f"is {tree.n_features}, not {n_features}")
    if (_int_attr(tree, "n_outputs", weights, where) != 1
            or _int_attr(tree, "max_n_classes", weights, where) != n_classes
            or tree.n_classes.tolist() != [n_classes]):
        _fail(weights, f"{where}n_classes", f"must be [{n_classes}] with one output")
    left, right = tree.children_left, tree.children_right
    feature, threshold, value = tree.feature, tree.threshold, tree.value
    if not len(left) == len(right) == len(feature) == len(threshold) == len(value) == n:
        _fail(weights, f"{where}node_count", "differs from the length of the node arrays")
    if value.shape != (n, 1, n_classes):
        _fail(weights, f"{where}value", f"has shape {value.shape}, not {(n, 1, n_classes)}")
    leaf = left == -1
    if not np.array_equal(leaf, right == -1):
        _fail(weights, f"{where}children_left/right", "hold a node with one child (a leaf is "
              "-1/-1)")
    idx = np.arange(n)
    internal = ~leaf
    parents, li, ri = idx[internal], left[internal], right[internal]
    if ((li <= parents) | (li >= n) | (ri <= parents) | (ri >= n)).any():
        _fail(weights, f"{where}children_left/right", "hold a child index that is not after "
              f"its node and below node_count {n}")
    children = np.concatenate([li, ri])
    if len(children) != n - 1 or not np.array_equal(np.bincount(children, minlength=n),
                                                    np.r_[0, np.ones(n - 1, dtype=np.intp)]):
        _fail(weights, f"{where}children_left/right", "do not form a tree (a node is the "
              "child of several nodes, or of none)")
    f = feature[internal]
    if ((f < 0) | (f >= n_features)).any():
        _fail(weights, f"{where}feature", f"holds a split on a feature outside 0..{n_features - 1}")
    if not np.isfinite(threshold[internal]).all():
        _fail(weights, f"{where}threshold", "holds non-finite values")
    if not np.isfinite(value).all():
        _fail(weights, f"{where}value", "holds non-finite values")
    # Depth by pointer jumping (parents come before their children, so it ends).
    parent = np.zeros(n, dtype=np.intp)
    parent[li], parent[ri] = parents, parents
    depth = (idx > 0).astype(np.int64)
    while parent.any():
        depth += depth[parent]
        parent = parent[parent]
    if _int_attr(tree, "max_depth", weights, where) != int(depth.max()):
        _fail(weights, f"{where}max_depth", f"is {tree.max_depth} but the tree is "
              f"{int(depth.max())} deep")


def _check_forest(est, n_features: int, weights: Path) -> None:
    """Every tree of a loaded random forest, and the forest's own attributes."""
    from sklearn.tree import DecisionTreeClassifier

    trees = getattr(est, "estimators_", None)
    if not isinstance(trees, list) or not trees:
        _fail(weights, "estimators_", "must be a non-empty list of trees")
    if _int_attr(est, "n_estimators", weights, "") != len(trees):
        _fail(weights, "n_estimators", f"is {est.n_estimators} but the forest holds "
              f"{len(trees)} trees")
    n_classes = len(est.classes_)
    if _int_attr(est, "n_classes_", weights, "") != n_classes:
        _fail(weights, "n_classes_", f"is {est.n_classes_}, not the {n_classes} classes_")
    if _int_attr(est, "n_outputs_", weights, "") != 1:
        _fail(weights, "n_outputs_", "must be 1")
    est.n_jobs = 1  # predictions of a loaded model stay single-process
    for i, t in enumerate(trees):
        where = f"estimators_[{i}]."
        if type(t) is not DecisionTreeClassifier:
            _fail(weights, f"estimators_[{i}]", f"is a {type(t).__name__}, not a decision tree")
        if (_int_attr(t, "n_features_in_", weights, where) != n_features
                or _int_attr(t, "n_outputs_", weights, where) != 1
                or _int_attr(t, "n_classes_", weights, where) != n_classes):
            _fail(weights, f"estimators_[{i}]", f"must take {n_features} features and give "
                  f"{n_classes} classes with one output")
        classes = _array_attr(t, "classes_", weights, where, shape=(n_classes,))
        if not np.array_equal(classes, np.arange(n_classes)):
            _fail(weights, f"{where}classes_", "must be the class indices 0..n_classes - 1")
        _check_tree(getattr(t, "tree_", None), n_features, n_classes, weights, where)


def _check_libsvm(svc, n_features: int, weights: Path, where: str) -> None:
    """The arrays a loaded SVC hands to libsvm, which indexes them without bounds checks."""
    from sklearn.svm import SVC

    if type(svc) is not SVC:
        _fail(weights, where.rstrip("."), f"is a {type(svc).__name__}, not an SVC")
    if svc.kernel != "rbf" or getattr(svc, "_sparse", None) is not False:
        _fail(weights, f"{where}kernel", "must be a dense 'rbf' kernel (as bag-of-songs fits)")
    if svc._impl != "c_svc" or getattr(svc, "_effective_probability", False) is not False:
        _fail(weights, f"{where}_impl", "must be a C-SVC without libsvm probabilities")
    if _int_attr(svc, "fit_status_", weights, where) != 0:
        _fail(weights, f"{where}fit_status_", "must be 0 (a fitted SVC)")
    if _int_attr(svc, "n_features_in_", weights, where) != n_features:
        _fail(weights, f"{where}n_features_in_", f"must be {n_features}")
    shape_fit = getattr(svc, "shape_fit_", None)
    if (not isinstance(shape_fit, tuple) or len(shape_fit) != 2
            or not all(isinstance(v, (int, np.integer)) for v in shape_fit)
            or shape_fit[1] != n_features or shape_fit[0] < 1):
        _fail(weights, f"{where}shape_fit_", f"must be (n_samples, {n_features})")
    sv = _array_attr(svc, "support_vectors_", weights, where, kind="f")
    if sv.ndim != 2 or sv.shape[1] != n_features or len(sv) < 1:
        _fail(weights, f"{where}support_vectors_", f"has shape {sv.shape}, not (n_SV, "
              f"{n_features})")
    n_sv = len(sv)
    n_class = len(_array_attr(svc, "classes_", weights, where))
    n_pairs = n_class * (n_class - 1) // 2
    support = _array_attr(svc, "support_", weights, where, shape=(n_sv,), kind="i")
    if ((support < 0) | (support >= shape_fit[0])).any():
        _fail(weights, f"{where}support_", f"holds indices outside 0..{shape_fit[0] - 1}")
    n_support = _array_attr(svc, "_n_support", weights, where, shape=(n_class,), kind="i")
    if (n_support < 0).any() or int(n_support.sum()) != n_sv:
        _fail(weights, f"{where}n_support_", f"must be counts adding up to the {n_sv} support "
              "vectors")
    _array_attr(svc, "_dual_coef_", weights, where, shape=(n_class - 1, n_sv), kind="f")
    _array_attr(svc, "_intercept_", weights, where, shape=(n_pairs,), kind="f")
    _array_attr(svc, "class_weight_", weights, where, shape=(n_class,), kind="f")
    for name in ("_probA", "_probB"):
        a = _array_attr(svc, name, weights, where, kind="f")
        if a.shape not in ((0,), (n_pairs,)):
            _fail(weights, f"{where}{name}", f"has shape {a.shape}")
    for name in ("_gamma", "coef0", "degree", "cache_size"):
        v = getattr(svc, name, None)
        if (not isinstance(v, (int, float, np.number)) or isinstance(v, bool)
                or not np.isfinite(v) or not 0 <= v <= 1e6 and name != "coef0"):
            _fail(weights, f"{where}{name}", f"must be a finite number, got {v!r}")


def _check_svc(est, n_features: int, weights: Path) -> None:
    """A calibrated SVC (or the softmax fallback) and the SVC inside it."""
    from sklearn.calibration import _CalibratedClassifier, _SigmoidCalibration

    if isinstance(est, _SoftmaxSVC):
        _check_libsvm(getattr(est, "svc", None), n_features, weights, "svc.")
        if not np.array_equal(np.asarray(est.classes_), est.svc.classes_):
            _fail(weights, "classes_", "differ from the SVC's")
        return
    inner = getattr(est, "calibrated_classifiers_", None)
    if not isinstance(inner, list) or len(inner) != 1:
        _fail(weights, "calibrated_classifiers_", "must be a list of one calibrated SVC")
    cal = inner[0]
    if type(cal) is not _CalibratedClassifier:
        _fail(weights, "calibrated_classifiers_[0]", "is not a calibrated classifier")
    _check_libsvm(getattr(cal, "estimator", None), n_features, weights,
                  "calibrated_classifiers_[0].estimator.")
    n_class = len(cal.estimator.classes_)
    calibrators = getattr(cal, "calibrators", None)
    if (not isinstance(calibrators, list) or len(calibrators) != (1 if n_class == 2 else n_class)
            or any(type(c) is not _SigmoidCalibration for c in calibrators)):
        _fail(weights, "calibrators", "must be one sigmoid calibration per class")
    for c in calibrators:
        if not all(isinstance(getattr(c, k, None), (float, np.floating))
                   and np.isfinite(getattr(c, k)) for k in ("a_", "b_")):
            _fail(weights, "calibrators", "must hold finite a_ and b_")
    if not np.array_equal(np.asarray(cal.classes), np.asarray(est.classes_)):
        _fail(weights, "calibrated_classifiers_[0].classes", "differ from classes_")


def _check_logreg(est, n_features: int, weights: Path) -> None:
    n_class = len(est.classes_)
    rows = 1 if n_class == 2 else n_class
    _array_attr(est, "coef_", weights, "", shape=(rows, n_features), kind="f")
    _array_attr(est, "intercept_", weights, "", shape=(rows,), kind="f")


def _check_estimator(kind: str, est, n_classes: int, n_features: int, weights: Path) -> None:
    """The object skops built is one of this project's model types, shaped like model.json."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    allowed = {"svc": (CalibratedClassifierCV, _SoftmaxSVC), "rf": (RandomForestClassifier,),
               "logreg": (LogisticRegression,)}
    if type(est) not in allowed[kind]:
        raise ModelError(f"{weights}: holds a {type(est).__module__}.{type(est).__name__}, not a "
                         f"{kind} model of bag-of-songs; refusing it")
    classes_ = np.asarray(getattr(est, "classes_", []))
    if (classes_.ndim != 1 or len(classes_) < 1 or not np.issubdtype(classes_.dtype, np.integer)
            or classes_.min() < 0 or classes_.max() >= n_classes):
        raise ModelError(f"{weights}: the estimator's classes {classes_.tolist()[:10]} are not "
                         f"indices of the {n_classes} classes in model.json")
    n_in = getattr(est, "n_features_in_", None)
    if kind == "svc" and isinstance(est, _SoftmaxSVC):
        n_in = getattr(est.svc, "n_features_in_", None)
    if n_in != n_features:
        raise ModelError(f"{weights}: the model takes {n_in} features but model.json lists "
                         f"{n_features} feature columns")
    {"rf": _check_forest, "svc": _check_svc, "logreg": _check_logreg}[kind](
        est, n_features, weights)


def load_model(path: str | os.PathLike) -> GenreClassifier:
    """Load a model saved by :func:`save_model`.

    Nothing in the folder can run code: ``model.json`` is checked field by field (types,
    ranges, lengths that match the weights), the weights file against its SHA-256, MLP weights
    are read with ``torch.load(weights_only=True)``, and a scikit-learn file is opened with
    ``skops.io`` only when every type it names is in :data:`TRUSTED_SKOPS_TYPES` (or skops'
    own safe defaults); the object it gives must be one of this project's model types.

    Nothing in the folder can make it allocate without bound or crash: the feature and
    spectrogram settings' cost per clip, and a network's parameter count, are bounded
    (:data:`MAX_CLIP_VALUES`, :data:`bag_of_songs.cnn.MAX_PARAMETERS`); a network's size must
    equal the tensors its weights file stores, read from the archive's directory before any
    module is built; a skops archive's declared sizes are bounded before it is opened (no zip
    bomb); and every index array that scikit-learn or libsvm follows without bounds checks
    (each tree's nodes and features, an SVC's support vectors) is checked before any
    prediction.

    See ``notebooks/3-models-prediction.ipynb`` (section 6: ``bag-of-songs predict`` uses a
    saved model; the notebook keeps its models in memory).

    Parameters
    ----------
    path : path-like
        The model folder (``model.json`` and the weights file it names).

    Returns
    -------
    model : GenreClassifier
        Ready for :func:`predict_file` and :func:`evaluate`, with the feature settings saved
        with it.

    Raises
    ------
    ModelError
        When the folder or its files are missing, truncated, altered or invalid (the message
        names the field), or hold types that are not on the trusted list.
    """
    path = Path(path)
    meta_path = path / "model.json"
    if not meta_path.exists():
        raise ModelError(f"{path}: not a saved model (no model.json)")
    m = _read_meta(meta_path)
    kind, classes, columns = m["kind"], m["classes"], m["feature_columns"]
    weights = path / m["weights_file"]
    if not weights.is_file():
        raise ModelError(f"{weights}: missing weights file")
    if sha256_file(weights) != m["weights_sha256"]:
        raise ModelError(f"{weights}: the file does not match the checksum in model.json "
                         "(truncated or altered); refusing to load it")
    if kind in SPECTROGRAM_KINDS:
        from . import cnn

        size = cnn.architecture_size(m["architecture"])
        _check_torch_weights(weights, size["state_bytes"], size["tensors"], kind)
        est = cnn.build_from_architecture(m["architecture"])
        try:
            state = torch.load(weights, weights_only=True, map_location="cpu")
            est.load_state_dict(state)
        except Exception as exc:
            raise ModelError(f"{weights}: cannot load the {kind} weights ({exc})") from exc
        if not all(torch.isfinite(t).all() for t in est.state_dict().values()
                   if t.is_floating_point()):
            raise ModelError(f"{weights}: the {kind} weights hold non-finite values")
        est.eval()
    elif kind == "mlp":
        arch = m["architecture"]
        d, n_out = arch["n_features"], arch["n_outputs"]
        n_params = d * 128 + 128 + 128 * 64 + 64 + 64 * n_out + n_out
        _check_torch_weights(weights, 4 * n_params, 6, kind)
        est = MLP(d, n_out)
        try:
            state = torch.load(weights, weights_only=True, map_location="cpu")
            est.load_state_dict(state)
        except Exception as exc:
            raise ModelError(f"{weights}: cannot load the MLP weights ({exc})") from exc
        if not all(torch.isfinite(t).all() for t in est.state_dict().values()):
            raise ModelError(f"{weights}: the MLP weights hold non-finite values")
        est.eval()
    else:
        import skops.io as sio

        _check_skops_archive(weights)
        try:
            untrusted = sio.get_untrusted_types(file=weights)
        except Exception as exc:
            raise ModelError(f"{weights}: cannot load the scikit-learn model: not a readable "
                             f"skops file ({exc})") from exc
        refused = sorted(set(untrusted) - _TRUSTED_BY_KIND[kind])
        if refused:
            raise ModelError(f"{weights}: refusing to load untrusted type(s) {refused}: a "
                             "model saved by bag-of-songs holds none of them")
        try:
            est = sio.load(weights, trusted=sorted(untrusted))
        except Exception as exc:
            raise ModelError(f"{weights}: cannot load the scikit-learn model ({exc})") from exc
        _check_estimator(kind, est, len(classes), len(columns), weights)
    return GenreClassifier(kind, est, classes, columns, m["label_column"], m["scaler"],
                           settings=m["settings"], info=m["info"], hierarchy=m["hierarchy"],
                           cnn=m["cnn"])


# ---------------------------------------------------------------------------------------------
# Prediction of new audio


def featurize_file(model: GenreClassifier, path: str | os.PathLike) -> np.ndarray:
    """The scaled feature rows of an audio file, as the model's training table had them.

    One row for a whole-clip model; one per segment for a segment model. Uses
    :func:`~bag_of_songs.data.load_audio` and
    :func:`~bag_of_songs.features.extract_with_settings` (the function that built the
    table's rows) with the model's feature settings; a model trained on a musicnn table
    embeds the audio with the same network, checked against the checkpoint SHA-256 recorded
    with the model.

    Parameters
    ----------
    model : GenreClassifier
    path : path-like

    Returns
    -------
    X : np.ndarray [shape=(n_rows, n_features), dtype=float32]

    Raises
    ------
    AudioLoadError
        When the file cannot be decoded.
    ModelError
        When the model's settings are invalid, its musicnn checkpoint is not installed or is
        not the one it was trained with, or its columns are not among those produced.
    """
    from .features import EmbeddingError, FeatureError, check_settings, extract_with_settings

    try:
        s = check_settings(extraction_settings(model.settings or {}))
    except FeatureError as exc:
        raise ModelError(f"the model's feature settings are invalid: {exc}") from None
    y = load_audio(path, sr=int(s.get("sr", SAMPLE_RATE)))
    try:
        rows = extract_with_settings(y, s)
    except EmbeddingError as exc:
        raise ModelError(f"cannot featurise {path} as the model's training table: {exc}"
                         ) from None
    table = pd.DataFrame([rows]) if isinstance(rows, dict) else rows
    missing = [c for c in model.feature_columns if c not in table.columns]
    if missing:
        raise ModelError(f"the model expects feature(s) {missing[:5]} that these settings do "
                         "not produce")
    x = table[list(model.feature_columns)].to_numpy(dtype=np.float64)
    return model.scaler.transform(x).astype(np.float32)


def predict_file(model: GenreClassifier | str | os.PathLike, path: str | os.PathLike, *,
                 levels: str | list[str] | None = None, aggregate: str = "mean") -> dict:
    """Genre probabilities for any audio file.

    Runs :func:`~bag_of_songs.data.load_audio`, :func:`~bag_of_songs.features.extract_features`
    with the model's feature settings (a segment model featurises every segment and averages
    their class probabilities, as :func:`predict_clips`), the model's scaler and the model.

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    model : GenreClassifier or path of a saved model
    path : path-like
        Any audio file soundfile decodes (wav, flac, ogg, mp3).
    levels : None, "all", str or list of str
        None: the model's own level only. ``"all"``: the model's level and every coarser
        level of its hierarchy; a level name or a list of them: the model's level and those.
        The coarse levels are derived from the same probabilities (:func:`derive_proba`) and
        all levels are decided top-down (:func:`decide_levels`), so the answers always agree
        (a song is never "Classic" at one level and "Rock" at another).
    aggregate : {"mean", "vote"}
        How a segment model pools its segments.

    Returns
    -------
    answers : dict level -> {"genre": str, "probabilities": dict class -> probability}
        The same shape whatever ``levels`` is: one entry per level, the model's level
        (``model.label_column``) first, each with its answer and its class probabilities,
        most likely first. ``predict_file(model, path)[model.label_column]["probabilities"]``
        are the model's own class probabilities.

    Examples
    --------
    >>> answer = predict_file("runs/demo/models/svc-label", "song.mp3")  # doctest: +SKIP
    >>> answer["label"]["genre"], answer["label"]["probabilities"]  # doctest: +SKIP
    ('rock', {'rock': 0.71, 'pop': 0.2, ...})

    Raises
    ------
    AudioLoadError
        When the file cannot be decoded.
    ModelError
        When a saved model cannot be loaded, expects features its settings do not produce, or
        a level is not in its hierarchy.
    """
    if not isinstance(model, GenreClassifier):
        model = load_model(model)
    if model.kind in SPECTROGRAM_KINDS:
        from . import cnn

        tab = featurize_file(model, path).mean(axis=0) if model.kind == "hybrid" else None
        proba = cnn.predict_file_proba(model.estimator, path, model.cnn, tab=tab)[None]
    else:
        X = featurize_file(model, path)
        _, proba = _pool(model.predict_proba(X), np.zeros(len(X), dtype=object), aggregate)

    def ranked(classes, p):
        order = np.argsort(-p, kind="stable")
        return {classes[i]: float(p[i]) for i in order}

    if levels is None:
        wanted = []
    elif levels == "all":
        wanted = list(model.hierarchy)
    else:
        wanted = [levels] if isinstance(levels, str) else list(levels)
    unknown = [lv for lv in wanted if lv != model.label_column and lv not in model.hierarchy]
    if unknown:
        raise ModelError(f"the {model.label_column!r} model does not determine level(s) "
                         f"{unknown} (its hierarchy: {sorted(model.hierarchy)})")
    hierarchy = {lv: model.hierarchy[lv] for lv in wanted if lv != model.label_column}
    decided = decide_levels(proba[0], model.classes, hierarchy, level=model.label_column)
    out = {model.label_column: {"genre": decided[model.label_column],
                                "probabilities": ranked(model.classes, proba[0])}}
    for lv, parents in hierarchy.items():
        coarse, p = derive_proba(proba, model.classes, parents)
        out[lv] = {"genre": decided[lv], "probabilities": ranked(coarse, p[0])}
    return out


def decide_levels(proba: np.ndarray, classes: list[str], hierarchy: dict[str, dict[str, str]],
                  *, level: str = "fine") -> dict[str, str]:
    """One answer per label level that always agree: decided top-down, coarsest level first.

    Each coarse class scores the sum of its fine classes' probabilities (:func:`derive_proba`);
    the coarsest level takes its best class, the next level its best class among those that
    agree with the levels above, and so on down to the fine level, whose answer is the most
    probable fine class under all the coarse answers. So a song is never "Classic" at one level
    and "Rock" at another. The fine answer can differ from the fine argmax: with Solo 0.23,
    Symphony 0.14 (Classic 0.37) against four Non_classic classes of 0.15 each (0.63), the
    answer is Non_classic and its best child, not Solo.

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, hierarchy).

    Parameters
    ----------
    proba : np.ndarray [shape=(n_fine,)]
        One clip's fine-level probabilities.
    classes : list of str [length n_fine]
    hierarchy : dict level -> {fine class: parent}
        The coarse levels (e.g. ``model.hierarchy``).
    level : str
        The name of the fine level (e.g. ``model.label_column``).

    Returns
    -------
    answers : dict level -> class
        The coarse levels, coarsest first, then ``level``.

    Examples
    --------
    >>> parents = {"Solo": "Classic", "Symphony": "Classic", "Pop": "Non_classic",
    ...            "Rock": "Non_classic", "Dance": "Non_classic", "Indie": "Non_classic"}
    >>> decide_levels(np.array([0.23, 0.14, 0.15, 0.16, 0.16, 0.16]),
    ...               ["Solo", "Symphony", "Pop", "Rock", "Dance", "Indie"],
    ...               {"fst_level_label": parents}, level="sec_level_label")
    {'fst_level_label': 'Non_classic', 'sec_level_label': 'Rock'}
    """
    proba = np.asarray(proba, dtype=np.float64)
    keep = np.ones(len(classes), dtype=bool)
    answers = {}
    for coarse in sorted(hierarchy, key=lambda lv: len(set(hierarchy[lv].values()))):
        parents = hierarchy[coarse]
        scores: dict[str, float] = {}
        for i, c in enumerate(classes):
            if keep[i]:
                scores[parents[c]] = scores.get(parents[c], 0.0) + proba[i]
        best = max(sorted(scores), key=lambda k: scores[k])
        answers[coarse] = best
        keep &= np.array([parents[c] == best for c in classes])
    fine = np.where(keep, proba, -np.inf).argmax()
    return {**answers, level: classes[int(fine)]}


# ---------------------------------------------------------------------------------------------
# Training on a prepared data folder, and the comparison table


def available_levels(table: pd.DataFrame) -> list[str]:
    """Label columns of a features table that have at least two classes (coarse to fine).

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5); notebook 2 also uses it.

    Parameters
    ----------
    table : pandas.DataFrame
        A features or annotations table (e.g. from :func:`read_features`).

    Returns
    -------
    levels : list of str
        In the order of :func:`bag_of_songs.data.label_columns`: the CCMusic levels present
        (``fst_level_label``, ``sec_level_label``, ``thr_level_label``), ``label``, then any
        other label column. Empty when no label column has two classes.
    """
    return [c for c in label_columns(table) if table[c].nunique() >= 2]


def read_clip_groups(data_dir: str | os.PathLike, group_by: str, *,
                     manifest: str | os.PathLike | None = None) -> dict[str, str]:
    """The group (e.g. artist) of every prepared clip, for grouped cross-validation.

    Read from a column ``group_by`` of the splits' ``annotations.csv`` when they have one;
    otherwise from a manifest CSV with ``path`` (the clip's ``source``, relative to the source
    folder, e.g. ``rock/001.mp3``) and ``group_by`` (e.g. ``../shared/data/emotify-dev/
    manifest.csv``): ``manifest``, or the one ``prepare --group-by`` recorded in
    ``prepare.json``.

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, model selection).

    Parameters
    ----------
    data_dir : path-like
        A prepared folder.
    group_by : str
        E.g. ``artist``.
    manifest : path-like, optional

    Returns
    -------
    groups : dict audio_file -> group
        Clips the manifest does not list are left out (each is then a group of its own).

    Raises
    ------
    ModelError
        When neither the annotations nor a manifest has the column.
    """
    from .data import read_annotations

    out: dict[str, str] = {}
    names = None
    for split in list_splits(data_dir):
        ann = read_annotations(Path(data_dir) / split)
        if group_by in ann.columns:
            out.update(zip(ann["audio_file"].to_numpy(), ann[group_by].to_numpy(), strict=True))
            continue
        if manifest is None:
            run = _prepare_record(data_dir)
            manifest = run.get("manifest") if run.get("group_column") == group_by else None
        if manifest is None:
            raise ModelError(f"{Path(data_dir) / split / 'annotations.csv'} has no column "
                             f"{group_by!r}; pass the manifest that has it (--manifest)")
        if names is None:
            from .data import read_groups

            try:
                names = read_groups(manifest, group_column=group_by)
            except Exception as exc:
                raise ModelError(str(exc)) from exc
        for f, src in zip(ann["audio_file"].to_numpy(), ann["source"].to_numpy(), strict=True):
            if src in names:
                out[f] = names[src]
    return out


def load_splits(data_dir: str | os.PathLike, *, label_column: str, seed: int = 0,
                val_fraction: float = 0.15, groups: dict | None = None):
    """Train and validation datasets from ``data_dir/{train,validation}/features.csv``.

    Both tables are checked against their splits' annotations and against each other
    (:func:`bag_of_songs.features.check_feature_tables`): a stale table, or tables built with
    other settings, are refused with a message that says to re-run ``features``. When there is
    no validation split, a ``val_fraction`` of train is held out (seeded, stratified, and
    grouped: a clip's segments, and a group's clips, stay on one side) for early stopping and
    model selection. The classes are those of train and validation: the test split never shapes
    the model.

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    data_dir : path-like
        A prepared folder with ``train/features.csv`` (and ideally
        ``validation/features.csv``).
    label_column : str
        The label level to learn, e.g. ``fst_level_label``.
    seed : int
        Seed of the hold-out (only used without a validation split).
    val_fraction : float in (0, 1)
        Share of train held out when there is no validation split.
    groups : dict clip -> group, optional
        Keep groups whole in that hold-out.

    Returns
    -------
    train_ds, val_ds : TabularDataset
        ``val_ds`` is built with ``train_ds.derive``: scaled with the training statistics.
    settings : dict
        The feature settings of the training table.

    Raises
    ------
    FileNotFoundError
        When there is no ``train/features.csv``.
    StaleFeaturesError
        When a table is stale, or the two were built with other settings.
    ModelError
        When the training table has no column ``label_column``, or a table is unreadable,
        has a missing label or holds a non-finite value.
    """
    from .features import check_feature_tables

    data_dir = Path(data_dir)
    if not (data_dir / "train" / "features.csv").exists():
        raise FileNotFoundError(f"{data_dir / 'train' / 'features.csv'}: no feature table; run "
                                f"`bag-of-songs features {data_dir}` first")
    has_val = (data_dir / "validation" / "features.csv").exists()
    settings = check_feature_tables(data_dir, ["train", "validation"] if has_val
                                    else ["train"])["train"]
    train = read_features(data_dir / "train")
    if label_column not in train.columns:
        raise ModelError(f"{data_dir / 'train' / 'features.csv'} has no column {label_column!r}; "
                         f"label columns present: {available_levels(train)}")
    val = read_features(data_dir / "validation") if has_val else None
    train_ds, val_ds = _split_datasets(train, val, label_column=label_column, seed=seed,
                                       val_fraction=val_fraction, groups=groups)
    return train_ds, val_ds, settings


def _split_datasets(train: pd.DataFrame, val: pd.DataFrame | None, *, label_column: str,
                    seed: int, val_fraction: float, groups: dict | None
                    ) -> tuple[TabularDataset, TabularDataset]:
    """load_splits' datasets from tables in memory (``val`` None: a grouped hold-out)."""
    if val is None:
        pool = TabularDataset(train, label_column=label_column)
        n_splits = max(2, int(round(1 / val_fraction)))
        try:
            tr, va = grouped_folds(pool, n_splits=n_splits, groups=groups, seed=seed)[0]
        except ModelError:  # classes too small to stratify: a grouped random hold-out
            from sklearn.model_selection import GroupShuffleSplit

            g = row_groups(pool, groups)
            tr, va = next(GroupShuffleSplit(test_size=val_fraction, random_state=seed)
                          .split(pool.X, groups=g))
        train, val = train.iloc[tr], train.iloc[va]
    # Classes from train and validation only: the test split never shapes the model.
    classes = sorted(set(train[label_column].dropna().astype(str))
                     | set(val[label_column].dropna().astype(str)))
    train_ds = TabularDataset(train, label_column=label_column, classes=classes)
    return train_ds, train_ds.derive(val)


def train_on_folder(data_dir: str | os.PathLike, *, kind: str, label_column: str,
                    seed: int = 0, n_jobs: int = -1, selection: str = "auto",
                    groups: dict | None = None, log=None,
                    spectrogram_options: dict | None = None, progress: bool = False
                    ) -> tuple[GenreClassifier, pd.DataFrame | None]:
    """Fit one model on a prepared folder's train (and validation) split.

    Hyper-parameters are chosen by :func:`select_model` (grouped cross-validation over train +
    validation for small corpora, the validation split for large ones). The model carries the
    feature settings of the table and the label hierarchy of the training labels.

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, through
    :func:`compare_models`).

    Parameters
    ----------
    data_dir : path-like
        A folder with ``train/features.csv`` (and ideally ``validation/features.csv``).
    kind : {"mlp", "svc", "rf", "logreg", "cnn", "hybrid"}
    label_column : str
    seed : int
    n_jobs : int
        Worker processes of the random forest (and of a spectrogram cache being built).
    selection : {"auto", "cv", "split"}
        See :func:`select_model`.
    groups : dict clip -> group, optional
        E.g. artists (:func:`read_clip_groups`), kept whole in every fold.
    log : callable, optional
    spectrogram_options : dict, optional
        For ``cnn`` and ``hybrid``: keywords of :func:`fit_spectrogram_model` (``epochs``,
        ``patience``, ``crops_per_clip``, ``device``, ``spectrogram``). These kinds are always
        early-stopped on held-out clips (``selection`` does not apply): the validation split,
        or, without one, a seeded hold-out of train (:func:`load_splits`). With ``groups``, no group is on both sides:
        when the validation split shares a group with train, the held-out clips are drawn
        from train + validation instead, keeping every group whole (``info["selection"]``
        says which).
    progress : bool
        Show a progress bar while a spectrogram cache is built (``cnn``, ``hybrid``).

    Returns
    -------
    model : GenreClassifier
        With the feature settings of the training table; ``model.info["trained_on"]`` records
        what it was trained on (:func:`training_record`).
    history : pandas.DataFrame or None
        The MLP's training history when it was early-stopped on the validation split (None
        otherwise).
    """
    record = training_record(data_dir, kind=kind, label_column=label_column, seed=seed,
                             selection=selection, groups=groups,
                             spectrogram_options=spectrogram_options)
    train_ds, val_ds, settings = load_splits(data_dir, label_column=label_column, seed=seed,
                                             groups=groups)
    if kind in SPECTROGRAM_KINDS:
        has_val = (Path(data_dir) / "validation" / "features.csv").exists()
        train_ds, val_ds, how = _spectrogram_hold_out(kind, train_ds, val_ds, has_val=has_val,
                                                      groups=groups, seed=seed, log=log)
        options = {k: v for k, v in (spectrogram_options or {}).items() if k != "progress"}
        model, history = fit_spectrogram_model(kind, train_ds, val_ds, data_dir=data_dir,
                                               seed=seed, n_jobs=n_jobs, log=log,
                                               progress=progress, **options)
        model.info["selection"] = how
        model.settings = extraction_settings(settings) if kind == "hybrid" else {}
        model.hierarchy = coarse_parents(pd.concat([train_ds.frame, val_ds.frame]),
                                         label_column)
    else:
        model, history = _fit_tabular(kind, train_ds, val_ds, settings,
                                      label_column=label_column, seed=seed, n_jobs=n_jobs,
                                      selection=selection, groups=groups, log=log)
    model.info["trained_on"] = record
    return model, history


def _spectrogram_hold_out(kind: str, train_ds: TabularDataset, val_ds: TabularDataset, *,
                          has_val: bool, groups: dict | None, seed: int, log
                          ) -> tuple[TabularDataset, TabularDataset, str]:
    """The clips a spectrogram model is early-stopped on, with groups kept whole.

    Returns the training and held-out datasets and how they were drawn (for
    ``info["selection"]``)."""
    log = log or (lambda msg: None)
    if not has_val:  # load_splits held out part of train, grouped when groups are given
        return train_ds, val_ds, ("grouped hold-out of train (early stopping), no group on "
                                  "both sides" if groups else "hold-out of train (early stopping)")
    if not groups:
        return train_ds, val_ds, "validation split (early stopping)"

    def group_set(ds):
        return {groups[f] for f in ds.frame["audio_file"].astype(str) if f in groups}

    shared = group_set(train_ds) & group_set(val_ds)
    if not shared:
        log(f"{kind}: early stopping on the validation split, which shares no group with "
            "train")
        return train_ds, val_ds, ("validation split (early stopping), no group in both train "
                                  "and validation")
    log(f"{kind}: {len(shared)} group(s) are in both train and validation (e.g. "
        f"{sorted(map(str, shared))[0]!r}); early stopping on a grouped hold-out of train + "
        "validation instead, no group on both sides")
    pooled = pd.concat([train_ds.frame, val_ds.frame], ignore_index=True)
    tr, va = _split_datasets(pooled, None, label_column=train_ds.label_column, seed=seed,
                             val_fraction=0.15, groups=groups)
    return tr, va, ("grouped hold-out of train + validation (early stopping), no group on "
                    "both sides")


def training_record(data_dir: str | os.PathLike, *, kind: str, label_column: str,
                    seed: int = 0, selection: str = "auto", groups: dict | None = None,
                    spectrogram_options: dict | None = None) -> dict:
    """What a model trained by :func:`train_on_folder` is trained on, to tell later whether
    a saved model is still up to date (``compare_models`` reuses it when it is).

    Parameters
    ----------
    data_dir : path-like
        The prepared folder, with current feature tables.
    kind, label_column, seed, selection, groups, spectrogram_options
        As for :func:`train_on_folder`.

    Returns
    -------
    record : dict (JSON)
        ``kind``, ``label_column``, ``seed``; ``tables``: for train (and validation) the
        SHA-256 of ``features.csv`` and ``annotations.csv`` as ``features.json`` records
        them; ``feature_settings`` (:func:`extraction_settings`); ``selection`` (the rule asked
        for, tabular kinds) or ``spectrogram`` (the options that shape training, without the
        device, spectrogram kinds); ``groups_sha256`` (of the clip groups, or None); and the
        ``version`` of bag_of_songs.
    """
    from ._version import __version__

    data_dir = Path(data_dir)
    splits = ["train"] + (["validation"] if (data_dir / "validation" / "features.csv").exists()
                          else [])
    metas = {sp: read_feature_settings(data_dir / sp) for sp in splits}
    options = None
    if kind in SPECTROGRAM_KINDS:
        options = {k: v for k, v in (spectrogram_options or {}).items()
                   if k not in ("device", "progress")}
    digest = None
    if groups:
        import hashlib

        text = json.dumps(sorted((str(k), str(v)) for k, v in groups.items()))
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    record = {"kind": kind, "label_column": label_column, "seed": seed,
              "tables": {sp: {"features_sha256": m.get("features_sha256"),
                              "annotations_sha256": m.get("annotations_sha256")}
                         for sp, m in metas.items()},
              "feature_settings": extraction_settings(metas["train"]),
              "selection": selection if kind not in SPECTROGRAM_KINDS else None,
              "spectrogram": options, "groups_sha256": digest, "version": __version__}
    return json.loads(json.dumps(record, default=str))


def _saved_if_current(path: Path, record: dict, log) -> GenreClassifier | None:
    """The model saved in ``path`` when its ``trained_on`` record is ``record``; else None,
    saying why it will be replaced (nothing when there is no model yet; the caller says that
    one is reused)."""
    name = path.name
    if not (path / "model.json").exists():
        return None
    try:
        saved = _strict_json((path / "model.json").read_text())
        info = saved.get("info") if isinstance(saved, dict) else None
        same = isinstance(info, dict) and info.get("trained_on") == record
    except (OSError, ValueError, UnicodeDecodeError):
        same = False
    if same:
        try:
            model = load_model(path)
        except (ModelError, OSError) as exc:
            log(f"replacing model {name} (it cannot be loaded: {exc})")
            return None
        return model
    log(f"replacing model {name} (trained on other data/settings)")
    return None


def _fit_tabular(kind: str, train_ds: TabularDataset, val_ds: TabularDataset, settings: dict, *,
                 label_column: str, seed: int, n_jobs: int, selection: str,
                 groups: dict | None, log) -> tuple[GenreClassifier, pd.DataFrame | None]:
    """train_on_folder for the table kinds: selection by the rule, settings and hierarchy."""
    history = None
    if kind == "mlp" and selection != "cv" and not (
            selection == "auto" and train_ds.n_clips + val_ds.n_clips < CV_MAX_CLIPS):
        model, history = train_mlp(train_ds, val_ds, seed=seed)
        model.info["selection"] = "validation split"
    else:
        model = select_model(kind, train_ds, val_ds, selection=selection, groups=groups,
                             seed=seed, n_jobs=n_jobs, log=log)
    model.settings = extraction_settings(settings)
    model.hierarchy = coarse_parents(pd.concat([train_ds.frame, val_ds.frame]), label_column)
    return model, history


def _prepare_record(data_dir: str | os.PathLike) -> dict:
    """What ``prepare`` recorded of the run that wrote the train split (``prepare.json``)."""
    try:
        meta = json.loads((Path(data_dir) / "prepare.json").read_text())
        runs = meta.get("splits", {})
        return runs.get("train") or next(iter(runs.values()), {})
    except (OSError, ValueError, AttributeError, StopIteration):
        return {}


def describe_split_rule(data_dir: str | os.PathLike) -> str:
    """How a prepared folder's splits were drawn, read from its ``prepare.json``.

    Parameters
    ----------
    data_dir : path-like
        A prepared folder.

    Returns
    -------
    rule : str
        ``"grouped by <column>"`` (e.g. artist: no group on both sides), ``"stratified by
        clip"`` (fractions, clip by clip), ``"one source per split"`` (``--split``), or
        ``"the dataset's own splits"``; ``"unknown"`` without a readable ``prepare.json``.
    """
    run = _prepare_record(data_dir)
    if not run:
        return "unknown"
    if run.get("group_column"):
        return f"grouped by {run['group_column']}"
    if run.get("split"):
        return "one source per split"
    if run.get("splits"):
        return "stratified by clip"
    return "the dataset's own splits"


def compare_models(data_dir: str | os.PathLike, *, levels: list[str] | None = None,
                   kinds: tuple[str, ...] = DEFAULT_KINDS, split: str = "test", seed: int = 0,
                   models_dir: str | os.PathLike | None = None, n_jobs: int = -1,
                   selection: str = "auto", groups: dict | None = None, derived: bool = True,
                   log=None, spectrogram_options: dict | None = None, force: bool = False,
                   progress: bool = False) -> pd.DataFrame:
    """Train every model kind on every label level and evaluate on ``split``, per clip.

    Where the levels nest (CCMusic's three levels; a folder whose genres map to Classic /
    Non_classic), the coarser levels are also scored as **derived** from the finest level's
    model (:func:`derive_proba`: the sum of each parent's child probabilities), beside the
    models trained on them directly.

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    data_dir : path-like
        A prepared folder with ``train`` (and ideally ``validation``) and ``split`` feature
        tables.
    levels : list of str, optional
        Label columns; default: all with at least two classes.
    kinds : tuple of str
    split : str
        The split evaluated (never used for training or selection).
    seed : int
    models_dir : path-like, optional
        Where to save each model (``<models_dir>/<kind>-<level>``). A model saved there before
        whose ``info["trained_on"]`` is what this call would train it on
        (:func:`training_record`: the same tables, settings, seed, selection rule, groups and
        version) is loaded and scored instead of trained again (``log`` says "model
        <kind>-<level>: up to date, reused"); any other is replaced, and ``log`` says so.
    n_jobs : int
        Worker processes of the random forest.
    selection : {"auto", "cv", "split"}
        How hyper-parameters are chosen (:func:`select_model`).
    groups : dict clip -> group, optional
        Groups (e.g. artists) kept whole in every cross-validation fold.
    derived : bool
        Add the rows of coarse levels derived from the finest level's models.
    log : callable, optional
        Receives a progress line before and after each model.
    spectrogram_options : dict, optional
        For the ``cnn`` and ``hybrid`` kinds, see :func:`train_on_folder`.
    force : bool
        Train every model, even one saved in ``models_dir`` that is up to date.
    progress : bool
        Show a progress bar while a spectrogram cache is built.

    Returns
    -------
    results : pandas.DataFrame
        One row per (level, model, derived_from): ``level, model, derived_from`` (the fine
        level a derived row comes from, else empty), ``n_classes, n_test`` (clips),
        ``accuracy, f1_macro, f1``, ``selection`` (how the hyper-parameters were chosen) and
        ``split_rule`` (how the splits were drawn, :func:`describe_split_rule`).
    """
    from .features import check_feature_tables

    log = log or (lambda msg: None)
    data_dir = Path(data_dir)
    if split not in list_splits(data_dir) or not (data_dir / split / "features.csv").exists():
        present = [s for s in list_splits(data_dir) if (data_dir / s / "features.csv").exists()]
        raise FileNotFoundError(f"{data_dir / split / 'features.csv'}: no feature table to "
                                f"evaluate on (splits with features: {present})")
    unknown = [k for k in kinds if k not in MODEL_KINDS]
    if unknown or not kinds:
        raise ModelError(f"unknown model kind(s) {unknown}; choose from {MODEL_KINDS}")
    present = [s for s in ("train", "validation", split) if (data_dir / s / "features.csv")
               .exists()]
    check_feature_tables(data_dir, list(dict.fromkeys(present)))
    train = read_features(data_dir / "train")
    levels = levels or available_levels(train)
    if not levels:
        raise ModelError(f"{data_dir}: no label column with at least two classes")
    test = read_features(data_dir / split)

    def reuse(level, kind):
        if models_dir is None or force:
            return None
        record = training_record(data_dir, kind=kind, label_column=level, seed=seed,
                                 selection=selection, groups=groups,
                                 spectrogram_options=spectrogram_options)
        return _saved_if_current(Path(models_dir) / f"{kind}-{level}", record, log)

    def fit(level, kind):
        path = Path(models_dir) / f"{kind}-{level}" if models_dir is not None else None
        model = train_on_folder(data_dir, kind=kind, label_column=level, seed=seed,
                                n_jobs=n_jobs, selection=selection, groups=groups, log=log,
                                spectrogram_options=spectrogram_options, progress=progress)[0]
        if path is not None:
            save_model(model, path)
        return model

    return _compare_rows(fit, train, test, levels=levels, kinds=kinds, split=split,
                         rule=describe_split_rule(data_dir), derived=derived, n_jobs=n_jobs,
                         log=log, progress=progress, reuse=reuse)


def _compare_rows(fit, train: pd.DataFrame, test: pd.DataFrame, *, levels, kinds, split: str,
                  rule: str, derived: bool, n_jobs: int, log, progress: bool = False,
                  reuse=None) -> pd.DataFrame:
    """compare_models' table: ``fit(level, kind)`` trains one model (unless ``reuse(level,
    kind)`` gives a saved one that is up to date); each is scored per clip on ``test``, and
    the coarse levels are also derived from the finest level's models."""
    import time

    finest = max(levels, key=lambda lv: train[lv].nunique())
    rows, fine_models = [], {}
    total, done = len(levels) * len(kinds), 0
    for level in levels:
        for kind in kinds:
            done += 1
            t0 = time.monotonic()
            model = reuse(level, kind) if reuse is not None else None
            if model is None:
                log(f"[{done}/{total}] {level}: training {kind} ...")
                model = fit(level, kind)
                head = (f"[{done}/{total}] {level}: {kind} trained in "
                        f"{time.monotonic() - t0:.1f} s ({model.info.get('selection')})")
            else:
                head = f"[{done}/{total}] model {kind}-{level}: up to date, reused"
            m = evaluate(model, test, n_jobs=n_jobs, progress=progress)
            log(f"{head}; {split} macro F1 {m['f1_macro']:.3f} on "
                f"{m['n']} clip{'s' * (m['n'] != 1)}")
            rows.append({"level": level, "model": kind, "derived_from": "",
                         "n_classes": len(model.classes), "n_test": m["n"],
                         "accuracy": m["accuracy"], "f1_macro": m["f1_macro"], "f1": m["f1"],
                         "selection": model.info.get("selection", ""), "split_rule": rule})
            if level == finest:
                fine_models[kind] = model
    if derived:
        for kind, model in fine_models.items():
            for level in levels:
                if level == finest or level not in model.hierarchy:
                    continue
                m = evaluate(model, test, level=level, n_jobs=n_jobs)
                rows.append({"level": level, "model": kind, "derived_from": finest,
                             "n_classes": len(m["classes"]), "n_test": m["n"],
                             "accuracy": m["accuracy"], "f1_macro": m["f1_macro"],
                             "f1": m["f1"], "selection": model.info.get("selection", ""),
                             "split_rule": rule})
    out = pd.DataFrame(rows)
    out.attrs["finest_level"] = finest
    return out


def compare_feature_sets(data_dir: str | os.PathLike, feature_sets: Mapping[str, Mapping], *,
                         kinds: tuple[str, ...] = ("svc",), levels: list[str] | None = None,
                         split: str = "test", seed: int = 0, n_jobs: int = -1,
                         selection: str = "auto", groups: dict | None = None,
                         derived: bool = True, scheduler=None, progress: bool = False,
                         log=None) -> pd.DataFrame:
    """:func:`compare_models` for several feature settings side by side, tables in memory.

    For each named setting, the ``train``, ``validation`` (when prepared) and ``split`` tables
    are extracted from the prepared clips, all settings in one pass over each split
    (:func:`bag_of_songs.features.extract_setting_tables`: a clip decoded once, the
    embedding of ``musicnn`` and ``seed+musicnn`` computed once; nothing is written: the
    folder's ``features.csv`` tables stay as they are), and every model kind is trained on every
    level and scored per clip exactly as :func:`compare_models` does: the same selection
    rule (:func:`select_model`), a segment table's clips decided by the mean of their
    segments' probabilities, and the coarse levels also derived from the finest level's
    models. So one table answers "which features?" with everything else held equal.

    Explained in ``notebooks/3-models-prediction.ipynb`` (whole-clip vs segments) and
    ``notebooks/5-pretrained-embeddings.ipynb`` (hand-crafted vs musicnn features).

    Parameters
    ----------
    data_dir : path-like
        A prepared folder (``annotations.csv`` and clips per split; no feature table needed).
    feature_sets : mapping name -> mapping
        Display name -> keywords of :func:`~bag_of_songs.features.extract_feature_table`, e.g.
        ``{"clip mean (study)": {}, "3 s segments": {"segment": 3.0},
        "seed+musicnn": {"feature_set": "seed+musicnn"}}``.
    kinds : tuple of str
        Table model kinds (``mlp``, ``svc``, ``rf``, ``logreg``); the spectrogram kinds do not
        read feature tables (compare them with :func:`compare_models`).
    levels : list of str, optional
        Default: every label column of train with at least two classes.
    split, seed, n_jobs, selection, groups, derived
        As for :func:`compare_models` (``n_jobs`` also runs the extraction's workers).
    scheduler : optional
        A Dask scheduler for the extraction (see
        :func:`bag_of_songs.features.build_feature_table`).
    progress : bool
        Progress bars while extracting.
    log : callable, optional
        Receives a line when the tables are extracted and before and after each model.

    Returns
    -------
    results : pandas.DataFrame
        :func:`compare_models`' columns after a first column ``features`` (the names, in
        order): ``features, level, model, derived_from, n_classes, n_test, accuracy,
        f1_macro, f1, selection, split_rule``.

    Raises
    ------
    ModelError
        On an unknown or spectrogram model kind, an empty ``feature_sets``, keywords that
        are not extraction settings, or no label column with two classes.
    FileNotFoundError
        When ``train`` or ``split`` is not prepared.
    """
    import time

    from .features import EXTRACTION_KEYWORDS, FeatureError, extract_setting_tables

    log = log or (lambda msg: None)
    data_dir = Path(data_dir)
    bad = [k for k in kinds if k not in MODEL_KINDS or k in SPECTROGRAM_KINDS]
    if bad or not kinds:
        raise ModelError(f"compare_feature_sets compares table models {TABULAR_KINDS}; got "
                         f"{list(kinds)} (compare the spectrogram kinds with compare_models)")
    if not feature_sets:
        raise ModelError("no feature settings to compare")
    for name, kwargs in feature_sets.items():
        extra = sorted(set(kwargs) - set(EXTRACTION_KEYWORDS))
        if extra:
            raise ModelError(f"feature setting {name!r}: unknown keyword(s) {extra}; choose "
                             f"from {list(EXTRACTION_KEYWORDS)}")
    splits = list_splits(data_dir)
    for needed in ("train", split):
        if needed not in splits:
            raise FileNotFoundError(f"{data_dir / needed / 'annotations.csv'}: split not "
                                    f"prepared (splits: {splits})")
    parts = list(dict.fromkeys(["train", *(["validation"] if "validation" in splits else []),
                                split]))
    names = list(feature_sets)
    t0 = time.monotonic()
    try:
        extracted = {part: extract_setting_tables(
            data_dir / part, [feature_sets[n] for n in names], n_jobs=n_jobs,
            scheduler=scheduler, progress=progress, log=log) for part in parts}
    except FeatureError as exc:
        raise ModelError(str(exc)) from exc
    log(f"{len(names)} feature setting(s) of {len(parts)} split(s) extracted in "
        f"{time.monotonic() - t0:.1f} s")
    rule = describe_split_rule(data_dir)
    frames = []
    for j, name in enumerate(names):
        tables = {part: extracted[part][j] for part in parts}
        train = tables["train"]
        settings = train.attrs["settings"]
        lv = levels or available_levels(train)
        if not lv:
            raise ModelError(f"{data_dir}: no label column with at least two classes")
        val = tables.get("validation")

        def fit(level, kind, train=train, val=val, settings=settings):
            train_ds, val_ds = _split_datasets(train, val, label_column=level, seed=seed,
                                               val_fraction=0.15, groups=groups)
            return _fit_tabular(kind, train_ds, val_ds, settings, label_column=level,
                                seed=seed, n_jobs=n_jobs, selection=selection, groups=groups,
                                log=log)[0]

        rows = _compare_rows(fit, train, tables[split], levels=lv, kinds=kinds, split=split,
                             rule=rule, derived=derived, n_jobs=n_jobs,
                             log=lambda msg, name=name: log(f"{name}: {msg}"))
        rows.insert(0, "features", name)
        frames.append(rows)
    out = pd.concat(frames, ignore_index=True)
    out.attrs["finest_level"] = frames[-1].attrs["finest_level"]
    return out


def best_per_level(results: pd.DataFrame, *, metric: str = "f1_macro") -> pd.DataFrame:
    """The best model of each label level in a :func:`compare_models` table.

    Used in ``notebooks/3-models-prediction.ipynb`` (section 5).

    Parameters
    ----------
    results : pandas.DataFrame [shape=(n_levels * n_models, ...)]
        One row per (level, model), with columns ``level``, ``model`` and ``metric``, as
        returned by :func:`compare_models`.
    metric : str
        The column to maximise (default the macro F1, which weighs every class equally).

    Returns
    -------
    best : pandas.DataFrame [shape=(n_levels, ...)]
        ``results``' rows with the highest ``metric`` of each level, one per level, levels in
        their order in ``results``; on a tie the model listed first wins.

    Raises
    ------
    ModelError
        When ``results`` is empty or lacks a column, or a level has no score.
    """
    missing = [c for c in ("level", "model", metric) if c not in results.columns]
    if missing or results.empty:
        raise ModelError(f"not a comparison table: empty or no column(s) {missing} "
                         f"(columns: {list(results.columns)})")
    scores = results[metric].astype(float)
    unscored = [lv for lv, s in scores.groupby(results["level"], sort=False) if s.isna().all()]
    if unscored:
        raise ModelError(f"no {metric} for level(s) {unscored}")
    best = scores.groupby(results["level"], sort=False).idxmax()
    return results.loc[best.to_numpy()].reset_index(drop=True)
