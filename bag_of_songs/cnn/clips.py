"""Lazy views of some clips of one or more spectrogram arrays (nothing is copied).

Explained in ``notebooks/4-spectrogram-cnn.ipynb``: the folds of a cross-validation, the rows
of a feature table, or the clips of several splits together read crop by crop from the
memory-mapped caches of :mod:`bag_of_songs.cnn.cache`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import CNNError


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

    Examples
    --------
    >>> a, b = np.zeros((3, 4, 10)), np.ones((2, 4, 10))
    >>> both = concat_clips(a, b)
    >>> both.shape, float(both[3].mean())
    ((5, 4, 10), 1.0)
    >>> take_clips(both, [4, 0]).shape
    (2, 4, 10)
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
