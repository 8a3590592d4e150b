"""Frame-level audio features and their pooling into one tabular row per clip.

Explained in ``notebooks/2-features-explanation.ipynb`` (the package follows that notebook;
the embedding columns are explained in ``notebooks/5-pretrained-embeddings.ipynb``).

One job per module, dependencies running down this list:

- :mod:`bag_of_songs.spectrum` (beside this package, shared with the musicnn front end): the
  one STFT of a clip (:func:`compute_spectrogram`) and the input checks.
- :mod:`.params`: the vocabulary: pooling statistics, feature sets, ``features.json`` keys,
  and the check of each parameter (the errors, :class:`FeatureError`,
  :class:`StaleFeaturesError` and :class:`EmbeddingError`, live in :mod:`bag_of_songs.errors`).
- :mod:`.spectral`: the study's frame features, each from ``y=`` or ``S=``.
- :mod:`.frames`: every frame feature of a clip from one STFT, pooled over the clip or over
  each segment (texture windows).
- :mod:`.embedding`: the musicnn embedding as table columns (model, layer, patches,
  checkpoint).
- :mod:`.settings`: the settings of a table (:func:`feature_settings`,
  :func:`check_settings`, :func:`read_feature_settings`).
- :mod:`.extract`: one clip's row (:func:`extract_features`, :func:`feature_names`).
- :mod:`.provenance`: ``features.json`` and the staleness checks
  (:func:`check_feature_table`, :func:`check_feature_tables`).
- :mod:`.resume`: the side file that lets an interrupted run resume clip by clip.
- :mod:`.compute`: a split's table in memory, clip by clip in worker processes.
- :mod:`.tables`: tables on disk (:func:`build_feature_table`, :func:`build_feature_tables`)
  or in memory (:func:`extract_feature_table`, :func:`extract_setting_tables`).
- :mod:`.ranking`: :func:`rank_features`, :func:`correlated_pairs`.

Segments (texture windows): ``extract_features(y, segment=3.0)`` pools the same frames of the
clip's one STFT over each 3 s segment instead of the whole clip, one row per segment
(:func:`segment_frames` says which frames form segment :math:`i`; :func:`pool_segments` pools
them, vectorised). Feature tables record how they were made and what from (``features.json``);
:func:`check_feature_table` and :func:`check_feature_tables` refuse a stale or mixed table.

Pretrained embeddings: ``feature_set="musicnn"`` puts the embedding of the pretrained musicnn
network (:mod:`bag_of_songs.musicnn`; explained in ``notebooks/5-pretrained-embeddings.ipynb``)
in the same tables, and ``"seed+musicnn"`` / ``"extended+musicnn"`` put it beside the study's
columns. **Recommended:** the default, ``MSD_musicnn``'s 200-d ``penultimate`` layer averaged
over the clip's 3 s patches: the network's most compact summary of a million songs' tags,
more general than the 50 tag probabilities (``taggram``, one task's labels) and less redundant
than the 753-d pools. The measured comparison is in ``benchmarks/bench_accuracy.py`` and
``../shared/data/musicnn-reference/README.md``.
"""

from __future__ import annotations

from ..errors import EmbeddingError, FeatureError, StaleFeaturesError
from ..spectrum import compute_spectrogram
from .compute import (  # noqa: F401 (private names kept for tests)
    _features_for_file,
)
from .embedding import (  # noqa: F401 (private names kept for tests)
    _one_torch_thread,
    check_musicnn_checkpoint,
    segment_patches,
)
from .extract import (
    extract_features,
    extract_with_settings,
    feature_names,
)
from .frames import (
    compute_frame_features,
    pool_features,
    pool_segments,
    segment_frames,
)
from .params import (
    FEATURE_SETS,
    FEATURES_FORMAT_VERSION,
    MUSICNN_LAYERS,
    MUSICNN_SETTING_KEYS,
    STATS,
    TABLE_FEATURE_SETS,
    split_feature_set,
)
from .provenance import (
    check_feature_table,
    check_feature_tables,
)
from .ranking import (
    correlated_pairs,
    rank_features,
)
from .resume import (  # noqa: F401 (private names kept for tests)
    _partial_line,
    _partial_path,
    _row_values,
    _values_row,
)
from .settings import (
    EXTRACTION_KEYWORDS,
    SETTING_KEYS,
    FeatureSettings,
    as_settings,
    check_settings,
    feature_settings,
    read_feature_settings,
)
from .sklearn import FeatureExtractor
from .spectral import (
    AMIN,  # noqa: F401 (importable as before)
    PITCH_CLASSES,
    amplitude_envelope,
    band_energy_ratio,
    chroma,
    log_mel_spectrogram,
    mfcc,
    rms,
    spectral_bandwidth,
    spectral_centroid,
    spectral_rolloff,
    zero_crossing_rate,
)
from .tables import (  # noqa: F401 (private names kept for tests)
    _stage_split,
    build_feature_table,
    build_feature_tables,
    extract_feature_table,
    extract_setting_tables,
)

__all__ = [
    "FeatureError",
    "StaleFeaturesError",
    "EmbeddingError",
    "FEATURES_FORMAT_VERSION",
    "SETTING_KEYS",
    "MUSICNN_SETTING_KEYS",
    "PITCH_CLASSES",
    "STATS",
    "FEATURE_SETS",
    "TABLE_FEATURE_SETS",
    "MUSICNN_LAYERS",
    "split_feature_set",
    "compute_spectrogram",
    "amplitude_envelope",
    "rms",
    "zero_crossing_rate",
    "band_energy_ratio",
    "spectral_centroid",
    "spectral_bandwidth",
    "spectral_rolloff",
    "chroma",
    "mfcc",
    "compute_frame_features",
    "pool_features",
    "segment_frames",
    "pool_segments",
    "segment_patches",
    "feature_names",
    "extract_features",
    "extract_with_settings",
    "check_settings",
    "FeatureSettings",
    "FeatureExtractor",
    "as_settings",
    "check_musicnn_checkpoint",
    "build_feature_table",
    "extract_feature_table",
    "extract_setting_tables",
    "EXTRACTION_KEYWORDS",
    "build_feature_tables",
    "feature_settings",
    "read_feature_settings",
    "check_feature_table",
    "check_feature_tables",
    "rank_features",
    "log_mel_spectrogram",
    "correlated_pairs",
]
