"""Pretrained embeddings: what networks trained on other music say about a clip (notebook 5).

- :mod:`bag_of_songs.embeddings.musicnn`: the MSD and MTT musicnn models ported to torch,
  their 16 kHz log-mel front end and the user API (:func:`~.musicnn.musicnn_features`, ...);
- :mod:`bag_of_songs.embeddings.tfcheckpoint`: a data-only reader of the TensorFlow
  checkpoints their weights ship in (no TensorFlow).

Dependencies run one way: the STFT (:mod:`bag_of_songs.spectrum`) -> embeddings -> the feature
tables (:mod:`bag_of_songs.features`), which store embeddings beside the study's features.
Nothing here imports the feature tables, and importing this package does not import torch.
"""
