r"""Spectrogram CNN and hybrid (CNN + hand-crafted features) models.

Explained in ``notebooks/4-spectrogram-cnn.ipynb``: does a model that learns from the
spectrogram beat the bag of hand-crafted features of notebooks 2 and 3?

Front end
---------
A clip :math:`s(i)` (22,050 Hz, 30 s) becomes a log-power mel spectrogram :math:`X_k(b)` in dB
(:math:`F = 2048`, :math:`H = 512`, 96 mel bands, values more than ``top_db`` = 80 dB below the
clip's maximum raised to that floor), computed with the project's own one-STFT code:
:func:`bag_of_songs.features.compute_spectrogram` (the power spectrogram, once) and
:func:`bag_of_songs.features.log_mel_spectrogram` from it. A 30 s clip gives
``1 + 661500 // 512 = 1292`` frames. The settings live in a small dict
(:func:`spectrogram_settings`) stored with every cache and every model, so training and
prediction see the same input.

Each split's spectrograms are cached once (:func:`log_mel_cache`) as a float16 ``.npy`` file
opened as a memory map, so epochs never recompute them and memory stays bounded (CCMusic's
1,713 clips: 1,713 x 96 x 1,292 x 2 bytes = 425 MB on disk, read page by page).

Normalisation: one global mean and standard deviation of the dB values, from the training
clips only (:func:`fit_normalizer`). Every band shares the dB scale, so one shift and one scale
keep the spectral envelope (brighter or darker, louder bass) exactly as it was, which is a genre
cue; per-band statistics would rescale each band by its own spread and make a given dB step
mean different things in different bands. The first convolution's batch norm adapts the scale
per channel anyway, and two numbers estimated from a hundred clips are stable.

Network
-------
A compact version of the *short-chunk CNN* of Won, Ferraro, Bogdanov and Serra, "Evaluation of
CNN-based automatic music tagging models", SMC 2020 (code: ``minzwon/sota-music-tagging-models``):
named blocks, :class:`ConvBlock` (3x3 conv, batch norm, ReLU, 2x2 max-pool) and
:class:`ResBlock` (the same with two convolutions and a residual path, as their ``Res_2d``),
then global average **and** max pooling over frequency and time (an embedding of twice the last
channel count), dropout and a linear head. With the default channels (8, 16, 32, 64; the last
block residual) it has about 64 k parameters: small enough to train on a 2-core CPU (on the
120 Emotify clips, artist-grouped, it scored as well as or better than 16-32-64-64 at half the
cost). As in the
paper, it is trained on short random crops of each clip (default 129 frames = 3.0 s; four
fresh crops of every clip each epoch: augmentation), and a clip is decided by averaging the class
probabilities of all its crops (:func:`crop_starts`: non-overlapping crops from the start, plus
one that ends at the last frame, so every frame counts). Two classes use two outputs and the
same cross-entropy as more classes (one code path; the probabilities are a softmax).

Training (:func:`train_cnn`): Adam, early stopping on the clip-level validation loss (the
log-loss of the crop-averaged probabilities, the quantity that is deployed) with patience, the
best epoch's weights restored. A seeded run repeats exactly on CPU (same torch version; one
torch thread by default, which is also the fastest on a busy 2-core machine): the initialisation and dropout draw from a forked, seeded torch generator, crops
and batch order from a seeded numpy generator, and deterministic algorithms are on while it
trains. ``device="auto"`` uses a GPU when torch sees one.

Hybrid
------
:class:`HybridNet` is **early (feature-level) fusion**: the CNN's pooled embedding concatenated
with the clip's scaled hand-crafted features (one vector per clip, e.g. the mean and std feature
columns scaled with the training statistics, passed by the caller aligned with the clips), fed
to an MLP head (Linear-``hidden``, ReLU, dropout, Linear-``n_classes``) and trained end to end,
so the CNN can learn what the features miss. The alternative is **late fusion**: train the CNN
and a feature model (the MLP, the SVC) separately and average their class probabilities
(:func:`late_fusion_proba`, with the weight chosen on validation by
:func:`choose_fusion_weight`), or stack them with a logistic regression on their
probabilities (which needs out-of-fold predictions on the training clips, costly with a CNN).
We build the early-fusion network because the study's future work asks for one model on both
inputs, and because it lets each crop's decision use the features; late fusion is kept as the
baseline it must beat, since on small corpora the features alone are strong and a jointly
trained network may lean on them and leave its CNN branch under-trained.

Integration
-----------
This module is self-contained: ``bag_of_songs.models`` wraps a trained module in its
``GenreClassifier`` (kinds ``"cnn"`` and ``"hybrid"``) with :func:`architecture` (every
constructor argument, JSON), the normaliser, the spectrogram settings and the crop settings;
:func:`build_from_architecture` rebuilds the module before its ``state_dict`` is loaded with
``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .data import (
    DURATION,
    FRAME_SIZE,
    HOP_LENGTH,
    SAMPLE_RATE,
    AudioLoadError,
    atomic_write,
    load_audio,
    log_to_stderr,
    read_annotations,
)
from .features import FeatureError, compute_spectrogram, log_mel_spectrogram
from .files import lock_folder, sha256_file

__all__ = [
    "CNNError",
    "CACHE_DTYPE",
    "spectrogram_settings",
    "settings_hash",
    "n_frames",
    "clip_log_mel",
    "file_log_mel",
    "log_mel_cache",
    "cache_path",
    "ClipSubset",
    "take_clips",
    "concat_clips",
    "table_log_mels",
    "clip_indices",
    "fit_normalizer",
    "normalize",
    "crop_starts",
    "ConvBlock",
    "ResBlock",
    "SpectrogramEncoder",
    "SpectrogramCNN",
    "HybridNet",
    "architecture",
    "build_from_architecture",
    "architecture_size",
    "MAX_PARAMETERS",
    "MAX_CROP_ACTIVATIONS",
    "MAX_CLIP_VALUES",
    "summarize",
    "count_parameters",
    "resolve_device",
    "train_cnn",
    "predict_crop_proba",
    "predict_clip_proba",
    "model_config",
    "check_model_config",
    "predict_file_proba",
    "late_fusion_proba",
    "choose_fusion_weight",
]

#: dtype of the cached spectrograms (dB values; float16 keeps 0.03 dB near 60 dB).
CACHE_DTYPE = np.float16

#: Version of the front end (bumped when the way spectrograms are computed changes, so that
#: caches and models made the old way are rebuilt or refused).
FRONTEND = "log_mel_db/1"

#: The most parameters a saved spectrogram model may declare (far above this project's networks),
#: checked from its ``architecture`` before any module is built.
MAX_PARAMETERS = 50_000_000
#: The most activations one crop may produce in one block of a saved model's network (channels
#: x mel bands x frames before the block's pooling), far above this project's networks.
MAX_CROP_ACTIVATIONS = 1 << 21
#: The most values a saved model's front end may make of one clip (frames x frequency bins,
#: and samples), far above any real setting.
MAX_CLIP_VALUES = 1 << 25

_CACHE_FORMAT = "bag_of_songs.log_mel_cache"
_CACHE_VERSION = 1


class CNNError(ValueError):
    """Bad input to the spectrogram models: shapes, settings, labels, architectures."""


# ---------------------------------------------------------------------------------------------
# Front end: settings and one clip's log-mel spectrogram


def spectrogram_settings(**overrides) -> dict:
    """The settings of the log-mel front end, with the project's defaults.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).

    Parameters
    ----------
    **overrides
        Any of ``sr`` (22,050), ``n_fft`` (F = 2048), ``hop_length`` (H = 512), ``n_mels``
        (96), ``top_db`` (80.0) and ``duration`` (30.0 s, the prepared clips' length).

    Returns
    -------
    settings : dict
        Those six keys plus ``frontend`` (the front end's version), JSON-serialisable; its
        :func:`settings_hash` names the cache.

    Raises
    ------
    CNNError
        On an unknown key or a value out of range.

    Examples
    --------
    >>> spectrogram_settings(n_mels=128)["n_mels"]
    128
    >>> n_frames(spectrogram_settings())  # 1 + 661500 // 512
    1292
    """
    s = {"sr": SAMPLE_RATE, "n_fft": FRAME_SIZE, "hop_length": HOP_LENGTH, "n_mels": 96,
         "top_db": 80.0, "duration": DURATION}
    unknown = sorted(set(overrides) - set(s) - {"frontend"})
    if unknown:
        raise CNNError(f"unknown spectrogram setting(s) {unknown}; known: {sorted(s)}")
    if overrides.get("frontend", FRONTEND) != FRONTEND:
        raise CNNError(f"spectrograms made with front end {overrides['frontend']!r} cannot be "
                       f"reproduced by this version ({FRONTEND!r})")
    s.update({k: v for k, v in overrides.items() if k != "frontend"})
    try:
        out = {"sr": int(s["sr"]), "n_fft": int(s["n_fft"]), "hop_length": int(s["hop_length"]),
               "n_mels": int(s["n_mels"]), "top_db": float(s["top_db"]),
               "duration": float(s["duration"]), "frontend": FRONTEND}
    except (TypeError, ValueError) as exc:
        raise CNNError(f"spectrogram settings must be numbers ({exc})") from exc
    if out["sr"] <= 0 or out["n_fft"] < 16 or not 0 < out["hop_length"] <= out["n_fft"]:
        raise CNNError(f"need sr > 0, n_fft >= 16 and 0 < hop_length <= n_fft, got {out}")
    if not 1 <= out["n_mels"] <= out["n_fft"] // 2 + 1:
        raise CNNError(f"n_mels must lie in 1..{out['n_fft'] // 2 + 1}, got {out['n_mels']}")
    if not (out["top_db"] > 0 and out["duration"] > 0 and np.isfinite(out["top_db"])
            and np.isfinite(out["duration"])):
        raise CNNError(f"top_db and duration must be positive, got {out}")
    return out


def settings_hash(settings: dict) -> str:
    """A short stable hash of spectrogram settings (12 hex digits), used in cache file names.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).

    Parameters
    ----------
    settings : dict
        From :func:`spectrogram_settings` (validated again here).

    Returns
    -------
    digest : str
        The first 12 hex digits of the SHA-256 of the settings as sorted JSON.
    """
    s = spectrogram_settings(**settings)
    return hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest()[:12]


def n_frames(settings: dict) -> int:
    """Frames of a clip of ``settings["duration"]`` seconds: ``1 + round(sr * duration) // H``.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).
    """
    s = spectrogram_settings(**settings)
    return 1 + int(round(s["sr"] * s["duration"])) // s["hop_length"]


def clip_log_mel(y: np.ndarray, settings: dict | None = None, *, dtype=CACHE_DTYPE
                 ) -> np.ndarray:
    """Log-power mel spectrogram (dB) of one clip, as the cache and the models see it.

    One power STFT (:func:`bag_of_songs.features.compute_spectrogram` with ``power=2``) and
    the mel filterbank and dB conversion of
    :func:`bag_of_songs.features.log_mel_spectrogram` applied to it.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        A mono clip at ``settings["sr"]`` (e.g. from :func:`bag_of_songs.data.load_audio`).
    settings : dict, optional
        From :func:`spectrogram_settings` (default: the defaults).
    dtype : numpy dtype
        Default float16, the cache's dtype, so that a new file is seen exactly as the cached
        training clips were; pass ``np.float32`` for full precision.

    Returns
    -------
    S_db : np.ndarray [shape=(n_mels, 1 + n // hop_length)]
        Finite dB values, at most ``top_db`` below the clip's maximum.

    Raises
    ------
    bag_of_songs.features.FeatureError
        On an empty, multi-channel or non-finite signal.

    Examples
    --------
    >>> y = load_audio("ccmusic/train/audios/audio_train_0.wav")  # doctest: +SKIP
    >>> clip_log_mel(y).shape  # doctest: +SKIP
    (96, 1292)
    """
    s = spectrogram_settings(**(settings or {}))
    power = compute_spectrogram(y, n_fft=s["n_fft"], hop_length=s["hop_length"], power=2.0)
    S_db = log_mel_spectrogram(S=power, sr=s["sr"], n_fft=s["n_fft"], n_mels=s["n_mels"],
                               top_db=s["top_db"])
    return np.asarray(S_db, dtype=dtype)


def file_log_mel(path: str | os.PathLike, settings: dict | None = None, *,
                 dtype=CACHE_DTYPE) -> np.ndarray:
    """:func:`clip_log_mel` of an audio file, decoded as the prepared clips were.

    :func:`bag_of_songs.data.load_audio` at ``settings["sr"]``, cropped or zero-padded to
    ``settings["duration"]`` (so the result always has :func:`n_frames` frames).

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 6: a new mp3).

    Parameters
    ----------
    path : path-like
        Any audio file soundfile decodes (wav, flac, ogg, mp3).
    settings : dict, optional
    dtype : numpy dtype

    Returns
    -------
    S_db : np.ndarray [shape=(n_mels, n_frames(settings))]

    Raises
    ------
    bag_of_songs.data.AudioLoadError
        When the file cannot be decoded.
    """
    s = spectrogram_settings(**(settings or {}))
    y = load_audio(path, sr=s["sr"], duration=s["duration"])
    return clip_log_mel(y, s, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# The per-split disk cache


def cache_path(split_dir: str | os.PathLike, settings: dict | None = None) -> Path:
    """Where :func:`log_mel_cache` keeps a split's spectrograms for these settings.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).

    Returns
    -------
    path : Path
        ``<split_dir>/cache/logmel-<settings hash>.npy``; the JSON sidecar is the same path
        with ``.json``.
    """
    s = spectrogram_settings(**(settings or {}))
    return Path(split_dir) / "cache" / f"logmel-{settings_hash(s)}.npy"


def _audio_fingerprint(root: Path, files: Sequence[str]) -> str:
    """SHA-256 over each listed clip's name, size and modification time (cheap: no reading)."""
    h = hashlib.sha256()
    for f in files:
        try:
            st = (root / f).stat()
            h.update(f"{f}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{f}\tmissing\n".encode())
    return h.hexdigest()


def _log_mel_for_file(path: str, settings: dict) -> tuple[np.ndarray | None, str | None]:
    """One clip's cached spectrogram, or ``(None, reason)`` when it cannot be read."""
    try:
        return file_log_mel(path, settings), None
    except (AudioLoadError, FeatureError) as exc:
        return None, str(exc)


def _open_cache(npy: Path, meta_path: Path, expected: dict, shape_tail: tuple[int, int]):
    """The cached memmap and its sidecar when both exist and match ``expected``, else a reason."""
    if not npy.exists() or not meta_path.exists():
        return None, None, "no cache yet"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        return None, None, f"unreadable sidecar ({exc})"
    for key in ("format", "version", "settings", "annotations_sha256", "audio_sha256"):
        if meta.get(key) != expected[key]:
            return None, None, f"{key} changed"
    try:
        specs = np.load(npy, mmap_mode="r")
    except (OSError, ValueError) as exc:
        return None, None, f"unreadable cache file ({exc})"
    files = meta.get("audio_files")
    if (not isinstance(files, list) or specs.dtype != CACHE_DTYPE
            or specs.shape != (len(files), *shape_tail)):
        return None, None, "cache file and sidecar disagree"
    return specs, meta, None


def log_mel_cache(split_dir: str | os.PathLike, settings: dict | None = None, *,
                  n_jobs: int = 1, progress: bool = False,
                  log: Callable[[str], None] | None = None
                  ) -> tuple[np.memmap, list[str], list[tuple[str, str]]]:
    """The log-mel spectrograms of every clip of a prepared split, cached on disk.

    The first call computes each clip listed in ``split_dir/annotations.csv`` with
    :func:`file_log_mel` (clip by clip: in this process when ``n_jobs=1``, else in joblib
    worker processes, results streamed in order) into a float16 memory map that is filled in
    place, so memory stays bounded whatever the corpus size. The file is written to a
    temporary name and renamed, then a JSON sidecar records the settings, the SHA-256 of
    ``annotations.csv``, a fingerprint of the clips (name, size and modification time of each
    WAV), the list of clips kept and those left out. Later calls reuse it when all of these
    match, and rebuild it when any changed (new settings get a new file name; changed
    annotations or re-prepared clips rebuild the file in place). A clip that cannot be read is
    reported through ``log`` and left out, never a crash. A build holds the prepared folder's
    lock (:func:`bag_of_songs.data.lock_folder`, the one ``prepare`` and ``features`` take),
    so it refuses at once while another run writes into the folder.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).

    Parameters
    ----------
    split_dir : path-like
        A prepared split, e.g. ``ccmusic/train``.
    settings : dict, optional
        From :func:`spectrogram_settings` (default: the defaults).
    n_jobs : int
        Worker processes (1 = this process, -1 = all cores).
    progress : bool
        Show a progress bar while building.
    log : callable, optional
        Receives one line per clip left out and one when the cache is (re)built
        (default: stderr).

    Returns
    -------
    specs : np.memmap [shape=(n_clips, n_mels, n_frames), dtype=float16, read-only]
        dB values, one row per clip kept, in the order of ``audio_files``.
    audio_files : list of str
        The ``audio_file`` entry (relative to the data folder) of each row of ``specs``.
    skipped : list of (str, str)
        ``(audio_file, reason)`` for each clip left out.

    Raises
    ------
    FileNotFoundError
        When the split has no ``annotations.csv``.
    CNNError
        When no clip of the split can be read.
    bag_of_songs.data.FolderLockedError
        When the cache must be built and another run holds the prepared folder's lock.

    Examples
    --------
    >>> specs, files, skipped = log_mel_cache("ccmusic/train")  # doctest: +SKIP
    >>> specs.shape  # doctest: +SKIP
    (1370, 96, 1292)
    """
    log = log or log_to_stderr
    split_dir = Path(split_dir)
    s = spectrogram_settings(**(settings or {}))
    ann = read_annotations(split_dir)
    files = [str(f) for f in ann["audio_file"].to_numpy()]
    root = split_dir.parent
    npy = cache_path(split_dir, s)
    meta_path = npy.with_suffix(".json")
    tail = (s["n_mels"], n_frames(s))
    expected = {"format": _CACHE_FORMAT, "version": _CACHE_VERSION, "settings": s,
                "annotations_sha256": sha256_file(split_dir / "annotations.csv"),
                "audio_sha256": _audio_fingerprint(root, files)}
    specs, meta, why = _open_cache(npy, meta_path, expected, tail)
    if specs is not None:
        return specs, list(meta["audio_files"]), [tuple(x) for x in meta["skipped"]]

    # Building writes into the prepared folder: take its lock (the one prepare and features
    # take), so that a concurrent run refuses at once instead of mixing files.
    with lock_folder(root, what="log-mel cache"):
        specs, meta, why = _open_cache(npy, meta_path, expected, tail)  # built meanwhile?
        if specs is not None:
            return specs, list(meta["audio_files"]), [tuple(x) for x in meta["skipped"]]
        return _build_log_mel_cache(split_dir, s, files, npy, meta_path, expected, tail, why,
                                    n_jobs=n_jobs, progress=progress, log=log)


def _build_log_mel_cache(split_dir: Path, s: dict, files: list[str], npy: Path,
                         meta_path: Path, expected: dict, tail: tuple[int, int], why: str, *,
                         n_jobs: int, progress: bool, log: Callable[[str], None]):
    """:func:`log_mel_cache`'s build, run while the folder lock is held."""
    root = split_dir.parent
    if why != "no cache yet":
        log(f"rebuilding the log-mel cache of {split_dir}: {why}")
    npy.parent.mkdir(parents=True, exist_ok=True)
    # A sidecar must never describe a file other than the one beside it: drop the stale one
    # before the file is replaced.
    meta_path.unlink(missing_ok=True)
    kept: list[str] = []
    skipped: list[tuple[str, str]] = []

    def results():
        paths = [str(root / f) for f in files]
        if n_jobs == 1:
            for p in paths:
                yield _log_mel_for_file(p, s)
        else:
            from joblib import Parallel, delayed

            yield from Parallel(n_jobs=n_jobs, return_as="generator", pre_dispatch="2*n_jobs")(
                delayed(_log_mel_for_file)(p, s) for p in paths)

    def write(tmp: str) -> None:
        from .parallel import progress_bar_class

        tqdm = progress_bar_class()

        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=CACHE_DTYPE,
                                       shape=(len(files), *tail))
        for i, (spec, reason) in enumerate(tqdm(results(), total=len(files),
                                                disable=not progress, file=sys.stderr,
                                                desc=f"log-mel {split_dir.name}")):
            if spec is not None and spec.shape != tail:
                spec, reason = None, f"unexpected spectrogram shape {spec.shape}"
            if spec is None:
                skipped.append((files[i], reason))
                log(f"left out {files[i]}: {reason}")
                continue
            mm[len(kept)] = spec
            kept.append(files[i])
        mm.flush()
        del mm
        if skipped and kept:  # shrink to the clips kept, copying in bounded chunks
            full = np.load(tmp, mmap_mode="r")
            fd, tmp2 = _mkstemp_beside(npy)
            try:
                out = np.lib.format.open_memmap(tmp2, mode="w+", dtype=CACHE_DTYPE,
                                                shape=(len(kept), *tail))
                for a in range(0, len(kept), 64):
                    b = min(a + 64, len(kept))
                    out[a:b] = full[a:b]
                out.flush()
                del out, full
                os.replace(tmp2, tmp)
            finally:
                os.close(fd)
                if os.path.exists(tmp2):
                    os.unlink(tmp2)

    atomic_write(npy, write, ".npy.tmp")
    if not kept:
        npy.unlink(missing_ok=True)
        raise CNNError(f"{split_dir}: no clip could be read ({len(skipped)} left out; first: "
                       f"{skipped[0][1] if skipped else 'none listed'})")
    meta = {**expected, "audio_files": kept, "skipped": [list(x) for x in skipped],
            "shape": [len(kept), *tail], "dtype": np.dtype(CACHE_DTYPE).name}
    atomic_write(meta_path, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1)))
    return np.load(npy, mmap_mode="r"), kept, skipped


