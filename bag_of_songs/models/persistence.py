"""Saving and loading models as folders of safe formats only: ``model.json`` plus the weights.

MLP and network weights are torch ``state_dict`` files loaded with ``weights_only=True``;
scikit-learn models go through ``skops.io`` with an exact allow-list; the JSON records the
weights file's SHA-256. Saving is atomic and replaces only files this project wrote. What the
loader checks is in :mod:`bag_of_songs.models.metadata` (``model.json``) and
:mod:`bag_of_songs.models.safety` (the weights).

See ``notebooks/3-models-prediction.ipynb`` (section 6: ``bag-of-songs predict`` uses a saved
model; the notebook keeps its models in memory).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch

from ..cnn import architecture_size, build_from_architecture
from ..errors import ModelError
from ..files import atomic_write, sha256_file
from .classifier import GenreClassifier
from .feature_settings import extraction_settings
from .kinds import SPECTROGRAM_KINDS
from .metadata import (
    _FORMAT_VERSION,
    _WEIGHTS_NAME,
    _MetaError,
    _read_json,
    _read_meta,
    _strict_json,
    _validate_meta,
)
from .mlp import MLP
from .pipeline_persistence import (
    is_savable_pipeline,
    load_pipeline,
    pipeline_payload,
    validate_pipeline_meta,
)
from .safety import _TRUSTED_BY_KIND, _check_estimator, _check_skops_archive, _check_torch_weights


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


def save_model(model, path: str | os.PathLike) -> Path:
    """Save a model as a folder: ``model.json`` (metadata) plus the weights.

    ``model`` is a :class:`GenreClassifier`, or a fitted scikit-learn ``Pipeline`` of this
    project's estimators (:mod:`bag_of_songs.models.pipeline_persistence` lists the steps it
    may hold; saved as one skops file, an MLP's network as plain arrays in it).

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
    model : GenreClassifier or sklearn.pipeline.Pipeline or SegmentClassifier
    path : path-like
        The model folder (created if needed): new, empty, or a model saved before.

    Returns
    -------
    path : Path
        The model folder.

    Raises
    ------
    ModelError
        When ``path`` is a file, or a non-empty folder that is not a saved model; when
        ``model`` is not a GenreClassifier, or a pipeline holds a step it may not hold.
    """
    path = Path(path)
    describe = None
    if is_savable_pipeline(model):
        write, describe = pipeline_payload(model, path)
        stem, ext, arch = "estimator", ".skops", None
    elif not isinstance(model, GenreClassifier):
        raise ModelError(f"save_model saves a GenreClassifier or a fitted scikit-learn "
                         f"Pipeline, got {type(model).__module__}.{type(model).__name__}")
    else:
        stem, ext, write, arch = _payload(model)
    previous = check_model_folder(path)
    path.mkdir(parents=True, exist_ok=True)
    # The weights go to a file named by its checksum and model.json is replaced last, so a
    # crash at any point leaves the previous model (JSON and weights) whole.
    staged = path / f".{stem}.staged{ext}"
    atomic_write(staged, write)
    digest = sha256_file(staged)
    weights = path / f"{stem}-{digest[:16]}{ext}"
    os.replace(staged, weights)
    meta = describe(weights.name, digest) if describe is not None else _model_meta(
        model, arch, weights.name, digest)
    check = validate_pipeline_meta if describe is not None else _validate_meta
    check(_strict_json(json.dumps(meta)))  # never write a file load_model refuses
    atomic_write(path / "model.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2, allow_nan=False)))
    # Now the new model is in place: remove the weights of the model it replaced, and any
    # orphan a killed save left (files named by their own checksum), nothing else.
    for old in path.iterdir():
        if old.name != weights.name and (old.name == previous or _is_own_weights(old)):
            old.unlink()
    return path


def _payload(model: GenreClassifier):
    """``(stem, ext, write, architecture)`` of a GenreClassifier's weights file."""
    if model.kind in SPECTROGRAM_KINDS:
        write = lambda tmp: torch.save(model.estimator.state_dict(), tmp)  # noqa: E731
        return "weights", ".pt", write, dict(model.cnn["architecture"])
    if model.kind == "mlp":
        write = lambda tmp: torch.save(model.estimator.state_dict(), tmp)  # noqa: E731
        return "weights", ".pt", write, {
            "n_features": len(model.feature_columns),
            "n_outputs": 1 if len(model.classes) == 2 else len(model.classes)}
    import skops.io as sio  # deferred: slow to import, needed only for these files

    write = lambda tmp: sio.dump(model.estimator, tmp)  # noqa: E731
    return "estimator", ".skops", write, {"n_features": len(model.feature_columns),
                                          "n_classes": len(model.classes)}


