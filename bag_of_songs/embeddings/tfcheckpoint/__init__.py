"""A small reader of TensorFlow checkpoint bundles (``.index`` + ``.data-*``), without TensorFlow.

Used by :mod:`bag_of_songs.embeddings.musicnn` to load the weights of the pretrained musicnn
models (explained in ``notebooks/5-pretrained-embeddings.ipynb``).

A checkpoint with prefix ``P`` is a file ``P.index`` and one or more shards
``P.data-00000-of-0000N``. The index is a LevelDB-format sorted table (:mod:`.table`) whose
values are protobuf messages (:mod:`.protobuf`): under the empty key a ``BundleHeaderProto``,
under each tensor's name a ``BundleEntryProto`` saying where its bytes lie in which shard and
their masked CRC-32C (:mod:`.crc32c`). :mod:`.bundle` puts them together: :func:`read_index`,
:class:`Checkpoint`, :func:`read_checkpoint`.

The reader treats the files as data only: it parses bytes, checks every length, offset, CRC and
size against what the file holds, and refuses anything else with a :class:`CheckpointError`. It
never executes, imports or unpickles anything, and does not need ``protobuf`` or TensorFlow.

Nothing the index declares is trusted before it is bounded (:mod:`.limits`): the number of
shards, of tensors, the length of the names and the rank of a tensor are checked as they are
parsed; every tensor must lie, without overlapping another, inside a shard file that exists and
is a regular file, and take at most :data:`MAX_TENSOR_BYTES`. The reader's time and memory
therefore follow the size of the files, never the numbers written in them.
"""

from __future__ import annotations

from .bundle import Checkpoint, read_checkpoint, read_index
from .crc32c import crc32c
from .limits import (
    MAX_ENTRIES,
    MAX_INDEX_BYTES,
    MAX_KEY_BYTES,
    MAX_KEYS_TOTAL_BYTES,
    MAX_RANK,
    MAX_SHARDS,
    MAX_TENSOR_BYTES,
    CheckpointError,
)
from .protobuf import DTYPES, TensorEntry
from .table import TABLE_MAGIC

__all__ = [
    "CheckpointError",
    "TensorEntry",
    "Checkpoint",
    "read_index",
    "read_checkpoint",
    "crc32c",
    "DTYPES",
    "TABLE_MAGIC",
    "MAX_INDEX_BYTES",
    "MAX_SHARDS",
    "MAX_ENTRIES",
    "MAX_KEY_BYTES",
    "MAX_KEYS_TOTAL_BYTES",
    "MAX_RANK",
    "MAX_TENSOR_BYTES",
]