def _mkstemp_beside(path: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".shrink.tmp", dir=path.parent)


class ClipSubset:
    """A lazy view of some clips of one or more spectrogram arrays.

    Row ``i`` is row ``index[i]`` of ``bases[which[i]]``. Reading a crop reads only that crop
    from a memory map, so the folds of a cross-validation, the rows of a feature table, or the
    clips of several splits together (:func:`concat_clips`) can be used without copying the
    corpus into memory.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb``; made by :func:`take_clips`,
    :func:`concat_clips` and :func:`table_log_mels`.

    Parameters
    ----------
    base : np.ndarray, np.memmap or ClipSubset [shape=(n, n_mels, t)]
    index : sequence of int
        Rows of ``base``, in the order wanted.
    """

    def __init__(self, base, index):
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        n = len(base)
        if len(index) and (index.min() < 0 or index.max() >= n):
            raise CNNError(f"clip index out of range 0..{n - 1}")
        if isinstance(base, ClipSubset):
            self.bases, self.which, self.index = base.bases, base.which[index], base.index[index]
        else:
            self.bases = [base]
            self.which, self.index = np.zeros(len(index), dtype=np.int64), index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.bases[int(self.which[i])][int(self.index[i])]

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.bases[0].shape[1:])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self):
        return self.bases[0].dtype


