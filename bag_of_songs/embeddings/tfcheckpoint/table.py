"""The LevelDB sorted table (SSTable) a checkpoint ``.index`` file is, read from bytes.

- A 48-byte footer at the end: two *block handles* (varint offset, varint size) for the
  meta-index and the index block, zero padding to 40 bytes, and the 8-byte little-endian magic
  number :data:`TABLE_MAGIC`;
- blocks, each followed by a 5-byte trailer: a compression byte (0 = none, 1 = snappy) and the
  masked CRC-32C of the block and that byte. A block holds prefix-compressed key/value entries
  (varints ``shared``, ``non_shared``, ``value_length``, then the key suffix and the value)
  followed by an array of ``uint32`` restart offsets and their count;
- the index block maps the last key of each data block to that block's handle.

TensorFlow writes bundles uncompressed (every block of the musicnn checkpoints has compression
byte 0); a snappy-compressed block is refused. Every block is CRC-checked and read once (blocks
may not overlap), keys must be sorted, and the number and length of the keys are bounded
(:mod:`.limits`) as they are spelled out.
"""

from __future__ import annotations

import struct

# The bounds are read from their one home when a file is parsed (so a test patches them
# there). Imported by absolute name: to the import-cycle check, ``from . import limits``
# reads as importing this package's __init__, which imports this module.
import bag_of_songs.embeddings.tfcheckpoint.limits as limits

from .crc32c import crc32c, unmask
from .limits import CheckpointError
from .protobuf import varint

__all__ = ["TABLE_MAGIC", "block_handle", "table_entries"]

#: Magic number at the end of a LevelDB / TensorFlow table file.
TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_TRAILER_SIZE = 5


def block_handle(buf: bytes, pos: int, end: int, what: str) -> tuple[tuple[int, int], int]:
    """Decode a block handle at ``pos``; return ((offset, size), next pos).

    Examples
    --------
    >>> block_handle(b"\\x10\\x05", 0, 2, "an example")
    ((16, 5), 2)
    """
    offset, pos = varint(buf, pos, end, what)
    size, pos = varint(buf, pos, end, what)
    return (offset, size), pos


def _read_block(data: bytes, handle: tuple[int, int], what: str) -> bytes:
    offset, size = handle
    limit = len(data) - _FOOTER_SIZE
    if offset + size + _TRAILER_SIZE > limit:
        raise CheckpointError(f"{what} (offset {offset}, size {size}) runs past the end of the "
                              f"table ({limit} bytes before the footer): truncated or corrupt")
    block = data[offset:offset + size]
    kind = data[offset + size]
    stored = struct.unpack_from("<I", data, offset + size + 1)[0]
    if crc32c(data[offset:offset + size + 1]) != unmask(stored):
        raise CheckpointError(f"{what} fails its CRC-32C check: the index file is corrupt")
    if kind == 1:
        raise CheckpointError(f"{what} is snappy-compressed; TensorFlow writes checkpoint "
                              "indexes uncompressed and this reader does not decompress")
    if kind != 0:
        raise CheckpointError(f"{what} has an unknown compression type {kind}")
    return block


class _Budget:
    """What is left of the entry count and key bytes an index may spell out."""

    def __init__(self):
        self.entries = limits.MAX_ENTRIES
        self.key_bytes = limits.MAX_KEYS_TOTAL_BYTES

    def take(self, key_length: int, what: str) -> None:
        if key_length > limits.MAX_KEY_BYTES:
            raise CheckpointError(f"{what} has a key of {key_length} bytes, over the limit of "
                                  f"{limits.MAX_KEY_BYTES}")
        self.entries -= 1
        self.key_bytes -= key_length
        if self.entries < 0:
            raise CheckpointError(f"{what}: the index holds more than {limits.MAX_ENTRIES} "
                                  "entries")
        if self.key_bytes < 0:
            raise CheckpointError(f"{what}: the index's keys add up to more than "
                                  f"{limits.MAX_KEYS_TOTAL_BYTES} bytes")


def _block_entries(block: bytes, what: str, budget: _Budget) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise CheckpointError(f"{what} is too short to hold its restart count")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    if n_restarts == 0 or end < 0:
        raise CheckpointError(f"{what} has an invalid restart array ({n_restarts} restarts)")
    entries, key, pos = [], b"", 0
    while pos < end:
        shared, pos = varint(block, pos, end, what)
        non_shared, pos = varint(block, pos, end, what)
        n_value, pos = varint(block, pos, end, what)
        if shared > len(key):
            raise CheckpointError(f"{what} has an entry sharing more of the previous key than "
                                  "it has")
        if pos + non_shared + n_value > end:
            raise CheckpointError(f"{what} has an entry that runs past the end of the block")
        budget.take(shared + non_shared, what)
        new_key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        if entries and new_key <= key:
            raise CheckpointError(f"{what} has keys out of order ({new_key!r} after {key!r})")
        key = new_key
        entries.append((key, block[pos:pos + n_value]))
        pos += n_value
    return entries


def table_entries(data: bytes, path: str) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a table held in ``data``, in key order.

    Parameters
    ----------
    data : bytes
        The whole ``.index`` file.
    path : str
        Its name, for the messages.

    Returns
    -------
    entries : list of (bytes, bytes)

    Raises
    ------
    CheckpointError
        Bad magic number, a block or entry running past its end, a CRC mismatch, a compressed
        block, keys out of order, overlapping blocks, or more or longer keys than
        :mod:`.limits` allows.
    """
    if len(data) < _FOOTER_SIZE:
        raise CheckpointError(f"{path}: {len(data)} bytes is too short for a checkpoint index")
    footer = data[-_FOOTER_SIZE:]
    magic = struct.unpack_from("<Q", footer, _FOOTER_SIZE - 8)[0]
    if magic != TABLE_MAGIC:
        raise CheckpointError(f"{path}: not a TensorFlow checkpoint index (bad magic number "
                              f"{magic:#018x})")
    _, pos = block_handle(footer, 0, 40, f"{path}: footer")  # the meta-index block is unused
    index_handle, _ = block_handle(footer, pos, 40, f"{path}: footer")
    budget = _Budget()
    index = _block_entries(_read_block(data, index_handle, f"{path}: index block"),
                           f"{path}: index block", budget)
    entries: list[tuple[bytes, bytes]] = []
    block_end = 0
    for i, (_, value) in enumerate(index):
        what = f"{path}: data block {i}"
        handle, _ = block_handle(value, 0, len(value), what + " handle")
        # Blocks follow one another: no byte is read (and CRC-checked) twice.
        if handle[0] < block_end:
            raise CheckpointError(f"{what} (offset {handle[0]}) overlaps the block before it, "
                                  f"which ends at {block_end}")
        block_end = handle[0] + handle[1] + _TRAILER_SIZE
        block = _block_entries(_read_block(data, handle, what), what, budget)
        if entries and block and block[0][0] <= entries[-1][0]:
            raise CheckpointError(f"{what} has keys out of order")
        entries.extend(block)
    return entries
