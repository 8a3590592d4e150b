"""Prediction: a table's clips, and any audio file, through a fitted model.

:func:`predict_clips` gives class probabilities per clip (a segment table's rows pooled by the
mean of their probabilities); :func:`featurize_file` and :func:`predict_file` decode a new file,
featurise it with the model's own settings and answer at every label level asked for, the
levels always agreeing (:func:`~bag_of_songs.models.decide_levels`).

Explained in ``notebooks/3-models-prediction.ipynb`` (sections 5 and 6).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from .._constants import SAMPLE_RATE
from ..audio import load_audio
from ..cnn import predict_file_proba
from ..errors import EmbeddingError, FeatureError, ModelError
from ..features import check_settings, extract_with_settings
from ..features.sklearn import FeatureExtractor
from .classifier import GenreClassifier
from .dataset import TabularDataset, _pool, _same_scaling, read_features
from .feature_settings import _check_table_settings, extraction_settings
from .hierarchy import decide_levels, derive_proba
from .kinds import SPECTROGRAM_KINDS
from .persistence import load_model
from .segments import SegmentClassifier
from .spectrogram import _spectrogram_clips


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


def _uncertain(model: GenreClassifier, proba: np.ndarray) -> bool | None:
    """Whether the most probable class is below the model's uncertainty threshold (chosen on
    held-out predictions at training, ``model.info["uncertainty"]``); None without one."""
    threshold = (model.info.get("uncertainty") or {}).get("threshold")
    return None if threshold is None else bool(float(np.max(proba)) < float(threshold))


def predict_file(model: GenreClassifier | Pipeline | str | os.PathLike,
                 path: str | os.PathLike, *, levels: str | list[str] | None = None,
                 aggregate: str = "mean") -> dict:
    """Genre probabilities for any audio file.

    Runs :func:`~bag_of_songs.data.load_audio`, :func:`~bag_of_songs.features.extract_features`
    with the model's feature settings (a segment model featurises every segment and averages
    their class probabilities, as :func:`predict_clips`), the model's scaler and the model.

    Explained in ``notebooks/3-models-prediction.ipynb``.

    Parameters
    ----------
    model : GenreClassifier, a saved scikit-learn pipeline of audio paths, or a saved model's path
        A pipeline (:func:`load_model` of a pipeline saved with :func:`save_model`: a
        :class:`~bag_of_songs.FeatureExtractor` first, or a
        :class:`~bag_of_songs.SegmentClassifier`, and a classifier with ``predict_proba``)
        answers one level, ``"label"`` (it records no label column and no hierarchy);
        ``"uncertain"`` is None.
    path : path-like
        Any audio file soundfile decodes (wav, flac, ogg, mp3).
    levels : None, "all", str or list of str
        None: the model's own level only. ``"all"``: the model's level and every coarser
        level of its hierarchy; a level name or a list of them: the model's level and those.
        Every coarse level answers the parent of the best fine class (:func:`decide_levels`),
        so the answers always agree (a song is never "Classic" at one level and "Rock" at
        another); its probabilities are the sums of each parent's children
        (:func:`derive_proba`).
    aggregate : {"mean", "vote"}
        How a segment model pools its segments.

    Returns
    -------
    answers : dict level -> {"genre": str, "probabilities": dict class -> probability}
        The same shape whatever ``levels`` is: one entry per level, the model's level
        (``model.label_column``) first, each with its answer and its class probabilities,
        most likely first. ``predict_file(model, path)[model.label_column]["probabilities"]``
        are the model's own class probabilities. ``"uncertain"``: True when the best fine
        probability is below the threshold chosen at training on held-out predictions
        (``model.info["uncertainty"]``: the lowest top probability whose predictions at or
        above it, out of fold, halve the error rate), the same at every level (each level's
        answer comes from the best fine class); None for a model trained without one.

    Examples
    --------
    A model fitted on a table of the default feature columns (random numbers here, a saved
    model's folder in practice: ``predict_file("runs/demo/models/svc-label", "song.mp3")``),
    asked about the demo's synthetic rock clip:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import pandas as pd
    >>> import soundfile as sf
    >>> from bag_of_songs import SAMPLE_RATE
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> from bag_of_songs.features import feature_names
    >>> from bag_of_songs.models import TabularDataset, fit_logreg
    >>> columns = feature_names()
    >>> table = pd.DataFrame(np.random.default_rng(0).normal(size=(8, len(columns))),
    ...                      columns=columns).assign(label=["pop", "rock"] * 4)
    >>> model = fit_logreg(TabularDataset(table))
    >>> path = Path(tempfile.mkdtemp()) / "song.wav"
    >>> sf.write(path, synthesize_demo_clip("rock", 0), SAMPLE_RATE)
    >>> answer = predict_file(model, path)
    >>> list(answer), sorted(answer["label"]["probabilities"])
    (['label'], ['pop', 'rock'])
    >>> answer["label"]["genre"] in ("pop", "rock")
    True

    Raises
    ------
    AudioLoadError
        When the file cannot be decoded.
    ModelError
        When a saved model cannot be loaded, expects features its settings do not produce, or
        a level is not in its hierarchy; when a pipeline takes feature rows rather than audio
        paths, or gives no probabilities.
    """
    if isinstance(model, str | os.PathLike):
        model = load_model(model)
    if not isinstance(model, GenreClassifier):
        if not isinstance(model, Pipeline | SegmentClassifier):
            raise ModelError(f"predict_file takes a GenreClassifier, a saved pipeline or a "
                             f"model folder's path, got {type(model).__name__}")
        return _pipeline_answer(model, path, levels)
    if model.kind in SPECTROGRAM_KINDS:
        tab = featurize_file(model, path).mean(axis=0) if model.kind == "hybrid" else None
        proba = predict_file_proba(model.estimator, path, model.cnn, tab=tab)[None]
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
                                "probabilities": ranked(model.classes, proba[0]),
                                "uncertain": _uncertain(model, proba[0])}}
    for lv, parents in hierarchy.items():
        coarse, p = derive_proba(proba, model.classes, parents)
        out[lv] = {"genre": decided[lv], "probabilities": ranked(coarse, p[0]),
                   "uncertain": out[model.label_column]["uncertain"]}
    return out


#: The level a saved scikit-learn pipeline's answers are filed under (it records no label column).
PIPELINE_LEVEL = "label"


def answer_levels(model) -> tuple[str, list[str], list[str]]:
    """The level, the coarser levels and the classes of :func:`predict_file`'s answers.

    Parameters
    ----------
    model : GenreClassifier, or a saved scikit-learn pipeline (:func:`load_model`)

    Returns
    -------
    level : str
        The model's label column (``"label"`` for a pipeline, which records none).
    coarser : list of str
        The levels its hierarchy determines (none for a pipeline).
    classes : list of str
    """
    if isinstance(model, GenreClassifier):
        return model.label_column, list(model.hierarchy), list(model.classes)
    return PIPELINE_LEVEL, [], [str(c) for c in getattr(model, "classes_", [])]


def _takes_paths(model) -> bool:
    """A pipeline (or segment classifier) whose first step turns audio paths into rows."""
    steps = model.steps if isinstance(model, Pipeline) else [(None, model)]
    first = steps[0][1]
    return isinstance(first, FeatureExtractor | SegmentClassifier)


def _pipeline_answer(pipe, path, levels) -> dict:
    """:func:`predict_file`'s answer from a saved scikit-learn pipeline of audio paths."""
    if not _takes_paths(pipe):
        raise ModelError("this pipeline takes feature rows, not audio files: make it a model "
                         "with GenreClassifier.from_pipeline(pipeline, label_column=..., "
                         "settings=read_feature_settings(train_split)) and save that")
    if not hasattr(pipe, "predict_proba"):
        last = pipe[-1] if isinstance(pipe, Pipeline) else pipe
        raise ModelError(f"this pipeline's {type(last).__name__} gives no "
                         "probabilities (no predict_proba), which predict reports: calibrate "
                         "it (CalibratedClassifierCV) or use pipeline.predict(paths)")
    wanted = [] if levels in (None, "all") else [levels] if isinstance(levels, str) else levels
    unknown = [lv for lv in wanted if lv != PIPELINE_LEVEL]
    if unknown:
        raise ModelError(f"a scikit-learn pipeline answers one level ({PIPELINE_LEVEL!r}), "
                         f"not {unknown}: it records no label hierarchy")
    proba = np.asarray(pipe.predict_proba([os.fspath(path)]), dtype=np.float64)[0]
    classes = answer_levels(pipe)[2]
    order = np.argsort(-proba, kind="stable")
    return {PIPELINE_LEVEL: {"genre": classes[order[0]],
                             "probabilities": {classes[i]: float(proba[i]) for i in order},
                             "uncertain": None}}