def concat_clips(*specs) -> ClipSubset:
    """Several spectrogram arrays (e.g. the train and validation caches) as one lazy view.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb``.

    Parameters
    ----------
    *specs : np.ndarray, np.memmap or ClipSubset [shape=(n_k, n_mels, t)]
        The same ``(n_mels, t)`` for all.

    Returns
    -------
    clips : ClipSubset [shape=(sum n_k, n_mels, t)]
        The clips of the first array, then those of the second...

    Raises
    ------
    CNNError
        When none is given, or their shapes disagree.
    """
    if not specs:
        raise CNNError("concat_clips needs at least one spectrogram array")
    tails = {tuple(x.shape[1:]) for x in specs}
    if len(tails) != 1 or len(next(iter(tails))) != 2:
        raise CNNError(f"spectrogram arrays of different shapes cannot be joined: {tails}")
    parts = [x if isinstance(x, ClipSubset) else ClipSubset(x, np.arange(len(x)))
             for x in specs]
    out = ClipSubset(parts[0], np.arange(len(parts[0])))
    bases, which, index = [], [], []
    for part in parts:
        offset = len(bases)
        bases.extend(part.bases)
        which.append(part.which + offset)
        index.append(part.index)
    out.bases, out.which, out.index = bases, np.concatenate(which), np.concatenate(index)
    return out


def table_log_mels(data_dir: str | os.PathLike, audio_files: Sequence[str],
                   settings: dict | None = None, *, n_jobs: int = 1,
                   log: Callable[[str], None] | None = None, progress: bool = False
                   ) -> ClipSubset:
    """The cached spectrograms of a feature table's clips, row by row.

    Each ``audio_file`` (relative to ``data_dir``, as in ``annotations.csv`` and
    ``features.csv``: ``<split>/audios/...``) is looked up in its split's
    :func:`log_mel_cache` (built when missing or stale).

    Explained in ``notebooks/4-spectrogram-cnn.ipynb``; what ``evaluate`` and
    ``compare_models`` use to pair a table's rows with spectrograms.

    Parameters
    ----------
    data_dir : path-like
        The prepared folder.
    audio_files : sequence of str
        E.g. ``table["audio_file"]``.
    settings : dict, optional
    n_jobs : int
        Worker processes when a cache is built.
    log : callable, optional
        As in :func:`log_mel_cache`.
    progress : bool
        Show a progress bar while a split's cache is built (as in :func:`log_mel_cache`).

    Returns
    -------
    specs : ClipSubset [shape=(len(audio_files), n_mels, n_frames)]
        Row ``i`` is the spectrogram of ``audio_files[i]``.

    Raises
    ------
    CNNError
        When a clip has no spectrogram (it could not be read), naming up to five.
    FileNotFoundError
        When a clip's split has no ``annotations.csv``.
    """
    wanted = [str(w) for w in (audio_files.to_numpy() if hasattr(audio_files, "to_numpy")
                                else audio_files)]
    if not wanted:
        raise CNNError("no clips given")
    splits = list(dict.fromkeys(Path(w).parts[0] for w in wanted))
    caches, positions = [], {}
    for k, split in enumerate(splits):
        specs, files, _ = log_mel_cache(Path(data_dir) / split, settings, n_jobs=n_jobs, log=log,
                                        progress=progress)
        caches.append(specs)
        positions.update({f: (k, i) for i, f in enumerate(files)})
    missing = [w for w in wanted if w not in positions]
    if missing:
        raise CNNError(f"{len(missing)} clip(s) have no cached spectrogram (unreadable audio?): "
                       f"{missing[:5]}")
    joined = concat_clips(*caches)
    offsets = np.cumsum([0] + [len(c) for c in caches])
    return take_clips(joined, [offsets[positions[w][0]] + positions[w][1] for w in wanted])


def take_clips(specs, indices) -> ClipSubset:
    """Clips ``indices`` of ``specs``, as a lazy :class:`ClipSubset` (nothing is copied).

    Explained in ``notebooks/4-spectrogram-cnn.ipynb``.

    Parameters
    ----------
    specs : np.ndarray, np.memmap or ClipSubset [shape=(n, n_mels, t)]
    indices : sequence of int

    Returns
    -------
    subset : ClipSubset [shape=(len(indices), n_mels, t)]
    """
    return ClipSubset(specs, indices)


def clip_indices(audio_files: Sequence[str], wanted: Sequence[str], *, strict: bool = True
                 ) -> np.ndarray:
    """Rows of a cache (its ``audio_files``) holding each of the ``wanted`` clips.

    Used to align a cache with a feature table's ``audio_file`` column, e.g.
    ``take_clips(specs, clip_indices(files, table["audio_file"]))``.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb``.

    Parameters
    ----------
    audio_files : sequence of str
        As returned by :func:`log_mel_cache`.
    wanted : sequence of str
        ``audio_file`` entries (e.g. a feature table's column).
    strict : bool
        Raise when a wanted clip is not in the cache (else its index is -1).

    Returns
    -------
    indices : np.ndarray [shape=(len(wanted),), dtype=int64]

    Raises
    ------
    CNNError
        With ``strict``, naming up to five clips that are not in the cache (left out when it
        was built, or not in that split).
    """
    pos = {f: i for i, f in enumerate(audio_files)}
    wanted = [str(w) for w in (wanted.to_numpy() if hasattr(wanted, "to_numpy") else wanted)]
    idx = np.array([pos.get(w, -1) for w in wanted], dtype=np.int64)
    if strict and (idx < 0).any():
        missing = [w for w, i in zip(wanted, idx, strict=True) if i < 0]
        raise CNNError(f"{len(missing)} clip(s) have no cached spectrogram (unreadable, or not "
                       f"in this split): {missing[:5]}")
    return idx


# ---------------------------------------------------------------------------------------------
# Normalisation and crops


def _check_specs(specs, name: str = "specs"):
    if not hasattr(specs, "shape") or len(specs.shape) != 3:
        raise CNNError(f"{name} must be an array of shape (n_clips, n_mels, n_frames), got "
                       f"{getattr(specs, 'shape', type(specs).__name__)}")
    if specs.shape[0] == 0:
        raise CNNError(f"{name} holds no clip")
    if not isinstance(specs, ClipSubset) and not isinstance(specs, np.ndarray):
        specs = np.asarray(specs)
    return specs


