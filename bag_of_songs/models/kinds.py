"""The kinds of model, as the command line names them (a leaf of the package).

Explained in ``notebooks/3-models-prediction.ipynb`` (the table kinds) and
``notebooks/4-spectrogram-cnn.ipynb`` (the spectrogram kinds).

Examples
--------
>>> set(TABULAR_KINDS) | set(SPECTROGRAM_KINDS) == set(MODEL_KINDS)
True
"""

from __future__ import annotations

#: The model kinds, as the CLI names them.
MODEL_KINDS = ("mlp", "svc", "rf", "logreg", "lda", "linsvc", "cnn", "hybrid")
#: Kinds that learn from log-mel spectrograms (bag_of_songs.cnn) rather than feature rows.
SPECTROGRAM_KINDS = ("cnn", "hybrid")
#: Kinds that learn from feature rows only: the study's MLP and SVC, a random forest, and the
#: regularised linear heads (logistic regression, shrinkage LDA, linear SVC).
TABULAR_KINDS = ("mlp", "svc", "rf", "logreg", "lda", "linsvc")
#: Kinds whose probabilities are Platt-calibrated by cross-validation (their own scores are not
#: probabilities, or not honest ones).
CALIBRATED_KINDS = ("svc", "lda", "linsvc")
#: The kinds ``compare_models`` and ``bag-of-songs run`` train by default (the study's MLP and
#: its two baselines).
DEFAULT_KINDS = ("mlp", "svc", "rf")
