"""The per-split disk cache of log-mel spectrograms, and a feature table's clips from it.

Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 1).

Each split's spectrograms are cached once (:func:`log_mel_cache`) as a float16 ``.npy`` file
opened as a memory map, so epochs never recompute them and memory stays bounded (CCMusic's
1,713 clips: 1,713 x 96 x 1,292 x 2 bytes = 425 MB on disk, read page by page). Clips are
computed in joblib worker processes when ``n_jobs > 1`` (the plumbing the project already
depends on), streamed back in order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from .._logging import forward_records
from ..data import read_annotations
from ..errors import AudioLoadError, CNNError, FeatureError
from ..files import atomic_write, lock_folder, sha256_file
from ..parallel import progress_bar_class
from .clips import ClipSubset, concat_clips, take_clips
from .frontend import CACHE_DTYPE, file_log_mel, n_frames, settings_hash, spectrogram_settings

logger = logging.getLogger(__name__)

_CACHE_FORMAT = "bag_of_songs.log_mel_cache"
_CACHE_VERSION = 1


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
    logged (``WARNING``) and left out, never a crash. A build holds the prepared folder's
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
        Deprecated: attach a handler to the ``bag_of_songs`` logger instead. Receives the
        package's log lines (``INFO`` and up: one per clip left out, one when the cache is
        rebuilt) while this call runs.

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
    with forward_records(log):
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
                                        n_jobs=n_jobs, progress=progress)


def _build_log_mel_cache(split_dir: Path, s: dict, files: list[str], npy: Path,
                         meta_path: Path, expected: dict, tail: tuple[int, int], why: str, *,
                         n_jobs: int, progress: bool):
    """:func:`log_mel_cache`'s build, run while the folder lock is held."""
    root = split_dir.parent
    if why != "no cache yet":
        logger.info(f"rebuilding the log-mel cache of {split_dir}: {why}")
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
            yield from Parallel(n_jobs=n_jobs, return_as="generator", pre_dispatch="2*n_jobs")(
                delayed(_log_mel_for_file)(p, s) for p in paths)

    def write(tmp: str) -> None:
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
                logger.warning(f"left out {files[i]}: {reason}")
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
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".shrink.tmp", dir=path.parent)

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
        As in :func:`log_mel_cache` (deprecated).
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
        specs, files, _ = log_mel_cache(Path(data_dir) / split, settings, n_jobs=n_jobs,
                                        progress=progress, log=log)
        caches.append(specs)
        positions.update({f: (k, i) for i, f in enumerate(files)})
    missing = [w for w in wanted if w not in positions]
    if missing:
        raise CNNError(f"{len(missing)} clip(s) have no cached spectrogram (unreadable audio?): "
                       f"{missing[:5]}")
    joined = concat_clips(*caches)
    offsets = np.cumsum([0] + [len(c) for c in caches])
    return take_clips(joined, [offsets[positions[w][0]] + positions[w][1] for w in wanted])

