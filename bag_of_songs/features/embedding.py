"""The musicnn embedding as feature-table columns: model and layer, names, patches, checkpoint.

The glue between :mod:`bag_of_songs.musicnn` (the pretrained network) and the feature tables:
which model(s) and layer a table may hold (``_check_musicnn``; several models side by side,
sharing one front end), its column names, which 3 s
patches make up each segment (:func:`segment_patches`), the embedding part of a clip's row
(``_musicnn_part``) and the check that the installed checkpoint is the one a table or model
was made with (:func:`check_musicnn_checkpoint`).

``bag_of_songs.musicnn`` is imported inside the functions that need it, deliberately: the
network's package (and torch behind it) is a heavy optional dependency that the study's
features never load.

Explained in ``notebooks/5-pretrained-embeddings.ipynb``.
"""

from __future__ import annotations

import contextlib
import multiprocessing

import numpy as np
import pandas as pd

from .._constants import HOP_LENGTH, SAMPLE_RATE
from ..errors import EmbeddingError, FeatureError
from ..spectrum import _check_params, _whole
from .params import _MUSICNN_PREFIX, MUSICNN_LAYERS, STATS, split_feature_set


def _check_musicnn(embedding: str | None, model, layer
                   ) -> tuple[str | tuple[str, ...] | None, str | None]:
    """The musicnn model(s) and layer to use (defaults filled), or (None, None) without one.

    One model comes back as its name (``"MSD_musicnn"``, also from ``["MSD_musicnn"]``),
    several as a tuple of names in the order given (from a list or a comma-joined string).
    """
    from ..embeddings.musicnn.config import MusicnnError, check_models  # deferred: docstring

    if embedding is None:
        given = [k for k, v in (("musicnn_model", model), ("musicnn_layer", layer))
                 if v is not None]
        if given:
            raise FeatureError(f"{' and '.join(given)} given, but the feature set has no musicnn "
                               "embedding; use e.g. feature_set='seed+musicnn'")
        return None, None
    model = "MSD_musicnn" if model is None else model
    layer = "penultimate" if layer is None else layer
    try:
        models = check_models(model)
    except MusicnnError as exc:
        raise FeatureError(f"musicnn_model {model!r}: {exc}") from None
    if layer not in MUSICNN_LAYERS:
        raise FeatureError(f"musicnn_layer {layer!r} cannot go in a feature table; choose from "
                           f"{MUSICNN_LAYERS} (penultimate recommended)")
    return (models[0] if len(models) == 1 else models), layer


