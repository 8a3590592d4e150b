r"""Pretrained musicnn embeddings in torch: the MSD and MTT models of musicnn 0.1.0, no TensorFlow.

Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

musicnn (Pons and Serra, "musicnn: pre-trained convolutional neural networks for music audio
tagging", ISMIR 2019 late-breaking demo) is a tagging network trained on 3 s log-mel patches of
the Million Song Dataset (``MSD_musicnn``, 50 Last.fm tags) or of MagnaTagATune
(``MTT_musicnn``, 50 tags). This package ports its architecture (``musicnn/models.py`` of the
wheel) to torch and loads the trained weights from the TensorFlow 1 checkpoints shipped by the
registry wheel ``musicnn==0.1.0`` (ISC licence), installed for its data only::

    pip install --no-deps musicnn==0.1.0

One job per module, as musicnn's own ``configuration.py`` / ``models.py`` / ``extractor.py``:

- :mod:`.config`: the models, layers, front-end parameters, tags and :class:`MusicnnError`;
- :mod:`.frontend`: :func:`musicnn_input`, a clip as 16 kHz log-mel patches;
- :mod:`.network`: the torch modules (the only module that imports torch at its top);
- :mod:`.weights`: finding the installed checkpoints (read by
  :mod:`bag_of_songs.embeddings.tfcheckpoint`), :func:`musicnn_settings`, :func:`load_musicnn`;
- :mod:`.embed`: :func:`embed_patches` and :func:`musicnn_features`.

Importing the package does not import torch (the feature tables read :data:`MODELS` and
:data:`LAYER_SIZES` without it): torch is imported when a network is first built.

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
753-d pools; it transfers best to artists a classifier never saw (measured in
``../shared/data/musicnn-reference/README.md``). MSD (200,000 songs of all popular genres) is
preferred over MTT (25,000 clips, skewed to classical and electronic).

Examples
--------
>>> from bag_of_songs.demo import synthesize_demo_clip
>>> from bag_of_songs.embeddings.musicnn import musicnn_features, musicnn_tags
>>> y = synthesize_demo_clip("rock", 0, sr=16000, duration=6.0)
>>> taggram = musicnn_features(y, sr=16000, layer="taggram")  # one row per 3 s patch
>>> taggram.shape, len(musicnn_tags())  # a probability per tag, in musicnn_tags' order
((2, 50), 50)
"""

from __future__ import annotations

from ..tfcheckpoint import CheckpointError
from .config import (
    HOP_LENGTH,
    LAYER_SIZES,
    LAYERS,
    MODELS,
    N_FFT,
    N_FRAMES,
    N_MELS,
    PIP_COMMAND,
    SR,
    MusicnnError,
    musicnn_tags,
)
from .embed import embed_patches, musicnn_features
from .frontend import musicnn_input
from .tags import FileTags, rank_tags, tag_file, tag_files
from .weights import load_musicnn, musicnn_checkpoint_dir, musicnn_settings
from .zero_shot import GENRE_TAGS, zero_shot_genres

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
    "FileTags",
    "rank_tags",
    "tag_file",
    "tag_files",
    "GENRE_TAGS",
    "zero_shot_genres",
]
