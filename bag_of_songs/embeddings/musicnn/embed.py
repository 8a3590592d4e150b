"""Running musicnn: log-mel patches through the network, and a clip's embedding.

:func:`embed_patches` runs :func:`~.frontend.musicnn_input`'s patches through a network loaded
once per process, model and device (:func:`~.weights.load_musicnn`), in batches of bounded
memory on one torch thread by default; :func:`musicnn_features` does both steps for one clip
(one front end for one model or several).

torch is imported when patches are first embedded, not when the package is imported.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable

import numpy as np

from ..._threads import torch_threads
from .config import (
    LAYER_SIZES,
    N_FRAMES,
    N_MELS,
    MusicnnError,
    check_layers,
    check_model,
    check_models,
)
from .frontend import musicnn_input
from .weights import load_musicnn

__all__ = ["embed_patches", "musicnn_features"]


@functools.lru_cache(maxsize=4)
def _cached_network(model: str, weights_dir: str | None, device: str):
    # One network per model and device per process (joblib workers load it once, on first use).
    return load_musicnn(model, weights_dir=weights_dir).to(device)


def embed_patches(patches: np.ndarray, *, model: str = "MSD_musicnn",
                  layers: Iterable[str] = ("mean_pool", "max_pool", "penultimate", "taggram"),
                  batch_size: int = 1, device: str | None = None,
                  weights_dir: str | os.PathLike | None = None,
                  n_threads: int | None = 1) -> dict[str, np.ndarray]:
    """Run log-mel patches through a musicnn model, in batches of bounded memory.

    The network is loaded once per process and model (then kept); it runs on ``n_threads``
    torch threads (one by default: on a busy machine more threads spin-wait and lose; the
    caller's setting is restored afterwards). Peak memory grows with ``batch_size`` by about
    15 MB per patch (the front end's 204 x 187 x 59 timbral convolution maps); on the CPU one
    patch per pass is as fast as more (``benchmarks/bench_musicnn.py``), so the default 1
    keeps the process small. On a GPU, pass a larger batch.

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    patches : np.ndarray [shape=(n_patches, n_frames, 96)]
        From :func:`~.frontend.musicnn_input` (``n_frames`` 187, as trained).
    model : {"MSD_musicnn", "MTT_musicnn"}
    layers : iterable of str
        Any of :data:`~.config.LAYERS`.
    batch_size : int > 0
        Patches per forward pass.
    device : str, optional
        A torch device (``"cpu"`` by default, ``"cuda"`` when available and wanted).
    weights_dir : path-like, optional
        See :func:`~.weights.musicnn_checkpoint_dir`.
    n_threads : int >= 1 or None
        Torch CPU threads while the network runs (1); None leaves torch's setting.

    Returns
    -------
    embeddings : dict of str -> np.ndarray [shape=(n_patches, LAYER_SIZES[layer]),
        dtype=float32]

    Raises
    ------
    MusicnnError
        Unknown model or layer, bad ``batch_size``, patches of the wrong shape or with
        non-finite values, or checkpoint files missing.

    Examples
    --------
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> y = synthesize_demo_clip("dance", 1, sr=16000, duration=6.0)
    >>> patches = musicnn_input(y, sr=16000)
    >>> out = embed_patches(patches, layers=["penultimate", "taggram"])
    >>> out["penultimate"].shape, out["taggram"].shape
    ((2, 200), (2, 50))
    >>> out["penultimate"].mean(axis=0).shape  # the clip's embedding
    (200,)
    >>> bool(((out["taggram"] > 0) & (out["taggram"] < 1)).all())  # tag probabilities
    True
    """
    import torch  # deferred: the package's constants and front end do not need torch

    check_model(model)
    layers = check_layers(layers)
    if int(batch_size) != batch_size or batch_size < 1:
        raise MusicnnError(f"batch_size must be a positive integer, got {batch_size}")
    patches = np.asarray(patches)
    if patches.ndim != 3 or patches.shape[2] != N_MELS or patches.shape[1] < 1:
        raise MusicnnError(f"expected log-mel patches of shape (n_patches, {N_FRAMES}, "
                           f"{N_MELS}), got shape {patches.shape}")
    if not np.issubdtype(patches.dtype, np.floating) or not np.all(np.isfinite(patches)):
        raise MusicnnError("the patches must be finite floating-point values")
    dev = torch.device(device or "cpu")
    network = _cached_network(model, None if weights_dir is None else os.fspath(weights_dir),
                              str(dev))
    out = {la: np.empty((patches.shape[0], LAYER_SIZES[la]), dtype=np.float32)
           for la in layers}
    with torch.inference_mode(), torch_threads(n_threads):
        for start in range(0, patches.shape[0], int(batch_size)):
            x = torch.from_numpy(np.ascontiguousarray(
                patches[start:start + int(batch_size)], dtype=np.float32)).to(dev)
            result = network(x)
            for la in layers:
                out[la][start:start + x.shape[0]] = result[la].cpu().numpy()
    return out


def musicnn_features(y: np.ndarray, *, sr: int, model: str | Iterable[str] = "MSD_musicnn",
                     layer: str = "penultimate", batch_size: int = 1,
                     device: str | None = None,
                     weights_dir: str | os.PathLike | None = None,
                     n_threads: int | None = 1) -> np.ndarray:
    """Patch-level musicnn embeddings of one clip (its embedding is their mean over patches).

    :func:`~.frontend.musicnn_input` then :func:`embed_patches` for one layer.
    **Recommended:** the default, ``MSD_musicnn``'s 200-d ``penultimate`` layer averaged over
    the 3 s patches (``musicnn_features(y, sr=sr).mean(axis=0)``): it generalises best to
    music and artists a classifier never saw (measured in
    ``../shared/data/musicnn-reference/README.md`` and the README's results);
    ``taggram`` gives 50 interpretable tag probabilities, ``mean_pool`` / ``max_pool`` the
    753-d mid-level maps before the dense layers.

    Several models (``model=["MSD_musicnn", "MTT_musicnn"]``) share one front end: both were
    trained on the same 16 kHz log-mel patches (:mod:`.config` has one set of front-end
    constants), so the patches are computed once and go through each network in turn; their
    layers come side by side, in the order given.

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal.
    sr : int > 0
        Its sampling rate (resampled to 16 kHz).
    model : str or iterable of str
        ``"MSD_musicnn"``, ``"MTT_musicnn"``, or several (a list, or names joined by commas).
    layer : str
        One of :data:`~.config.LAYERS`.
    batch_size, device, weights_dir, n_threads
        See :func:`embed_patches`.

    Returns
    -------
    embeddings : np.ndarray [shape=(n_patches, n_models * LAYER_SIZES[layer]), dtype=float32]
        One row per 3 s patch (10 for a 30 s clip); with several models, the first model's
        columns, then the next one's.

    Raises
    ------
    MusicnnError
        See :func:`~.frontend.musicnn_input` and :func:`embed_patches`; a model named twice.

    Examples
    --------
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> y = synthesize_demo_clip("symphony", 0, sr=22050, duration=6.0)
    >>> E = musicnn_features(y, sr=22050)
    >>> E.shape, E.dtype
    ((2, 200), dtype('float32'))
    >>> E.mean(axis=0).shape  # the clip's embedding
    (200,)
    >>> musicnn_features(y, sr=22050, model="MTT_musicnn", layer="taggram").shape
    (2, 50)
    >>> musicnn_features(y, sr=22050, model=["MSD_musicnn", "MTT_musicnn"]).shape
    (2, 400)
    """
    layer = check_layers([layer])[0]
    models = check_models(model)
    patches = musicnn_input(y, sr=sr)  # one front end for every model
    parts = [embed_patches(patches, model=m, layers=(layer,), batch_size=batch_size,
                           device=device, weights_dir=weights_dir, n_threads=n_threads)[layer]
             for m in models]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
