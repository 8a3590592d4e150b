"""Prediction: class probabilities of crops, of whole clips (crop-averaged) and of audio files.

Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (sections 3, 5 and 6). A clip is cut into
the crops of :func:`~bag_of_songs.cnn.crops.crop_starts`, each crop normalised and classified
(softmax), and the crop probabilities averaged; crops are batched across clips, so memory
stays bounded whatever the number of clips. Torch runs on one CPU thread by default
(:func:`bag_of_songs._threads.torch_threads`).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from .._threads import torch_threads
from ..errors import CNNError
from ._checks import _check_n_threads, _check_specs, _check_tab
from .config import check_model_config
from .crops import _check_normalizer, _crops, crop_starts
from .frontend import file_log_mel
from .nets import HybridNet


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: the first CUDA GPU when torch sees one, else the CPU; otherwise as given.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 3).
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise CNNError(f"unknown device {device!r} ({exc})") from exc



def _module_device(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _iter_crop_proba(module, specs, tab, normalizer, crop_frames, crop_hop, batch_size, device):
    """Yield ``(clip, per-crop probabilities [n_crops, n_classes])`` clip by clip, batching
    crops across clips."""
    specs = _check_specs(specs)
    mean, std = _check_normalizer(normalizer)
    hybrid = isinstance(module, HybridNet)
    if hybrid:
        if tab is None:
            raise CNNError("the hybrid model needs the clips' scaled features (tab=)")
        tab = _check_tab(tab, len(specs), "tab", module.n_tab)
    starts = crop_starts(int(specs.shape[2]), crop_frames, crop_hop)
    n_crops = len(starts)
    dev = _module_device(module) if device is None else resolve_device(device)
    module.to(dev)
    module.eval()
    pending: dict[int, list[np.ndarray]] = {}
    clip_of = np.repeat(np.arange(len(specs)), n_crops)
    start_of = np.tile(starts, len(specs))
    with torch.no_grad():
        for a in range(0, len(clip_of), batch_size):
            idx, st = clip_of[a:a + batch_size], start_of[a:a + batch_size]
            xb = torch.from_numpy(_crops(specs, idx, st, crop_frames, mean, std)).to(dev)
            tb = torch.from_numpy(tab[idx]).to(dev) if hybrid else None
            p = torch.softmax(module(xb, tb).float(), dim=1).cpu().numpy().astype(np.float64)
            for j, i in enumerate(idx):
                pending.setdefault(int(i), []).append(p[j])
                if len(pending[int(i)]) == n_crops:
                    yield int(i), np.stack(pending.pop(int(i)))


def predict_crop_proba(module: nn.Module, S_db: np.ndarray, *, tab=None, normalizer: dict,
                       crop_frames: int = 129, crop_hop: int | None = None,
                       batch_size: int = 64, device=None, n_threads: int | None = 1
                       ) -> np.ndarray:
    """Class probabilities of each crop of one clip (where in the clip the model decides).

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 5).

    Parameters
    ----------
    module : SpectrogramCNN or HybridNet
    S_db : np.ndarray [shape=(n_mels, t)]
        One clip's dB spectrogram (:func:`clip_log_mel`).
    tab : np.ndarray [shape=(n_tab,)], optional
        The clip's scaled features (hybrid only).
    normalizer : dict
    crop_frames, crop_hop : int
        The crops of :func:`crop_starts`.
    batch_size : int
    device : optional
        Default: where the module's parameters are.
    n_threads : int or None
        Torch CPU threads (1; None leaves torch's setting), as in :func:`train_cnn`.

    Returns
    -------
    proba : np.ndarray [shape=(n_crops, n_classes), dtype=float64]
        Row ``j`` is the crop starting at ``crop_starts(t, crop_frames, crop_hop)[j]``.
    """
    S_db = np.asarray(S_db)
    if S_db.ndim != 2:
        raise CNNError(f"expected one clip's spectrogram of shape (n_mels, t), got {S_db.shape}")
    tab1 = None if tab is None else np.asarray(tab, dtype=np.float32).reshape(1, -1)
    _check_n_threads(n_threads)
    with torch_threads(n_threads):
        return next(_iter_crop_proba(module, S_db[None], tab1, normalizer, crop_frames,
                                     crop_hop, batch_size, device))[1]


def predict_clip_proba(module: nn.Module, specs, *, tab=None, normalizer: dict,
                       crop_frames: int = 129, crop_hop: int | None = None,
                       batch_size: int = 64, device=None, n_threads: int | None = 1
                       ) -> np.ndarray:
    """Class probabilities of whole clips: the mean of the probabilities of all their crops.

    Each clip is cut into the crops of :func:`crop_starts` (non-overlapping by default, plus
    one ending at the last frame), each crop normalised and classified (softmax), and the crop
    probabilities averaged. Memory stays bounded: crops are read ``batch_size`` at a time.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 3).

    Parameters
    ----------
    module : SpectrogramCNN or HybridNet
    specs : np.ndarray, np.memmap or ClipSubset [shape=(n_clips, n_mels, t)]
        dB spectrograms (not normalised).
    tab : np.ndarray [shape=(n_clips, n_tab)], optional
        Scaled features aligned with the clips (required by a :class:`HybridNet`).
    normalizer : dict
        From training (``info["normalizer"]``).
    crop_frames, crop_hop : int
        As in training (``info["crop_frames"]``, ``info["crop_hop"]``).
    batch_size : int
        Crops per forward pass.
    device : optional
        Default: where the module's parameters are.
    n_threads : int or None
        Torch CPU threads (1; None leaves torch's setting), as in :func:`train_cnn`.

    Returns
    -------
    proba : np.ndarray [shape=(n_clips, n_classes), dtype=float64]
        Each row sums to 1; column ``i`` is class ``i``.

    Raises
    ------
    CNNError
        On bad shapes, a missing ``tab`` for a hybrid, or clips shorter than a crop.

    Examples
    --------
    >>> from bag_of_songs.cnn import SpectrogramCNN, fit_normalizer
    >>> specs = np.random.default_rng(0).normal(-40.0, 10.0, size=(3, 16, 40))
    >>> module = SpectrogramCNN(16, 4, channels=[4], blocks=["conv"]).eval()
    >>> proba = predict_clip_proba(module, specs, normalizer=fit_normalizer(specs),
    ...                            crop_frames=16)  # crops at frames 0, 16 and 24
    >>> proba.shape, bool(np.allclose(proba.sum(axis=1), 1.0))
    ((3, 4), True)
    """
    n = len(_check_specs(specs))
    out = np.zeros((n, module.n_classes), dtype=np.float64)
    _check_n_threads(n_threads)
    with torch_threads(n_threads):
        for i, p in _iter_crop_proba(module, specs, tab, normalizer, crop_frames, crop_hop,
                                     batch_size, device):
            out[i] = p.mean(axis=0)
    return out

def predict_file_proba(module: nn.Module, path: str | os.PathLike, config: dict, *,
                       tab=None, n_threads: int | None = 1) -> np.ndarray:
    """Class probabilities of any audio file: :func:`file_log_mel` then crop averaging.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 6: a new mp3).

    Parameters
    ----------
    module : SpectrogramCNN or HybridNet
    path : path-like
        Any audio file soundfile decodes.
    config : dict
        From :func:`model_config`.
    tab : np.ndarray [shape=(n_tab,)], optional
        The file's scaled hand-crafted features (hybrid only).
    n_threads : int or None

    Returns
    -------
    proba : np.ndarray [shape=(n_classes,), dtype=float64]

    Raises
    ------
    bag_of_songs.data.AudioLoadError
        When the file cannot be decoded.
    """
    config = check_model_config(config)
    S_db = file_log_mel(path, config["spectrogram"])
    tab1 = None if tab is None else np.asarray(tab, dtype=np.float32).reshape(1, -1)
    return predict_clip_proba(module, S_db[None], tab=tab1, normalizer=config["normalizer"],
                              crop_frames=config["crop_frames"], crop_hop=config["crop_hop"],
                              n_threads=n_threads)[0]

