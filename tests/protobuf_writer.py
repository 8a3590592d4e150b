"""The protobuf wire format, written: for tests that craft checkpoint indexes (valid and not)."""

from __future__ import annotations

import struct


def varint(n: int) -> bytes:
    """``n`` as a base-128 varint."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, wire: int, value) -> bytes:
    """One field: its key, then a varint (wire 0), a length-delimited value (2) or 4 bytes (5)."""
    key = varint(number << 3 | wire)
    if wire == 0:
        return key + varint(value)
    if wire == 2:
        return key + varint(len(value)) + value
    if wire == 5:
        return key + struct.pack("<I", value)
    raise AssertionError(wire)
