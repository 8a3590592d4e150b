"""What the checkpoint reader accepts: the bounds on what an index declares, and its error.

Nothing an index declares is trusted before it is bounded: the number of shards
(:data:`MAX_SHARDS`), of tensors (:data:`MAX_ENTRIES`), the length of the names
(:data:`MAX_KEY_BYTES`, :data:`MAX_KEYS_TOTAL_BYTES`), the rank of a tensor (:data:`MAX_RANK`)
and its size in bytes (:data:`MAX_TENSOR_BYTES`). The reader's modules read these bounds from
this module when they run (``limits.MAX_ENTRIES``), so a test lowers one by patching it here.
:class:`CheckpointError` (from :mod:`bag_of_songs.errors`, under ``BagOfSongsError``) is
what the reader raises for anything it refuses.
"""

from __future__ import annotations

from ...errors import CheckpointError

__all__ = [
    "CheckpointError",
    "MAX_INDEX_BYTES",
    "MAX_SHARDS",
    "MAX_ENTRIES",
    "MAX_KEY_BYTES",
    "MAX_KEYS_TOTAL_BYTES",
    "MAX_RANK",
    "MAX_TENSOR_BYTES",
    "MAX_ELEMENTS",
]


#: An index larger than this is not a checkpoint index (the musicnn ones are about 5 kB; one of
#: :data:`MAX_ENTRIES` tensors with ordinary names takes a few MB). Parsing takes a time
#: proportional to the index's size: this bound is also the bound on that time.
MAX_INDEX_BYTES = 8 * 2**20
#: Most data shards a bundle may declare (TensorFlow writes one per device; musicnn has one).
MAX_SHARDS = 1024
#: Most entries (tensors, plus the header) an index may hold (musicnn: 151).
MAX_ENTRIES = 100_000
#: Longest key (tensor name) an index may hold, in bytes, and most key bytes in all (the keys
#: are prefix-compressed, so a small index could otherwise spell out ever longer keys).
MAX_KEY_BYTES = 4096
MAX_KEYS_TOTAL_BYTES = MAX_INDEX_BYTES
#: Highest rank of a tensor (as TensorFlow's ``TensorShape``).
MAX_RANK = 254
#: Largest tensor the reader reads, in bytes (musicnn's largest is about 1.2 MB).
MAX_TENSOR_BYTES = 2**30
#: Largest element count of a shape (TensorFlow's ``TensorShape`` counts in int64).
MAX_ELEMENTS = 2**63 - 1