def fit_normalizer(specs, *, chunk_size: int = 32) -> dict:
    """The global mean and standard deviation of the training spectrograms' dB values.

    Computed in float64 over chunks of clips (bounded memory on a memory map). Fit it on the
    **training** clips only and apply it to every split (:func:`normalize`).

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).

    Parameters
    ----------
    specs : np.ndarray, np.memmap or ClipSubset [shape=(n_clips, n_mels, t)]
    chunk_size : int
        Clips read at a time.

    Returns
    -------
    normalizer : dict
        ``{"kind": "global", "mean": float, "std": float, "n_clips": int}`` (JSON).

    Raises
    ------
    CNNError
        On a bad shape, non-finite values, or constant spectrograms (no spread to scale by).
    """
    specs = _check_specs(specs)
    total, total_sq, count = 0.0, 0.0, 0
    for a in range(0, len(specs), chunk_size):
        x = np.stack([np.asarray(specs[i], dtype=np.float64)
                      for i in range(a, min(a + chunk_size, len(specs)))])
        if not np.isfinite(x).all():
            raise CNNError("the spectrograms hold non-finite values")
        total += float(x.sum())
        total_sq += float(np.square(x).sum())
        count += x.size
    mean = total / count
    std = float(np.sqrt(max(total_sq / count - mean**2, 0.0)))
    if not std > 1e-6:
        raise CNNError("the training spectrograms are constant: nothing to normalise by")
    return {"kind": "global", "mean": float(mean), "std": std, "n_clips": int(len(specs))}


def _check_normalizer(normalizer: dict) -> tuple[float, float]:
    try:
        if normalizer.get("kind", "global") != "global":
            raise CNNError(f"unknown normaliser kind {normalizer.get('kind')!r}")
        mean, std = float(normalizer["mean"]), float(normalizer["std"])
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise CNNError(f"not a normaliser from fit_normalizer: {normalizer!r}") from exc
    if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
        raise CNNError(f"normaliser with a bad mean or std: {normalizer!r}")
    return mean, std


def normalize(S_db: np.ndarray, normalizer: dict) -> np.ndarray:
    """``(S_db - mean) / std`` with a normaliser from :func:`fit_normalizer`, as float32.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).

    Parameters
    ----------
    S_db : np.ndarray [shape=(..., n_mels, t)]
    normalizer : dict

    Returns
    -------
    X : np.ndarray [shape=S_db.shape, dtype=float32]
    """
    mean, std = _check_normalizer(normalizer)
    return ((np.asarray(S_db, dtype=np.float32) - np.float32(mean)) / np.float32(std))


def crop_starts(t: int, crop_frames: int = 129, crop_hop: int | None = None) -> np.ndarray:
    """First frames of the crops that decide a clip of ``t`` frames.

    Crops of ``crop_frames`` frames start at ``0, crop_hop, 2 crop_hop, ...``; when the last of
    them stops short of the clip's end, one more crop ends exactly at the last frame, so every
    frame is seen. ``crop_hop = crop_frames`` (the default) gives non-overlapping crops.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).

    Parameters
    ----------
    t : int
        Frames of the clip.
    crop_frames : int
        Frames per crop (129 = 3.0 s at H = 512 and 22,050 Hz).
    crop_hop : int, optional
        Frames between crop starts (default ``crop_frames``).

    Returns
    -------
    starts : np.ndarray [shape=(n_crops,), dtype=int64]

    Raises
    ------
    CNNError
        When the clip is shorter than one crop, or ``crop_frames`` or ``crop_hop`` < 1.

    Examples
    --------
    >>> crop_starts(1292, 129).tolist()  # 10 non-overlapping crops and one ending at 1292
    [0, 129, 258, 387, 516, 645, 774, 903, 1032, 1161, 1163]
    >>> crop_starts(10, 4, 3).tolist()
    [0, 3, 6]
    """
    crop_hop = crop_frames if crop_hop is None else int(crop_hop)
    if crop_frames < 1 or crop_hop < 1:
        raise CNNError(f"crop_frames and crop_hop must be >= 1, got {crop_frames}, {crop_hop}")
    if t < crop_frames:
        raise CNNError(f"a clip of {t} frames is shorter than one crop of {crop_frames} frames")
    starts = list(range(0, t - crop_frames + 1, crop_hop))
    if starts[-1] + crop_frames < t:
        starts.append(t - crop_frames)
    return np.asarray(starts, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# The network: named blocks (after Won et al.'s Conv_2d and Res_2d)


class ConvBlock(nn.Module):
    """3x3 convolution, batch norm, ReLU, 2x2 max-pool (Won et al.'s ``Conv_2d``).

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).

    Parameters
    ----------
    in_channels, out_channels : int
    pool : int
        Max-pool size and stride (frequency and time), ``ceil_mode`` so a 1-wide input stays 1.
    """

    def __init__(self, in_channels: int, out_channels: int, pool: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(pool, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))


class ResBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual path, ReLU, 2x2 max-pool (as ``Res_2d``).

    The shortcut is a 1x1 convolution with batch norm when the channel count changes, else the
    identity.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).

    Parameters
    ----------
    in_channels, out_channels : int
    pool : int
    """

    def __init__(self, in_channels: int, out_channels: int, pool: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = (nn.Identity() if in_channels == out_channels else nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)))
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(pool, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return self.pool(self.relu(h + self.shortcut(x)))


_BLOCKS = {"conv": ConvBlock, "res": ResBlock}


class SpectrogramEncoder(nn.Module):
    """The convolutional trunk: blocks, then global average and max pooling.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).

    Parameters
    ----------
    n_mels : int
        Mel bands of the input (checked on every call).
    channels : sequence of int
        Output channels of each block.
    blocks : sequence of {"conv", "res"}
        The kind of each block (same length as ``channels``).

    Attributes
    ----------
    embedding_dim : int
        ``2 * channels[-1]``: the average-pooled then the max-pooled channels.
    """

    def __init__(self, n_mels: int = 96, *, channels: Sequence[int] = (8, 16, 32, 64),
                 blocks: Sequence[str] = ("conv", "conv", "conv", "res")):
        super().__init__()
        channels, blocks = [int(c) for c in channels], [str(b) for b in blocks]
        if not channels or len(channels) != len(blocks) or min(channels) < 1:
            raise CNNError(f"channels and blocks must be non-empty and of the same length, got "
                           f"{channels} and {blocks}")
        bad = [b for b in blocks if b not in _BLOCKS]
        if bad:
            raise CNNError(f"unknown block kind(s) {bad}; choose from {sorted(_BLOCKS)}")
        self.n_mels = int(n_mels)
        self.channels, self.block_kinds = channels, blocks
        layers, c_in = [], 1
        for i, (c, kind) in enumerate(zip(channels, blocks, strict=True)):
            layers.append((f"block{i + 1}", _BLOCKS[kind](c_in, c)))
            c_in = c
        self.blocks = nn.Sequential(OrderedDict(layers))
        self.embedding_dim = 2 * channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings of crops.

        Parameters
        ----------
        x : torch.Tensor [shape=(batch, n_mels, frames) or (batch, 1, n_mels, frames)]
            Normalised log-mel crops.

        Returns
        -------
        embedding : torch.Tensor [shape=(batch, embedding_dim)]
        """
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] != self.n_mels:
            raise CNNError(f"expected crops of shape (batch, {self.n_mels}, frames), got "
                           f"{tuple(x.shape)}")
        h = self.blocks(x)
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)


class SpectrogramCNN(nn.Module):
    """Compact short-chunk CNN on log-mel crops.

    After the short-chunk CNN of Won, Ferraro, Bogdanov and Serra, "Evaluation of CNN-based
    automatic music tagging models", SMC 2020: a stack of conv-BN-ReLU-max-pool blocks (here
    four, the last residual, 8-16-32-64 channels instead of their seven of 128), global
    pooling (average and max), dropout and one linear layer, trained on short random crops and
    averaged over all crops of a clip at test time (:func:`predict_clip_proba`).

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).

    Parameters
    ----------
    n_mels : int
        Mel bands of the input (96).
    n_classes : int >= 2
        One output (logit) per class, also for two classes (softmax and cross-entropy).
    channels, blocks
        See :class:`SpectrogramEncoder`.
    dropout : float
        Dropout before the head (0.5).
    """

    def __init__(self, n_mels: int = 96, n_classes: int = 2, *,
                 channels: Sequence[int] = (8, 16, 32, 64),
                 blocks: Sequence[str] = ("conv", "conv", "conv", "res"), dropout: float = 0.5):
        super().__init__()
        if int(n_classes) < 2:
            raise CNNError(f"need at least two classes, got n_classes={n_classes}")
        if not 0.0 <= float(dropout) < 1.0:
            raise CNNError(f"dropout must lie in [0, 1), got {dropout}")
        self.n_classes, self.dropout_p = int(n_classes), float(dropout)
        self.encoder = SpectrogramEncoder(n_mels, channels=channels, blocks=blocks)
        self.dropout = nn.Dropout(self.dropout_p)
        self.head = nn.Linear(self.encoder.embedding_dim, self.n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled embedding of crops ``x`` [batch, n_mels, frames] -> [batch, 2 C]."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor, tab: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits [batch, n_classes] of crops ``x`` [batch, n_mels, frames].

        ``tab`` is accepted and ignored, so both model classes take the same arguments.
        """
        return self.head(self.dropout(self.encoder(x)))


class HybridNet(nn.Module):
    """Early fusion: the CNN's pooled embedding and the clip's scaled features, one MLP head.

    ``logits = head([encoder(crop), tab])`` with ``head`` = Linear(embedding + ``n_tab`` ->
    ``hidden``), ReLU, dropout, Linear(``hidden`` -> ``n_classes``); dropout is also applied to
    the embedding. Every crop of a clip is paired with that clip's feature vector. See the
    module docstring for the design and the late-fusion alternative.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 4).

    Parameters
    ----------
    n_mels : int
    n_classes : int >= 2
    n_tab : int >= 1
        Length of the hand-crafted feature vector (e.g. 64 for mean and std of the 32).
    channels, blocks
        See :class:`SpectrogramEncoder`.
    hidden : int
        Width of the head's hidden layer (64).
    dropout : float
    """

    def __init__(self, n_mels: int = 96, n_classes: int = 2, n_tab: int = 32, *,
                 channels: Sequence[int] = (8, 16, 32, 64),
                 blocks: Sequence[str] = ("conv", "conv", "conv", "res"), hidden: int = 64,
                 dropout: float = 0.5):
        super().__init__()
        if int(n_classes) < 2:
            raise CNNError(f"need at least two classes, got n_classes={n_classes}")
        if int(n_tab) < 1 or int(hidden) < 1:
            raise CNNError(f"n_tab and hidden must be >= 1, got {n_tab} and {hidden}")
        if not 0.0 <= float(dropout) < 1.0:
            raise CNNError(f"dropout must lie in [0, 1), got {dropout}")
        self.n_classes, self.n_tab, self.hidden = int(n_classes), int(n_tab), int(hidden)
        self.dropout_p = float(dropout)
        self.encoder = SpectrogramEncoder(n_mels, channels=channels, blocks=blocks)
        self.dropout = nn.Dropout(self.dropout_p)
        self.head = nn.Sequential(
            nn.Linear(self.encoder.embedding_dim + self.n_tab, self.hidden), nn.ReLU(),
            nn.Dropout(self.dropout_p), nn.Linear(self.hidden, self.n_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The CNN branch's pooled embedding of crops ``x`` (as :meth:`SpectrogramCNN.embed`)."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor, tab: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits [batch, n_classes] of crops ``x`` and their clips' features ``tab``.

        Parameters
        ----------
        x : torch.Tensor [shape=(batch, n_mels, frames)]
        tab : torch.Tensor [shape=(batch, n_tab)]
            Scaled hand-crafted features of each crop's clip.
        """
        if tab is None or tab.dim() != 2 or tab.shape[1] != self.n_tab:
            raise CNNError(f"the hybrid model needs features of shape (batch, {self.n_tab}), "
                           f"got {None if tab is None else tuple(tab.shape)}")
        return self.head(torch.cat([self.dropout(self.encoder(x)), tab], dim=1))


