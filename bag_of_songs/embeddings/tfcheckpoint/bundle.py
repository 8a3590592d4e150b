"""A checkpoint bundle opened for reading: its index parsed, its tensors bounded and read.

A checkpoint with prefix ``P`` is a file ``P.index`` (:mod:`.table` of :mod:`.protobuf`
messages) and one or more shards ``P.data-00000-of-0000N`` holding the tensors' bytes.
:func:`read_index` parses the index; :class:`Checkpoint` also checks that every tensor lies,
without overlapping another, inside a shard file that exists and is a regular file, and takes
at most :data:`.limits.MAX_TENSOR_BYTES`; :meth:`Checkpoint.read` checks each tensor's bytes
against its CRC-32C. Files are opened without blocking (a FIFO named like a checkpoint file is
refused, not waited on).
"""

from __future__ import annotations

import os
import stat

import numpy as np

# The bounds are read from their one home when a file is parsed (so a test patches them
# there). Imported by absolute name: to the import-cycle check, ``from . import limits``
# reads as importing this package's __init__, which imports this module.
import bag_of_songs.embeddings.tfcheckpoint.limits as limits

from .crc32c import crc32c
from .limits import CheckpointError
from .protobuf import TensorEntry, parse_entry, parse_header
from .table import table_entries

__all__ = ["read_index", "Checkpoint", "read_checkpoint"]


def read_index(path: str | os.PathLike) -> tuple[dict, dict[str, TensorEntry]]:
    """Parse a checkpoint ``.index`` file.

    Parameters
    ----------
    path : path-like
        The ``.index`` file.

    Returns
    -------
    header : dict
        ``num_shards``, ``endianness`` (0 = little) and ``version`` of the bundle.
    entries : dict of str -> TensorEntry
        Every tensor, by name, in the file's (sorted) order.

    Raises
    ------
    CheckpointError
        When the file is missing, not an index, truncated or corrupt (bad magic, a block or
        entry running past its end, a CRC mismatch, keys out of order, overlapping blocks), names
        a tensor this reader does not support (non-numeric dtype, slices) or whose size does not
        match its shape, or declares more than the limits allow (``num_shards`` over
        :data:`.limits.MAX_SHARDS`, too many or too long keys, a rank over
        :data:`.limits.MAX_RANK`, an element count that overflows int64); the message names the
        field.

    Examples
    --------
    >>> from bag_of_songs.embeddings.musicnn import musicnn_checkpoint_dir
    >>> header, entries = read_index(musicnn_checkpoint_dir("MSD_musicnn") / ".index")
    >>> header["num_shards"], entries["dense/kernel"].shape
    (1, (1506, 200))
    """
    path = os.fspath(path)
    try:
        with open(path, "rb", opener=_open_nonblocking) as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise CheckpointError(f"{path}: not a regular file")
            if st.st_size > limits.MAX_INDEX_BYTES:
                raise CheckpointError(f"{path}: {st.st_size} bytes is too large for a "
                                      "checkpoint index")
            data = f.read(st.st_size + 1)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint index ({exc})") from exc
    if len(data) != st.st_size:
        raise CheckpointError(f"{path}: the checkpoint index changed while it was read")
    header, entries = None, {}
    for key, value in table_entries(data, path):
        if key == b"":
            header = parse_header(value)
            continue
        try:
            name = key.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"{path}: a tensor name is not valid UTF-8") from exc
        entries[name] = parse_entry(name, value)
    if header is None:
        raise CheckpointError(f"{path}: no bundle header (empty key) in the index")
    for e in entries.values():
        if e.shard_id >= header["num_shards"]:
            raise CheckpointError(f"{path}: tensor {e.name!r} names shard_id {e.shard_id} of "
                                  f"num_shards = {header['num_shards']}")
    return header, entries


