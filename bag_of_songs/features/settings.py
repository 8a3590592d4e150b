"""The settings that define a feature table: made, checked strictly, read back.

:class:`FeatureSettings` is the one home of them: a frozen dataclass that checks itself when
made (from keywords, or strictly from a file with :meth:`FeatureSettings.from_dict`), whose
defaults are the study's, and which gives back the ``features.json`` keys
(:meth:`~FeatureSettings.to_dict`) or :func:`extract_features`'s keywords
(:meth:`~FeatureSettings.keywords`). :func:`feature_settings` (a new table's settings) and
:func:`check_settings` (a mapping checked, keys kept) are its dict-shaped fronts;
:func:`read_feature_settings` reads a split's.

Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from .._constants import FRAME_SIZE, HOP_LENGTH, SAMPLE_RATE
from ..errors import FeatureError
from .embedding import _check_musicnn, _installed_musicnn_settings
from .params import (
    _MAX_SEGMENT,
    MUSICNN_LAYERS,
    MUSICNN_SETTING_KEYS,
    STATS,
    TABLE_FEATURE_SETS,
    _canonical_feature_set,
    _check_n_mfcc,
    _check_params,
    _check_segment,
    _check_stats,
    _segment_layout,
    split_feature_set,
)


@dataclass(frozen=True)
class FeatureSettings:
    """The settings that define a feature table, checked when made: the one home of them.

    Made from keywords (``FeatureSettings(stats="mean,std", segment=3.0)``), from what a
    table's ``features.json`` or a model's ``model.json`` holds (:meth:`from_dict`, the strict
    check of settings someone else wrote), and turned back into the ``features.json`` keys
    (:meth:`to_dict`) or into the keywords of :func:`extract_features` (:meth:`keywords`).
    A field left out means the study's setting.

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).

    Parameters
    ----------
    sr : int
        Sampling rate of the clips (22,050 Hz).
    n_fft, hop_length : int
        Frame size F and hop H (2048 and 512; fixed for tables).
    n_mfcc : int
        Number of MFCCs, 1..128 (13).
    stats : str or iterable of str
        Pooling statistics over frames (``"mean,std"`` or ``("mean", "std")``); kept as a tuple.
    feature_set : str or iterable of str
        One of :data:`TABLE_FEATURE_SETS` (or its parts as a list); kept as the string.
    tuning : float
        Chroma tuning in bins (0.0 = A440).
    segment, segment_hop : float, optional
        Texture windows in seconds (None: one row per clip); ``segment_hop`` defaults to
        ``segment``.
    musicnn_model : str or iterable of str, optional
        With an embedding only (default ``MSD_musicnn``). Several models (a list, or names
        joined by commas: ``"MSD_musicnn,MTT_musicnn"``) put their layers side by side; kept
        as the name for one model, as a tuple of names for several.
    musicnn_layer : str, optional
        With an embedding only (default ``penultimate``); the same layer of every model.
    musicnn_settings : dict or list of dict, optional
        The installed checkpoint's description (:func:`bag_of_songs.musicnn.musicnn_settings`),
        one per model (a list) for several; filled by :meth:`resolved`; a table records it.

    Raises
    ------
    FeatureError
        On an unknown statistic or feature set, ``n_mfcc`` outside 1..128, an ``sr`` the
        features cannot be computed at, bad segment settings (see :func:`segment_frames`), or
        a musicnn model or layer that is unknown or given without an embedding.

    Examples
    --------
    >>> s = FeatureSettings(stats="mean,std", segment=3.0)
    >>> s.stats, s.segment_hop
    (('mean', 'std'), 3.0)
    >>> FeatureSettings.from_dict(s.to_dict()) == s
    True
    >>> FeatureSettings().keywords()["feature_set"]
    'seed'
    """

    sr: int = SAMPLE_RATE
    n_fft: int = FRAME_SIZE
    hop_length: int = HOP_LENGTH
    n_mfcc: int = 13
    stats: tuple[str, ...] = ("mean",)
    feature_set: str = "seed"
    tuning: float = 0.0
    segment: float | None = None
    segment_hop: float | None = None
    musicnn_model: str | tuple[str, ...] | None = None
    musicnn_layer: str | None = None
    musicnn_settings: dict | list[dict] | None = field(default=None, hash=False, repr=False)

    def __post_init__(self):
        frames_set, embedding = split_feature_set(self.feature_set)
        if frames_set is not None:
            sr, n_fft, hop, tuning, _ = _check_params(
                sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length, tuning=self.tuning,
                feature_set=frames_set)
        else:  # the embedding alone: sr, F and H still define the segments
            sr, n_fft, hop, tuning = _check_params(sr=self.sr, n_fft=self.n_fft,
                                                   hop_length=self.hop_length,
                                                   tuning=self.tuning)
        segment, segment_hop = _check_segment(self.segment, self.segment_hop)
        if segment is not None:
            _segment_layout(1, segment, segment_hop, sr, hop)  # at least one hop
        model, layer = _check_musicnn(embedding, self.musicnn_model, self.musicnn_layer)
        if embedding is None and self.musicnn_settings is not None:
            _bad("musicnn_settings", f"is set but feature_set {self.feature_set!r} has no "
                                     "musicnn embedding")
        if self.musicnn_settings is not None:
            object.__setattr__(self, "musicnn_settings",
                               _settings_per_model(self.musicnn_settings, model))
        values = {"sr": sr, "n_fft": n_fft, "hop_length": hop,
                  "n_mfcc": _check_n_mfcc(self.n_mfcc), "stats": _check_stats(self.stats),
                  "feature_set": _canonical_feature_set(self.feature_set),
                  "tuning": float(tuning), "segment": segment, "segment_hop": segment_hop,
                  "musicnn_model": model, "musicnn_layer": layer}
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def has_embedding(self) -> bool:
        """Whether the feature set holds the musicnn embedding."""
        return split_feature_set(self.feature_set)[1] is not None

    def resolved(self) -> FeatureSettings:
        """These settings with the installed musicnn checkpoint described (when they have an
        embedding and do not record one yet): what a new table records.

        Raises
        ------
        EmbeddingError
            When the musicnn checkpoint files are not installed (the message names
            ``pip install --no-deps musicnn==0.1.0``).
        """
        if not self.has_embedding or self.musicnn_settings is not None:
            return self
        return replace(self, musicnn_settings=_installed_musicnn_settings(
            self.musicnn_model, self.musicnn_layer))

    def to_dict(self) -> dict:
        """The ``features.json`` keys (:data:`SETTING_KEYS`, in order), as JSON types; the
        musicnn keys only with an embedding."""
        out = {k: getattr(self, k) for k in SETTING_KEYS if k not in MUSICNN_SETTING_KEYS}
        out["stats"] = list(self.stats)
        if self.has_embedding:  # one model: a name and a dict, as before several existed
            several = not isinstance(self.musicnn_model, str)
            ms = self.musicnn_settings
            if ms is not None:
                ms = [dict(m) for m in ms] if several else dict(ms)
            out.update(musicnn_model=(list(self.musicnn_model) if several
                                      else self.musicnn_model),
                       musicnn_layer=self.musicnn_layer, musicnn_settings=ms)
        return out

    def keywords(self) -> dict:
        """The keywords of :func:`extract_features` that compute rows with these settings."""
        return {k: getattr(self, k) for k in SETTING_KEYS if k != "musicnn_settings"}

    @classmethod
    def from_dict(cls, settings: Mapping, *, ignore_unknown: bool = False) -> FeatureSettings:
        """Settings read from a file someone else wrote, checked strictly.

        The one check of the settings of a feature table (``features.json``,
        :func:`check_feature_table`) and of a saved model (``model.json``): known keys,
        JSON types, ranges and their agreement; those of the embedding
        (:data:`MUSICNN_SETTING_KEYS`) must all be there when ``feature_set`` holds musicnn,
        and none (or None) otherwise. A missing key means its default. ``musicnn_model`` is
        a model's name with one ``musicnn_settings`` mapping, or a list of two or more
        distinct names with a list of as many mappings, each for its model.

        Parameters
        ----------
        settings : mapping
            Keys among :data:`SETTING_KEYS`.
        ignore_unknown : bool
            Skip other keys (the provenance keys of ``features.json``) instead of refusing.

        Raises
        ------
        FeatureError
            Naming the first bad key as ``settings.<key>`` (``settings.hop_length``,
            ``settings.musicnn_settings.checkpoint_sha256``; with several models
            ``settings.musicnn_settings[1].checkpoint_sha256``) and what it must be.

        Examples
        --------
        >>> try:
        ...     FeatureSettings.from_dict({"hop_length": 0})
        ... except FeatureError as exc:
        ...     print(exc)
        settings.hop_length must be an integer in 1..65536, got 0
        """
        if not isinstance(settings, Mapping):
            raise FeatureError(f"settings must be a mapping, got {type(settings).__name__}")
        if ignore_unknown:
            settings = {k: v for k, v in settings.items() if k in SETTING_KEYS}
        checked = _check_dict(dict(settings))
        try:
            return cls(**checked)
        except FeatureError as exc:
            raise FeatureError(f"settings: {exc}") from exc


#: The ``features.json`` keys that define how a table was computed, in the order
#: ``features.json`` has them: the fields of :class:`FeatureSettings`. Every split of a data
#: folder must agree on them (:func:`check_feature_tables`; an absent musicnn key counts as
#: None).
SETTING_KEYS = tuple(f.name for f in fields(FeatureSettings))

#: The keywords of :func:`extract_feature_table` that are feature settings (F, H and the
#: tuning are fixed for tables).
EXTRACTION_KEYWORDS = ("stats", "feature_set", "n_mfcc", "segment", "segment_hop",
                       "musicnn_model", "musicnn_layer")


def feature_settings(*, sr: int = SAMPLE_RATE, n_mfcc: int = 13,
                     stats: Iterable[str] = ("mean",), feature_set: str | Iterable[str] = "seed",
                     segment: float | None = None, segment_hop: float | None = None,
                     musicnn_model: str | Iterable[str] | None = None,
                     musicnn_layer: str | None = None) -> dict:
    """The settings that define a new feature table, as ``features.json`` stores them.

    ``FeatureSettings(...).resolved().to_dict()``: with an embedding, the musicnn checkpoint
    is found and hashed here, so that a missing one is reported before any clip is read.

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).

    Returns
    -------
    settings : dict
        The keys of :data:`SETTING_KEYS`: ``sr, n_fft, hop_length, n_mfcc, stats,
        feature_set, tuning`` (F, H and the A440 tuning are fixed; ``feature_set`` as a string
        of :data:`TABLE_FEATURE_SETS`) and ``segment, segment_hop`` in seconds (both None for
        one row per clip; ``segment_hop`` is ``segment`` when not given). With an embedding
        only, also ``musicnn_model``, ``musicnn_layer`` and ``musicnn_settings``
        (:func:`bag_of_songs.musicnn.musicnn_settings`: front end, model, layer, width and
        ``checkpoint_sha256``); with several models, ``musicnn_model`` is a list of names and
        ``musicnn_settings`` a list of those dicts, one per model; a seed or extended table has
        none of them.

    Raises
    ------
    FeatureError, EmbeddingError
        As :class:`FeatureSettings` and :meth:`FeatureSettings.resolved`.

    Examples
    --------
    >>> feature_settings(stats="mean,std", segment=3.0)  # doctest: +NORMALIZE_WHITESPACE
    {'sr': 22050, 'n_fft': 2048, 'hop_length': 512, 'n_mfcc': 13, 'stats': ['mean', 'std'],
     'feature_set': 'seed', 'tuning': 0.0, 'segment': 3.0, 'segment_hop': 3.0}
    """
    return FeatureSettings(sr=sr, n_mfcc=n_mfcc, stats=stats, feature_set=feature_set,
                           segment=segment, segment_hop=segment_hop, musicnn_model=musicnn_model,
                           musicnn_layer=musicnn_layer).resolved().to_dict()


def as_settings(settings: FeatureSettings | Mapping | None = None, **keywords) -> FeatureSettings:
    """One :class:`FeatureSettings` from either a settings object / mapping or keywords.

    What the table builders accept: ``settings=`` (a :class:`FeatureSettings` or a mapping of
    its fields) or the keywords of :data:`EXTRACTION_KEYWORDS`, not both.

    Raises
    ------
    FeatureError
        On an unknown keyword, on both given, or on a bad setting.
    """
    unknown = sorted(set(keywords) - set(EXTRACTION_KEYWORDS))
    if unknown:
        raise FeatureError(f"unknown extraction keyword(s) {unknown}; choose from "
                           f"{list(EXTRACTION_KEYWORDS)}")
    if settings is None:
        return FeatureSettings(**keywords)
    if keywords:
        raise FeatureError(f"give the settings either as settings= or as keywords, not both "
                           f"(got settings= and {sorted(keywords)})")
    if isinstance(settings, FeatureSettings):
        return settings
    if not isinstance(settings, Mapping):
        raise FeatureError(f"settings must be a FeatureSettings or a mapping, got "
                           f"{type(settings).__name__}")
    return FeatureSettings(**settings)


_SHA256_HEX = frozenset("0123456789abcdef")


def _bad(key: str, why: str):
    raise FeatureError(f"settings.{key} {why}")


def _integer(v, key: str, lo: int, hi: int) -> int:
    if not (isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
            and lo <= v <= hi):
        _bad(key, f"must be an integer in {lo}..{hi}, got {v!r}")
    return int(v)


def _real_setting(v, key: str, lo: float, hi: float, *, open_lo: bool = False) -> float:
    ok = (isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
          and np.isfinite(v) and (lo < v if open_lo else lo <= v) and v <= hi)
    if not ok:
        _bad(key, f"must be a finite number in {'(' if open_lo else '['}{lo}, {hi}], "
                  f"got {v!r}")
    return float(v)


def check_settings(settings: dict) -> dict:
    """Check feature settings strictly: known keys, types, ranges and their agreement.

    The one check of the settings of a feature table (``features.json``,
    :func:`check_feature_table`) and of a saved model (``model.json``,
    ``bag_of_songs.models.load_model``). Keys may be missing (a missing key means its
    default, see :func:`extract_with_settings`), but those of the embedding
    (:data:`MUSICNN_SETTING_KEYS`) must all be there when ``feature_set`` holds musicnn, and
    none (or None) otherwise.

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).

    Parameters
    ----------
    settings : dict
        Keys among :data:`SETTING_KEYS`.

    Returns
    -------
    settings : dict
        The same, normalised (integers as ``int``, numbers as ``float``, ``stats`` a list).

    Raises
    ------
    FeatureError
        Naming the first bad key as ``settings.<key>`` (``settings.hop_length``,
        ``settings.musicnn_settings.checkpoint_sha256``) and what it must be.

    Examples
    --------
    >>> check_settings({"sr": 22050, "stats": ("mean", "std")})
    {'sr': 22050, 'stats': ['mean', 'std']}
    >>> try:
    ...     check_settings({"hop_length": 0})
    ... except FeatureError as exc:
    ...     print(exc)
    settings.hop_length must be an integer in 1..65536, got 0
    """
    if not isinstance(settings, Mapping):
        raise FeatureError(f"settings must be a mapping, got {type(settings).__name__}")
    full = FeatureSettings.from_dict(settings).to_dict()
    return {k: full.get(k) for k in settings}


def _check_dict(s: dict) -> dict:
    """The JSON-level check of :meth:`FeatureSettings.from_dict`: known keys, types, ranges,
    ``settings.<key>`` named; returns the keys given, normalised."""
    unknown = sorted(str(k) for k in s if k not in SETTING_KEYS)
    if unknown:
        raise FeatureError(f"settings has unknown key(s) {unknown}; known: {list(SETTING_KEYS)}")
    out = dict(s)
    for key, lo, hi in (("sr", 1000, 384000), ("n_fft", 16, 1 << 16),
                        ("hop_length", 1, out.get("n_fft", 1 << 16)), ("n_mfcc", 1, 128)):
        if key in s:
            out[key] = _integer(s[key], key, lo, hi)
    if "stats" in s:
        out["stats"] = _check_stats_list(s["stats"])
    feature_set = s.get("feature_set", "seed")
    if not (isinstance(feature_set, str) and feature_set in TABLE_FEATURE_SETS):
        _bad("feature_set", f"must be one of {list(TABLE_FEATURE_SETS)}, got {feature_set!r}")
    if s.get("tuning") is not None:
        out["tuning"] = _real_setting(s["tuning"], "tuning", -0.5, 0.5)
    _check_segment_keys(s, out)
    if split_feature_set(feature_set)[1] is None:
        for key in MUSICNN_SETTING_KEYS:
            if s.get(key) is not None:
                _bad(key, f"is set but feature_set {feature_set!r} has no musicnn embedding")
        return {k: v for k, v in out.items() if k not in MUSICNN_SETTING_KEYS}
    out["musicnn_settings"] = _check_musicnn_settings(s, feature_set)
    return out


def _check_stats_list(stats) -> list:
    if not (isinstance(stats, (list, tuple)) and stats
            and all(isinstance(x, str) and x in STATS for x in stats)):
        _bad("stats", f"must be a list of statistics among {list(STATS)}, got {stats!r}")
    if len(set(stats)) != len(stats):
        _bad("stats", f"names a statistic twice: {list(stats)}")
    return list(stats)


def _check_segment_keys(s: dict, out: dict) -> None:
    for key in ("segment", "segment_hop"):
        if s.get(key) is not None:
            out[key] = _real_setting(s[key], key, 0.0, _MAX_SEGMENT, open_lo=True)
    if out.get("segment_hop") is not None and out.get("segment") is None:
        _bad("segment_hop", "is set but settings.segment is not")
    if out.get("segment") is not None:
        hop_s = out.get("hop_length", HOP_LENGTH) / out.get("sr", SAMPLE_RATE)
        for key in ("segment", "segment_hop"):
            if out.get(key) is not None and round(out[key] / hop_s) < 1:
                _bad(key, f"must be at least one hop ({hop_s * 1e3:.1f} ms), got {out[key]!r}")


def _check_musicnn_settings(s: dict, feature_set: str) -> dict | list[dict]:
    """The musicnn keys of settings whose ``feature_set`` holds the embedding, checked; a
    copy of ``musicnn_settings`` (a list of copies for several models)."""
    from ..musicnn import MODELS  # deferred: the network package (torch)

    for key in MUSICNN_SETTING_KEYS:
        if s.get(key) is None:
            _bad(key, f"is missing: feature_set {feature_set!r} needs it")
    model, layer, ms = s["musicnn_model"], s["musicnn_layer"], s["musicnn_settings"]
    several = isinstance(model, list)
    if not (model in MODELS if isinstance(model, str) else several and len(model) >= 2
            and all(isinstance(m, str) and m in MODELS for m in model)
            and len(set(model)) == len(model)):
        _bad("musicnn_model", f"must be one of {list(MODELS)} or a list of two or more "
                              f"distinct ones, got {model!r}"[:300])
    if layer not in MUSICNN_LAYERS:
        _bad("musicnn_layer", f"must be one of {list(MUSICNN_LAYERS)}, got {layer!r}")
    if not several:
        return _check_one_musicnn_settings(ms, model, layer, "musicnn_settings")
    if not (isinstance(ms, list) and len(ms) == len(model)):
        _bad("musicnn_settings", f"must be a list of {len(model)} mappings, one per model of "
                                 f"settings.musicnn_model, got {ms!r}"[:300])
    return [_check_one_musicnn_settings(m, name, layer, f"musicnn_settings[{i}]")
            for i, (m, name) in enumerate(zip(ms, model, strict=True))]


def _check_one_musicnn_settings(ms, model: str, layer: str, key: str) -> dict:
    """One model's ``musicnn_settings`` mapping (named ``settings.<key>``), checked; a copy."""
    from ..musicnn import LAYER_SIZES  # deferred: the network package (torch)

    want = ("sr", "n_fft", "hop_length", "n_mels", "n_frames", "log_compression", "model",
            "layer", "n_dims", "checkpoint_sha256")
    if not isinstance(ms, dict) or sorted(ms) != sorted(want):
        _bad(key, f"must be a mapping of exactly {list(want)} (as "
                  f"bag_of_songs.musicnn.musicnn_settings gives), got {ms!r}"[:300])
    for k, hi in (("sr", 384000), ("n_fft", 1 << 16), ("hop_length", 1 << 16),
                  ("n_mels", 1024), ("n_frames", 1 << 16)):
        _integer(ms[k], f"{key}.{k}", 1, hi)
    if not isinstance(ms["log_compression"], str):
        _bad(f"{key}.log_compression", f"must be a string, got {ms['log_compression']!r}")
    if ms["model"] != model:
        _bad(f"{key}.model", f"must be the musicnn model {model!r}, got {ms['model']!r}")
    if ms["layer"] != layer:
        _bad(f"{key}.layer", f"must be settings.musicnn_layer {layer!r}, got {ms['layer']!r}")
    if ms["n_dims"] != LAYER_SIZES[layer] or isinstance(ms["n_dims"], bool):
        _bad(f"{key}.n_dims", f"must be {LAYER_SIZES[layer]} (the width of {layer}), got "
                              f"{ms['n_dims']!r}")
    sha = ms["checkpoint_sha256"]
    if not (isinstance(sha, str) and len(sha) == 64 and set(sha) <= _SHA256_HEX):
        _bad(f"{key}.checkpoint_sha256", f"must be 64 lowercase hex digits, got {sha!r}")
    return dict(ms)