def _models(model: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The checked model(s) of :func:`_check_musicnn` as a tuple."""
    return (model,) if isinstance(model, str) else tuple(model)


def _embedding_names(model: str, layer: str, stat: str) -> list[str]:
    from ..musicnn import LAYER_SIZES  # deferred: see the docstring

    return [f"{stat}_{_MUSICNN_PREFIX[model]}_{layer}_{i}" for i in range(LAYER_SIZES[layer])]


def _embedding_columns(model, layer: str, stats: tuple[str, ...]) -> list[str]:
    """The embedding's columns: for each statistic, each model's block in the order given."""
    return [n for stat in stats for m in _models(model) for n in _embedding_names(m, layer, stat)]


def segment_patches(bounds: np.ndarray, *, n_patches: int, sr: int = SAMPLE_RATE,
                    hop_length: int = HOP_LENGTH) -> list[np.ndarray]:
    r"""Which musicnn patches make up each segment of a clip: the alignment rule.

    musicnn embeds non-overlapping patches of 187 frames at 16 kHz, hop 256
    (:math:`187 \cdot 256 / 16000 = 2.992` s); patch :math:`j` holds the frames centred at
    :math:`[2.992\,j, 2.992\,(j + 1))` s, and its centre is
    :math:`t_j = (187 j + 93) \cdot 0.016 = 2.992\,j + 1.488` s. A segment of the project's
    grid (:func:`segment_frames`: frames :math:`a .. b - 1`, centred in
    :math:`[aH/sr, bH/sr)` s) gets **the patches whose centres fall inside it**, or, when none
    does, the one patch whose centre is nearest the segment's centre (ties: the earlier).

    - ``segment=3.0`` (hop 3.0): segments of 129 frames at 22,050 / 512 (2.9955 s) against
      patches of 2.992 s: patch :math:`i`'s centre lies inside segment :math:`i` (it drifts
      3.5 ms per segment, 1.5 s away after 425 segments, i.e. 21 min), so **segment** :math:`i`
      **is patch** :math:`i` for any clip shorter than 21 minutes. The 10 segments of a 30 s
      clip are its 10 patches; a segment sees the same 3 s the network saw, give or take 4 ms
      at its start and 32 ms at its end (segment 9: 26.96-29.95 s, patch 9: 26.93-29.92 s).
    - Longer segments (``segment=6.0``): the patches inside, pooled (about two).
    - Overlapping or shorter segments (``segment_hop=1.5``, ``segment=1.0``): segments share
      patches or get the nearest one, so neighbouring rows may repeat an embedding: musicnn
      cannot see less than its 3 s patch (it was trained on 3 s).
    - A clip shorter than one patch (repeat-padded to one) gives every segment patch 0.

    The network runs once per clip on its own patches, whatever the segments (the other
    possible rule, embedding each segment's own samples, would cost one network pass per
    segment and see a patch of zero padding and repetition for segments under 3 s).

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    bounds : np.ndarray [shape=(n_segments, 2), dtype=int]
        ``[start, stop)`` frames of each segment, from :func:`segment_frames`.
    n_patches : int >= 1
        Patches of the clip (``len(musicnn_features(y, sr=sr))``).
    sr, hop_length : int
        The grid of ``bounds`` (the project's 22,050 Hz and 512 by default).

    Returns
    -------
    patches : list of np.ndarray [dtype=int]
        For each segment, the indices of its patches (at least one).

    Examples
    --------
    >>> from bag_of_songs.features import segment_frames
    >>> b = segment_frames(1292, segment=3.0)  # a 30 s clip: 10 segments, 10 patches
    >>> [p.tolist() for p in segment_patches(b, n_patches=10)][:3]
    [[0], [1], [2]]
    >>> [p.tolist() for p in segment_patches(segment_frames(1292, segment=6.0), n_patches=10)]
    [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    """
    # deferred, as every import of the network package here (see the module docstring)
    from ..musicnn import HOP_LENGTH as M_HOP
    from ..musicnn import N_FRAMES as M_FRAMES
    from ..musicnn import SR as M_SR

    sr, hop_length = _check_params(sr=sr, hop_length=hop_length)
    n_patches = _whole("n_patches", n_patches, 1, "a whole number of patches >= 1")
    bounds = np.asarray(bounds)
    if bounds.ndim != 2 or bounds.shape[1] != 2 or len(bounds) < 1:
        raise FeatureError(f"bounds must be [start, stop) frames of shape (n_segments, 2), got "
                           f"shape {bounds.shape}")
    centres = (np.arange(n_patches) * M_FRAMES + (M_FRAMES - 1) / 2) * M_HOP / M_SR
    starts = bounds[:, 0] * hop_length / sr
    stops = bounds[:, 1] * hop_length / sr
    mids = (bounds[:, 0] + bounds[:, 1] - 1) / 2 * hop_length / sr
    out = []
    for t0, t1, mid in zip(starts, stops, mids, strict=True):
        inside = np.flatnonzero((centres >= t0) & (centres < t1))
        out.append(inside if inside.size else np.array([int(np.argmin(np.abs(centres - mid)))]))
    return out


@contextlib.contextmanager
def _one_torch_thread():
    """Run the network on one torch thread while a table is built (one clip per core).

    A worker process keeps the setting (it only builds tables); this process (``n_jobs=1``)
    gets its own thread count back afterwards. Measured on this project's 2-core machine
    while other work ran: 0.9 s per clip on one thread, 2.8 s on two.
    """
    import torch  # deferred: a heavy optional dependency, only for the embedding

    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1 and multiprocessing.parent_process() is None:
            torch.set_num_threads(before)


def _musicnn_part(y: np.ndarray, *, sr: int, model: str | tuple[str, ...], layer: str,
                  stats: tuple[str, ...], bounds: np.ndarray | None,
                  hop_length: int) -> dict | pd.DataFrame:
    """The embedding columns of a clip (a dict), or of each segment (a DataFrame); several
    models share one front end (:func:`bag_of_songs.musicnn.musicnn_features`)."""
    # deferred, as every import of the network package here (module docstring)
    from ..musicnn import CheckpointError, MusicnnError, musicnn_features

    try:  # (n_patches, n_models * d): each model's block side by side
        E = musicnn_features(y, sr=sr, model=_models(model), layer=layer)
    except (MusicnnError, CheckpointError) as exc:  # input is checked: the checkpoint
        raise EmbeddingError(str(exc)) from exc
    E = E.astype(np.float64)
    names = _embedding_columns(model, layer, stats)
    if bounds is None:
        values = np.concatenate([STATS[stat](E, axis=0) for stat in stats])
        return dict(zip(names, values.tolist(), strict=True))
    groups = segment_patches(bounds, n_patches=len(E), sr=sr, hop_length=hop_length)
    values = np.empty((len(groups), len(names)), dtype=np.float64)
    for g, idx in enumerate(groups):
        part = E[idx]
        values[g] = np.concatenate([STATS[stat](part, axis=0) for stat in stats])
    table = pd.DataFrame(values, columns=names)
    table.insert(0, "segment", np.arange(len(groups), dtype=np.int64))
    return table


def _installed_musicnn_settings(model: str | tuple[str, ...] | list[str],
                                layer: str) -> dict | list[dict]:
    """:func:`bag_of_songs.musicnn.musicnn_settings` of the installed checkpoint: a dict for
    one model (a name), a list of them for several (a list or tuple of names)."""
    # deferred, as every import of the network package here (module docstring)
    from ..musicnn import CheckpointError, MusicnnError, musicnn_settings

    try:
        if isinstance(model, str):
            return musicnn_settings(model, layer)
        return [musicnn_settings(m, layer) for m in model]
    except (MusicnnError, CheckpointError) as exc:
        raise EmbeddingError(str(exc)) from exc


def _musicnn_mismatch(recorded: dict | list, installed: dict | list,
                      names: tuple[str, str] = ("recorded", "installed")) -> str | None:
    """None when equal, else a phrase on what differs (``names`` label the two sides); each
    side one model's settings (a dict) or several models' (a list of dicts)."""
    if recorded == installed:
        return None
    if isinstance(recorded, (list, tuple)) or isinstance(installed, (list, tuple)):
        sides = [list(x) if isinstance(x, (list, tuple)) else [x]
                 for x in (recorded, installed)]
        models = [[m.get("model") if isinstance(m, dict) else None for m in side]
                  for side in sides]
        if models[0] != models[1]:
            return (f"other musicnn models ({models[0]} {names[0]}, {models[1]} "
                    f"{names[1]})")
        return next((why for a, b in zip(*sides, strict=True)
                    if (why := _musicnn_mismatch(a, b, names))), None)
    keys = [k for k in sorted(set(recorded) | set(installed))
            if recorded.get(k) != installed.get(k)]
    if "checkpoint_sha256" in keys:
        return (f"other musicnn weights (checkpoint SHA-256 "
                f"{str(recorded.get('checkpoint_sha256'))[:12]}... {names[0]}, "
                f"{str(installed.get('checkpoint_sha256'))[:12]}... {names[1]})")
    return f"another musicnn front end or layer ({', '.join(keys)} differ)"


def check_musicnn_checkpoint(settings: dict) -> dict | None:
    """Check that the installed musicnn checkpoint is the one ``settings`` were made with.

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    With several models, each one's installed checkpoint is checked against the settings
    recorded for it.

    Parameters
    ----------
    settings : dict
        Of a table or model (``feature_set``, ``musicnn_model``, ``musicnn_layer``,
        ``musicnn_settings``).

    Returns
    -------
    musicnn_settings : dict, list of dict, or None
        :func:`bag_of_songs.musicnn.musicnn_settings` of the installed checkpoint (a list, one
        per model, for several); None when the feature set has no embedding.

    Raises
    ------
    EmbeddingError
        When the checkpoint files are missing (naming ``pip install --no-deps
        musicnn==0.1.0``), or differ from those recorded (other weights, front end or layer).
    """
    if split_feature_set(settings.get("feature_set", "seed"))[1] is None:
        return None
    installed = _installed_musicnn_settings(settings["musicnn_model"], settings["musicnn_layer"])
    why = _musicnn_mismatch(settings["musicnn_settings"], installed)
    if why:
        raise EmbeddingError(
            f"these settings were made with {why}: embedding new audio with the installed "
            f"checkpoint would not give the features they describe; rebuild the feature tables "
            f"(and retrain) with the installed checkpoint, or install the one recorded")
    return installed
