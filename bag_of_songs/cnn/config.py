"""What a saved CNN or hybrid stores beside its weights, checked before anything is allocated.

Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (sections 2 and 6). A saved model keeps
:func:`model_config` (its :func:`~bag_of_songs.cnn.nets.architecture`, spectrogram settings,
normaliser and crops); on load :func:`check_model_config` validates it, bounded by the size
limits below, and :func:`build_from_architecture` rebuilds the module before its
``state_dict`` is loaded with ``weights_only=True``. :func:`architecture_size` computes what a
network holds from its ``architecture`` alone, so that a model file is refused when absurd
before any memory is allocated.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._constants import FRAME_SIZE, HOP_LENGTH, SAMPLE_RATE
from ..errors import CNNError
from .blocks import BLOCKS
from .crops import _check_normalizer, crop_starts
from .frontend import spectrogram_settings
from .nets import HybridNet, SpectrogramCNN, architecture

#: The most parameters a saved spectrogram model may declare (far above this project's networks),
#: checked from its ``architecture`` before any module is built.
MAX_PARAMETERS = 50_000_000
#: The most activations one crop may produce in one block of a saved model's network (channels
#: x mel bands x frames before the block's pooling), far above this project's networks.
MAX_CROP_ACTIVATIONS = 1 << 21
#: The most values a saved model's front end may make of one clip (frames x frequency bins,
#: and samples), far above any real setting.
MAX_CLIP_VALUES = 1 << 25


def _check_architecture_keys(arch) -> str:
    """The class name of an architecture dict with exactly its class's keys."""
    if not isinstance(arch, dict):
        raise CNNError(f"an architecture is a dict, got {type(arch).__name__}")
    keys = {"SpectrogramCNN": {"n_mels", "n_classes", "channels", "blocks", "dropout"},
            "HybridNet": {"n_mels", "n_classes", "channels", "blocks", "dropout", "n_tab",
                          "hidden"}}
    cls_name = arch.get("class")
    if cls_name not in keys:
        raise CNNError(f"unknown architecture class {cls_name!r}; choose from {sorted(keys)}")
    given = set(arch) - {"class"}
    if given != keys[cls_name]:
        raise CNNError(f"architecture of {cls_name} needs exactly the keys "
                       f"{sorted(keys[cls_name])}; missing {sorted(keys[cls_name] - given)}, "
                       f"unknown {sorted(given - keys[cls_name])}")
    return cls_name


def _arch_int(arch: dict, key: str, lo: int, hi: int) -> int:
    v = arch[key]
    if not (isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
            and lo <= v <= hi):
        raise CNNError(f"architecture.{key} must be an integer in {lo}..{hi}, got {v!r}")
    return int(v)


def architecture_size(arch: dict) -> dict:
    """What a network of :func:`architecture`'s dict holds, computed without building it.

    The arithmetic of the blocks (3x3 convolutions without bias, batch norm with its running
    statistics, the 1x1 shortcut of a residual block that changes the channel count, the
    linear head), so that a saved model's ``architecture`` can be checked against its weights
    file and refused when absurd before any memory is allocated.

    Parameters
    ----------
    arch : dict
        From :func:`architecture`.

    Returns
    -------
    size : dict
        ``parameters`` (trainable, as :func:`count_parameters`), ``tensors`` (entries of the
        ``state_dict``) and ``state_bytes`` (bytes of all ``state_dict`` tensors: float32
        parameters and running statistics, one int64 batch counter per batch norm).

    Raises
    ------
    CNNError
        Naming the field (``architecture.channels``, ``architecture.n_tab``...) on a missing,
        unknown or out-of-range value, or a network of more than :data:`MAX_PARAMETERS`
        parameters.

    Examples
    --------
    >>> from bag_of_songs.cnn import count_parameters
    >>> arch = architecture(SpectrogramCNN(96, 4))
    >>> architecture_size(arch)["parameters"] == count_parameters(SpectrogramCNN(96, 4))
    True
    """
    cls_name = _check_architecture_keys(arch)
    channels, blocks = arch["channels"], arch["blocks"]
    if not (isinstance(channels, (list, tuple)) and isinstance(blocks, (list, tuple))
            and 1 <= len(channels) <= 16 and len(channels) == len(blocks)):
        raise CNNError(f"architecture.channels and architecture.blocks must be lists of the same "
                       f"length 1..16, got {str(channels)[:80]} and {str(blocks)[:80]}")
    for c in channels:
        if not (isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_))
                and 1 <= c <= 1 << 16):
            raise CNNError(f"architecture.channels must be integers in 1..65536, got "
                           f"{str(channels)[:80]}")
    bad = [b for b in blocks if b not in BLOCKS]
    if bad:
        raise CNNError(f"architecture.blocks: unknown block kind(s) {bad[:5]}; choose from "
                       f"{sorted(BLOCKS)}")
    _arch_int(arch, "n_mels", 1, 1 << 16)
    n_classes = _arch_int(arch, "n_classes", 2, 1 << 16)
    params = floats = tensors = n_bn = 0
    c_in = 1
    for c, kind in zip(channels, blocks, strict=True):
        c = int(c)
        weights = 9 * c_in * c + (9 * c * c if kind == "res" else 0)
        n_conv = 2 if kind == "res" else 1  # each followed by a batch norm
        if kind == "res" and c_in != c:  # the 1x1 shortcut
            weights += c_in * c
            n_conv += 1
        params += weights + 2 * c * n_conv  # conv weights; batch norm weight and bias
        floats += 2 * c * n_conv  # batch norm running mean and variance
        tensors += 6 * n_conv  # conv weight; batch norm's five tensors
        n_bn += n_conv
        c_in = c
    if params > MAX_PARAMETERS:
        raise CNNError(f"architecture.channels {str(channels)[:80]} imply {params:,} parameters, "
                       f"more than the {MAX_PARAMETERS:,} a saved model may have")
    emb = 2 * c_in
    if cls_name == "HybridNet":
        n_tab = _arch_int(arch, "n_tab", 1, 1 << 20)
        hidden = _arch_int(arch, "hidden", 1, 1 << 16)
        head, field = (emb + n_tab) * hidden + hidden + hidden * n_classes + n_classes, "n_tab"
        tensors += 4
    else:
        head, field = emb * n_classes + n_classes, "n_classes"
        tensors += 2
    params += head
    if params > MAX_PARAMETERS:
        raise CNNError(f"architecture.{field} (with the head) implies {params:,} parameters, "
                       f"more than the {MAX_PARAMETERS:,} a saved model may have")
    dropout = arch["dropout"]
    if not (isinstance(dropout, (int, float)) and not isinstance(dropout, bool)
            and 0.0 <= dropout < 1.0):
        raise CNNError(f"architecture.dropout must lie in [0, 1), got {dropout!r}")
    return {"parameters": params, "tensors": tensors,
            "state_bytes": 4 * (params + floats) + 8 * n_bn}