def _open_nonblocking(path: str, flags: int) -> int:
    # A FIFO named like a checkpoint file must not block the open: it is refused after fstat.
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def _shard_size(shard: str) -> int:
    """The size of a data shard, which must exist and be a regular file (or a link to one)."""
    try:
        st = os.stat(shard)
    except OSError as exc:
        raise CheckpointError(f"{shard}: missing checkpoint data shard ({exc})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"{shard}: the checkpoint data shard is not a regular file")
    return st.st_size


class Checkpoint:
    """A TensorFlow checkpoint bundle opened for reading, e.g. ``Checkpoint("dir/model.ckpt")``.

    Parameters
    ----------
    prefix : path-like
        The bundle prefix: the files are ``prefix + ".index"`` and
        ``prefix + ".data-00000-of-00001"`` (for the musicnn checkpoints the prefix is the
        model folder with a trailing separator: ``.../MSD_musicnn/``).

    Raises
    ------
    CheckpointError
        As :func:`read_index`, or when a data shard is missing or not a regular file, or a
        tensor's (``offset``, ``size``) lies beyond its shard's end, overlaps another tensor or
        exceeds :data:`.limits.MAX_TENSOR_BYTES`.

    Examples
    --------
    >>> import os
    >>> from bag_of_songs.embeddings.musicnn import musicnn_checkpoint_dir
    >>> ckpt = Checkpoint(str(musicnn_checkpoint_dir("MSD_musicnn")) + os.sep)
    >>> ckpt.entries["dense/kernel"].shape
    (1506, 200)
    >>> w = ckpt.read("dense/kernel")
    >>> w.shape, w.dtype
    ((1506, 200), dtype('float32'))
    """

    def __init__(self, prefix: str | os.PathLike):
        self.prefix = os.fspath(prefix)
        self.header, self.entries = read_index(self.prefix + ".index")
        n = self.header["num_shards"]  # at most MAX_SHARDS: checked by read_index
        self.shards = [f"{self.prefix}.data-{i:05d}-of-{n:05d}" for i in range(n)]
        sizes = [_shard_size(shard) for shard in self.shards]
        # Every tensor lies inside its shard, and no two overlap: reading them all reads no
        # more than the shards hold.
        ends = [0] * n
        for e in sorted(self.entries.values(), key=lambda e: (e.shard_id, e.offset, e.size)):
            shard = self.shards[e.shard_id]
            if e.offset + e.size > sizes[e.shard_id]:
                raise CheckpointError(
                    f"tensor {e.name!r} lies at bytes {e.offset}..{e.offset + e.size} (offset, "
                    f"size) of {shard}, which holds only {sizes[e.shard_id]} bytes: the data "
                    "file is truncated or does not belong to this index")
            if e.offset < ends[e.shard_id]:
                raise CheckpointError(
                    f"tensor {e.name!r} (offset {e.offset}, size {e.size}) overlaps another "
                    f"tensor of {shard}, which ends at byte {ends[e.shard_id]}: the index is "
                    "corrupt")
            ends[e.shard_id] = e.offset + e.size
            if e.size > limits.MAX_TENSOR_BYTES:  # e.g. in a sparse shard file
                raise CheckpointError(
                    f"tensor {e.name!r} of shape {e.shape} takes {e.size} bytes (size), over the "
                    f"reader's limit of {limits.MAX_TENSOR_BYTES} (limits.MAX_TENSOR_BYTES of "
                    "bag_of_songs.embeddings.tfcheckpoint)")

    def read(self, name: str, *, verify: bool = True) -> np.ndarray:
        """Read one tensor as a (writable, native-order) numpy array.

        Parameters
        ----------
        name : str
            The variable name, e.g. ``"conv2d/kernel"``.
        verify : bool
            Check the bytes against the CRC-32C recorded in the index.

        Returns
        -------
        array : np.ndarray [shape=entry.shape]

        Raises
        ------
        CheckpointError
            Unknown name, short read, or CRC mismatch.
        """
        if name not in self.entries:
            raise CheckpointError(f"no tensor {name!r} in the checkpoint {self.prefix!r}")
        e = self.entries[name]
        try:
            with open(self.shards[e.shard_id], "rb", opener=_open_nonblocking) as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise CheckpointError(f"{self.shards[e.shard_id]}: the checkpoint data "
                                          "shard is not a regular file")
                f.seek(e.offset)
                raw = f.read(e.size)  # at most the shard's size and MAX_TENSOR_BYTES
        except OSError as exc:
            raise CheckpointError(f"tensor {name!r}: cannot read "
                                  f"{self.shards[e.shard_id]} ({exc})") from exc
        if len(raw) != e.size:
            raise CheckpointError(f"tensor {name!r}: short read from {self.shards[e.shard_id]}")
        if verify and e.crc32c is not None and crc32c(raw) != e.crc32c:
            raise CheckpointError(f"tensor {name!r} fails its CRC-32C check: the data file is "
                                  "corrupt or does not belong to this index")
        return np.frombuffer(raw, dtype=e.dtype).astype(e.dtype.newbyteorder("="))\
            .reshape(e.shape)


def read_checkpoint(prefix: str | os.PathLike, names=None, *, verify: bool = True
                    ) -> dict[str, np.ndarray]:
    """Read tensors of a TensorFlow checkpoint bundle into numpy arrays.

    Parameters
    ----------
    prefix : path-like
        The bundle prefix (see :class:`Checkpoint`).
    names : iterable of str, optional
        The tensors to read (default: all).
    verify : bool
        Check each tensor's CRC-32C.

    Returns
    -------
    tensors : dict of str -> np.ndarray

    Raises
    ------
    CheckpointError
        See :class:`Checkpoint`.

    Examples
    --------
    >>> import os
    >>> from bag_of_songs.embeddings.musicnn import musicnn_checkpoint_dir
    >>> prefix = str(musicnn_checkpoint_dir("MTT_musicnn")) + os.sep
    >>> tensors = read_checkpoint(prefix, ["dense_1/kernel", "dense_1/bias"])
    >>> {name: t.shape for name, t in tensors.items()}
    {'dense_1/kernel': (200, 50), 'dense_1/bias': (50,)}
    """
    ckpt = Checkpoint(prefix)
    names = list(ckpt.entries) if names is None else list(names)
    return {n: ckpt.read(n, verify=verify) for n in names}
