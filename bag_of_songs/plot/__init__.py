"""Figures for the notebooks: signals, frame features, corpora, feature tables, models, embeddings.

One module per notebook, and every name importable from here, as the notebooks import them:

- :mod:`~bag_of_songs.plot.data`: notebook 1, the corpus's class balance.
- :mod:`~bag_of_songs.plot.signals`: notebooks 1 and 2, a clip's waveform, spectrum,
  spectrogram, chromagram, MFCCs and frame-level features over time.
- :mod:`~bag_of_songs.plot.features`: notebook 2, the feature table (values by class,
  correlations, the ranking, segments in feature space).
- :mod:`~bag_of_songs.plot.models`: notebook 3, training histories, confusion matrices, scores
  per level and model, class probabilities.
- :mod:`~bag_of_songs.plot.cnn`: notebook 4, log-mel spectrograms, the late fusion, the clips on
  which two models disagree.
- :mod:`~bag_of_songs.plot.embeddings`: notebook 5, the musicnn taggram.
- :func:`save_figure` (every notebook) and the helpers the modules share live in
  ``_common.py``.

Every function takes the data it draws plus an optional ``ax=`` (or ``fig=`` / ``axes=`` for
figures of several panels) and returns what it drew on, so that notebooks compose multi-panel
figures from them (as libfmp's plot helpers do). The numbers a figure shows are computed in
:mod:`bag_of_songs.analysis` (:func:`spans_decades`, :func:`standardize_rows`,
:func:`class_medians`, :func:`segment_projection`, :func:`top_tags`, :func:`fusion_curve`,
:func:`rank_disagreements`), re-exported here, so that notebooks can print what the figures
draw. Nothing here imports model code: the figures draw the scores, probabilities and
histories they are given.

matplotlib, seaborn and ``librosa.display`` are imported when this package is (``import
bag_of_songs`` alone does not import it). Nothing happens on import: no ``rcParams`` changes,
no seaborn theme.
"""

from ..analysis import (
    class_medians,
    fusion_curve,
    rank_disagreements,
    segment_projection,
    spans_decades,
    standardize_rows,
    top_tags,
)
from ._common import save_figure
from .cnn import (
    plot_confusion_matrices_by_level,
    plot_disagreements,
    plot_fusion_weight,
    plot_log_mels,
)
from .data import plot_class_balance
from .embeddings import plot_taggram
from .features import (
    plot_correlation,
    plot_feature_boxplots,
    plot_feature_ranking,
    plot_segments,
)
from .models import (
    confusion_matrix_size,
    plot_confusion_matrices,
    plot_confusion_matrix,
    plot_level_probabilities,
    plot_probabilities,
    plot_reliability,
    plot_results,
    plot_segment_probabilities,
    plot_training_history,
)
from .signals import (
    FEATURE_LABELS,
    plot_chromagram,
    plot_envelope,
    plot_frame_feature,
    plot_mfcc,
    plot_mfccs,
    plot_spectrogram,
    plot_spectrum,
    plot_waveform,
)

__all__ = [
    "FEATURE_LABELS",
    "save_figure",
    "spans_decades",
    "standardize_rows",
    "class_medians",
    "confusion_matrix_size",
    "segment_projection",
    "top_tags",
    "plot_waveform",
    "plot_envelope",
    "plot_frame_feature",
    "plot_spectrum",
    "plot_spectrogram",
    "plot_chromagram",
    "plot_mfcc",
    "plot_mfccs",
    "plot_segments",
    "plot_class_balance",
    "plot_feature_boxplots",
    "plot_correlation",
    "plot_feature_ranking",
    "plot_training_history",
    "plot_reliability",
    "plot_confusion_matrix",
    "plot_confusion_matrices",
    "plot_results",
    "plot_probabilities",
    "plot_level_probabilities",
    "plot_segment_probabilities",
    "plot_taggram",
    "plot_log_mels",
    "fusion_curve",
    "plot_fusion_weight",
    "plot_confusion_matrices_by_level",
    "rank_disagreements",
    "plot_disagreements",
]