def _settings_per_model(ms, model) -> dict | list[dict]:
    """``musicnn_settings`` given to :class:`FeatureSettings`, in the form its model(s) need:
    a mapping for one model, a list of one mapping per model for several."""
    if isinstance(model, str):
        if not isinstance(ms, Mapping):
            _bad("musicnn_settings", f"must be a mapping for one musicnn model, got "
                                     f"{type(ms).__name__}")
        return dict(ms)
    if not (isinstance(ms, (list, tuple)) and len(ms) == len(model)
            and all(isinstance(m, Mapping) for m in ms)):
        _bad("musicnn_settings", f"must be a list of {len(model)} mappings, one per musicnn "
                                 f"model {list(model)}")
    return [dict(m) for m in ms]


def read_feature_settings(split_dir: str | os.PathLike) -> dict:
    """Read ``features.json`` written by :func:`build_feature_table` (defaults when absent).

    A lenient reader: it does not check that the table is current (see
    :func:`check_feature_table` for that).

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).

    Parameters
    ----------
    split_dir : path-like
        A split folder with a feature table, e.g. ``ccmusic/train``.

    Returns
    -------
    settings : dict
        What ``features.json`` holds (see :func:`build_feature_table`): the settings of
        :func:`feature_settings`, ``label_columns``, ``feature_columns`` and the provenance
        fields. Without ``features.json``: the defaults of :func:`feature_settings` (the
        study's settings), without ``label_columns``.

    Raises
    ------
    ValueError
        When ``features.json`` is not valid JSON (``json.JSONDecodeError``).
    """
    path = Path(split_dir) / "features.json"
    if path.exists():
        return json.loads(path.read_text())
    return feature_settings()

