"""A small reader of TensorFlow checkpoint bundles (``.index`` + ``.data-*``), without TensorFlow.

Used by :mod:`bag_of_songs.musicnn` to load the weights of the pretrained musicnn models
(explained in ``notebooks/5-pretrained-embeddings.ipynb``).

A checkpoint with prefix ``P`` is a file ``P.index`` and one or more shards
``P.data-00000-of-0000N``. The index is a LevelDB-format sorted table (SSTable):

- a 48-byte footer at the end: two *block handles* (varint offset, varint size) for the
  meta-index and the index block, zero padding to 40 bytes, and the 8-byte little-endian magic
  number ``0xdb4775248b80fb57``;
- blocks, each followed by a 5-byte trailer: a compression byte (0 = none, 1 = snappy) and the
  masked CRC-32C of the block and that byte. A block holds prefix-compressed key/value entries
  (varints ``shared``, ``non_shared``, ``value_length``, then the key suffix and the value)
  followed by an array of ``uint32`` restart offsets and their count;
- the index block maps the last key of each data block to that block's handle.

The values are protobuf messages: under the empty key a ``BundleHeaderProto`` (``num_shards``,
``endianness``, ``version``), under each tensor's name a ``BundleEntryProto`` (``dtype``,
``shape``, ``shard_id``, ``offset``, ``size``, masked ``crc32c`` of the tensor's bytes).
TensorFlow writes bundles uncompressed (every block of the musicnn checkpoints has compression
byte 0); a snappy-compressed block is refused.

The reader treats the files as data only: it parses bytes, checks every length, offset, CRC and
size against what the file holds, and refuses anything else with a :class:`CheckpointError`. It
never executes, imports or unpickles anything, and does not need ``protobuf`` or TensorFlow.

Nothing the index declares is trusted before it is bounded: the number of shards
(:data:`MAX_SHARDS`), of tensors (:data:`MAX_ENTRIES`), the length of the names
(:data:`MAX_KEY_BYTES`) and the rank of a tensor (:data:`MAX_RANK`) are checked as they are
parsed; every tensor must lie, without overlapping another, inside a shard file that exists and
is a regular file, and take at most :data:`MAX_TENSOR_BYTES`. The reader's time and memory
therefore follow the size of the files, never the numbers written in them.
"""

from __future__ import annotations

import functools
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CheckpointError",
    "TensorEntry",
    "Checkpoint",
    "read_index",
    "read_checkpoint",
    "crc32c",
]

#: Magic number at the end of a LevelDB / TensorFlow table file.
TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_TRAILER_SIZE = 5
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
_MAX_ELEMENTS = 2**63 - 1

#: TensorFlow ``DataType`` enum values this reader converts, as little-endian numpy dtypes.
DTYPES = {
    1: np.dtype("<f4"),    # DT_FLOAT
    2: np.dtype("<f8"),    # DT_DOUBLE
    3: np.dtype("<i4"),    # DT_INT32
    4: np.dtype("u1"),     # DT_UINT8
    5: np.dtype("<i2"),    # DT_INT16
    6: np.dtype("i1"),     # DT_INT8
    8: np.dtype("<c8"),    # DT_COMPLEX64
    9: np.dtype("<i8"),    # DT_INT64
    10: np.dtype("?"),     # DT_BOOL
    17: np.dtype("<u2"),   # DT_UINT16
    18: np.dtype("<c16"),  # DT_COMPLEX128
    19: np.dtype("<f2"),   # DT_HALF
    22: np.dtype("<u4"),   # DT_UINT32
    23: np.dtype("<u8"),   # DT_UINT64
}
_DTYPE_NAMES = {7: "DT_STRING", 14: "DT_BFLOAT16", 20: "DT_RESOURCE", 21: "DT_VARIANT"}


class CheckpointError(ValueError):
    """A checkpoint bundle that is missing, truncated, malformed or of an unsupported kind."""


# ---------------------------------------------------------------------------------------------
# CRC-32C (Castagnoli), as LevelDB and TensorFlow use it

_CRC_POLY = 0x82F63B78  # reflected Castagnoli polynomial
_MASK_DELTA = 0xA282EAD8
_CHUNK = 1024  # bytes per lane of the vectorised CRC


@functools.lru_cache(maxsize=1)
def _crc_table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(_CRC_POLY), t >> 1).astype(np.uint32)
    return t


