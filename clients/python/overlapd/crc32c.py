"""CRC32C (Castagnoli), the checksum overlapd puts in every read and write event.

The checksum itself comes from the module ``crc32c`` (Debian package
``python3-crc32c``; hardware instructions where the CPU has them, else a
slicing-by-8 table, both at GB/s). This module adds :func:`crc32c_combine`,
which the client needs to check a whole range from the CRCs of chunks that
arrived out of order, without a second pass over the bytes.

Example::

    >>> from overlapd.crc32c import crc32c, crc32c_combine
    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
    >>> crc32c(b"6789", crc32c(b"12345")) == crc32c(b"123456789")
    True
    >>> crc32c_combine(crc32c(b"12345"), crc32c(b"6789"), 4) == crc32c(b"123456789")
    True
"""

from __future__ import annotations

import functools
from typing import List, Tuple, Union

try:
    import crc32c as _impl
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "overlapd needs the CRC32C module `crc32c`: install the Debian package "
        "python3-crc32c (apt-get install python3-crc32c) and use /usr/bin/python3 "
        "(" + str(e) + ")") from e

Buffer = Union[bytes, bytearray, memoryview]

#: Name of the implementation in use.
BACKEND: str = "crc32c (hardware)" if _impl.hardware_based else "crc32c (software)"
#: Always True since the checksum comes from the ``crc32c`` module; kept for
#: callers of the earlier version, whose pure-Python fallback was slow.
FAST: bool = True

_POLY = 0x82F63B78  # reflected Castagnoli polynomial


def crc32c(data: Buffer, crc: int = 0) -> int:
    """CRC32C of ``data``; pass a previous result as ``crc`` to continue it."""
    return int(_impl.crc32c(data, crc))


# crc32c_combine follows zlib's crc32_combine (zlib/crc32.c): appending n
# zero bytes to a message is a linear map on the 32-bit CRC register, a
# 32x32 matrix over GF(2). A matrix is a list of 32 columns (ints): column i
# is the image of bit i.

Matrix = Tuple[int, ...]


def _times(mat: Matrix, vec: int) -> int:
    s = 0
    i = 0
    while vec:
        if vec & 1:
            s ^= mat[i]
        vec >>= 1
        i += 1
    return s


def _compose(a: Matrix, b: Matrix) -> Matrix:
    """The matrix of applying ``b``, then ``a``."""
    return tuple(_times(a, col) for col in b)


def _one_zero_byte() -> Matrix:
    one_bit: List[int] = [_POLY] + [1 << (n - 1) for n in range(1, 32)]
    op: Matrix = tuple(one_bit)
    for _ in range(3):  # 1 -> 2 -> 4 -> 8 zero bits
        op = _compose(op, op)
    return op


_ZERO_BYTE = _one_zero_byte()


@functools.lru_cache(maxsize=64)
def _zero_bytes(n: int) -> Matrix:
    """The matrix of appending ``n`` > 0 zero bytes. Cached: a read's chunks
    have a handful of distinct lengths, so combining one costs one
    matrix-vector product."""
    result: Matrix = ()
    square = _ZERO_BYTE
    while True:
        if n & 1:
            result = square if not result else _compose(square, result)
        n >>= 1
        if not n:
            return result
        square = _compose(square, square)


def crc32c_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC32C of ``A + B`` from ``crc1 = crc32c(A)``, ``crc2 =
    crc32c(B)`` and ``len2 = len(B)``, without the bytes.

    Example::

        a, b = b"hello ", b"world"
        assert crc32c_combine(crc32c(a), crc32c(b), len(b)) == crc32c(a + b)
    """
    if len2 <= 0:
        return crc1
    return _times(_zero_bytes(len2), crc1) ^ crc2