def architecture(module: nn.Module) -> dict:
    """Every constructor argument of a :class:`SpectrogramCNN` or :class:`HybridNet` (JSON).

    With :func:`build_from_architecture`, what a saved model needs to rebuild its module before
    loading the ``state_dict`` (with ``weights_only=True``).

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).

    Parameters
    ----------
    module : SpectrogramCNN or HybridNet

    Returns
    -------
    arch : dict
        ``class`` (``"SpectrogramCNN"`` or ``"HybridNet"``), ``n_mels``, ``n_classes``,
        ``channels``, ``blocks``, ``dropout``; for the hybrid also ``n_tab`` and ``hidden``.

    Raises
    ------
    CNNError
        For any other module.
    """
    if not isinstance(module, (SpectrogramCNN, HybridNet)):
        raise CNNError(f"expected a SpectrogramCNN or HybridNet, got {type(module).__name__}")
    enc = module.encoder
    arch = {"class": type(module).__name__, "n_mels": enc.n_mels, "n_classes": module.n_classes,
            "channels": list(enc.channels), "blocks": list(enc.block_kinds),
            "dropout": module.dropout_p}
    if isinstance(module, HybridNet):
        arch.update({"n_tab": module.n_tab, "hidden": module.hidden})
    return arch


def _check_architecture_keys(arch) -> str:
    """The class name of an architecture dict with exactly its class's keys."""
    if not isinstance(arch, dict):
        raise CNNError(f"an architecture is a dict, got {type(arch).__name__}")
    keys = {"SpectrogramCNN": {"n_mels", "n_classes", "channels", "blocks", "dropout"},
            "HybridNet": {"n_mels", "n_classes", "channels", "blocks", "dropout", "n_tab",
                          "hidden"}}
    cls_name = arch.get("class")
    if cls_name not in keys:
        raise CNNError(f"unknown architecture class {cls_name!r}; choose from {sorted(keys)}")
    given = set(arch) - {"class"}
    if given != keys[cls_name]:
        raise CNNError(f"architecture of {cls_name} needs exactly the keys "
                       f"{sorted(keys[cls_name])}; missing {sorted(keys[cls_name] - given)}, "
                       f"unknown {sorted(given - keys[cls_name])}")
    return cls_name


def _arch_int(arch: dict, key: str, lo: int, hi: int) -> int:
    v = arch[key]
    if not (isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
            and lo <= v <= hi):
        raise CNNError(f"architecture.{key} must be an integer in {lo}..{hi}, got {v!r}")
    return int(v)


def architecture_size(arch: dict) -> dict:
    """What a network of :func:`architecture`'s dict holds, computed without building it.

    The arithmetic of the blocks (3x3 convolutions without bias, batch norm with its running
    statistics, the 1x1 shortcut of a residual block that changes the channel count, the
    linear head), so that a saved model's ``architecture`` can be checked against its weights
    file and refused when absurd before any memory is allocated.

    Parameters
    ----------
    arch : dict
        From :func:`architecture`.

    Returns
    -------
    size : dict
        ``parameters`` (trainable, as :func:`count_parameters`), ``tensors`` (entries of the
        ``state_dict``) and ``state_bytes`` (bytes of all ``state_dict`` tensors: float32
        parameters and running statistics, one int64 batch counter per batch norm).

    Raises
    ------
    CNNError
        Naming the field (``architecture.channels``, ``architecture.n_tab``...) on a missing,
        unknown or out-of-range value, or a network of more than :data:`MAX_PARAMETERS`
        parameters.

    Examples
    --------
    >>> arch = architecture(SpectrogramCNN(96, 4))
    >>> architecture_size(arch)["parameters"] == count_parameters(SpectrogramCNN(96, 4))
    True
    """
    cls_name = _check_architecture_keys(arch)
    channels, blocks = arch["channels"], arch["blocks"]
    if not (isinstance(channels, (list, tuple)) and isinstance(blocks, (list, tuple))
            and 1 <= len(channels) <= 16 and len(channels) == len(blocks)):
        raise CNNError(f"architecture.channels and architecture.blocks must be lists of the same "
                       f"length 1..16, got {str(channels)[:80]} and {str(blocks)[:80]}")
    for c in channels:
        if not (isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_))
                and 1 <= c <= 1 << 16):
            raise CNNError(f"architecture.channels must be integers in 1..65536, got "
                           f"{str(channels)[:80]}")
    bad = [b for b in blocks if b not in _BLOCKS]
    if bad:
        raise CNNError(f"architecture.blocks: unknown block kind(s) {bad[:5]}; choose from "
                       f"{sorted(_BLOCKS)}")
    _arch_int(arch, "n_mels", 1, 1 << 16)
    n_classes = _arch_int(arch, "n_classes", 2, 1 << 16)
    params = floats = tensors = n_bn = 0
    c_in = 1
    for c, kind in zip(channels, blocks, strict=True):
        c = int(c)
        weights = 9 * c_in * c + (9 * c * c if kind == "res" else 0)
        n_conv = 2 if kind == "res" else 1  # each followed by a batch norm
        if kind == "res" and c_in != c:  # the 1x1 shortcut
            weights += c_in * c
            n_conv += 1
        params += weights + 2 * c * n_conv  # conv weights; batch norm weight and bias
        floats += 2 * c * n_conv  # batch norm running mean and variance
        tensors += 6 * n_conv  # conv weight; batch norm's five tensors
        n_bn += n_conv
        c_in = c
    if params > MAX_PARAMETERS:
        raise CNNError(f"architecture.channels {str(channels)[:80]} imply {params:,} parameters, "
                       f"more than the {MAX_PARAMETERS:,} a saved model may have")
    emb = 2 * c_in
    if cls_name == "HybridNet":
        n_tab = _arch_int(arch, "n_tab", 1, 1 << 20)
        hidden = _arch_int(arch, "hidden", 1, 1 << 16)
        head, field = (emb + n_tab) * hidden + hidden + hidden * n_classes + n_classes, "n_tab"
        tensors += 4
    else:
        head, field = emb * n_classes + n_classes, "n_classes"
        tensors += 2
    params += head
    if params > MAX_PARAMETERS:
        raise CNNError(f"architecture.{field} (with the head) implies {params:,} parameters, "
                       f"more than the {MAX_PARAMETERS:,} a saved model may have")
    dropout = arch["dropout"]
    if not (isinstance(dropout, (int, float)) and not isinstance(dropout, bool)
            and 0.0 <= dropout < 1.0):
        raise CNNError(f"architecture.dropout must lie in [0, 1), got {dropout!r}")
    return {"parameters": params, "tensors": tensors,
            "state_bytes": 4 * (params + floats) + 8 * n_bn}