def _crc_raw_bytes(reg: int, data: bytes, table: list[int]) -> int:
    for b in data:
        reg = table[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


@functools.lru_cache(maxsize=1)
def _zeros_operator() -> np.ndarray:
    """Four 256-entry tables of the linear map 'feed ``_CHUNK`` zero bytes' on the register."""
    table = _crc_table()
    reg = (np.uint32(1) << np.arange(32, dtype=np.uint32)).astype(np.uint32)  # the 32 bases
    for _ in range(_CHUNK):
        reg = table[reg & 0xFF] ^ (reg >> 8)
    ops = np.zeros((4, 256), dtype=np.uint32)
    for j in range(4):
        for bit in range(8):
            v = 1 << bit
            ops[j, v:2 * v] = ops[j, :v] ^ reg[8 * j + bit]
    return ops


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-32C of ``data`` (optionally continuing a previous ``value``), as ``crc32c::Extend``.

    Large inputs are processed as independent 1 kB lanes with numpy and the lanes combined
    through the linearity of the CRC, so a megabyte takes milliseconds in pure numpy.

    Parameters
    ----------
    data : bytes-like
    value : int
        CRC of the bytes before ``data`` (0 to start).

    Returns
    -------
    crc : int
        ``crc32c(b"123456789") == 0xE3069283``.
    """
    buf = memoryview(data).cast("B")
    reg = (value ^ 0xFFFFFFFF) & 0xFFFFFFFF
    n_lanes = len(buf) // _CHUNK
    if n_lanes >= 8:
        table = _crc_table()
        lanes = np.frombuffer(buf, dtype=np.uint8, count=n_lanes * _CHUNK).reshape(n_lanes,
                                                                                   _CHUNK)
        regs = np.zeros(n_lanes, dtype=np.uint32)
        for j in range(_CHUNK):
            regs = table[(regs ^ lanes[:, j]) & 0xFF] ^ (regs >> 8)
        ops = _zeros_operator().tolist()
        o0, o1, o2, o3 = ops
        for r in regs.tolist():
            reg = (o0[reg & 0xFF] ^ o1[(reg >> 8) & 0xFF] ^ o2[(reg >> 16) & 0xFF]
                   ^ o3[reg >> 24] ^ r)
        buf = buf[n_lanes * _CHUNK:]
    reg = _crc_raw_bytes(reg, bytes(buf), _crc_table().tolist())
    return reg ^ 0xFFFFFFFF


def _unmask(masked: int) -> int:
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def _mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


# ---------------------------------------------------------------------------------------------
# Varints and the protobuf wire format


def _varint(buf: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """Decode an unsigned varint (at most 10 bytes) at ``pos``; return (value, next pos)."""
    result = shift = 0
    for i in range(10):
        if pos + i >= end:
            raise CheckpointError(f"truncated varint in {what}")
        b = buf[pos + i]
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            if result >= 1 << 64:
                raise CheckpointError(f"varint larger than 64 bits in {what}")
            return result, pos + i + 1
        shift += 7
    raise CheckpointError(f"varint longer than 10 bytes in {what}")


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _proto_fields(buf: bytes, what: str) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield a protobuf message's (field number, wire type, value) triples, one at a time."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos, end, what)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise CheckpointError(f"invalid protobuf field number 0 in {what}")
        if wire == 0:
            value, pos = _varint(buf, pos, end, what)
        elif wire == 1:
            if pos + 8 > end:
                raise CheckpointError(f"truncated fixed64 field in {what}")
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos, end, what)
            if pos + n > end:
                raise CheckpointError(f"length-delimited field runs past the end of {what}")
            value, pos = bytes(buf[pos:pos + n]), pos + n
        elif wire == 5:
            if pos + 4 > end:
                raise CheckpointError(f"truncated fixed32 field in {what}")
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire} in {what}")
        yield number, wire, value


def _expect(wire: int, expected: int, field: str, what: str) -> None:
    if wire != expected:
        raise CheckpointError(f"field {field} of {what} has wire type {wire}, expected {expected}")


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lies in a bundle (a decoded ``BundleEntryProto``)."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int | None  # unmasked CRC-32C of the tensor's bytes, when recorded


def _parse_shape(buf: bytes, what: str) -> tuple[int, ...]:
    """The dims of a ``TensorShapeProto``, bounded as they are read (rank, element count)."""
    dims = []
    n_elements = 1  # of the non-zero dims: a zero dim does not excuse the others
    for number, wire, value in _proto_fields(buf, what):
        if number == 2:  # repeated Dim dim
            _expect(wire, 2, "dim", what)
            size = 0
            for n2, w2, v2 in _proto_fields(value, what):
                if n2 == 1:
                    _expect(w2, 0, "dim.size", what)
                    size = _signed64(v2)
            if size < 0:
                raise CheckpointError(f"{what} has a dimension of unknown size ({size})")
            if len(dims) == MAX_RANK:
                raise CheckpointError(f"{what}: the shape has more than {MAX_RANK} dimensions "
                                      "(rank)")
            n_elements *= max(size, 1)
            if n_elements > _MAX_ELEMENTS:  # as TensorFlow's TensorShape: an int64 count
                raise CheckpointError(f"{what}: the shape's element count overflows int64 "
                                      f"(dims {tuple(dims) + (size,)})")
            dims.append(size)
        elif number == 3 and value:
            raise CheckpointError(f"{what} has an unknown rank")
    return tuple(dims)


def _parse_entry(name: str, buf: bytes) -> TensorEntry:
    what = f"the index entry of tensor {name!r}"
    dtype_code, shape, shard_id, offset, size, crc = 0, (), 0, 0, 0, None
    for number, wire, value in _proto_fields(buf, what):
        if number == 1:
            _expect(wire, 0, "dtype", what)
            dtype_code = value
        elif number == 2:
            _expect(wire, 2, "shape", what)
            shape = _parse_shape(value, what)
        elif number == 3:
            _expect(wire, 0, "shard_id", what)
            shard_id = _signed64(value)
        elif number == 4:
            _expect(wire, 0, "offset", what)
            offset = _signed64(value)
        elif number == 5:
            _expect(wire, 0, "size", what)
            size = _signed64(value)
        elif number == 6:
            _expect(wire, 5, "crc32c", what)
            crc = _unmask(value)
        elif number == 7:
            raise CheckpointError(f"tensor {name!r} is stored in slices (a partitioned "
                                  "variable), which this reader does not support")
    if dtype_code not in DTYPES:
        label = _DTYPE_NAMES.get(dtype_code, f"DataType {dtype_code}")
        raise CheckpointError(f"tensor {name!r} has dtype {label}, which this reader does not "
                              f"support (numeric dtypes only)")
    dtype = DTYPES[dtype_code]
    if shard_id < 0 or offset < 0 or size < 0:
        raise CheckpointError(f"{what} has a negative shard_id, offset or size")
    expected = dtype.itemsize
    for d in shape:
        expected *= d  # bounded by _parse_shape: below 2**63 elements
    if size != expected:
        raise CheckpointError(f"tensor {name!r} of shape {shape} and dtype {dtype} should take "
                              f"{expected} bytes, but its index entry says {size}")
    return TensorEntry(name, dtype, shape, shard_id, offset, size, crc)


def _parse_header(buf: bytes) -> dict:
    what = "the bundle header"
    header = {"num_shards": 1, "endianness": 0, "version": {}}
    for number, wire, value in _proto_fields(buf, what):
        if number == 1:
            _expect(wire, 0, "num_shards", what)
            header["num_shards"] = _signed64(value)
        elif number == 2:
            _expect(wire, 0, "endianness", what)
            header["endianness"] = value
        elif number == 3:
            _expect(wire, 2, "version", what)
            version = {}
            for n2, w2, v2 in _proto_fields(value, what):
                if w2 == 0 and n2 in (1, 2):
                    version["producer" if n2 == 1 else "min_consumer"] = _signed64(v2)
            header["version"] = version
    if not 1 <= header["num_shards"] <= MAX_SHARDS:
        raise CheckpointError(f"the bundle header says num_shards = {header['num_shards']}, "
                              f"expected 1 to {MAX_SHARDS}")
    if header["endianness"] != 0:
        raise CheckpointError("the bundle was written big-endian, which this reader does not "
                              "support")
    return header


# ---------------------------------------------------------------------------------------------
# The SSTable


def _handle(buf: bytes, pos: int, end: int, what: str) -> tuple[tuple[int, int], int]:
    offset, pos = _varint(buf, pos, end, what)
    size, pos = _varint(buf, pos, end, what)
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
    if crc32c(data[offset:offset + size + 1]) != _unmask(stored):
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
        self.entries = MAX_ENTRIES
        self.key_bytes = MAX_KEYS_TOTAL_BYTES

    def take(self, key_length: int, what: str) -> None:
        if key_length > MAX_KEY_BYTES:
            raise CheckpointError(f"{what} has a key of {key_length} bytes, over the limit of "
                                  f"{MAX_KEY_BYTES}")
        self.entries -= 1
        self.key_bytes -= key_length
        if self.entries < 0:
            raise CheckpointError(f"{what}: the index holds more than {MAX_ENTRIES} entries")
        if self.key_bytes < 0:
            raise CheckpointError(f"{what}: the index's keys add up to more than "
                                  f"{MAX_KEYS_TOTAL_BYTES} bytes")


def _block_entries(block: bytes, what: str, budget: _Budget) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise CheckpointError(f"{what} is too short to hold its restart count")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    if n_restarts == 0 or end < 0:
        raise CheckpointError(f"{what} has an invalid restart array ({n_restarts} restarts)")
    entries, key, pos = [], b"", 0
    while pos < end:
        shared, pos = _varint(block, pos, end, what)
        non_shared, pos = _varint(block, pos, end, what)
        n_value, pos = _varint(block, pos, end, what)
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


def _table_entries(data: bytes, path: str) -> list[tuple[bytes, bytes]]:
    if len(data) < _FOOTER_SIZE:
        raise CheckpointError(f"{path}: {len(data)} bytes is too short for a checkpoint index")
    footer = data[-_FOOTER_SIZE:]
    magic = struct.unpack_from("<Q", footer, _FOOTER_SIZE - 8)[0]
    if magic != TABLE_MAGIC:
        raise CheckpointError(f"{path}: not a TensorFlow checkpoint index (bad magic number "
                              f"{magic:#018x})")
    _, pos = _handle(footer, 0, 40, f"{path}: footer")  # the meta-index block is unused
    index_handle, _ = _handle(footer, pos, 40, f"{path}: footer")
    budget = _Budget()
    index = _block_entries(_read_block(data, index_handle, f"{path}: index block"),
                           f"{path}: index block", budget)
    entries: list[tuple[bytes, bytes]] = []
    block_end = 0
    for i, (_, value) in enumerate(index):
        what = f"{path}: data block {i}"
        handle, _ = _handle(value, 0, len(value), what + " handle")
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
        :data:`MAX_SHARDS`, too many or too long keys, a rank over :data:`MAX_RANK`, an element
        count that overflows int64); the message names the field.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb", opener=_open_nonblocking) as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise CheckpointError(f"{path}: not a regular file")
            if st.st_size > MAX_INDEX_BYTES:
                raise CheckpointError(f"{path}: {st.st_size} bytes is too large for a "
                                      "checkpoint index")
            data = f.read(st.st_size + 1)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint index ({exc})") from exc
    if len(data) != st.st_size:
        raise CheckpointError(f"{path}: the checkpoint index changed while it was read")
    header, entries = None, {}
    for key, value in _table_entries(data, path):
        if key == b"":
            header = _parse_header(value)
            continue
        try:
            name = key.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"{path}: a tensor name is not valid UTF-8") from exc
        entries[name] = _parse_entry(name, value)
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
        exceeds :data:`MAX_TENSOR_BYTES`.

    Examples
    --------
    >>> ckpt = Checkpoint("musicnn/MSD_musicnn/")  # doctest: +SKIP
    >>> ckpt.entries["dense/kernel"].shape  # doctest: +SKIP
    (1506, 200)
    >>> w = ckpt.read("dense/kernel")  # doctest: +SKIP
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
            if e.size > MAX_TENSOR_BYTES:  # e.g. in a sparse shard file
                raise CheckpointError(
                    f"tensor {e.name!r} of shape {e.shape} takes {e.size} bytes (size), over the "
                    f"reader's limit of {MAX_TENSOR_BYTES} (tfcheckpoint.MAX_TENSOR_BYTES)")

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
    """
    ckpt = Checkpoint(prefix)
    names = list(ckpt.entries) if names is None else list(names)
    return {n: ckpt.read(n, verify=verify) for n in names}