def _crop_activations(arch: dict, crop_frames: int) -> int:
    """The largest activation map (channels x bands x frames) one crop makes in a block."""
    h, w, most = int(arch["n_mels"]), int(crop_frames), 0
    for c in arch["channels"]:
        most = max(most, int(c) * h * w)
        h, w = -(-h // 2), -(-w // 2)  # max-pool 2, ceil_mode
    return most


def build_from_architecture(arch: dict) -> nn.Module:
    """A new (untrained) module from :func:`architecture`'s dict.

    Only the two classes of this module can be built, from plain numbers and strings, so a
    model file cannot make it construct anything else.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).

    Parameters
    ----------
    arch : dict

    Returns
    -------
    module : SpectrogramCNN or HybridNet
        In eval mode.

    Raises
    ------
    CNNError
        On an unknown class, a missing or unknown key, or a bad value.
    """
    cls_name = _check_architecture_keys(arch)
    architecture_size(arch)  # refuses a network too large to build, before allocating it
    try:
        kw = {"n_mels": int(arch["n_mels"]), "n_classes": int(arch["n_classes"]),
              "channels": [int(c) for c in arch["channels"]],
              "blocks": [str(b) for b in arch["blocks"]], "dropout": float(arch["dropout"])}
        if cls_name == "HybridNet":
            module = HybridNet(n_tab=int(arch["n_tab"]), hidden=int(arch["hidden"]), **kw)
        else:
            module = SpectrogramCNN(**kw)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, CNNError):
            raise
        raise CNNError(f"bad architecture values ({exc}): {arch}") from exc
    return module.eval()

def model_config(module: nn.Module, info: dict, settings: dict | None = None) -> dict:
    """Everything besides the weights that a saved CNN or hybrid needs to predict (JSON).

    Store it in the model's metadata; :func:`check_model_config` validates it on load and
    :func:`build_from_architecture` rebuilds the module from it.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 6).

    Parameters
    ----------
    module : SpectrogramCNN or HybridNet
    info : dict
        From :func:`train_cnn` (its ``normalizer``, ``crop_frames``, ``crop_hop``).
    settings : dict, optional
        The spectrogram settings the training clips were computed with (default: the
        defaults of :func:`spectrogram_settings`).

    Returns
    -------
    config : dict
        ``architecture``, ``spectrogram``, ``normalizer``, ``crop_frames``, ``crop_hop``.
    """
    config = {"architecture": architecture(module),
              "spectrogram": spectrogram_settings(**(settings or {})),
              "normalizer": dict(info["normalizer"]), "crop_frames": int(info["crop_frames"]),
              "crop_hop": int(info["crop_hop"])}
    return check_model_config(config)


