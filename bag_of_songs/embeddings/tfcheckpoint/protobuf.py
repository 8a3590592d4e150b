"""The protobuf wire format and the two bundle messages an index holds, without ``protobuf``.

Under the empty key an index holds a ``BundleHeaderProto`` (``num_shards``, ``endianness``,
``version``: :func:`parse_header`), under each tensor's name a ``BundleEntryProto`` (``dtype``,
``shape``, ``shard_id``, ``offset``, ``size``, masked ``crc32c`` of the tensor's bytes:
:func:`parse_entry`). Fields are decoded one at a time (:func:`proto_fields`), every length is
checked against the bytes that hold it, and the shape's rank and element count are bounded as
they are read (:mod:`.limits`).

Hand-written rather than ``protobuf``: two small messages of a handful of scalar fields, and
the generated classes would need TensorFlow's ``.proto`` files.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

# The bounds are read from their one home when a file is parsed (so a test patches them
# there). Imported by absolute name: to the import-cycle check, ``from . import limits``
# reads as importing this package's __init__, which imports this module.
import bag_of_songs.embeddings.tfcheckpoint.limits as limits

from .crc32c import unmask
from .limits import CheckpointError

__all__ = ["DTYPES", "TensorEntry", "varint", "proto_fields", "parse_shape", "parse_entry",
           "parse_header"]

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


def varint(buf: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """Decode an unsigned varint (at most 10 bytes) at ``pos``; return (value, next pos).

    Examples
    --------
    >>> varint(b"\\xac\\x02", 0, 2, "an example")
    (300, 2)
    """
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


def proto_fields(buf: bytes, what: str) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield a protobuf message's (field number, wire type, value) triples, one at a time.

    Examples
    --------
    >>> list(proto_fields(b"\\x08\\x96\\x01\\x12\\x02hi", "an example"))
    [(1, 0, 150), (2, 2, b'hi')]
    """
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = varint(buf, pos, end, what)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise CheckpointError(f"invalid protobuf field number 0 in {what}")
        if wire == 0:
            value, pos = varint(buf, pos, end, what)
        elif wire == 1:
            if pos + 8 > end:
                raise CheckpointError(f"truncated fixed64 field in {what}")
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            n, pos = varint(buf, pos, end, what)
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


def parse_shape(buf: bytes, what: str) -> tuple[int, ...]:
    """The dims of a ``TensorShapeProto``, bounded as they are read (rank, element count)."""
    dims = []
    n_elements = 1  # of the non-zero dims: a zero dim does not excuse the others
    for number, wire, value in proto_fields(buf, what):
        if number == 2:  # repeated Dim dim
            _expect(wire, 2, "dim", what)
            size = 0
            for n2, w2, v2 in proto_fields(value, what):
                if n2 == 1:
                    _expect(w2, 0, "dim.size", what)
                    size = _signed64(v2)
            if size < 0:
                raise CheckpointError(f"{what} has a dimension of unknown size ({size})")
            if len(dims) == limits.MAX_RANK:
                raise CheckpointError(f"{what}: the shape has more than {limits.MAX_RANK} "
                                      "dimensions (rank)")
            n_elements *= max(size, 1)
            if n_elements > limits.MAX_ELEMENTS:  # as TensorFlow's TensorShape: an int64 count
                raise CheckpointError(f"{what}: the shape's element count overflows int64 "
                                      f"(dims {tuple(dims) + (size,)})")
            dims.append(size)
        elif number == 3 and value:
            raise CheckpointError(f"{what} has an unknown rank")
    return tuple(dims)


def parse_entry(name: str, buf: bytes) -> TensorEntry:
    """Decode the ``BundleEntryProto`` of tensor ``name``; its size must match shape and dtype.

    Raises
    ------
    CheckpointError
        A malformed message, a dtype other than the numeric ones of :data:`DTYPES`, a tensor
        stored in slices, a negative ``shard_id``, ``offset`` or ``size``, or a ``size`` that
        is not the shape's element count times the dtype's item size.
    """
    what = f"the index entry of tensor {name!r}"
    dtype_code, shape, shard_id, offset, size, crc = 0, (), 0, 0, 0, None
    for number, wire, value in proto_fields(buf, what):
        if number == 1:
            _expect(wire, 0, "dtype", what)
            dtype_code = value
        elif number == 2:
            _expect(wire, 2, "shape", what)
            shape = parse_shape(value, what)
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
            crc = unmask(value)
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
        expected *= d  # bounded by parse_shape: below 2**63 elements
    if size != expected:
        raise CheckpointError(f"tensor {name!r} of shape {shape} and dtype {dtype} should take "
                              f"{expected} bytes, but its index entry says {size}")
    return TensorEntry(name, dtype, shape, shard_id, offset, size, crc)


def parse_header(buf: bytes) -> dict:
    """Decode the ``BundleHeaderProto``: ``num_shards`` (bounded), ``endianness``, ``version``.

    Raises
    ------
    CheckpointError
        A malformed message, ``num_shards`` outside 1 to :data:`.limits.MAX_SHARDS`, or a
        big-endian bundle.
    """
    what = "the bundle header"
    header = {"num_shards": 1, "endianness": 0, "version": {}}
    for number, wire, value in proto_fields(buf, what):
        if number == 1:
            _expect(wire, 0, "num_shards", what)
            header["num_shards"] = _signed64(value)
        elif number == 2:
            _expect(wire, 0, "endianness", what)
            header["endianness"] = value
        elif number == 3:
            _expect(wire, 2, "version", what)
            version = {}
            for n2, w2, v2 in proto_fields(value, what):
                if w2 == 0 and n2 in (1, 2):
                    version["producer" if n2 == 1 else "min_consumer"] = _signed64(v2)
            header["version"] = version
    if not 1 <= header["num_shards"] <= limits.MAX_SHARDS:
        raise CheckpointError(f"the bundle header says num_shards = {header['num_shards']}, "
                              f"expected 1 to {limits.MAX_SHARDS}")
    if header["endianness"] != 0:
        raise CheckpointError("the bundle was written big-endian, which this reader does not "
                              "support")
    return header
