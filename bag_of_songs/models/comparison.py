"""The comparison tables: every kind on every label level, scored per clip on the test split.

:func:`compare_models` trains (or reuses, when up to date) one model per level and kind on a
prepared folder; :func:`compare_feature_sets` does the same for several feature settings side
by side, tables in memory; :func:`best_per_level` picks each level's best row.

Explained in ``notebooks/3-models-prediction.ipynb`` (section 5) and
``notebooks/5-pretrained-embeddings.ipynb``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .._logging import forward_records
from ..data import list_splits
from ..errors import FeatureError, ModelError
from ..features import (
    EXTRACTION_KEYWORDS,
    FeatureSettings,
    check_feature_tables,
    extract_setting_tables,
)
from .classifier import GenreClassifier
from .dataset import read_features
from .evaluation import evaluate
from .folder import _split_datasets, available_levels, describe_split_rule
from .kinds import DEFAULT_KINDS, MODEL_KINDS, SPECTROGRAM_KINDS, TABULAR_KINDS
from .metadata import _strict_json
from .persistence import load_model, save_model
from .training import _fit_tabular, train_on_folder, training_record

logger = logging.getLogger(__name__)


def compare_models(data_dir: str | os.PathLike, *, levels: list[str] | None = None,
                   kinds: tuple[str, ...] = DEFAULT_KINDS, split: str = "test", seed: int = 0,
                   models_dir: str | os.PathLike | None = None, n_jobs: int = -1,
                   selection: str = "auto", groups: dict | None = None, derived: bool = True,
                   log=None, spectrogram_options: dict | None = None, force: bool = False,
                   progress: bool = False) -> pd.DataFrame:
    """Train every model kind on every label level and evaluate on ``split``, per clip.

    Where the levels nest (CCMusic's three levels; a folder whose genres map to Classic /
    Non_classic), the coarser levels are also scored as **derived** from the finest level's
    model (each clip's coarse class is the parent of its best fine class, as
    :func:`~bag_of_songs.models.evaluate` decides a ``level``), beside the models trained on
    them directly.

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
        version) is loaded and scored instead of trained again (an ``INFO`` line says "model
        <kind>-<level>: up to date, reused"); any other is replaced, and the log says so.
    n_jobs : int
        Worker processes of the random forest.
    selection : {"auto", "cv", "split"}
        How hyper-parameters are chosen (:func:`select_model`).
    groups : dict clip -> group, optional
        Groups (e.g. artists) kept whole in every cross-validation fold.
    derived : bool
        Add the rows of coarse levels derived from the finest level's models.
    log : callable, optional
        Deprecated: attach a handler to the ``bag_of_songs`` logger instead. Receives the
        package's log lines (``INFO`` and up: one before and after each model) while this
        call runs.
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
    with forward_records(log):
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
            return _saved_if_current(Path(models_dir) / f"{kind}-{level}", record)

        def fit(level, kind):
            path = Path(models_dir) / f"{kind}-{level}" if models_dir is not None else None
            model = train_on_folder(data_dir, kind=kind, label_column=level, seed=seed,
                                    n_jobs=n_jobs, selection=selection, groups=groups,
                                    spectrogram_options=spectrogram_options, progress=progress)[0]
            if path is not None:
                save_model(model, path)
            return model

        return _compare_rows(fit, train, test, levels=levels, kinds=kinds, split=split,
                             rule=describe_split_rule(data_dir), derived=derived, n_jobs=n_jobs,
                             progress=progress, reuse=reuse)


def _compare_rows(fit, train: pd.DataFrame, test: pd.DataFrame, *, levels, kinds, split: str,
                  rule: str, derived: bool, n_jobs: int, progress: bool = False,
                  reuse=None, prefix: str = "") -> pd.DataFrame:
    """compare_models' table: ``fit(level, kind)`` trains one model (unless ``reuse(level,
    kind)`` gives a saved one that is up to date); each is scored per clip on ``test``, and
    the coarse levels are also derived from the finest level's models. ``prefix`` starts
    each line logged."""
    finest = max(levels, key=lambda lv: train[lv].nunique())
    rows, fine_models = [], {}
    total, done = len(levels) * len(kinds), 0
    for level in levels:
        for kind in kinds:
            done += 1
            t0 = time.monotonic()
            model = reuse(level, kind) if reuse is not None else None
            if model is None:
                logger.info(f"{prefix}[{done}/{total}] {level}: training {kind} ...")
                model = fit(level, kind)
                head = (f"[{done}/{total}] {level}: {kind} trained in "
                        f"{time.monotonic() - t0:.1f} s ({model.info.get('selection')})")
            else:
                head = f"[{done}/{total}] model {kind}-{level}: up to date, reused"
            m = evaluate(model, test, n_jobs=n_jobs, progress=progress)
            logger.info(f"{prefix}{head}; {split} macro F1 {m['f1_macro']:.3f} on "
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
    feature_sets : mapping name -> FeatureSettings or mapping
        Display name -> a :class:`~bag_of_songs.features.FeatureSettings` or keywords of
        :func:`~bag_of_songs.features.extract_feature_table`, e.g.
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
        Deprecated: attach a handler to the ``bag_of_songs`` logger instead. Receives the
        package's log lines (``INFO`` and up: when the tables are extracted, and before and
        after each model, starting with the setting's name) while this call runs.

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
    with forward_records(log):
        data_dir = Path(data_dir)
        bad = [k for k in kinds if k not in MODEL_KINDS or k in SPECTROGRAM_KINDS]
        if bad or not kinds:
            raise ModelError(f"compare_feature_sets compares table models {TABULAR_KINDS}; got "
                             f"{list(kinds)} (compare the spectrogram kinds with compare_models)")
        if not feature_sets:
            raise ModelError("no feature settings to compare")
        for name, kwargs in feature_sets.items():
            if isinstance(kwargs, FeatureSettings):
                continue
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
                scheduler=scheduler, progress=progress) for part in parts}
        except FeatureError as exc:
            raise ModelError(str(exc)) from exc
        logger.info(f"{len(names)} feature setting(s) of {len(parts)} split(s) extracted in "
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
                                    seed=seed, n_jobs=n_jobs, selection=selection,
                                    groups=groups)[0]

            rows = _compare_rows(fit, train, tables[split], levels=lv, kinds=kinds, split=split,
                                 rule=rule, derived=derived, n_jobs=n_jobs,
                                 prefix=f"{name}: ")
            rows.insert(0, "features", name)
            frames.append(rows)
        out = pd.concat(frames, ignore_index=True)
        out.attrs["finest_level"] = frames[-1].attrs["finest_level"]
        return out


def _saved_if_current(path: Path, record: dict) -> GenreClassifier | None:
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
            logger.info(f"replacing model {name} (it cannot be loaded: {exc})")
            return None
        return model
    logger.info(f"replacing model {name} (trained on other data/settings)")
    return None


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
