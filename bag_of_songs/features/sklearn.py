"""The feature table as a scikit-learn transformer: clips in, the table's rows out.

:class:`FeatureExtractor` turns a list of audio files (or of signals) into the rows of a feature
table, so that it is the first step of a :class:`sklearn.pipeline.Pipeline` and
``cross_val_score(make_pipeline(FeatureExtractor(), StandardScaler(), SVC()), paths, y,
groups=artists, cv=StratifiedGroupKFold(5))`` works on audio. A row is
:func:`bag_of_songs.features.extract_features` of the clip, in the column order of
:func:`bag_of_songs.features.feature_names` (a table's columns); a file is decoded and
homogenised by :func:`bag_of_songs.data.audio.load_audio`, as ``prepare`` decodes it. The clips
are spread over worker processes by :func:`bag_of_songs.parallel.map_parallel` (in order, a few
clips in flight at a time). Segment rows (texture windows) are
:meth:`FeatureExtractor.extract_segments`, which :class:`bag_of_songs.models.segments.SegmentClassifier`
uses: a transformer cannot add rows.

Explained in ``notebooks/3-models-prediction.ipynb`` (use it from scikit-learn); the features
in ``notebooks/2-features-explanation.ipynb``.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._constants import FRAME_SIZE, HOP_LENGTH, SAMPLE_RATE
from .._threads import torch_threads
from ..data.audio import load_audio
from ..errors import EmbeddingError, FeatureError
from ..parallel import map_parallel
from .extract import extract_features, feature_names

__all__ = ["FeatureExtractor"]

#: The extraction settings of a :class:`FeatureExtractor`: its parameters that
#: :func:`extract_features` takes under the same names.
_SETTINGS = ("sr", "n_mfcc", "stats", "feature_set", "n_fft", "hop_length", "tuning",
             "musicnn_model", "musicnn_layer")


def _uses_musicnn(feature_set) -> bool:
    parts = feature_set.split("+") if isinstance(feature_set, str) else list(feature_set)
    return "musicnn" in parts


def _clip_rows(item: tuple[int, object], settings: dict, segment: float | None,
               segment_hop: float | None) -> dict | pd.DataFrame:
    """One clip's row (or segment rows): a job of :func:`map_parallel`. ``item`` is the clip's
    position and its path or signal; an error names the file (or the position)."""
    i, clip = item
    is_path = isinstance(clip, (str, os.PathLike))
    name = os.fspath(clip) if is_path else f"clip {i}"
    # The network on one torch thread while clips run side by side (bag_of_songs._threads).
    threads = (torch_threads(1) if _uses_musicnn(settings["feature_set"])
               else contextlib.nullcontext())
    y = load_audio(clip, sr=settings["sr"]) if is_path else clip  # AudioLoadError names it
    try:
        with threads:
            return extract_features(y, **settings, segment=segment, segment_hop=segment_hop)
    except EmbeddingError:  # not this clip's fault: the checkpoint
        raise
    except FeatureError as exc:
        raise type(exc)(f"{name}: {exc}") from exc


def _as_signal(i: int, clip) -> np.ndarray:
    """A clip given as samples, checked: 1-D, non-empty, real floating-point, finite (an
    object array of numbers counts as floating-point; integer samples are refused, not
    rescaled)."""
    y = np.asarray(clip)
    if y.dtype == object:
        with contextlib.suppress(TypeError, ValueError):
            y = y.astype(np.float64)
    if np.iscomplexobj(y):
        raise FeatureError(f"clip {i}: Complex data not supported; a signal holds real samples")
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.floating):
        raise FeatureError(
            f"clip {i}: expected a path or a non-empty 1-D floating-point signal, got "
            f"{type(clip).__name__} of shape {y.shape} and dtype {y.dtype}")
    if not np.all(np.isfinite(y)):
        raise FeatureError(f"clip {i}: the signal holds non-finite samples (NaN or infinity)")
    return y


def _as_clips(X) -> list:
    """The clips of ``X``: paths (``str``/path-like) or 1-D floating-point signals, checked."""
    if isinstance(X, (str, bytes, os.PathLike)):
        raise FeatureError("X must be a list of clips, got a single path; pass [path]")
    if sparse.issparse(X):
        raise FeatureError("sparse input is not supported: X must be a list of clips (paths or "
                           "1-D signals) or a dense 2-D array of signals")
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise FeatureError(f"X must be a list of clips; a DataFrame must have one column "
                               f"(of paths), got {X.shape[1]}")
        X = X.iloc[:, 0]
    if isinstance(X, pd.Series):
        X = X.to_list()
    if not isinstance(X, (list, tuple)) and hasattr(X, "__array__"):
        X = np.asarray(X)
    if isinstance(X, np.ndarray) and X.dtype.kind not in "OUS":
        if X.ndim != 2:
            raise FeatureError(
                f"X must be a list of clips (paths or 1-D signals) or a 2-D array of signals, "
                f"one per row; got an array of shape {X.shape}"
                + ("; Reshape your data: for one signal y pass [y]" if X.ndim == 1 else ""))
        if X.shape[1] == 0:  # sklearn's words for it
            raise FeatureError(f"0 feature(s) (shape={X.shape}) while a minimum of 1 is "
                               f"required: the signals hold no samples")
        X = list(X)
    elif not isinstance(X, Iterable):
        raise FeatureError(f"X must be a list of clips (paths or 1-D signals), got "
                           f"{type(X).__name__}")
    clips = []
    for i, clip in enumerate(X):
        if isinstance(clip, np.str_):
            clip = str(clip)
        clips.append(clip if isinstance(clip, (str, os.PathLike)) else _as_signal(i, clip))
    if not clips:
        raise FeatureError("X holds no clips")
    return clips


class FeatureExtractor(TransformerMixin, BaseEstimator):
    """The rows of a feature table from audio files or signals (a scikit-learn transformer).

    ``transform(X)`` gives each clip's :func:`bag_of_songs.features.extract_features` row, the
    columns in the order of the tables ``features`` writes (:meth:`get_feature_names_out`:
    ``mean_envelope``, ``mean_rms``, ...). A path is decoded and homogenised by
    :func:`bag_of_songs.data.audio.load_audio` (mono, ``sr``, cropped or padded to 30 s), as
    ``prepare`` does, so a prepared clip's row equals its row in the split's ``features.csv``;
    a signal is used as it is (at ``sr``, not cropped or padded). ``fit`` learns nothing: it
    checks the settings (by extracting 2 s of seeded noise, which also fails early when the
    musicnn checkpoint is missing) and records the column names.

    Segment settings are not parameters (a transformer cannot add rows): segment rows come
    from :meth:`extract_segments`, and
    :class:`bag_of_songs.models.segments.SegmentClassifier` classifies clips from them.

    Explained in ``notebooks/3-models-prediction.ipynb``; the features in
    ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    feature_set : str or list of str
        ``"seed"`` (the study's 32 columns with the defaults), ``"extended"``, ``"musicnn"``,
        ``"seed+musicnn"``, ``"extended+musicnn"``, as in :func:`extract_features`.
    stats : tuple of str
        Pooling statistics (``mean``, ``std``, ``median``, ``min``, ``max``).
    n_mfcc : int
        Number of MFCCs, 1..128.
    sr : int
        Sampling rate files are decoded to, and the rate of signals given as arrays.
    n_jobs : int, not 0
        Worker processes over clips (:func:`bag_of_songs.parallel.map_parallel`; -1 = all
        cores); 1 (default) extracts in this process. With ``$BAG_OF_SONGS_SCHEDULER`` set,
        ``n_jobs != 1`` sends the clips to that Dask cluster.
    musicnn_model : str or list of str, optional
        With an embedding (default ``MSD_musicnn``); several (``["MSD_musicnn",
        "MTT_musicnn"]`` or ``"MSD_musicnn,MTT_musicnn"``) put their layers side by side, as in
        :func:`extract_features`; None without an embedding.
    musicnn_layer : str, optional
        With an embedding (default ``penultimate``); None without one.
    n_fft, hop_length : int
        Frame size F and hop H.
    tuning : float or None
        Chroma tuning (0.0 = A440; None estimates it per clip).

    Attributes
    ----------
    feature_names_out_ : np.ndarray of str [shape=(n_features,)]
        The column names, as :func:`bag_of_songs.features.feature_names` gives them.
    n_features_out_ : int
        Their number.

    Notes
    -----
    There is no ``n_features_in_``: the columns of ``X`` are not features (a row of a 2-D
    array is one signal, and clips may differ in length), so a clip of any length is accepted
    after fitting. ``X`` is a list (or 1-D array, or pandas Series) of paths or of 1-D
    floating-point signals, or a 2-D floating-point array with one signal per row; a single 1-D
    signal is refused (pass ``[y]``). Integer samples are refused, not rescaled.

    Examples
    --------
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> clips = [synthesize_demo_clip("rock", 0), synthesize_demo_clip("solo", 1)]
    >>> fx = FeatureExtractor(stats=("mean", "std"))
    >>> fx.fit_transform(clips).shape
    (2, 64)
    >>> fx.get_feature_names_out()[:2].tolist()
    ['mean_envelope', 'mean_rms']

    In a pipeline over audio files (``paths``, labels ``y``, ``artists``):

    >>> from sklearn.model_selection import StratifiedGroupKFold, cross_val_score
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.svm import SVC
    >>> pipe = make_pipeline(FeatureExtractor(n_jobs=2), StandardScaler(), SVC())
    >>> cross_val_score(pipe, paths, y, groups=artists,
    ...                 cv=StratifiedGroupKFold(5))  # doctest: +SKIP
    """

    def __init__(self, feature_set="seed", stats=("mean",), n_mfcc=13, sr=SAMPLE_RATE,
                 n_jobs=1, musicnn_model=None, musicnn_layer=None, n_fft=FRAME_SIZE,
                 hop_length=HOP_LENGTH, tuning=0.0):
        self.feature_set = feature_set
        self.stats = stats
        self.n_mfcc = n_mfcc
        self.sr = sr
        self.n_jobs = n_jobs
        self.musicnn_model = musicnn_model
        self.musicnn_layer = musicnn_layer
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.tuning = tuning

    def _settings(self) -> dict:
        return {k: getattr(self, k) for k in _SETTINGS}

    def fit(self, X=None, y=None):
        """Check the settings (and ``X``, when given) and record the column names.

        Parameters
        ----------
        X : list of paths or signals, optional
            Only checked for its form (files are not read).
        y : ignored

        Returns
        -------
        self : FeatureExtractor

        Raises
        ------
        FeatureError
            On a setting :func:`extract_features` refuses, an ``n_jobs`` that is not a
            non-zero whole number, or an ``X`` that is not a list of clips.
        EmbeddingError
            With an embedding, when the musicnn checkpoint is not installed.
        """
        if isinstance(self.n_jobs, (bool, np.bool_)) or not isinstance(
                self.n_jobs, (int, np.integer)) or self.n_jobs == 0:
            raise FeatureError(f"n_jobs must be a non-zero whole number, got {self.n_jobs!r}")
        settings = self._settings()
        names = feature_names(n_mfcc=self.n_mfcc, stats=self.stats,
                              feature_set=self.feature_set, musicnn_model=self.musicnn_model,
                              musicnn_layer=self.musicnn_layer)
        probe = np.random.default_rng(0).standard_normal(SAMPLE_RATE * 2).astype(np.float32)
        extract_features(0.1 * probe, **settings)  # every setting, checked now
        if X is not None:
            _as_clips(X)
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)
        return self

    def _rows(self, X, segment, segment_hop) -> list:
        check_is_fitted(self, "feature_names_out_")
        clips = _as_clips(X)
        fn = functools.partial(_clip_rows, settings=self._settings(), segment=segment,
                               segment_hop=segment_hop)
        items = list(enumerate(clips))
        if self.n_jobs == 1:
            return [fn(item) for item in items]
        with contextlib.closing(map_parallel(fn, items, n_jobs=self.n_jobs, progress=False,
                                             desc="features")) as results:
            return list(results)

    def transform(self, X) -> np.ndarray:
        """Each clip's row of the feature table.

        Parameters
        ----------
        X : list of str, path-like or np.ndarray [shape=(n,)]; or np.ndarray [shape=(n_clips, n)]
            Audio files (any format :func:`load_audio` reads) or signals at ``sr``.

        Returns
        -------
        features : np.ndarray [shape=(n_clips, n_features_out_), dtype=float64]
            Columns in the order of :meth:`get_feature_names_out`.

        Raises
        ------
        AudioLoadError
            When a file cannot be decoded (the message names it; a transformer cannot drop
            the row).
        FeatureError
            When ``X`` is not a list of clips, or a signal is refused (empty, not 1-D, not
            floating-point, non-finite); the message names the file or the clip's position.
        """
        check_is_fitted(self, "feature_names_out_")
        names = list(self.feature_names_out_)
        rows = self._rows(X, None, None)
        return np.array([[row[n] for n in names] for row in rows], dtype=np.float64)

    def extract_segments(self, X, *, segment: float = 3.0, segment_hop: float | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Each clip's segment rows (texture windows), and the clip of each row.

        :func:`extract_features` with ``segment`` and ``segment_hop``: one row per segment,
        the same columns as :meth:`transform`, the clips' rows one after the other.

        Parameters
        ----------
        X : list of paths or signals
            As in :meth:`transform`.
        segment : float
            Segment length in seconds.
        segment_hop : float, optional
            Seconds between segment starts (default ``segment``).

        Returns
        -------
        features : np.ndarray [shape=(n_segments, n_features_out_), dtype=float64]
        clip : np.ndarray [shape=(n_segments,), dtype=int]
            The position in ``X`` of each row's clip.

        Raises
        ------
        AudioLoadError, FeatureError
            As :meth:`transform`; FeatureError also on a ``segment`` or ``segment_hop``
            :func:`extract_features` refuses.
        """
        check_is_fitted(self, "feature_names_out_")
        if segment is None:
            raise FeatureError("segment must be a number of seconds, got None")
        names = list(self.feature_names_out_)
        tables = self._rows(X, segment, segment_hop)
        features = np.concatenate([t[names].to_numpy(dtype=np.float64) for t in tables])
        clip = np.repeat(np.arange(len(tables)), [len(t) for t in tables])
        return features, clip

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """The column names of :meth:`transform`'s output (``mean_envelope``, ...).

        Parameters
        ----------
        input_features : ignored
            A clip has no input feature names.

        Returns
        -------
        names : np.ndarray of str [shape=(n_features_out_,)]
        """
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # paths
        return tags