def _model_meta(model: GenreClassifier, arch: dict, name: str, digest: str) -> dict:
    """The ``model.json`` of a GenreClassifier whose weights file is ``name``."""
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
        "weights_file": name,
        "weights_sha256": digest,
    }
    if model.kind in SPECTROGRAM_KINDS:
        meta["cnn"] = model.cnn
    return meta


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
    model : GenreClassifier or sklearn.pipeline.Pipeline or SegmentClassifier
        Ready for :func:`predict_file` and :func:`evaluate`, with the feature settings saved
        with it; or the saved pipeline (``kind`` ``"pipeline"`` in ``model.json``), ready for
        ``predict(paths)``.

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
    raw = _read_json(meta_path)
    if isinstance(raw, dict) and raw.get("kind") == "pipeline":
        try:
            m = validate_pipeline_meta(raw)
        except _MetaError as exc:
            raise ModelError(f"{meta_path}: invalid model metadata: {exc}") from None
        return load_pipeline(_checked_weights(path, m), m)
    m = _read_meta(meta_path, raw)
    kind, classes, columns = m["kind"], m["classes"], m["feature_columns"]
    weights = _checked_weights(path, m)
    if kind == "mlp" or kind in SPECTROGRAM_KINDS:
        est = _load_network(kind, m["architecture"], weights)
    else:
        est = _load_estimator(kind, weights, n_classes=len(classes), n_features=len(columns))
    return GenreClassifier(kind, est, classes, columns, m["label_column"], m["scaler"],
                           settings=m["settings"], info=m["info"], hierarchy=m["hierarchy"],
                           cnn=m["cnn"])


def _checked_weights(path: Path, m: dict) -> Path:
    """The weights file a checked ``model.json`` names, once it matches its SHA-256."""
    weights = path / m["weights_file"]
    if not weights.is_file():
        raise ModelError(f"{weights}: missing weights file")
    if sha256_file(weights) != m["weights_sha256"]:
        raise ModelError(f"{weights}: the file does not match the checksum in model.json "
                         "(truncated or altered); refusing to load it")
    return weights


def _load_network(kind: str, arch: dict, weights: Path):
    """The MLP, CNN or hybrid of a checked ``architecture``, with its weights (torch tensors
    only: ``weights_only=True``), after the file's size is checked against the architecture."""
    if kind in SPECTROGRAM_KINDS:
        size = architecture_size(arch)
        _check_torch_weights(weights, size["state_bytes"], size["tensors"], kind)
        est = build_from_architecture(arch)
        try:
            state = torch.load(weights, weights_only=True, map_location="cpu")
            est.load_state_dict(state)
        except Exception as exc:
            raise ModelError(f"{weights}: cannot load the {kind} weights ({exc})") from exc
        if not all(torch.isfinite(t).all() for t in est.state_dict().values()
                   if t.is_floating_point()):
            raise ModelError(f"{weights}: the {kind} weights hold non-finite values")
        return est.eval()
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
    return est.eval()


def _load_estimator(kind: str, weights: Path, *, n_classes: int, n_features: int):
    """A scikit-learn estimator from a skops file: the archive's sizes, then the types it names
    (:data:`~bag_of_songs.models.safety.TRUSTED_SKOPS_TYPES`), then the object it gives."""
    # skops is imported here, not at the top: it takes about a second to import and only
    # saving and loading scikit-learn models need it.
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
    _check_estimator(kind, est, n_classes, n_features, weights)
    return est