def _check_front_end_cost(spec: dict) -> int:
    """The frames of a clip under settings ``spec``; refuses settings no real model has.

    Bounds the samples of a clip and its frames x frequency bins (or mel bands) by
    :data:`MAX_CLIP_VALUES`, naming the field that goes furthest beyond the defaults.
    """
    if spec["duration"] > 3600:
        raise CNNError(f"spectrogram.duration must be at most 3600 s, got {spec['duration']}")
    if spec["sr"] > 768_000:
        raise CNNError(f"spectrogram.sr must be at most 768000, got {spec['sr']}")
    samples = int(round(spec["sr"] * spec["duration"]))
    if samples > MAX_CLIP_VALUES:
        raise CNNError(f"spectrogram.duration {spec['duration']} s at spectrogram.sr "
                       f"{spec['sr']} makes {samples:,} samples per clip, more than a model may "
                       f"ask for ({MAX_CLIP_VALUES:,})")
    t = 1 + samples // spec["hop_length"]
    rows = max(spec["n_fft"] // 2 + 1, spec["n_mels"])
    if t * rows > MAX_CLIP_VALUES:
        growth = {"hop_length": HOP_LENGTH / spec["hop_length"],
                  "n_fft": spec["n_fft"] / FRAME_SIZE, "n_mels": spec["n_mels"] / 96,
                  "sr": spec["sr"] / SAMPLE_RATE}
        key = max(growth, key=growth.get)
        raise CNNError(f"spectrogram.{key} {spec[key]} (with sr {spec['sr']}, n_fft "
                       f"{spec['n_fft']}, hop_length {spec['hop_length']}, n_mels "
                       f"{spec['n_mels']}) makes {t:,} frames x {rows:,} bins per clip, more "
                       f"than a model may ask for ({MAX_CLIP_VALUES:,} values)")
    return t


def check_model_config(config) -> dict:
    """Validate a stored :func:`model_config`; returns it normalised.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 6).

    Raises
    ------
    CNNError
        Naming the first bad field: unknown or missing keys, an architecture that cannot be
        built, settings out of range, a normaliser without a positive std, crops longer than a
        clip, or mel bands that differ between the spectrogram and the architecture.
    """
    keys = {"architecture", "spectrogram", "normalizer", "crop_frames", "crop_hop"}
    if not isinstance(config, dict) or set(config) != keys:
        got = sorted(config) if isinstance(config, dict) else type(config).__name__
        raise CNNError(f"a CNN model config has exactly the keys {sorted(keys)}, got {got}")
    arch = config["architecture"]
    with torch.device("meta"):  # checks everything the constructors check, allocating nothing
        build_from_architecture(arch)  # raises on anything it cannot build, or too large
    spec = spectrogram_settings(**config["spectrogram"]) if isinstance(
        config["spectrogram"], dict) else None
    if spec is None:
        raise CNNError("config field spectrogram must be a mapping of settings")
    t = _check_front_end_cost(spec)
    mean, std = _check_normalizer(config["normalizer"])
    if arch["n_mels"] != spec["n_mels"]:
        raise CNNError(f"config: the architecture takes {arch['n_mels']} mel "
                       f"bands but the spectrogram settings make {spec['n_mels']}")
    try:
        crop_frames, crop_hop = int(config["crop_frames"]), int(config["crop_hop"])
    except (TypeError, ValueError) as exc:
        raise CNNError(f"config fields crop_frames and crop_hop must be integers ({exc})") from exc
    if crop_frames < 1 or crop_hop < 1:
        raise CNNError(f"crop_frames and crop_hop must be >= 1, got {crop_frames}, {crop_hop}")
    if crop_frames <= t:
        n_crops = (t - crop_frames) // crop_hop + 2
        if n_crops * crop_frames * spec["n_mels"] > MAX_CLIP_VALUES:
            raise CNNError(f"crop_hop {crop_hop} (crops of {crop_frames} frames) makes "
                           f"{n_crops:,} crops of a clip: more than a model may ask for "
                           f"({MAX_CLIP_VALUES:,} values per clip)")
        most = _crop_activations(arch, crop_frames)
        if most > MAX_CROP_ACTIVATIONS:
            raise CNNError(f"architecture.channels {arch['channels']} on crops of "
                           f"{spec['n_mels']} x {crop_frames} make {most:,} activations per "
                           f"crop in one block, more than the {MAX_CROP_ACTIVATIONS:,} a saved "
                           "model may ask for")
    crop_starts(t, crop_frames, crop_hop)  # raises when a crop exceeds a clip
    return {"architecture": dict(config["architecture"]), "spectrogram": spec,
            "normalizer": {"kind": "global", "mean": mean, "std": std,
                           **({"n_clips": int(config["normalizer"]["n_clips"])}
                              if "n_clips" in config["normalizer"] else {})},
            "crop_frames": crop_frames, "crop_hop": crop_hop}

