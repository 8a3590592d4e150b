r"""Pretrained musicnn embeddings in torch: the MSD and MTT models of musicnn 0.1.0, no TensorFlow.

Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

musicnn (Pons and Serra, "musicnn: pre-trained convolutional neural networks for music audio
tagging", ISMIR 2019 late-breaking demo) is a tagging network trained on 3 s log-mel patches of
the Million Song Dataset (``MSD_musicnn``, 50 Last.fm tags) or of MagnaTagATune
(``MTT_musicnn``, 50 tags). This module ports its architecture (``musicnn/models.py`` of the
wheel) to torch and loads the trained weights from the TensorFlow 1 checkpoints shipped by the
registry wheel ``musicnn==0.1.0`` (ISC licence), installed for its data only::

    pip install --no-deps musicnn==0.1.0

The checkpoints are read by :mod:`bag_of_songs.tfcheckpoint` (data only, never executed).

The pipeline, per clip:

1. :func:`musicnn_input`: the signal at 16 kHz, the power mel spectrogram (``n_fft`` 512,
   hop 256, 96 bands, librosa's Slaney mel filters), :math:`\log_{10}(10000\,M + 1)` in
   float32, cut into non-overlapping patches of 187 frames (3 s).
2. :func:`embed_patches`: the network, in inference mode, per patch:

   - front end: batch norm of the input; *timbral* filters spanning 7 frames x 38 and 67 mel
     bands (204 each) and *temporal* filters spanning 128, 64 and 32 frames x 1 band (51 each),
     each a convolution, ReLU, batch norm and max-pool over frequency: 561 channels per frame;
   - mid-end: three 1-D convolutions over time (64 filters of 7 frames, ReLU, batch norm), the
     second and third with residual connections; with the front end, 753 channels per frame;
   - back end: ``max_pool`` and ``mean_pool`` over the 187 frames (753 each), batch norm,
     dense 200 + ReLU + batch norm (``penultimate``), dense 50 (``logits``), sigmoid
     (``taggram``).

Which layer to use as a feature: ``penultimate`` of ``MSD_musicnn``, averaged over the clip's
patches (:func:`musicnn_features` then ``.mean(axis=0)``). It is the most compact (200-d)
summary the network learned for telling a million songs' tags apart, more general than the 50
tag probabilities (which squash it through one task's labels) and less redundant than the
753-d pools; measured on Emotify clips with an SVC, it reached macro-F1 about 0.79 on 4
genres and 0.94 on Classic / Non_classic for artists the training set never had (see
``../shared/data/musicnn-reference/README.md``). MSD (200,000 songs of all popular genres) is
preferred over MTT (25,000 clips, skewed to classical and electronic).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ._threads import torch_threads
from .tfcheckpoint import Checkpoint, CheckpointError

__all__ = [
    "MusicnnError",
    "CheckpointError",
    "MODELS",
    "LAYERS",
    "LAYER_SIZES",
    "SR",
    "N_FFT",
    "HOP_LENGTH",
    "N_MELS",
    "N_FRAMES",
    "PIP_COMMAND",
    "musicnn_checkpoint_dir",
    "musicnn_tags",
    "musicnn_settings",
    "musicnn_input",
    "load_musicnn",
    "embed_patches",
    "musicnn_features",
]

#: The two musicnn models ported (the VGG baselines of the wheel are not).
MODELS = ("MSD_musicnn", "MTT_musicnn")
#: Layers :func:`embed_patches` returns.
LAYERS = ("mean_pool", "max_pool", "penultimate", "logits", "taggram")
#: Width of each layer (the same for both models).
LAYER_SIZES = {"mean_pool": 753, "max_pool": 753, "penultimate": 200, "logits": 50,
               "taggram": 50}
#: Sampling rate of the network's input, in Hz.
SR = 16000
#: FFT size of the mel spectrogram, in samples.
N_FFT = 512
#: Hop between frames, in samples.
HOP_LENGTH = 256
#: Mel bands.
N_MELS = 96
#: Frames per patch (3 s, as the models were trained).
N_FRAMES = 187
#: The command that installs the checkpoint files (and nothing else).
PIP_COMMAND = "pip install --no-deps musicnn==0.1.0"

# Batch-norm epsilon of tf.compat.v1.layers.batch_normalization (its default, used by musicnn).
_BN_EPS = 1e-3

_TAGS = {
    "MSD_musicnn": (
        "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
        "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
        "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
        "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
        "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
        "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
        "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
    ),
    "MTT_musicnn": (
        "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
        "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
        "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
        "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
        "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats",
        "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
    ),
}

# Architecture hyper-parameters of both models (musicnn/models.py: build_musicnn with
# num_filt_frontend=1.6, num_filt_midend=64, num_units_backend=200, 50 classes).
_TIMBRAL = ((7, int(0.4 * N_MELS)), (7, int(0.7 * N_MELS)))  # (frames, bands): 38 and 67
_N_TIMBRAL = int(1.6 * 128)  # 204 filters each
_TEMPORAL = (128, 64, 32)  # frames, x 1 band
_N_TEMPORAL = int(1.6 * 32)  # 51 filters each
_N_MIDEND = 64
_N_UNITS = 200
_N_CLASSES = 50


class MusicnnError(ValueError):
    """musicnn cannot run: checkpoints not installed, unknown model or layer, or bad input."""


def _check_model(model: str) -> str:
    if model not in MODELS:
        raise MusicnnError(f"unknown musicnn model {model!r}; choose from {MODELS}")
    return model


def musicnn_tags(model: str = "MSD_musicnn") -> list[str]:
    """The 50 tag names of a model, in the order of its ``taggram`` / ``logits`` columns.

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    model : {"MSD_musicnn", "MTT_musicnn"}

    Returns
    -------
    tags : list of str [len=50]
    """
    return list(_TAGS[_check_model(model)])


# ---------------------------------------------------------------------------------------------
# Where the checkpoints are


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
    """
    _check_model(model)
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
        One of :data:`LAYERS`.
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
    """
    _check_layers([layer])
    folder = musicnn_checkpoint_dir(model, weights_dir=weights_dir)
    return {"sr": SR, "n_fft": N_FFT, "hop_length": HOP_LENGTH, "n_mels": N_MELS,
            "n_frames": N_FRAMES, "log_compression": "log10(10000 * mel + 1)", "model": model,
            "layer": layer, "n_dims": LAYER_SIZES[layer],
            "checkpoint_sha256": _checkpoint_sha256(str(folder))}


# ---------------------------------------------------------------------------------------------
# The front end: log-mel patches


@functools.lru_cache(maxsize=2)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


def musicnn_input(y: np.ndarray, *, sr: int) -> np.ndarray:
    r"""The network's input: log-mel patches of 187 frames (3 s) at 16 kHz.

    The signal is resampled to 16 kHz with soxr (``soxr_hq``, as ``librosa.load`` and
    :func:`bag_of_songs.data.load_audio` do) unless it is at 16 kHz already; then, in float32,
    the power spectrogram with the project's STFT
    (:func:`bag_of_songs.features.compute_spectrogram`: centred frames zero-padded at the ends,
    periodic Hann window, ``n_fft`` 512, hop 256), librosa's 96 Slaney mel filters (``htk``
    off, ``norm="slaney"``), and :math:`X = \log_{10}(10000\,M + 1)`: the same as musicnn's
    ``batch_data`` (``librosa.feature.melspectrogram`` with its defaults) except that musicnn
    casts the mel power to float16 before the log, which overflows to infinity on loud music;
    this uses float32 throughout, as the reference activations do.

    Patches do not overlap. A trailing part shorter than a patch is dropped (as musicnn does):
    a 30 s clip (1876 frames) gives 10 patches covering its first 29.9 s. A clip shorter than
    one patch (under 2.99 s) is repeated (its frames tiled, as musicnn's training did with
    ``pad_short="repeat-pad"``) to fill one patch.

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal, floating point.
    sr : int > 0
        Its sampling rate.

    Returns
    -------
    patches : np.ndarray [shape=(n_patches, 187, 96), dtype=float32]
        Time along axis 1, mel band along axis 2 (musicnn's layout).

    Raises
    ------
    MusicnnError
        If ``y`` is not a non-empty 1-D floating-point signal of finite samples, or ``sr`` is
        not positive.

    Examples
    --------
    >>> y = load_audio("song.mp3", sr=16000)  # doctest: +SKIP
    >>> musicnn_input(y, sr=16000).shape  # doctest: +SKIP
    (10, 187, 96)
    """
    from .features import compute_spectrogram

    y = np.asarray(y)
    if y.ndim != 1:
        raise MusicnnError(f"expected a mono signal of shape (n,), got shape {y.shape}")
    if y.size == 0:
        raise MusicnnError("the signal is empty")
    if not np.issubdtype(y.dtype, np.floating):
        raise MusicnnError(f"expected floating-point samples, got dtype {y.dtype}")
    if not np.all(np.isfinite(y)):
        raise MusicnnError("the signal holds non-finite samples (NaN or infinity)")
    if not sr > 0:
        raise MusicnnError(f"invalid sampling rate {sr}")
    y = y.astype(np.float32, copy=False)
    if sr != SR:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=SR, res_type="soxr_hq")
    power = compute_spectrogram(y, n_fft=N_FFT, hop_length=HOP_LENGTH, power=2.0)
    mel = (_mel_basis(SR, N_FFT, N_MELS) @ power).T  # (frames, bands)
    logmel = np.log10(np.float32(10000) * mel + np.float32(1)).astype(np.float32, copy=False)
    n = logmel.shape[0]
    if n < N_FRAMES:
        logmel = np.tile(logmel, (-(-N_FRAMES // n), 1))
        n = logmel.shape[0]
    n_patches = n // N_FRAMES
    return np.ascontiguousarray(logmel[: n_patches * N_FRAMES].reshape(n_patches, N_FRAMES,
                                                                        N_MELS))


# ---------------------------------------------------------------------------------------------
# The network


def _torch():
    import torch

    return torch


@functools.lru_cache(maxsize=1)
def _network_class():
    """Define the torch modules on first use (so importing this module does not import torch)."""
    torch = _torch()
    nn = torch.nn
    F = torch.nn.functional

    class FrozenBatchNorm(nn.Module):
        """Inference-mode batch norm of ``tf.compat.v1.layers.batch_normalization``.

        ``(x - moving_mean) / sqrt(moving_variance + 1e-3) * gamma + beta`` over ``dim`` (the
        channel axis); the statistics are buffers, nothing is learned or updated.
        """

        def __init__(self, n: int, dim: int = 1):
            super().__init__()
            self.dim = dim
            for name, value in (("gamma", 1.0), ("beta", 0.0), ("moving_mean", 0.0),
                                ("moving_variance", 1.0)):
                self.register_buffer(name, torch.full((n,), value, dtype=torch.float32))

        def scale(self):
            return torch.rsqrt(self.moving_variance + _BN_EPS) * self.gamma

        def forward(self, x):
            shape = [1] * x.ndim
            shape[self.dim] = -1
            return ((x - self.moving_mean.view(shape)) * self.scale().view(shape)
                    + self.beta.view(shape))

    def relu_bn_max(conv, bn):
        """``bn(relu(conv)).amax(dim=3)``, without materialising ``bn(relu(conv))``.

        ReLU and each channel's batch norm are monotone maps, applied elementwise with
        monotone rounding: non-decreasing where the channel's scale is >= 0, non-increasing
        where it is < 0. So the maximum over frequency of the result is the map of the
        maximum (or, for a negative scale, of the minimum) of ``conv``: bit for bit the same
        values, from two small (B, C, T) maps instead of two more full-size copies.
        """
        positive = (bn.scale() >= 0).view(1, -1, 1)
        pooled = torch.where(positive, conv.amax(dim=3), conv.amin(dim=3))
        return bn(F.relu(pooled))

    class TimbralBlock(nn.Module):
        """Conv over (7 frames x ``bands`` mel bands), ReLU, batch norm, max over frequency."""

        def __init__(self, frames: int, bands: int, filters: int):
            super().__init__()
            self.pad = (frames - 1) // 2  # musicnn pads time by 3 and convolves 'valid'
            self.conv = nn.Conv2d(1, filters, (frames, bands), dtype=torch.float32)
            self.bn = FrozenBatchNorm(filters)

        def forward(self, x):  # (B, 1, T, 96) -> (B, filters, T)
            x = F.pad(x, (0, 0, self.pad, self.pad))
            return relu_bn_max(self.conv(x), self.bn)

    class TemporalBlock(nn.Module):
        """Conv over (``frames`` x 1 band), 'same' padding as TensorFlow, ReLU, BN, max."""

        def __init__(self, frames: int, filters: int):
            super().__init__()
            # TF 'same' puts the odd extra padding after: 63 before, 64 after for 128 frames.
            self.pad = ((frames - 1) // 2, frames - 1 - (frames - 1) // 2)
            self.conv = nn.Conv2d(1, filters, (frames, 1), dtype=torch.float32)
            self.bn = FrozenBatchNorm(filters)

        def forward(self, x):  # (B, 1, T, 96) -> (B, filters, T)
            x = F.pad(x, (0, 0, *self.pad))
            return relu_bn_max(self.conv(x), self.bn)

    class MidendBlock(nn.Module):
        """1-D conv over 7 frames (zero-padded by 3 each side), ReLU, batch norm."""

        def __init__(self, channels_in: int, filters: int):
            super().__init__()
            self.conv = nn.Conv1d(channels_in, filters, 7, dtype=torch.float32)
            self.bn = FrozenBatchNorm(filters)

        def forward(self, x):  # (B, C, T) -> (B, filters, T)
            return self.bn(F.relu(self.conv(F.pad(x, (3, 3)))))

    class Musicnn(nn.Module):
        """musicnn (Pons and Serra, ISMIR 2019 LBD), the ``build_musicnn`` of musicnn 0.1.0.

        Input: log-mel patches ``(B, 187, 96)`` (any number of frames works: the pools are
        global). ``forward`` returns a dict of ``mean_pool``, ``max_pool`` (B, 753),
        ``penultimate`` (B, 200), ``logits`` and ``taggram`` (B, 50). Dropout is omitted: the
        network only runs in inference mode.
        """

        def __init__(self):
            super().__init__()
            self.bn_input = FrozenBatchNorm(1)
            self.timbral = nn.ModuleList(
                [TimbralBlock(f, b, _N_TIMBRAL) for f, b in _TIMBRAL])
            self.temporal = nn.ModuleList([TemporalBlock(f, _N_TEMPORAL) for f in _TEMPORAL])
            n_front = len(_TIMBRAL) * _N_TIMBRAL + len(_TEMPORAL) * _N_TEMPORAL  # 561
            self.midend = nn.ModuleList([MidendBlock(n_front, _N_MIDEND),
                                         MidendBlock(_N_MIDEND, _N_MIDEND),
                                         MidendBlock(_N_MIDEND, _N_MIDEND)])
            n_mid = n_front + 3 * _N_MIDEND  # 753
            self.bn_pool = FrozenBatchNorm(2 * n_mid)
            self.dense = nn.Linear(2 * n_mid, _N_UNITS, dtype=torch.float32)
            self.bn_dense = FrozenBatchNorm(_N_UNITS)
            self.output = nn.Linear(_N_UNITS, _N_CLASSES, dtype=torch.float32)

        def forward(self, x):
            x = self.bn_input(x.unsqueeze(1))  # (B, 1, T, 96)
            front = torch.cat([blk(x) for blk in (*self.timbral, *self.temporal)], dim=1)
            del x
            m1 = self.midend[0](front)
            m2 = self.midend[1](m1) + m1
            m3 = self.midend[2](m2) + m2
            features = torch.cat([front, m1, m2, m3], dim=1)  # (B, 753, T)
            del front, m1, m2, m3
            max_pool = features.amax(dim=2)
            mean_pool = features.mean(dim=2)
            # TF concatenates (B, 753, 1) max and mean on the last axis, then flattens: the
            # dense layer sees them interleaved, max_0, mean_0, max_1, mean_1, ...
            pooled = torch.stack([max_pool, mean_pool], dim=2).reshape(features.shape[0], -1)
            penultimate = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))
            logits = self.output(penultimate)
            return {"mean_pool": mean_pool, "max_pool": max_pool, "penultimate": penultimate,
                    "logits": logits, "taggram": torch.sigmoid(logits)}

    return Musicnn


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
    network : torch.nn.Module
        A new module in eval mode, float32 on the CPU, gradients off. ``network(x)`` with
        ``x`` of shape ``(B, 187, 96)`` returns a dict of tensors (see :data:`LAYERS`).

    Raises
    ------
    MusicnnError
        When the checkpoint files are missing (the message names ``pip install --no-deps
        musicnn==0.1.0``).
    CheckpointError
        When they are malformed or do not fit the architecture.

    Examples
    --------
    >>> net = load_musicnn("MSD_musicnn")  # doctest: +SKIP
    >>> net(torch.zeros(2, 187, 96))["penultimate"].shape  # doctest: +SKIP
    torch.Size([2, 200])
    """
    torch = _torch()
    folder = musicnn_checkpoint_dir(model, weights_dir=weights_dir)
    ckpt = Checkpoint(str(folder) + os.sep)
    network = _network_class()()
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


@functools.lru_cache(maxsize=4)
def _cached_network(model: str, weights_dir: str | None, device: str):
    # One network per model and device per process (joblib workers load it once, on first use).
    return load_musicnn(model, weights_dir=weights_dir).to(device)


def _check_layers(layers: Iterable[str]) -> tuple[str, ...]:
    if isinstance(layers, str):
        layers = (layers,)
    layers = tuple(layers)
    unknown = [la for la in layers if la not in LAYERS]
    if unknown or not layers:
        raise MusicnnError(f"unknown musicnn layer(s) {unknown or '(none given)'}; choose from "
                           f"{LAYERS}")
    return layers


def embed_patches(patches: np.ndarray, *, model: str = "MSD_musicnn",
                  layers: Iterable[str] = ("mean_pool", "max_pool", "penultimate", "taggram"),
                  batch_size: int = 1, device: str | None = None,
                  weights_dir: str | os.PathLike | None = None,
                  n_threads: int | None = 1) -> dict[str, np.ndarray]:
    """Run log-mel patches through a musicnn model, in batches of bounded memory.

    The network is loaded once per process and model (then kept); it runs on ``n_threads``
    torch threads (one by default: on a busy machine more threads spin-wait and lose; the
    caller's setting is restored afterwards). Peak memory grows with ``batch_size`` by about 15 MB per patch (the front
    end's 204 x 187 x 59 timbral convolution maps); on the CPU one patch per pass is as fast
    as more (measured: 0.78 s per 30 s clip with 1 or 2, 1.19 s with 10, on one thread), so
    the default 1 adds about 6 MB to the process. On a GPU, pass a larger batch.

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    patches : np.ndarray [shape=(n_patches, n_frames, 96)]
        From :func:`musicnn_input` (``n_frames`` 187, as trained).
    model : {"MSD_musicnn", "MTT_musicnn"}
    layers : iterable of str
        Any of :data:`LAYERS`.
    batch_size : int > 0
        Patches per forward pass.
    device : str, optional
        A torch device (``"cpu"`` by default, ``"cuda"`` when available and wanted).
    weights_dir : path-like, optional
        See :func:`musicnn_checkpoint_dir`.
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
    >>> patches = musicnn_input(load_audio("song.mp3", sr=16000), sr=16000)  # doctest: +SKIP
    >>> out = embed_patches(patches, layers=["penultimate", "taggram"])  # doctest: +SKIP
    >>> out["penultimate"].mean(axis=0).shape  # the clip's embedding  # doctest: +SKIP
    (200,)
    """
    torch = _torch()
    _check_model(model)
    layers = _check_layers(layers)
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


def musicnn_features(y: np.ndarray, *, sr: int, model: str = "MSD_musicnn",
                     layer: str = "penultimate", batch_size: int = 1,
                     device: str | None = None,
                     weights_dir: str | os.PathLike | None = None,
                     n_threads: int | None = 1) -> np.ndarray:
    """Patch-level musicnn embeddings of one clip (its embedding is their mean over patches).

    :func:`musicnn_input` then :func:`embed_patches` for one layer. **Recommended:** the
    default, ``MSD_musicnn``'s 200-d ``penultimate`` layer averaged over the 3 s patches
    (``musicnn_features(y, sr=sr).mean(axis=0)``): it generalises best to music and artists a
    classifier never saw (on Emotify clips with an SVC, macro-F1 about 0.79 on 4 genres and
    0.94 on Classic / Non_classic, against 0.59 / 0.91 for the best hand-crafted features);
    ``taggram`` gives 50 interpretable tag probabilities, ``mean_pool`` / ``max_pool`` the
    753-d mid-level maps before the dense layers.

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal.
    sr : int > 0
        Its sampling rate (resampled to 16 kHz).
    model : {"MSD_musicnn", "MTT_musicnn"}
    layer : str
        One of :data:`LAYERS`.
    batch_size, device, weights_dir, n_threads
        See :func:`embed_patches`.

    Returns
    -------
    embeddings : np.ndarray [shape=(n_patches, LAYER_SIZES[layer]), dtype=float32]
        One row per 3 s patch (10 for a 30 s clip).

    Raises
    ------
    MusicnnError
        See :func:`musicnn_input` and :func:`embed_patches`.

    Examples
    --------
    >>> y = load_audio("song.mp3", sr=16000)  # doctest: +SKIP
    >>> musicnn_features(y, sr=16000).mean(axis=0).shape  # doctest: +SKIP
    (200,)
    """
    layer = _check_layers([layer])[0]
    _check_model(model)
    patches = musicnn_input(y, sr=sr)
    return embed_patches(patches, model=model, layers=(layer,), batch_size=batch_size,
                         device=device, weights_dir=weights_dir, n_threads=n_threads)[layer]
