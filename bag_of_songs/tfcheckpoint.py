"""The TensorFlow checkpoint reader: the code lives in :mod:`bag_of_songs.embeddings.tfcheckpoint`.

This module re-exports its API under the name used so far
(``from bag_of_songs.tfcheckpoint import Checkpoint``). The limits are re-exported as values:
to change one, patch :mod:`bag_of_songs.embeddings.tfcheckpoint.limits`, which the reader reads.
"""

from __future__ import annotations

from .embeddings.tfcheckpoint import (
    DTYPES,
    MAX_ENTRIES,
    MAX_INDEX_BYTES,
    MAX_KEY_BYTES,
    MAX_KEYS_TOTAL_BYTES,
    MAX_RANK,
    MAX_SHARDS,
    MAX_TENSOR_BYTES,
    TABLE_MAGIC,
    Checkpoint,
    CheckpointError,
    TensorEntry,
    crc32c,
    read_checkpoint,
    read_index,
)

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
