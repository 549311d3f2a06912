"""Where received bytes go on this side: a ``bytes`` filled in place, a file
at an offset, a stream in file order. Used by the read helpers of
:class:`overlapd.Client`.

Example::

    content, view = uninitialised_bytes(10)
    view[0:10] = b"0123456789"
    view.release()
    assert content == b"0123456789"
"""

from __future__ import annotations

import ctypes
import errno as _errno
import io
import os
import platform
from typing import IO, Callable, Dict, Tuple

# PyBytes_FromStringAndSize and PyBytes_AsString with prototypes of their
# own (not by setting restype on ctypes.pythonapi's shared ones). PYFUNCTYPE:
# called with the GIL held, and a Python error (MemoryError) is raised.
_PyBytes_New = None
_PyBytes_Buffer = None


def uninitialised_bytes(size: int) -> Tuple[bytes, memoryview]:
    """A new ``bytes`` of ``size`` > 0 bytes and a writable view of its
    buffer, so a result can be filled in place and returned without the copy
    that ``bytes(bytearray)`` makes (which doubles the peak memory).

    The C API allows exactly this: "The data must not be modified in any
    way, unless the object was just created using
    PyBytes_FromStringAndSize(NULL, size)"
    (https://docs.python.org/3/c-api/bytes.html#c.PyBytes_AsString). Every
    byte must be written, and the view released, before the object is
    shared. Raises NotImplementedError elsewhere than CPython (the caller
    then fills a bytearray and copies it).
    """
    global _PyBytes_New, _PyBytes_Buffer
    if platform.python_implementation() != "CPython" or size <= 0:
        raise NotImplementedError
    if _PyBytes_New is None or _PyBytes_Buffer is None:
        _PyBytes_New = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_char_p, ctypes.c_ssize_t)(
            ("PyBytes_FromStringAndSize", ctypes.pythonapi))
        _PyBytes_Buffer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object)(
            ("PyBytes_AsString", ctypes.pythonapi))
    content = _PyBytes_New(None, size)
    address = _PyBytes_Buffer(content)
    view = memoryview((ctypes.c_ubyte * size).from_address(address)).cast("B")
    return content, view


def write_all(f: IO[bytes], data: bytes) -> None:
    """Writes all of ``data`` to ``f``, looping on a short write."""
    view = memoryview(data)
    while view:
        n = f.write(view)
        if n is None:
            if isinstance(f, io.RawIOBase):  # non-blocking and would block
                raise BlockingIOError(_errno.EAGAIN, "destination would block")
            return  # a file-like object that returns nothing took it all
        view = view[n:]


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """Writes all of ``data`` at ``offset`` of ``fd``, looping on a short write."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


class InOrder:
    """Hands chunks that arrive in any order to ``write`` in file order,
    holding those that arrive early (at most the read window)."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self.next = 0  # bytes written so far
        self._held: Dict[int, bytes] = {}

    def __call__(self, offset: int, data: bytes) -> None:
        if offset != self.next:
            self._held[offset] = data
            return
        self._write(data)
        self.next += len(data)
        while self.next in self._held:
            data = self._held.pop(self.next)
            self._write(data)
            self.next += len(data)
