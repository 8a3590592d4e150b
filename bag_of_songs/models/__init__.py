"""Models: a TabularDataset, the study's 128-64-out MLP, SVC and random-forest baselines,
evaluation, safe saving, and prediction of new audio files.

Explained in ``notebooks/3-models-prediction.ipynb`` (the spectrogram kinds in
``notebooks/4-spectrogram-cnn.ipynb``).

Every model is wrapped in a :class:`GenreClassifier` that carries what is needed to use it later:
the fitted estimator, the class names, the feature columns, the scaler fitted on the training
split, and the feature settings. :func:`evaluate` works the same for every kind.

One job per module, dependencies running down this list:

- :mod:`.kinds`: the model kinds, as the command line names them.
- :mod:`.feature_settings`: the feature settings a model carries, in words, and the check that
  a table was built with them.
- :mod:`.dataset`: :func:`read_features`, :class:`TabularDataset` (scaled features, class
  indices, the clip of each row) and the pooling of a segment table's rows per clip.
- :mod:`.mlp`: the study's :class:`MLP` and its one training loop (Adam, early stopping).
- :mod:`.estimators`: :class:`~bag_of_songs.StudyMLPClassifier`, that MLP as a scikit-learn
  classifier.
- :mod:`.softmax_svc`: the softmax fallback of a calibrated SVC for tiny classes.
- :mod:`.pipeline_view`: a model's parts as a fitted scikit-learn ``Pipeline`` (raw rows in,
  class names out), and back.
- :mod:`.classifier`: :class:`GenreClassifier` (its ``pipeline``, ``from_pipeline``) and
  :func:`as_pipeline`.
- :mod:`.mlp_training`: :func:`train_mlp` on a :class:`TabularDataset`.
- :mod:`.baselines`: the scikit-learn kinds (:func:`fit_svc`, :func:`fit_random_forest`,
  :func:`fit_logreg`) and their hyper-parameter grids, in one place (:data:`PARAM_GRIDS`).
- :mod:`.hierarchy`: label hierarchies (:func:`derive_proba`, :func:`decide_levels`).
- :mod:`.metadata`: reading and checking ``model.json``, field by field.
- :mod:`.safety`: the checks a weights file passes before it is used (skops allow-list, zip
  bombs, trees, SVCs, torch tensor sizes).
- :mod:`.persistence`: :func:`save_model`, :func:`load_model`, :func:`check_model_folder`.
- :mod:`.spectrogram`: the ``cnn`` and ``hybrid`` kinds (:func:`fit_spectrogram_model`), the
  bridge to :mod:`bag_of_songs.cnn`.
- :mod:`.predict`: :func:`predict_clips`, :func:`featurize_file`, :func:`predict_file`.
- :mod:`.evaluation`: :func:`evaluate` and its metrics.
- :mod:`.selection`: grouped folds, :func:`fit_model` and :func:`select_model`.
- :mod:`.folder`: a prepared folder as training input (:func:`load_splits`,
  :func:`read_clip_groups`, :func:`available_levels`, :func:`describe_split_rule`).
- :mod:`.training`: :func:`train_on_folder` and :func:`training_record`.
- :mod:`.comparison`: :func:`compare_models`, :func:`compare_feature_sets`,
  :func:`best_per_level`.

Examples
--------
>>> from bag_of_songs.models import TabularDataset, evaluate, fit_logreg
>>> import pandas as pd
>>> table = pd.DataFrame({"x": [0.0, 0.2, 0.9, 1.1], "label": ["a", "a", "b", "b"]})
>>> train = TabularDataset(table)
>>> model = fit_logreg(train)
>>> model.classes, evaluate(model, train)["n"]
(['a', 'b'], 4)
"""

from __future__ import annotations

from .._constants import ID_COLUMNS  # noqa: F401 (importable here as before the split)
from ..errors import ModelError
from .baselines import (  # noqa: F401 (skops loads _SoftmaxSVC by this module's name)
    DEFAULT_PARAMS,
    PARAM_GRIDS,
    _calibrated_svc,
    _SoftmaxSVC,
    fit_lda,
    fit_linear_svc,
    fit_logreg,
    fit_random_forest,
    fit_svc,
    param_grid,
)
from .calibration import (
    expected_calibration_error,
    flag_uncertain,
    reliability_table,
    selective_accuracy,
    uncertainty_threshold,
)
from .classifier import GenreClassifier, as_pipeline
from .comparison import best_per_level, compare_feature_sets, compare_models
from .dataset import TabularDataset, concat_datasets, read_features
from .estimators import StudyMLPClassifier
from .evaluation import evaluate
from .feature_settings import describe_feature_settings, extraction_settings, features_command
from .folder import (  # noqa: F401 (load_splits: importable, not in __all__, as before)
    available_levels,
    describe_split_rule,
    load_splits,
    read_clip_groups,
)
from .hierarchy import coarse_parents, decide_levels, derive_hierarchy, derive_proba
from .kinds import CALIBRATED_KINDS, DEFAULT_KINDS, MODEL_KINDS, SPECTROGRAM_KINDS, TABULAR_KINDS
from .metadata import MAX_CLIP_VALUES, _validate_settings  # noqa: F401 (as before the split)
from .mlp import MLP
from .mlp_training import train_mlp
from .persistence import check_model_folder, load_model, save_model
from .predict import featurize_file, predict_clips, predict_file
from .safety import TRUSTED_SKOPS_TYPES
from .segments import SegmentClassifier
from .selection import (  # noqa: F401 (CV_FOLDS: importable, not in __all__, as before)
    CV_FOLDS,
    CV_MAX_CLIPS,
    fit_model,
    grouped_folds,
    row_groups,
    select_model,
)
from .spectrogram import fit_spectrogram_model
from .training import _spectrogram_hold_out, train_on_folder, training_record  # noqa: F401

__all__ = [
    "ModelError",
    "TabularDataset",
    "MLP",
    "GenreClassifier",
    "as_pipeline",
    "train_mlp",
    "fit_svc",
    "fit_random_forest",
    "fit_model",
    "evaluate",
    "save_model",
    "load_model",
    "extraction_settings",
    "describe_feature_settings",
    "features_command",
    "check_model_folder",
    "select_model",
    "grouped_folds",
    "row_groups",
    "predict_clips",
    "featurize_file",
    "derive_hierarchy",
    "coarse_parents",
    "derive_proba",
    "decide_levels",
    "read_clip_groups",
    "training_record",
    "describe_split_rule",
    "concat_datasets",
    "fit_logreg",
    "fit_spectrogram_model",
    "SPECTROGRAM_KINDS",
    "TABULAR_KINDS",
    "DEFAULT_KINDS",
    "CV_MAX_CLIPS",
    "TRUSTED_SKOPS_TYPES",
    "predict_file",
    "read_features",
    "available_levels",
    "compare_models",
    "compare_feature_sets",
    "MODEL_KINDS",
    "best_per_level",
    "PARAM_GRIDS",
    "DEFAULT_PARAMS",
    "param_grid",
    "StudyMLPClassifier",
    "fit_lda",
    "fit_linear_svc",
    "CALIBRATED_KINDS",
    "SegmentClassifier",
    "expected_calibration_error",
    "reliability_table",
    "uncertainty_threshold",
    "flag_uncertain",
    "selective_accuracy",
]
