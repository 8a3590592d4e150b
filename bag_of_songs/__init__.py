"""Bag of Songs: music-genre classification from hand-crafted audio features.

Modules mirror the notebooks:

- :mod:`bag_of_songs.data` (notebook 1): load and homogenise audio, prepare corpora.
- :mod:`bag_of_songs.features` (notebook 2): frame-level features and the feature table.
- :mod:`bag_of_songs.models` (notebook 3): TabularDataset, MLP, SVC, random forest, evaluation,
  model selection, segment models and label hierarchies.
- :mod:`bag_of_songs.cnn` (notebook 4): log-mel spectrograms, the CNN and the hybrid.
- :mod:`bag_of_songs.musicnn` (notebook 5): the pretrained musicnn embeddings, ported to torch,
  and their tags with no training (:func:`tag_file`).
- :mod:`bag_of_songs.plot`: figures for all of them.

``bag_of_songs.models`` imports torch; its names here (``load_model``, ``save_model``,
``predict_file``, ``evaluate``) load it on first use, so importing the package stays light.
"""

import importlib as _importlib

from ._version import __version__
from .data import (
    DURATION,
    FRAME_SIZE,
    HOP_LENGTH,
    LEVELS,
    N_SAMPLES,
    SAMPLE_RATE,
    AudioLoadError,
    DataSourceError,
    fix_length,
    load_audio,
    prepare,
)
from .features import (
    FeatureError,
    FeatureExtractor,
    FeatureSettings,
    build_feature_table,
    extract_features,
)

#: Names served from a heavy submodule, imported on first use (PEP 562).
_LAZY = {"load_model": "models", "save_model": "models", "predict_file": "models",
         "evaluate": "models", "ModelError": "models", "tag_file": "musicnn",
         "StudyMLPClassifier": "models", "SegmentClassifier": "models"}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(_importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__",
    "SAMPLE_RATE",
    "DURATION",
    "N_SAMPLES",
    "FRAME_SIZE",
    "HOP_LENGTH",
    "LEVELS",
    "AudioLoadError",
    "DataSourceError",
    "FeatureError",
    "load_audio",
    "fix_length",
    "prepare",
    "extract_features",
    "build_feature_table",
    "load_model",
    "save_model",
    "predict_file",
    "evaluate",
    "ModelError",
    "tag_file",
    "FeatureSettings",
    "FeatureExtractor",
    "StudyMLPClassifier",
    "SegmentClassifier",
]
