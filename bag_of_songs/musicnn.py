"""Pretrained musicnn embeddings: the code lives in :mod:`bag_of_songs.embeddings.musicnn`.

This module re-exports its user API under the name notebooks, the feature tables and the tests
have imported so far (``from bag_of_songs.musicnn import musicnn_features``). Private helpers
are not re-exported: patch them in their new homes (e.g.
``bag_of_songs.embeddings.musicnn.embed._cached_network``).

Explained in ``notebooks/5-pretrained-embeddings.ipynb``.
"""

from __future__ import annotations

from .embeddings.musicnn import (
    GENRE_TAGS,
    HOP_LENGTH,
    LAYER_SIZES,
    LAYERS,
    MODELS,
    N_FFT,
    N_FRAMES,
    N_MELS,
    PIP_COMMAND,
    SR,
    CheckpointError,
    FileTags,
    MusicnnError,
    embed_patches,
    load_musicnn,
    musicnn_checkpoint_dir,
    musicnn_features,
    musicnn_input,
    musicnn_settings,
    musicnn_tags,
    rank_tags,
    tag_file,
    tag_files,
    zero_shot_genres,
)

__all__ = [
    "zero_shot_genres",
    "GENRE_TAGS",
    "FileTags",
    "rank_tags",
    "tag_file",
    "tag_files",
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
