"""musicnn's trained weights: where the installed checkpoints are, and loading them into torch.

The weights are the TensorFlow 1 checkpoints shipped by the registry wheel ``musicnn==0.1.0``
(ISC licence), installed for its data only (:data:`~.config.PIP_COMMAND`), found without
importing the ``musicnn`` package, and read by :mod:`bag_of_songs.embeddings.tfcheckpoint`
(data only, never executed). Every variable is checked against the architecture of
:mod:`.network` before it is copied in.

torch and :mod:`.network` are imported by :func:`load_musicnn` only, so that finding the
checkpoint and describing an embedding (:func:`musicnn_settings`, stored beside feature
tables) do not import torch.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np

from ..tfcheckpoint import Checkpoint, CheckpointError
from .config import (
    HOP_LENGTH,
    LAYER_SIZES,
    N_FFT,
    N_FRAMES,
    N_MELS,
    PIP_COMMAND,
    SR,
    MusicnnError,
    check_layers,
    check_model,
)

__all__ = ["musicnn_checkpoint_dir", "musicnn_settings", "load_musicnn"]


def musicnn_checkpoint_dir(model: str = "MSD_musicnn", *,
                           weights_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding a model's checkpoint (``.index``, ``.data-00000-of-00001``).

    Found in the installed ``musicnn`` package without importing it (it imports TensorFlow
    elsewhere; its ``__init__`` is empty and is not run here).

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    model : {"MSD_musicnn", "MTT_musicnn"}
    weights_dir : path-like, optional
        A folder with ``MSD_musicnn/`` and ``MTT_musicnn/`` subfolders to use instead of the
        installed package (e.g. the package folder copied elsewhere).

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    MusicnnError
        When the checkpoint files are not there, with the command that installs them.

    Examples
    --------
    >>> folder = musicnn_checkpoint_dir("MTT_musicnn")
    >>> folder.name, sorted(p.name for p in folder.glob(".[id]*"))
    ('MTT_musicnn', ['.data-00000-of-00001', '.index'])
    """
    check_model(model)
    if weights_dir is None:
        spec = importlib.util.find_spec("musicnn")
        roots = list(spec.submodule_search_locations or []) if spec is not None else []
    else:
        roots = [os.fspath(weights_dir)]
    for root in roots:
        folder = Path(root) / model
        if (folder / ".index").is_file() and (folder / ".data-00000-of-00001").is_file():
            return folder
    where = f"in {roots[0]}" if roots else "(the musicnn package is not installed)"
    raise MusicnnError(
        f"the {model} checkpoint files (.index, .data-00000-of-00001) were not found {where}; "
        f"install them with `{PIP_COMMAND}` (the TensorFlow checkpoints only: TensorFlow is "
        "not needed)")


@functools.lru_cache(maxsize=8)
def _checkpoint_sha256(folder: str) -> str:
    h = hashlib.sha256()
    for name in (".index", ".data-00000-of-00001"):
        h.update((Path(folder) / name).read_bytes())
    return h.hexdigest()


def musicnn_settings(model: str = "MSD_musicnn", layer: str = "penultimate", *,
                     weights_dir: str | os.PathLike | None = None) -> dict:
    """What defines a musicnn embedding: front-end parameters, model, layer, checkpoint hash.

    For storing beside a feature table (so a table is rebuilt when any of these change).

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    model : {"MSD_musicnn", "MTT_musicnn"}
    layer : str
        One of :data:`~.config.LAYERS`.
    weights_dir : path-like, optional
        See :func:`musicnn_checkpoint_dir`.

    Returns
    -------
    settings : dict
        ``sr, n_fft, hop_length, n_mels, n_frames, log_compression, model, layer, n_dims,
        checkpoint_sha256`` (SHA-256 of the ``.index`` and ``.data`` files).

    Raises
    ------
    MusicnnError
        Unknown model or layer, or checkpoint files missing.

    Examples
    --------
    >>> settings = musicnn_settings("MSD_musicnn", "taggram")
    >>> settings["sr"], settings["n_frames"], settings["n_dims"]
    (16000, 187, 50)
    >>> len(settings["checkpoint_sha256"])
    64
    """
    check_layers([layer])
    folder = musicnn_checkpoint_dir(model, weights_dir=weights_dir)
    return {"sr": SR, "n_fft": N_FFT, "hop_length": HOP_LENGTH, "n_mels": N_MELS,
            "n_frames": N_FRAMES, "log_compression": "log10(10000 * mel + 1)", "model": model,
            "layer": layer, "n_dims": LAYER_SIZES[layer],
            "checkpoint_sha256": _checkpoint_sha256(str(folder))}


