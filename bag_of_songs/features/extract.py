"""One clip's row of the feature table: hand-crafted features, the embedding, or both.

:func:`extract_features` checks every setting up front, computes the frame features from one
STFT (:mod:`.frames`) and pools them over the clip or its segments, and adds the musicnn
embedding's columns (:mod:`.embedding`); :func:`feature_names` gives the columns it returns;
:func:`extract_with_settings` extracts with the settings of a table or a saved model.

Explained in ``notebooks/2-features-explanation.ipynb`` (section 6, and texture windows); the
embedding in ``notebooks/5-pretrained-embeddings.ipynb``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .._constants import FRAME_SIZE, HOP_LENGTH, SAMPLE_RATE
from ..errors import FeatureError
from ..spectrum import _check_y
from .embedding import (
    _check_musicnn,
    _embedding_columns,
    _musicnn_part,
    check_musicnn_checkpoint,
)
from .frames import compute_frame_features, pool_features, pool_segments, segment_frames
from .params import (
    _check_n_mfcc,
    _check_params,
    _check_segment,
    _check_stats,
    _segment_layout,
    split_feature_set,
)
from .settings import FeatureSettings


def extract_features(y: np.ndarray, *, sr: int = SAMPLE_RATE, n_mfcc: int = 13,
                     stats: Iterable[str] = ("mean",), feature_set: str | Iterable[str] = "seed",
                     n_fft: int = FRAME_SIZE, hop_length: int = HOP_LENGTH,
                     tuning: float | None = 0.0, segment: float | None = None,
                     segment_hop: float | None = None,
                     musicnn_model: str | Iterable[str] | None = None,
                     musicnn_layer: str | None = None) -> dict[str, float] | pd.DataFrame:
    """One clip's row of the feature table (or one row per segment), from one STFT.

    Frame features (:func:`compute_frame_features`) pooled over all frames: with the defaults,
    the study's 32 columns in this order: ``mean_envelope, mean_rms, mean_zcr, mean_ber,
    mean_spec_cent, mean_spec_bw, mean_rolloff, mean_chroma_stftC ... mean_chroma_stftB,
    mean_mfcc1 ... mean_mfcc13``. Each further statistic in ``stats`` adds its own prefixed
    block (``std_rms``, ...).

    With ``segment`` (seconds), the same frame features of the clip's one STFT are pooled over
    each segment instead (texture windows; :func:`segment_frames` says which frames belong to
    which segment, :func:`pool_segments` pools them): one row per segment, the same columns.
    A clip shorter than one segment gives one row; a silent segment gives the finite values
    documented for silence (module docstring), tempo 0.

    How a segment row relates to ``extract_features`` of the sliced signal
    ``y[a H : (b - 1) H + 1]`` (segment frames ``a .. b - 1``, which has exactly those ``b - a``
    frame centres): frames whose window lies inside the slice (all but the first and last
    ``n_fft // (2 * hop_length)`` = 2) have identical envelope, RMS, ZCR, BER, centroid,
    bandwidth, roll-off, chroma (at a fixed ``tuning``), spectral contrast and flatness: these
    depend on the frame's samples only. The 2 edge frames at each end differ, since the slice
    is zero-padded (edge-padded for ZCR) where the clip has samples, so the pooled values
    differ by at most ``4 / (b - a)`` of the feature's range (3 % for 3 s segments). The
    log-mel spectrogram behind the MFCCs (and onset strength, delta MFCCs) is floored at 80 dB
    below the **clip's** maximum for segment rows and below the slice's maximum for the sliced
    signal: they agree where every mel band is within 80 dB of the clip's loudest frame.
    ``tuning=None`` is estimated once, from the whole clip. ``onset_strength`` and
    ``delta_mfcc`` also reach 1 and 4 frames across the segment's edges.

    **Pretrained embedding** (``feature_set`` ``"musicnn"``, ``"seed+musicnn"`` or
    ``"extended+musicnn"``): :func:`bag_of_songs.musicnn.musicnn_features` embeds each
    non-overlapping 3 s patch of the clip (resampled to 16 kHz; a 30 s clip has 10 patches
    covering its first 29.9 s, a clip under 3 s is repeated to fill one) with the layer
    ``musicnn_layer`` of ``musicnn_model`` (default ``MSD_musicnn``'s ``penultimate``, the
    recommended one: see the module docstring), and ``stats`` pools the patches: ``mean`` is
    the clip's embedding (the mean over its patches, as musicnn's authors use it), ``std``,
    ``median``, ``min``, ``max`` are those of each dimension over the patches. Columns
    ``{stat}_{prefix}_{layer}_{i}``, ``prefix`` ``msd`` or ``mtt`` and ``i`` from 0 (e.g.
    ``mean_msd_penultimate_0 ... mean_msd_penultimate_199``; for ``taggram``, ``i`` indexes
    :func:`bag_of_songs.musicnn.musicnn_tags`). Several models (``musicnn_model=["MSD_musicnn",
    "MTT_musicnn"]`` or ``"MSD_musicnn,MTT_musicnn"``) share one front end (the same 16 kHz
    log-mel patches) and put the same layer of each side by side: for each statistic, each
    model's block in the order given (``mean_msd_penultimate_0 ... mean_mtt_penultimate_199,
    std_msd_penultimate_0 ...``); each block equals that model's own columns. Combined with a
    hand-crafted set, the embedding's columns follow that set's columns. With ``segment``, a segment's embedding
    pools the patches :func:`segment_patches` assigns it: with ``segment=3.0`` (hop 3.0),
    patch :math:`i` is segment :math:`i` (one patch, so ``std`` is 0), see there for other
    lengths and hops. The network costs about 0.3 s per 30 s clip on one idle CPU core (17x
    the study's features; ``benchmarks/bench_musicnn.py``), once per model: two models cost
    about twice one (section 8 there).

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 6, and texture windows);
    the embedding in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        A clip (e.g. from :func:`bag_of_songs.data.load_audio`).
    sr : int
    n_mfcc : int
    stats : iterable of str
        Pooling statistics (``mean``, ``std``, ``median``, ``min``, ``max``).
    feature_set : str or list of str
        One of :data:`TABLE_FEATURE_SETS`: ``"seed"``, ``"extended"`` (see
        :func:`compute_frame_features`), ``"musicnn"``, ``"seed+musicnn"``,
        ``"extended+musicnn"`` (or a list of parts, ``["seed", "musicnn"]``).
    n_fft, hop_length : int
        F and H.
    tuning : float or None
        Chroma tuning (0.0 = A440).
    segment : float, optional
        Segment length in seconds (e.g. 3.0); None (default) pools the whole clip.
    segment_hop : float, optional
        Seconds between segment starts (default ``segment``); only with ``segment``.
    musicnn_model : str or list of str, optional
        ``"MSD_musicnn"`` or ``"MTT_musicnn"``, or several (a list, or names joined by commas);
        with an embedding (default ``MSD_musicnn``); must be None without one.
    musicnn_layer : str, optional
        One of :data:`MUSICNN_LAYERS` (default ``penultimate``); must be None without an
        embedding.

    Returns
    -------
    row : dict column name -> float
        Without ``segment``. Every value finite.
    segments : pandas.DataFrame [shape=(n_segments, 1 + n_columns)]
        With ``segment``: ``segment`` (0, 1, ...) then the same columns as the dict. Every
        value finite.

    Raises
    ------
    FeatureError
        On empty, multi-channel or non-finite input; on a parameter no feature can be computed
        with (``sr``, ``n_fft`` or ``hop_length`` not a positive whole number, ``sr`` too low
        for the feature set, ``tuning`` not finite or outside [-0.5, 0.5], an unknown
        statistic or feature set, ``n_mfcc`` outside 1..128, ``segment`` or ``segment_hop``
        not a positive number of seconds of at least one hop, a musicnn model or layer
        unknown, or given without an embedding), checked before any work.
    EmbeddingError
        With an embedding, when the musicnn checkpoint files are not installed (the message
        names ``pip install --no-deps musicnn==0.1.0``).

    Examples
    --------
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> y = synthesize_demo_clip("rock", 0)  # a 30 s clip at 22,050 Hz
    >>> row = extract_features(y)
    >>> len(row), list(row)[:3]
    (32, ['mean_envelope', 'mean_rms', 'mean_zcr'])
    >>> extract_features(y, segment=3.0).shape  # 10 segments, segment + 32 columns
    (10, 33)

    With the embedding (needs the musicnn checkpoint, and torch):

    >>> len(extract_features(y, feature_set="seed+musicnn"))  # 32 + 200  # doctest: +SKIP
    232
    """
    frames_set, embedding = split_feature_set(feature_set)
    musicnn_model, musicnn_layer = _check_musicnn(embedding, musicnn_model, musicnn_layer)
    if frames_set is not None:
        sr, n_fft, hop_length, tuning, frames_set = _check_params(
            sr=sr, n_fft=n_fft, hop_length=hop_length, tuning=tuning, feature_set=frames_set)
    else:  # the embedding alone: sr, F and H still define the segments
        sr, n_fft, hop_length, tuning = _check_params(sr=sr, n_fft=n_fft,
                                                      hop_length=hop_length, tuning=tuning)
    n_mfcc = _check_n_mfcc(n_mfcc)
    stats = _check_stats(stats)
    segment, segment_hop = _check_segment(segment, segment_hop)
    if segment is not None:
        _segment_layout(1, segment, segment_hop, sr, hop_length)  # too short: refuse now
    y = _check_y(y)
    hand = emb = None
    if frames_set is not None:
        frame_features = compute_frame_features(
            y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mfcc=n_mfcc,
            feature_set=frames_set, tuning=tuning)
        if segment is not None:
            hand = pool_segments(frame_features, segment=segment, segment_hop=segment_hop,
                                 stats=stats, sr=sr, hop_length=hop_length)
        else:
            hand = pool_features(frame_features, stats=stats)
        del frame_features
    if embedding is not None:
        bounds = None
        if segment is not None:  # the frames of the hand-crafted part, as _frame counts them
            n_frames = 1 + (len(y) + 2 * (n_fft // 2) - n_fft) // hop_length
            bounds = segment_frames(n_frames, segment=segment, segment_hop=segment_hop, sr=sr,
                                    hop_length=hop_length)
        emb = _musicnn_part(y, sr=sr, model=musicnn_model, layer=musicnn_layer, stats=stats,
                            bounds=bounds, hop_length=hop_length)
    if segment is not None:
        if hand is None:
            table = emb
        elif emb is None:
            table = hand
        else:
            if len(emb) != len(hand):  # a programming error, not a user's
                raise RuntimeError(f"{len(emb)} embedding rows for {len(hand)} segments")
            table = pd.concat([hand, emb.drop(columns="segment")], axis=1)
        finite = np.isfinite(table.iloc[:, 1:].to_numpy()).all(axis=0)
        bad = [c for c, ok in zip(table.columns[1:], finite, strict=True) if not ok]
        if bad:  # should not happen for finite input; never let a NaN into a table
            raise FeatureError(f"non-finite feature values: {bad[:5]}")
        return table
    row = {**(hand or {}), **(emb or {})}
    bad = [k for k, v in row.items() if not np.isfinite(v)]
    if bad:  # should not happen for finite input; never let a NaN into a table
        raise FeatureError(f"non-finite feature values: {bad[:5]}")
    return row


def feature_names(*, n_mfcc: int = 13, stats: Iterable[str] = ("mean",),
                  feature_set: str | Iterable[str] = "seed",
                  musicnn_model: str | Iterable[str] | None = None,
                  musicnn_layer: str | None = None) -> list[str]:
    """The column names :func:`extract_features` returns for these settings, in order.

    The hand-crafted names are found by extracting the features of 2 s of seeded noise, so
    they always match what :func:`extract_features` produces; the embedding's (which follow
    them) are ``{stat}_{msd|mtt}_{layer}_{i}``: for each statistic, each model's block in the
    order given (no network is run).

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 6).

    Parameters
    ----------
    n_mfcc : int
        Number of MFCCs, 1..128.
    stats : iterable of str
        Pooling statistics, as in :func:`extract_features`.
    feature_set : str or list of str
        One of :data:`TABLE_FEATURE_SETS`, as in :func:`extract_features`.
    musicnn_model, musicnn_layer : str, optional
        As in :func:`extract_features`.

    Returns
    -------
    names : list of str
        With the defaults, the study's 32 names, ``mean_envelope`` ... ``mean_mfcc13``.

    Raises
    ------
    FeatureError
        On an unknown statistic, feature set, musicnn model or layer, or ``n_mfcc`` outside
        1..128.

    Examples
    --------
    >>> names = feature_names()
    >>> len(names), names[:2], names[-1]
    (32, ['mean_envelope', 'mean_rms'], 'mean_mfcc13')
    >>> feature_names(feature_set="musicnn")[:2]
    ['mean_msd_penultimate_0', 'mean_msd_penultimate_1']
    >>> both = feature_names(feature_set="musicnn", musicnn_model="MSD_musicnn,MTT_musicnn")
    >>> len(both), both[199], both[200]
    (400, 'mean_msd_penultimate_199', 'mean_mtt_penultimate_0')
    """
    frames_set, embedding = split_feature_set(feature_set)
    musicnn_model, musicnn_layer = _check_musicnn(embedding, musicnn_model, musicnn_layer)
    stats = _check_stats(stats)
    _check_n_mfcc(n_mfcc)
    names = []
    if frames_set is not None:
        y = np.random.default_rng(0).standard_normal(SAMPLE_RATE * 2).astype(np.float32) * 0.1
        names = list(extract_features(y, n_mfcc=n_mfcc, stats=stats, feature_set=frames_set))
    if embedding is not None:
        names += _embedding_columns(musicnn_model, musicnn_layer, stats)
    return names


def extract_with_settings(y: np.ndarray, settings: dict, *, check_checkpoint: bool = True
                          ) -> dict[str, float] | pd.DataFrame:
    """One clip's row(s) exactly as a feature table (or a model trained on one) has them.

    :func:`extract_features` with the settings of a table's ``features.json`` (its
    provenance keys are ignored) or of a model (``bag_of_songs.models.featurize_file``):
    checked by :meth:`FeatureSettings.from_dict`, a missing setting meaning its default (the
    study's).
    With an embedding, the installed musicnn checkpoint must be the one the settings record
    (:func:`check_musicnn_checkpoint`), so that new audio is embedded by the same network as
    the table was.

    Explained in ``notebooks/3-models-prediction.ipynb`` (prediction of new audio).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        A clip at ``settings["sr"]`` (e.g. ``load_audio(path, sr=settings["sr"])``).
    settings : dict or FeatureSettings
        :data:`SETTING_KEYS` (those present); other keys of ``features.json`` are ignored.
    check_checkpoint : bool
        Check the installed checkpoint against ``settings["musicnn_settings"]`` (default).

    Returns
    -------
    row : dict or pandas.DataFrame
        As :func:`extract_features`.

    Raises
    ------
    FeatureError
        When the settings are invalid (the message names the key, ``settings.<key>``), or on
        bad input (see :func:`extract_features`).
    EmbeddingError
        When the musicnn checkpoint is missing or is not the one recorded.

    Examples
    --------
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> y = synthesize_demo_clip("rock", 0)
    >>> extract_with_settings(y, {"stats": ["mean", "std"]}) == extract_features(
    ...     y, stats=("mean", "std"))
    True
    """
    s = FeatureSettings.from_dict(settings, ignore_unknown=True)
    if check_checkpoint:
        check_musicnn_checkpoint(s.to_dict())
    return extract_features(y, **s.keywords())