def _crop_activations(arch: dict, crop_frames: int) -> int:
    """The largest activation map (channels x bands x frames) one crop makes in a block."""
    h, w, most = int(arch["n_mels"]), int(crop_frames), 0
    for c in arch["channels"]:
        most = max(most, int(c) * h * w)
        h, w = -(-h // 2), -(-w // 2)  # max-pool 2, ceil_mode
    return most


def build_from_architecture(arch: dict) -> nn.Module:
    """A new (untrained) module from :func:`architecture`'s dict.

    Only the two classes of this module can be built, from plain numbers and strings, so a
    model file cannot make it construct anything else.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).

    Parameters
    ----------
    arch : dict

    Returns
    -------
    module : SpectrogramCNN or HybridNet
        In eval mode.

    Raises
    ------
    CNNError
        On an unknown class, a missing or unknown key, or a bad value.
    """
    cls_name = _check_architecture_keys(arch)
    architecture_size(arch)  # refuses a network too large to build, before allocating it
    try:
        kw = {"n_mels": int(arch["n_mels"]), "n_classes": int(arch["n_classes"]),
              "channels": [int(c) for c in arch["channels"]],
              "blocks": [str(b) for b in arch["blocks"]], "dropout": float(arch["dropout"])}
        if cls_name == "HybridNet":
            module = HybridNet(n_tab=int(arch["n_tab"]), hidden=int(arch["hidden"]), **kw)
        else:
            module = SpectrogramCNN(**kw)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, CNNError):
            raise
        raise CNNError(f"bad architecture values ({exc}): {arch}") from exc
    return module.eval()


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of a module.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).
    """
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def summarize(module: nn.Module, *, crop_frames: int = 129) -> str:
    """A printable summary: each block's output shape and parameters, and the total.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2: ``print(summarize(m))``).

    Parameters
    ----------
    module : SpectrogramCNN or HybridNet
    crop_frames : int
        Frames of the example crop pushed through to find the shapes.

    Returns
    -------
    summary : str
        One line per block (name, kind, output shape for one crop, parameters), the pooled
        embedding, the head, and the total parameter count.
    """
    arch = architecture(module)
    enc = module.encoder
    rows = [("input", "log-mel crop", (1, enc.n_mels, crop_frames), 0)]
    x = torch.zeros(1, 1, enc.n_mels, crop_frames)
    was_training = module.training
    module.eval()
    with torch.no_grad():
        for name, block in enc.blocks.named_children():
            x = block(x)
            rows.append((name, type(block).__name__, tuple(x.shape[1:]),
                         count_parameters(block)))
    rows.append(("pool", "global avg + max", (enc.embedding_dim,), 0))
    if isinstance(module, HybridNet):
        rows.append(("features", "scaled hand-crafted", (module.n_tab,), 0))
        rows.append(("head", f"MLP {enc.embedding_dim + module.n_tab}-{module.hidden}-"
                             f"{module.n_classes}", (module.n_classes,),
                     count_parameters(module.head)))
    else:
        rows.append(("head", f"dropout {module.dropout_p:g} + linear", (module.n_classes,),
                     count_parameters(module.head)))
    module.train(was_training)
    lines = [f"{arch['class']} (after Won et al. 2020, short-chunk CNN)",
             f"{'layer':<10} {'kind':<26} {'output shape':<16} {'parameters':>10}"]
    lines += [f"{n:<10} {k:<26} {str(s):<16} {p:>10,}" for n, k, s, p in rows]
    lines.append(f"total trainable parameters: {count_parameters(module):,}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Training


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: the first CUDA GPU when torch sees one, else the CPU; otherwise as given.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 3).
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise CNNError(f"unknown device {device!r} ({exc})") from exc


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """Run a block with ``n`` torch threads (None: leave the setting), then restore it."""
    before = torch.get_num_threads()
    if n is not None:
        if int(n) < 1:
            raise CNNError(f"n_threads must be >= 1 or None, got {n}")
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _crops(specs, idx, starts, crop_frames, mean, std) -> np.ndarray:
    """Normalised float32 crops ``specs[idx[j], :, starts[j]:starts[j] + crop_frames]``."""
    out = np.empty((len(idx), specs.shape[1], crop_frames), dtype=np.float32)
    for j, (i, s) in enumerate(zip(idx, starts, strict=True)):
        out[j] = specs[int(i)][:, int(s):int(s) + crop_frames]
    out -= np.float32(mean)
    out /= np.float32(std)
    return out


def _check_labels(y, n: int, n_classes: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise CNNError(f"{name} must be {n} integer class indices, got shape {y.shape} "
                       f"dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise CNNError(f"{name} holds class indices outside 0..{n_classes - 1}")
    return y.astype(np.int64)


def _check_tab(tab, n: int, name: str, n_tab: int | None = None) -> np.ndarray:
    tab = np.asarray(tab, dtype=np.float32)
    if tab.ndim != 2 or tab.shape[0] != n or (n_tab is not None and tab.shape[1] != n_tab):
        want = f"({n}, {n_tab if n_tab is not None else 'n_features'})"
        raise CNNError(f"{name} must have shape {want}, one scaled feature vector per clip, got "
                       f"{tab.shape}")
    if not np.isfinite(tab).all():
        raise CNNError(f"{name} holds non-finite values")
    return tab


def _clip_metrics(proba: np.ndarray, y: np.ndarray, n_classes: int) -> dict:
    from sklearn.metrics import f1_score

    p = np.clip(proba[np.arange(len(y)), y], 1e-7, 1.0)
    pred = proba.argmax(axis=1)
    return {"loss": float(-np.mean(np.log(p))), "accuracy": float(np.mean(pred == y)),
            "f1_macro": float(f1_score(y, pred, labels=sorted(set(y.tolist()) | set(pred.tolist())),
                                       average="macro", zero_division=0))}


def train_cnn(train_specs, train_y, val_specs=None, val_y=None, *, n_classes: int,
              train_tab=None, val_tab=None, normalizer: dict | None = None,
              crop_frames: int = 129, crop_hop: int | None = None, crops_per_clip: int = 4,
              epochs: int = 30, patience: int = 5, batch_size: int = 16, lr: float = 3e-4,
              weight_decay: float = 0.0, class_weight: str | None = None,
              arch: dict | None = None, seed: int = 0, device: str | torch.device = "auto",
              n_threads: int | None = 1,
              progress: Callable[[dict], None] | bool | None = None
              ) -> tuple[nn.Module, pd.DataFrame, dict]:
    """Train a :class:`SpectrogramCNN` (or, with ``train_tab``, a :class:`HybridNet`).

    Each epoch draws ``crops_per_clip`` random crops of ``crop_frames`` frames from every
    training clip (seeded), shuffles them into mini-batches, and takes Adam steps on the
    cross-entropy; then the validation clips are decided by averaging the probabilities of
    all their crops (:func:`predict_clip_proba`) and the clip-level validation loss is
    monitored: training stops after ``patience`` epochs without a lower one, and the best
    epoch's weights are restored. Without validation clips it trains for ``epochs`` and keeps
    the last weights.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 3).

    Parameters
    ----------
    train_specs : np.ndarray, np.memmap or ClipSubset [shape=(n_train, n_mels, t)]
        dB spectrograms (e.g. a :func:`log_mel_cache`, or :func:`take_clips` of one), not
        normalised.
    train_y : np.ndarray [shape=(n_train,), dtype=int]
        Class indices 0 .. ``n_classes - 1``.
    val_specs, val_y : optional
        The validation clips, for early stopping.
    n_classes : int >= 2
    train_tab, val_tab : np.ndarray [shape=(n, n_tab)], optional
        Scaled hand-crafted features, one row per clip aligned with the spectrograms: with
        them the model is a :class:`HybridNet` trained end to end.
    normalizer : dict, optional
        Default: :func:`fit_normalizer` of ``train_specs`` (training statistics only).
    crop_frames : int
        Frames per training and prediction crop (129 = 3.0 s).
    crop_hop : int, optional
        Hop between prediction crops (default ``crop_frames``: non-overlapping).
    crops_per_clip : int
        Random crops of each training clip per epoch (4: enough optimiser steps per epoch on
        small corpora; 1 is plenty for CCMusic-sized ones).
    epochs : int
        At most this many epochs (30).
    patience : int
        Epochs without a lower validation loss before stopping (5).
    batch_size : int
        Crops per step (16).
    lr, weight_decay : float
        Adam's learning rate (3e-4: on the 120 Emotify clips, 4 genres, artist-grouped 5-fold
        cross-validation, it gave a macro-F1 of 0.63 against 0.53 with 1e-3, and steadier
        validation losses) and L2 weight decay (0).
    class_weight : {None, "balanced"}
        ``"balanced"`` weighs the loss of each class by ``n_train / (n_classes * count)``.
    arch : dict, optional
        Constructor options of the module: ``channels``, ``blocks``, ``dropout`` (and for the
        hybrid ``hidden``).
    seed : int
        Seeds initialisation, dropout, crops and shuffling: the same seed gives identical
        weights on CPU (the global torch random state is left as it was).
    device : {"auto", "cpu", "cuda", ...}
        ``"auto"`` uses a GPU when torch sees one.
    n_threads : int or None
        Torch CPU threads while training (restored afterwards). 1 by default: on this
        project's busy 2-core machine one thread trained 5 times faster than two (measured
        in ``benchmarks/bench_cnn.py``), and a fixed count keeps seeded runs identical across
        machines. None leaves torch's setting.
    progress : callable or bool, optional
        Called with each epoch's history row (a dict); ``True`` prints one line per epoch
        on stderr.

    Returns
    -------
    module : SpectrogramCNN or HybridNet
        With the best weights, on the CPU, in eval mode.
    history : pandas.DataFrame
        One row per epoch: ``epoch, train_loss, train_accuracy`` (on the training crops, in
        training mode), ``val_loss, val_accuracy, val_f1_macro`` (clip-level; NaN without
        validation), ``seconds``; ``history.attrs`` holds ``best_epoch`` and ``stopped_epoch``.
    info : dict
        JSON: ``architecture``, ``normalizer``, ``crop_frames``, ``crop_hop``, the training
        settings, ``best_epoch``, ``stopped_epoch``, ``device``, ``seconds``, ``n_train``.

    Raises
    ------
    CNNError
        On mismatched shapes or lengths, labels out of range, a clip shorter than a crop, or
        features for only one of train and validation.
    """
    n_classes = int(n_classes)
    if n_classes < 2:
        raise CNNError(f"need at least two classes to train, got n_classes={n_classes}")
    train_specs = _check_specs(train_specs, "train_specs")
    n_mels, t = int(train_specs.shape[1]), int(train_specs.shape[2])
    y_tr = _check_labels(train_y, len(train_specs), n_classes, "train_y")
    has_val = val_specs is not None
    if has_val != (val_y is not None):
        raise CNNError("pass both val_specs and val_y, or neither")
    hybrid = train_tab is not None
    if has_val and hybrid != (val_tab is not None):
        raise CNNError("pass val_tab with train_tab (the hybrid needs features for both)")
    if has_val:
        val_specs = _check_specs(val_specs, "val_specs")
        if val_specs.shape[1] != n_mels:
            raise CNNError(f"val_specs has {val_specs.shape[1]} mel bands, train {n_mels}")
        y_va = _check_labels(val_y, len(val_specs), n_classes, "val_y")
    tab_tr = _check_tab(train_tab, len(train_specs), "train_tab") if hybrid else None
    n_tab = tab_tr.shape[1] if hybrid else None
    tab_va = (_check_tab(val_tab, len(val_specs), "val_tab", n_tab) if hybrid and has_val
              else None)
    if t < crop_frames:
        raise CNNError(f"clips of {t} frames are shorter than one crop of {crop_frames}")
    crop_starts(t, crop_frames, crop_hop)  # validates crop_hop
    if crops_per_clip < 1 or epochs < 1 or patience < 1 or batch_size < 1:
        raise CNNError("crops_per_clip, epochs, patience and batch_size must be >= 1")
    if class_weight not in (None, "balanced"):
        raise CNNError(f"class_weight must be None or 'balanced', got {class_weight!r}")
    normalizer = dict(normalizer) if normalizer is not None else fit_normalizer(train_specs)
    mean, std = _check_normalizer(normalizer)
    dev = resolve_device(device)
    options = dict(arch or {})
    allowed = {"channels", "blocks", "dropout"} | ({"hidden"} if hybrid else set())
    if set(options) - allowed:
        raise CNNError(f"unknown arch option(s) {sorted(set(options) - allowed)}; "
                       f"allowed: {sorted(allowed)}")

    weight = None
    if class_weight == "balanced":
        counts = np.bincount(y_tr, minlength=n_classes).astype(np.float64)
        weight = torch.tensor(np.where(counts > 0, len(y_tr) / (n_classes * np.maximum(counts, 1)),
                                       0.0), dtype=torch.float32, device=dev)
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    emit = log_to_stderr if progress is True else None
    callback = progress if callable(progress) else None

    det_before = torch.are_deterministic_algorithms_enabled()
    warn_before = torch.is_deterministic_algorithms_warn_only_enabled()
    bench_before = torch.backends.cudnn.benchmark
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    t_start = time.perf_counter()
    rows: list[dict] = []
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        with torch.random.fork_rng(devices=fork_devices), _torch_threads(n_threads):
            torch.manual_seed(seed)
            if dev.type == "cuda":
                torch.cuda.manual_seed_all(seed)
            if hybrid:
                module = HybridNet(n_mels, n_classes, n_tab, **options)
            else:
                module = SpectrogramCNN(n_mels, n_classes, **options)
            module.to(dev)
            opt = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
            rng = np.random.default_rng(seed)
            best_loss, best_epoch, best_state, waited = np.inf, 0, None, 0
            for epoch in range(1, epochs + 1):
                t0 = time.perf_counter()
                module.train()
                order = rng.permutation(np.repeat(np.arange(len(y_tr)), crops_per_clip))
                starts = rng.integers(0, t - crop_frames + 1, size=len(order))
                loss_sum, correct = 0.0, 0
                for a in range(0, len(order), batch_size):
                    idx, st = order[a:a + batch_size], starts[a:a + batch_size]
                    xb = torch.from_numpy(_crops(train_specs, idx, st, crop_frames, mean, std)
                                          ).to(dev)
                    yb = torch.from_numpy(y_tr[idx]).to(dev)
                    tb = torch.from_numpy(tab_tr[idx]).to(dev) if hybrid else None
                    opt.zero_grad()
                    logits = module(xb, tb)
                    loss = loss_fn(logits, yb)
                    loss.backward()
                    opt.step()
                    loss_sum += float(loss.detach()) * len(idx)
                    correct += int((logits.detach().argmax(dim=1) == yb).sum())
                row = {"epoch": epoch, "train_loss": loss_sum / len(order),
                       "train_accuracy": correct / len(order), "val_loss": np.nan,
                       "val_accuracy": np.nan, "val_f1_macro": np.nan}
                monitored = row["train_loss"]
                if has_val:
                    proba = predict_clip_proba(module, val_specs, tab=tab_va,
                                               normalizer=normalizer, crop_frames=crop_frames,
                                               crop_hop=crop_hop, device=dev, n_threads=None)
                    m = _clip_metrics(proba, y_va, n_classes)
                    row.update(val_loss=m["loss"], val_accuracy=m["accuracy"],
                               val_f1_macro=m["f1_macro"])
                    monitored = m["loss"]
                row["seconds"] = time.perf_counter() - t0
                rows.append(row)
                if emit is not None:
                    emit(f"epoch {epoch}: train loss {row['train_loss']:.4f}, val loss "
                         f"{row['val_loss']:.4f}, val accuracy {row['val_accuracy']:.3f} "
                         f"({row['seconds']:.1f} s)")
                if callback is not None:
                    callback(dict(row))
                if monitored < best_loss - 1e-12:
                    best_loss, best_epoch, waited = monitored, epoch, 0
                    best_state = copy.deepcopy(module.state_dict())
                else:
                    waited += 1
                    if has_val and waited >= patience:
                        break
    finally:
        torch.use_deterministic_algorithms(det_before, warn_only=warn_before)
        torch.backends.cudnn.benchmark = bench_before
    if not has_val:
        best_epoch, best_state = len(rows), None
    if best_state is not None:
        module.load_state_dict(best_state)
    module.to("cpu").eval()
    history = pd.DataFrame(rows)
    history.attrs["best_epoch"] = int(best_epoch)
    history.attrs["stopped_epoch"] = int(len(rows))
    info = {"architecture": architecture(module), "normalizer": normalizer,
            "crop_frames": int(crop_frames),
            "crop_hop": int(crop_frames if crop_hop is None else crop_hop),
            "crops_per_clip": int(crops_per_clip), "epochs": int(epochs),
            "patience": int(patience), "batch_size": int(batch_size), "lr": float(lr),
            "weight_decay": float(weight_decay), "class_weight": class_weight,
            "seed": int(seed), "best_epoch": int(best_epoch), "stopped_epoch": int(len(rows)),
            "monitor": "val_loss" if has_val else "none (no validation clips)",
            "device": str(dev), "n_threads": n_threads,
            "seconds": float(time.perf_counter() - t_start),
            "n_train": int(len(y_tr)), "n_val": int(len(val_specs)) if has_val else 0}
    return module, history, info


# ---------------------------------------------------------------------------------------------
# Prediction


def _module_device(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _iter_crop_proba(module, specs, tab, normalizer, crop_frames, crop_hop, batch_size, device):
    """Yield ``(clip, per-crop probabilities [n_crops, n_classes])`` clip by clip, batching
    crops across clips."""
    specs = _check_specs(specs)
    mean, std = _check_normalizer(normalizer)
    hybrid = isinstance(module, HybridNet)
    if hybrid:
        if tab is None:
            raise CNNError("the hybrid model needs the clips' scaled features (tab=)")
        tab = _check_tab(tab, len(specs), "tab", module.n_tab)
    starts = crop_starts(int(specs.shape[2]), crop_frames, crop_hop)
    n_crops = len(starts)
    dev = _module_device(module) if device is None else resolve_device(device)
    module.to(dev)
    module.eval()
    pending: dict[int, list[np.ndarray]] = {}
    clip_of = np.repeat(np.arange(len(specs)), n_crops)
    start_of = np.tile(starts, len(specs))
    with torch.no_grad():
        for a in range(0, len(clip_of), batch_size):
            idx, st = clip_of[a:a + batch_size], start_of[a:a + batch_size]
            xb = torch.from_numpy(_crops(specs, idx, st, crop_frames, mean, std)).to(dev)
            tb = torch.from_numpy(tab[idx]).to(dev) if hybrid else None
            p = torch.softmax(module(xb, tb).float(), dim=1).cpu().numpy().astype(np.float64)
            for j, i in enumerate(idx):
                pending.setdefault(int(i), []).append(p[j])
                if len(pending[int(i)]) == n_crops:
                    yield int(i), np.stack(pending.pop(int(i)))


def predict_crop_proba(module: nn.Module, S_db: np.ndarray, *, tab=None, normalizer: dict,
                       crop_frames: int = 129, crop_hop: int | None = None,
                       batch_size: int = 64, device=None, n_threads: int | None = 1
                       ) -> np.ndarray:
    """Class probabilities of each crop of one clip (where in the clip the model decides).

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 5).

    Parameters
    ----------
    module : SpectrogramCNN or HybridNet
    S_db : np.ndarray [shape=(n_mels, t)]
        One clip's dB spectrogram (:func:`clip_log_mel`).
    tab : np.ndarray [shape=(n_tab,)], optional
        The clip's scaled features (hybrid only).
    normalizer : dict
    crop_frames, crop_hop : int
        The crops of :func:`crop_starts`.
    batch_size : int
    device : optional
        Default: where the module's parameters are.
    n_threads : int or None
        Torch CPU threads (1; None leaves torch's setting), as in :func:`train_cnn`.

    Returns
    -------
    proba : np.ndarray [shape=(n_crops, n_classes), dtype=float64]
        Row ``j`` is the crop starting at ``crop_starts(t, crop_frames, crop_hop)[j]``.
    """
    S_db = np.asarray(S_db)
    if S_db.ndim != 2:
        raise CNNError(f"expected one clip's spectrogram of shape (n_mels, t), got {S_db.shape}")
    tab1 = None if tab is None else np.asarray(tab, dtype=np.float32).reshape(1, -1)
    with _torch_threads(n_threads):
        return next(_iter_crop_proba(module, S_db[None], tab1, normalizer, crop_frames,
                                     crop_hop, batch_size, device))[1]


def predict_clip_proba(module: nn.Module, specs, *, tab=None, normalizer: dict,
                       crop_frames: int = 129, crop_hop: int | None = None,
                       batch_size: int = 64, device=None, n_threads: int | None = 1
                       ) -> np.ndarray:
    """Class probabilities of whole clips: the mean of the probabilities of all their crops.

    Each clip is cut into the crops of :func:`crop_starts` (non-overlapping by default, plus
    one ending at the last frame), each crop normalised and classified (softmax), and the crop
    probabilities averaged. Memory stays bounded: crops are read ``batch_size`` at a time.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 3).

    Parameters
    ----------
    module : SpectrogramCNN or HybridNet
    specs : np.ndarray, np.memmap or ClipSubset [shape=(n_clips, n_mels, t)]
        dB spectrograms (not normalised).
    tab : np.ndarray [shape=(n_clips, n_tab)], optional
        Scaled features aligned with the clips (required by a :class:`HybridNet`).
    normalizer : dict
        From training (``info["normalizer"]``).
    crop_frames, crop_hop : int
        As in training (``info["crop_frames"]``, ``info["crop_hop"]``).
    batch_size : int
        Crops per forward pass.
    device : optional
        Default: where the module's parameters are.
    n_threads : int or None
        Torch CPU threads (1; None leaves torch's setting), as in :func:`train_cnn`.

    Returns
    -------
    proba : np.ndarray [shape=(n_clips, n_classes), dtype=float64]
        Each row sums to 1; column ``i`` is class ``i``.

    Raises
    ------
    CNNError
        On bad shapes, a missing ``tab`` for a hybrid, or clips shorter than a crop.
    """
    n = len(_check_specs(specs))
    out = np.zeros((n, module.n_classes), dtype=np.float64)
    with _torch_threads(n_threads):
        for i, p in _iter_crop_proba(module, specs, tab, normalizer, crop_frames, crop_hop,
                                     batch_size, device):
            out[i] = p.mean(axis=0)
    return out


# ---------------------------------------------------------------------------------------------
# What a saved model stores beside its weights


def model_config(module: nn.Module, info: dict, settings: dict | None = None) -> dict:
    """Everything besides the weights that a saved CNN or hybrid needs to predict (JSON).

    Store it in the model's metadata; :func:`check_model_config` validates it on load and
    :func:`build_from_architecture` rebuilds the module from it.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 6).

    Parameters
    ----------
    module : SpectrogramCNN or HybridNet
    info : dict
        From :func:`train_cnn` (its ``normalizer``, ``crop_frames``, ``crop_hop``).
    settings : dict, optional
        The spectrogram settings the training clips were computed with (default: the
        defaults of :func:`spectrogram_settings`).

    Returns
    -------
    config : dict
        ``architecture``, ``spectrogram``, ``normalizer``, ``crop_frames``, ``crop_hop``.
    """
    config = {"architecture": architecture(module),
              "spectrogram": spectrogram_settings(**(settings or {})),
              "normalizer": dict(info["normalizer"]), "crop_frames": int(info["crop_frames"]),
              "crop_hop": int(info["crop_hop"])}
    return check_model_config(config)


def _check_front_end_cost(spec: dict) -> int:
    """The frames of a clip under settings ``spec``; refuses settings no real model has.

    Bounds the samples of a clip and its frames x frequency bins (or mel bands) by
    :data:`MAX_CLIP_VALUES`, naming the field that goes furthest beyond the defaults.
    """
    if spec["duration"] > 3600:
        raise CNNError(f"spectrogram.duration must be at most 3600 s, got {spec['duration']}")
    if spec["sr"] > 768_000:
        raise CNNError(f"spectrogram.sr must be at most 768000, got {spec['sr']}")
    samples = int(round(spec["sr"] * spec["duration"]))
    if samples > MAX_CLIP_VALUES:
        raise CNNError(f"spectrogram.duration {spec['duration']} s at spectrogram.sr "
                       f"{spec['sr']} makes {samples:,} samples per clip, more than a model may "
                       f"ask for ({MAX_CLIP_VALUES:,})")
    t = 1 + samples // spec["hop_length"]
    rows = max(spec["n_fft"] // 2 + 1, spec["n_mels"])
    if t * rows > MAX_CLIP_VALUES:
        growth = {"hop_length": HOP_LENGTH / spec["hop_length"],
                  "n_fft": spec["n_fft"] / FRAME_SIZE, "n_mels": spec["n_mels"] / 96,
                  "sr": spec["sr"] / SAMPLE_RATE}
        key = max(growth, key=growth.get)
        raise CNNError(f"spectrogram.{key} {spec[key]} (with sr {spec['sr']}, n_fft "
                       f"{spec['n_fft']}, hop_length {spec['hop_length']}, n_mels "
                       f"{spec['n_mels']}) makes {t:,} frames x {rows:,} bins per clip, more "
                       f"than a model may ask for ({MAX_CLIP_VALUES:,} values)")
    return t


def check_model_config(config) -> dict:
    """Validate a stored :func:`model_config`; returns it normalised.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 6).

    Raises
    ------
    CNNError
        Naming the first bad field: unknown or missing keys, an architecture that cannot be
        built, settings out of range, a normaliser without a positive std, crops longer than a
        clip, or mel bands that differ between the spectrogram and the architecture.
    """
    keys = {"architecture", "spectrogram", "normalizer", "crop_frames", "crop_hop"}
    if not isinstance(config, dict) or set(config) != keys:
        got = sorted(config) if isinstance(config, dict) else type(config).__name__
        raise CNNError(f"a CNN model config has exactly the keys {sorted(keys)}, got {got}")
    arch = config["architecture"]
    with torch.device("meta"):  # checks everything the constructors check, allocating nothing
        build_from_architecture(arch)  # raises on anything it cannot build, or too large
    spec = spectrogram_settings(**config["spectrogram"]) if isinstance(
        config["spectrogram"], dict) else None
    if spec is None:
        raise CNNError("config field spectrogram must be a mapping of settings")
    t = _check_front_end_cost(spec)
    mean, std = _check_normalizer(config["normalizer"])
    if arch["n_mels"] != spec["n_mels"]:
        raise CNNError(f"config: the architecture takes {arch['n_mels']} mel "
                       f"bands but the spectrogram settings make {spec['n_mels']}")
    try:
        crop_frames, crop_hop = int(config["crop_frames"]), int(config["crop_hop"])
    except (TypeError, ValueError) as exc:
        raise CNNError(f"config fields crop_frames and crop_hop must be integers ({exc})") from exc
    if crop_frames < 1 or crop_hop < 1:
        raise CNNError(f"crop_frames and crop_hop must be >= 1, got {crop_frames}, {crop_hop}")
    if crop_frames <= t:
        n_crops = (t - crop_frames) // crop_hop + 2
        if n_crops * crop_frames * spec["n_mels"] > MAX_CLIP_VALUES:
            raise CNNError(f"crop_hop {crop_hop} (crops of {crop_frames} frames) makes "
                           f"{n_crops:,} crops of a clip: more than a model may ask for "
                           f"({MAX_CLIP_VALUES:,} values per clip)")
        most = _crop_activations(arch, crop_frames)
        if most > MAX_CROP_ACTIVATIONS:
            raise CNNError(f"architecture.channels {arch['channels']} on crops of "
                           f"{spec['n_mels']} x {crop_frames} make {most:,} activations per "
                           f"crop in one block, more than the {MAX_CROP_ACTIVATIONS:,} a saved "
                           "model may ask for")
    crop_starts(t, crop_frames, crop_hop)  # raises when a crop exceeds a clip
    return {"architecture": dict(config["architecture"]), "spectrogram": spec,
            "normalizer": {"kind": "global", "mean": mean, "std": std,
                           **({"n_clips": int(config["normalizer"]["n_clips"])}
                              if "n_clips" in config["normalizer"] else {})},
            "crop_frames": crop_frames, "crop_hop": crop_hop}


def predict_file_proba(module: nn.Module, path: str | os.PathLike, config: dict, *,
                       tab=None, n_threads: int | None = 1) -> np.ndarray:
    """Class probabilities of any audio file: :func:`file_log_mel` then crop averaging.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 6: a new mp3).

    Parameters
    ----------
    module : SpectrogramCNN or HybridNet
    path : path-like
        Any audio file soundfile decodes.
    config : dict
        From :func:`model_config`.
    tab : np.ndarray [shape=(n_tab,)], optional
        The file's scaled hand-crafted features (hybrid only).
    n_threads : int or None

    Returns
    -------
    proba : np.ndarray [shape=(n_classes,), dtype=float64]

    Raises
    ------
    bag_of_songs.data.AudioLoadError
        When the file cannot be decoded.
    """
    config = check_model_config(config)
    S_db = file_log_mel(path, config["spectrogram"])
    tab1 = None if tab is None else np.asarray(tab, dtype=np.float32).reshape(1, -1)
    return predict_clip_proba(module, S_db[None], tab=tab1, normalizer=config["normalizer"],
                              crop_frames=config["crop_frames"], crop_hop=config["crop_hop"],
                              n_threads=n_threads)[0]


# ---------------------------------------------------------------------------------------------
# Late fusion (the alternative to the hybrid network)


def late_fusion_proba(probas: Sequence[np.ndarray], *, weights: Sequence[float] | None = None
                      ) -> np.ndarray:
    """Weighted average of several models' class probabilities for the same clips.

    Late fusion: e.g. ``late_fusion_proba([p_cnn, p_mlp], weights=[w, 1 - w])``.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 4).

    Parameters
    ----------
    probas : sequence of np.ndarray [shape=(n_clips, n_classes)]
        Rows summing to 1, the same classes in the same column order.
    weights : sequence of float, optional
        Non-negative, one per model (normalised to sum to 1); default equal.

    Returns
    -------
    proba : np.ndarray [shape=(n_clips, n_classes)]

    Examples
    --------
    >>> late_fusion_proba([np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])]).tolist()
    [[0.75, 0.25]]
    """
    arrs = [np.asarray(p, dtype=np.float64) for p in probas]
    if not arrs or any(a.shape != arrs[0].shape or a.ndim != 2 for a in arrs):
        raise CNNError(f"need one or more probability arrays of one shape (n_clips, n_classes), "
                       f"got {[a.shape for a in arrs]}")
    w = np.ones(len(arrs)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(arrs),) or (w < 0).any() or not w.sum() > 0:
        raise CNNError(f"need {len(arrs)} non-negative weights with a positive sum, got {weights}")
    w = w / w.sum()
    return sum(wi * a for wi, a in zip(w, arrs, strict=True))


def choose_fusion_weight(p_a: np.ndarray, p_b: np.ndarray, y, *, grid: int = 11) -> float:
    """The weight ``w`` of ``p_a`` (``1 - w`` of ``p_b``) with the lowest log-loss on ``y``.

    Choose it on the **validation** clips, then apply :func:`late_fusion_proba` to the test
    clips with ``weights=[w, 1 - w]``.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 4).

    Parameters
    ----------
    p_a, p_b : np.ndarray [shape=(n_clips, n_classes)]
    y : np.ndarray [shape=(n_clips,), dtype=int]
    grid : int
        Weights tried: ``np.linspace(0, 1, grid)``; ties go to the weight closest to 0.5.

    Returns
    -------
    w : float
    """
    p_a, p_b = np.asarray(p_a, dtype=np.float64), np.asarray(p_b, dtype=np.float64)
    y = _check_labels(y, len(p_a), p_a.shape[1], "y")
    best = (np.inf, 1.0, 0.5)
    for w in np.linspace(0.0, 1.0, int(grid)):
        p = late_fusion_proba([p_a, p_b], weights=[w, 1.0 - w]) if 0 < w < 1 else (
            p_a if w == 1 else p_b)
        loss = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0))))
        key = (round(loss, 12), abs(w - 0.5), w)
        if key < best:
            best = key
    return float(best[2])