def _tf_variables(network) -> dict:
    """TF variable name -> (torch parameter or buffer, function from the TF array to it)."""

    def conv2d(a):  # HWIO -> OIHW
        return a.transpose(3, 2, 0, 1)

    def conv1d(a):  # (7, C_in, 1, C_out) -> (C_out, C_in, 7)
        return a[:, :, 0, :].transpose(2, 1, 0)

    def dense(a):  # (in, out) -> (out, in)
        return a.T

    def same(a):
        return a

    pairs = {}

    def add_bn(prefix: str, bn) -> None:
        for name in ("gamma", "beta", "moving_mean", "moving_variance"):
            pairs[f"{prefix}/{name}"] = (getattr(bn, name), same)

    def add_conv(prefix: str, conv, layout) -> None:
        pairs[f"{prefix}/kernel"] = (conv.weight, layout)
        pairs[f"{prefix}/bias"] = (conv.bias, same)

    # Names follow the order in which build_musicnn creates the layers.
    add_bn("batch_normalization", network.bn_input)
    blocks = [*network.timbral, *network.temporal]
    for i, blk in enumerate(blocks):
        add_conv("conv2d" if i == 0 else f"conv2d_{i}", blk.conv, conv2d)
        add_bn(f"batch_normalization_{i + 1}", blk.bn)
    for j, blk in enumerate(network.midend):
        add_conv(f"conv2d_{len(blocks) + j}", blk.conv, conv1d)
        add_bn(f"batch_normalization_{len(blocks) + j + 1}", blk.bn)
    n_bn = len(blocks) + len(network.midend) + 1
    add_bn(f"batch_normalization_{n_bn}", network.bn_pool)
    add_conv("dense", network.dense, dense)
    add_bn(f"batch_normalization_{n_bn + 1}", network.bn_dense)
    add_conv("dense_1", network.output, dense)
    return pairs


def load_musicnn(model: str = "MSD_musicnn", *, weights_dir: str | os.PathLike | None = None):
    """Build the torch port of a musicnn model and load its trained weights.

    Reads the TensorFlow checkpoint of the ``musicnn==0.1.0`` wheel (every tensor checked
    against its CRC-32C and its expected shape; Adam's slots are ignored) and converts the
    layouts: convolution kernels from TF's (height, width, in, out) to torch's
    (out, in, height, width), dense kernels transposed.

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    model : {"MSD_musicnn", "MTT_musicnn"}
        ``MSD_musicnn``: trained on the Million Song Dataset (Last.fm tags);
        ``MTT_musicnn``: on MagnaTagATune. Same architecture, different weights and tags.
    weights_dir : path-like, optional
        See :func:`musicnn_checkpoint_dir`.

    Returns
    -------
    network : bag_of_songs.embeddings.musicnn.network.Musicnn
        A new module (a ``torch.nn.Module``) in eval mode, float32 on the CPU, gradients off.
        ``network(x)`` with ``x`` of shape ``(B, 187, 96)`` returns a dict of tensors (see
        :data:`~.config.LAYERS`).

    Raises
    ------
    MusicnnError
        When the checkpoint files are missing (the message names ``pip install --no-deps
        musicnn==0.1.0``).
    CheckpointError
        When they are malformed or do not fit the architecture.

    Examples
    --------
    >>> import torch
    >>> net = load_musicnn("MSD_musicnn")
    >>> net(torch.zeros(2, 187, 96))["penultimate"].shape
    torch.Size([2, 200])
    """
    # Deferred: torch (and the torch modules of .network) only once a network is built.
    import torch

    from .network import Musicnn

    folder = musicnn_checkpoint_dir(model, weights_dir=weights_dir)
    ckpt = Checkpoint(str(folder) + os.sep)
    network = Musicnn()
    with torch.no_grad():
        for name, (target, convert) in _tf_variables(network).items():
            if name not in ckpt.entries:
                raise CheckpointError(f"{folder}: the checkpoint has no variable {name!r}; "
                                      "it is not a musicnn model")
            array = convert(ckpt.read(name))
            if tuple(array.shape) != tuple(target.shape):
                raise CheckpointError(
                    f"{folder}: variable {name!r} has shape {ckpt.entries[name].shape}, which "
                    f"does not fit the musicnn architecture (expected {tuple(target.shape)} "
                    "after conversion)")
            if array.dtype != np.float32:
                raise CheckpointError(f"{folder}: variable {name!r} is {array.dtype}, "
                                      "expected float32")
            target.copy_(torch.from_numpy(np.ascontiguousarray(array)))
    network.eval()
    network.requires_grad_(False)
    return network
