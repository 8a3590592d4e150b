"""The feature settings a model carries: which they are, in words, and whether a table matches.

A model keeps the extraction settings of its training table (:func:`extraction_settings`), so
that :func:`~bag_of_songs.models.predict_file` featurises new audio the same way and a table
built otherwise is refused with both settings named and the command that rebuilds it.

Explained in ``notebooks/3-models-prediction.ipynb``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd

from ..errors import ModelError
from ..features import SETTING_KEYS, feature_settings


def extraction_settings(settings: dict) -> dict:
    """The feature-extraction part of a table's settings (what a model needs to featurise audio).

    Parameters
    ----------
    settings : dict
        E.g. :func:`bag_of_songs.features.read_feature_settings` of a training split, which
        also holds provenance (hashes, row counts, label columns).

    Returns
    -------
    settings : dict
        Only the keys :func:`predict_file` uses: ``sr, n_fft, hop_length, n_mfcc, stats,
        feature_set, tuning, segment, segment_hop`` (those present).
    """
    # the feature-extraction settings, nothing else from features.json (the musicnn keys only
    # for an embedding)
    return {k: settings[k] for k in SETTING_KEYS if k in settings}


def _names(value) -> str:
    """A setting that may list several names (``musicnn_model``), as the CLI spells it."""
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def describe_feature_settings(settings: Mapping) -> str:
    """Feature settings in a few words, e.g. ``feature_set=seed, stats=mean``.

    The feature set and the statistics always; ``n_mfcc``, the segments and the musicnn model
    and layer only when they are set or differ from the defaults.

    Parameters
    ----------
    settings : mapping
        Feature settings (:func:`extraction_settings`, ``features.json``, ``model.settings``).

    Returns
    -------
    text : str

    Examples
    --------
    >>> describe_feature_settings({"feature_set": "seed", "stats": ["mean", "std"]})
    'feature_set=seed, stats=mean,std'
    """
    parts = [f"feature_set={settings.get('feature_set', 'seed')}",
             f"stats={','.join(settings.get('stats') or ['mean'])}"]
    if settings.get("n_mfcc", 13) != 13:
        parts.append(f"n_mfcc={settings['n_mfcc']}")
    if settings.get("segment") is not None:
        parts.append(f"segment={settings['segment']:g} s")
        if settings.get("segment_hop") not in (None, settings["segment"]):
            parts.append(f"segment_hop={settings['segment_hop']:g} s")
    for key in ("musicnn_model", "musicnn_layer"):
        if settings.get(key) is not None:
            parts.append(f"{key}={_names(settings[key])}")
    return ", ".join(parts)


def features_command(data_dir: str | os.PathLike, settings: Mapping) -> str:
    """The ``bag-of-songs features`` command that builds tables with ``settings``.

    Parameters
    ----------
    data_dir : path-like
        The prepared folder.
    settings : mapping
        Feature settings, as for :func:`describe_feature_settings`.

    Returns
    -------
    command : str

    Examples
    --------
    >>> features_command("runs/demo", {"feature_set": "seed", "stats": ["mean"]})
    'bag-of-songs features runs/demo --feature-set seed --stats mean'
    """
    words = ["bag-of-songs features", str(data_dir),
             f"--feature-set {settings.get('feature_set', 'seed')}",
             f"--stats {','.join(settings.get('stats') or ['mean'])}"]
    if settings.get("n_mfcc", 13) != 13:
        words.append(f"--n-mfcc {settings['n_mfcc']}")
    if settings.get("segment") is not None:
        words.append(f"--segment {settings['segment']:g}")
        if settings.get("segment_hop") not in (None, settings["segment"]):
            words.append(f"--segment-hop {settings['segment_hop']:g}")
    if settings.get("musicnn_model") is not None:
        words.append(f"--musicnn-model {_names(settings['musicnn_model'])} "
                     f"--musicnn-layer {settings['musicnn_layer']}")
    return " ".join(words)


#: Settings that change the value of a column or what a row covers (not only which columns a
#: table has): a model is refused on a table where one of these differs, even when the table
#: happens to have the model's columns.
_ROW_SETTING_KEYS = ("sr", "n_fft", "hop_length", "tuning", "segment", "segment_hop",
                     "musicnn_settings")


def _check_table_settings(model, frame: pd.DataFrame) -> None:
    """Refuse a table built with other feature settings than the model's, naming both.

    Only tables read from a prepared split carry their settings (``read_features``); a table
    without them, and a ``cnn`` (it reads no feature columns), are not checked here. The table
    is refused when it lacks one of the model's columns or differs in a setting of
    :data:`_ROW_SETTING_KEYS`; a table with more statistics than the model's (``mean,std``
    for a ``mean`` model) has the same values in the model's columns and is accepted.
    ``model`` is a :class:`~bag_of_songs.models.GenreClassifier`.
    """
    table = frame.attrs.get("feature_settings")
    if not table or not model.settings or not model.feature_columns:
        return
    defaults = feature_settings()  # a key left out means its default
    mine = {**defaults, **extraction_settings(model.settings)}
    table = {**defaults, **table}
    missing = [c for c in model.feature_columns if c not in frame.columns]
    differs = [k for k in _ROW_SETTING_KEYS if mine.get(k) != table.get(k)]
    if not missing and not differs:
        return
    split_dir = frame.attrs.get("split_dir") or "the table"
    data_dir = frame.attrs.get("data_dir") or "DIR"
    what = (f"lacks {len(missing)} of the model's {len(model.feature_columns)} feature columns"
            if missing else f"differs in {', '.join(differs)}")
    raise ModelError(
        f"this model was trained on features with {describe_feature_settings(mine)}; the table "
        f"in {split_dir} was built with {describe_feature_settings(table)} (it {what}): "
        f"re-run `{features_command(data_dir, mine)}` to rebuild the tables with the "
        "model's settings (it replaces them), or evaluate on a folder built with those "
        "settings")
