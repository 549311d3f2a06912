"""CRC32C (Castagnoli), the checksum overlapd puts in every read and write event.

Two backends, chosen once at import:

* ``"isal"``: ``crc32_iscsi`` of Intel ISA-L through :mod:`ctypes`, from the
  Debian package ``libisal2`` (the library the server itself uses). Several
  GB/s.
* ``"python"``: a pure-Python table-driven fallback, always available, a few
  MB/s; :meth:`overlapd.Client.read_file` skips verification by default when
  only this one is present.

Example::

    >>> from overlapd.crc32c import crc32c
    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
    >>> crc32c(b"6789", crc32c(b"12345")) == crc32c(b"123456789")
    True
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Callable, List, Optional, Union

Buffer = Union[bytes, bytearray, memoryview]

_POLY = 0x82F63B78  # reflected Castagnoli polynomial


def _make_table() -> List[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def crc32c_python(data: Buffer, crc: int = 0) -> int:
    """Pure-Python CRC32C of ``data``, continuing from ``crc`` (0 to start)."""
    table = _TABLE
    c = crc ^ 0xFFFFFFFF
    for b in bytes(data):
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _load_isal() -> Optional[Callable[[Buffer, int], int]]:
    names = ["libisal.so.2", ctypes.util.find_library("isal")]
    lib = None
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None or not hasattr(lib, "crc32_iscsi"):
        return None
    fn = lib.crc32_iscsi
    # unsigned int crc32_iscsi(unsigned char *buffer, int len, unsigned int init_crc)
    fn.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
    fn.restype = ctypes.c_uint32
    step = 1 << 30  # the length is an int

    def crc32c_isal(data: Buffer, crc: int = 0) -> int:
        # crc32_iscsi is the raw register update, without the standard pre-
        # and post-inversion, so invert around it (as ioengine/crc32c.cc does).
        state = crc ^ 0xFFFFFFFF
        if not isinstance(data, bytes):
            data = bytes(data)
        for start in range(0, len(data), step):
            piece = data[start:start + step] if len(data) > step else data
            state = fn(piece, len(piece), state)
        return state ^ 0xFFFFFFFF

    if crc32c_isal(b"123456789") != 0xE3069283:  # a library that is not ISA-L's
        return None
    return crc32c_isal


_isal = _load_isal()

#: Name of the backend in use: ``"isal"`` or ``"python"``.
BACKEND: str = "isal" if _isal is not None else "python"
#: True when :func:`crc32c` runs at native speed.
FAST: bool = _isal is not None


def crc32c(data: Buffer, crc: int = 0) -> int:
    """CRC32C of ``data``; pass a previous result as ``crc`` to continue it."""
    if _isal is not None:
        return _isal(data, crc)
    return crc32c_python(data, crc)
