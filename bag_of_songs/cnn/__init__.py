r"""Spectrogram CNN and hybrid (CNN + hand-crafted features) models.

Explained in ``notebooks/4-spectrogram-cnn.ipynb``: does a model that learns from the
spectrogram beat the bag of hand-crafted features of notebooks 2 and 3?

One job per module, after Won et al.'s ``modules.py`` / ``model.py`` / ``solver.py`` split,
dependencies running down this list:

- :mod:`.frontend`: the log-mel settings (:func:`spectrogram_settings`) and one clip's log-mel
  spectrogram in dB (:func:`clip_log_mel`, :func:`file_log_mel`).
- :mod:`.clips`: lazy views of some clips of one or more spectrogram arrays
  (:class:`ClipSubset`, :func:`take_clips`, :func:`concat_clips`, :func:`clip_indices`).
- :mod:`.cache`: each split's spectrograms cached on disk as a float16 memory map
  (:func:`log_mel_cache`), and a feature table's clips from them (:func:`table_log_mels`).
- :mod:`.crops`: the global normaliser (:func:`fit_normalizer`, :func:`normalize`) and the
  crops that decide a clip (:func:`crop_starts`).
- :mod:`.blocks`: the named blocks, :class:`ConvBlock` and :class:`ResBlock` (Won et al.'s
  ``Conv_2d`` and ``Res_2d``).
- :mod:`.nets`: :class:`SpectrogramEncoder`, the compact short-chunk :class:`SpectrogramCNN`
  and the early-fusion :class:`HybridNet`; :func:`architecture`, :func:`summarize`.
- :mod:`.config`: what a saved model stores beside its weights (:func:`model_config`,
  :func:`check_model_config`), :func:`build_from_architecture`, :func:`architecture_size` and
  the size limits a model file must respect.
- :mod:`.inference`: crop-averaged class probabilities of clips and of audio files
  (:func:`predict_clip_proba`, :func:`predict_crop_proba`, :func:`predict_file_proba`).
- :mod:`.metrics`: the clip-level log-loss, accuracy and macro-F1.
- :mod:`.training`: :func:`train_cnn` (seeded, deterministic, early stopping).
- :mod:`.fusion`: late fusion, the alternative to the hybrid (:func:`late_fusion_proba`,
  :func:`choose_fusion_weight`).

In short: a clip (22,050 Hz, 30 s) becomes a 96-band log-mel spectrogram in dB of 1,292
frames, cached once per split; the network sees globally normalised 3 s crops (129 frames),
is trained on random crops with Adam and early stopping on the clip-level validation loss, and
decides a clip by averaging the probabilities of all its crops. The hybrid concatenates the
CNN's pooled embedding with the clip's scaled hand-crafted features; late fusion averages the
probabilities of separately trained models instead.

Integration
-----------
This package is self-contained: ``bag_of_songs.models`` wraps a trained module in its
``GenreClassifier`` (kinds ``"cnn"`` and ``"hybrid"``) with :func:`architecture` (every
constructor argument, JSON), the normaliser, the spectrogram settings and the crop settings;
:func:`build_from_architecture` rebuilds the module before its ``state_dict`` is loaded with
``weights_only=True``. It imports torch, so ``bag_of_songs`` imports it only when a CNN or
hybrid is used.
"""

from __future__ import annotations

from ..errors import CNNError
from .blocks import ConvBlock, ResBlock
from .cache import (  # noqa: F401 (private name kept for tests)
    _log_mel_for_file,
    cache_path,
    log_mel_cache,
    table_log_mels,
)
from .clips import ClipSubset, clip_indices, concat_clips, take_clips
from .config import (
    MAX_CLIP_VALUES,
    MAX_CROP_ACTIVATIONS,
    MAX_PARAMETERS,
    architecture_size,
    build_from_architecture,
    check_model_config,
    model_config,
)
from .crops import crop_starts, fit_normalizer, normalize
from .frontend import (  # noqa: F401 (FRONTEND: the front end's version, kept importable)
    CACHE_DTYPE,
    FRONTEND,
    clip_log_mel,
    file_log_mel,
    n_frames,
    settings_hash,
    spectrogram_settings,
)
from .fusion import choose_fusion_weight, late_fusion_proba
from .inference import predict_clip_proba, predict_crop_proba, predict_file_proba, resolve_device
from .nets import (
    HybridNet,
    SpectrogramCNN,
    SpectrogramEncoder,
    architecture,
    count_parameters,
    summarize,
)
from .training import train_cnn

__all__ = [
    "CNNError",
    "CACHE_DTYPE",
    "spectrogram_settings",
    "settings_hash",
    "n_frames",
    "clip_log_mel",
    "file_log_mel",
    "log_mel_cache",
    "cache_path",
    "ClipSubset",
    "take_clips",
    "concat_clips",
    "table_log_mels",
    "clip_indices",
    "fit_normalizer",
    "normalize",
    "crop_starts",
    "ConvBlock",
    "ResBlock",
    "SpectrogramEncoder",
    "SpectrogramCNN",
    "HybridNet",
    "architecture",
    "build_from_architecture",
    "architecture_size",
    "MAX_PARAMETERS",
    "MAX_CROP_ACTIVATIONS",
    "MAX_CLIP_VALUES",
    "summarize",
    "count_parameters",
    "resolve_device",
    "train_cnn",
    "predict_crop_proba",
    "predict_clip_proba",
    "model_config",
    "check_model_config",
    "predict_file_proba",
    "late_fusion_proba",
    "choose_fusion_weight",
]
