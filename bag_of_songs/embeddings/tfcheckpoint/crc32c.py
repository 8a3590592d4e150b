"""CRC-32C (Castagnoli), as LevelDB and TensorFlow use it, in numpy.

Every block of a checkpoint index and every tensor of a data shard carries a *masked* CRC-32C
(:func:`mask`), so that a CRC stored inside CRC'd data does not make the outer CRC trivial.

Hand-written rather than a dependency: the ``crc32c`` and ``google-crc32c`` packages are
compiled extensions, and the reader checks only a few megabytes once per process, which the
lane-parallel numpy version below does fast enough.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["crc32c", "mask", "unmask"]

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

    Examples
    --------
    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
    >>> crc32c(b"56789", crc32c(b"1234")) == crc32c(b"123456789")
    True
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


def unmask(masked: int) -> int:
    """The CRC-32C a masked CRC (as stored in the files) stands for; inverse of :func:`mask`.

    Examples
    --------
    >>> unmask(mask(0x12345678)) == 0x12345678
    True
    """
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def mask(crc: int) -> int:
    """LevelDB's masked CRC: rotated right by 15 bits plus a constant, as written in the files."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF
