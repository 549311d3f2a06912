"""Where the seed API's reads land and where its writes come from.

A read lands in a :class:`Target`: the caller's writable buffer (a
``bytearray``, a writable ``memoryview``, an ``mmap``: chunks are copied out
of the events to their offset), a ``bytearray`` made for it (no buffer given),
or shared memory (an :class:`overlapd.SharedBuffer`, or a view of one, with
the lane reachable: the server writes it, nothing is copied in Python). A
write's :class:`WriteSource` names a range of a registered shared buffer when
its data lies in one, so the server reads it there.

:class:`Buffers` decides, per client: the lane is used when the server
announces it and its socket exists on this host.

Example::

    buffers = Buffers(client.capabilities(), token=None)
    target = buffers.target(bytearray(1 << 20))
    source = buffers.source(target.result())
"""

from __future__ import annotations

import ctypes
import mmap
import os
from typing import Dict, Optional, Tuple, Union

import grpc

from overlapd import crc32c as _crc
from overlapd.errors import OverlapdError, corrupt
from overlapd.lane import SharedBuffer
from overlapd.v1 import overlapd_pb2 as pb

#: What ``readfile`` accepts as ``buf``.
ReadBuffer = Union[bytearray, memoryview, mmap.mmap, SharedBuffer, None]
#: What ``writefile`` accepts as ``data``.
WriteData = Union[bytes, bytearray, memoryview, mmap.mmap, SharedBuffer]


class Target:
    """The destination of one read. Subclasses place chunks; this one keeps
    them (no buffer given) and joins them into a ``bytearray`` at the end."""

    ref: Optional[pb.BufferRef] = None

    def __init__(self) -> None:
        self._chunks: Dict[int, bytes] = {}
        self._n = 0

    def request_length(self, length: int) -> int:
        """The Read's length for a caller's ``length`` (0: to the end)."""
        return length

    def checks(self, verify: Optional[bool]) -> bool:
        """Whether CRC32Cs are checked for the client's ``verify``: unless
        False, for bytes that came in messages."""
        return verify is not False

    def place(self, at: int, ev: pb.Event, verify: bool) -> None:
        """Puts the READ_CHUNK ``ev`` at byte ``at`` of the read."""
        data = _checked(ev, verify)
        self._chunks[at] = data

    def finish(self, n: int) -> None:
        """The read ended with ``n`` bytes (its chunks were checked)."""
        self._n = n

    def result(self) -> memoryview:
        """The bytes read."""
        out = bytearray(self._n)
        for at, data in self._chunks.items():
            out[at:at + len(data)] = data
        self._chunks.clear()
        return memoryview(out)


def _checked(ev: pb.Event, verify: bool) -> bytes:
    data = ev.data
    if len(data) != ev.bytes:
        raise corrupt(f"the chunk at offset {ev.offset} holds {len(data)} bytes, "
                      f"says {ev.bytes}", "", ev)
    if verify and _crc.crc32c(data) != ev.crc32c:
        raise corrupt(f"CRC32C mismatch in the chunk at offset {ev.offset}", "", ev)
    return bytes(data)


def _too_small(size: int) -> OverlapdError:
    return OverlapdError(grpc.StatusCode.OUT_OF_RANGE,
                         f"the file does not fit in the buffer of {size} bytes")


class ViewTarget(Target):
    """The caller's writable buffer; chunks are copied in at their offset.
    A read to the end asks one byte more than the buffer holds, so a file
    too large fails (``OUT_OF_RANGE``) instead of being cut short."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        if view.readonly:
            raise TypeError("readfile needs a writable buffer")
        self._view = view.cast("B") if view.format != "B" or view.ndim != 1 else view

    def request_length(self, length: int) -> int:
        """``length``, or one byte more than the buffer for a read to the end."""
        if length > len(self._view):
            raise ValueError(f"length {length} is larger than the buffer ({len(self._view)})")
        return length or len(self._view) + 1

    def place(self, at: int, ev: pb.Event, verify: bool) -> None:
        """Copies the chunk's data to its offset in the caller's buffer."""
        if at + ev.bytes > len(self._view):
            raise _too_small(len(self._view))
        self._view[at:at + ev.bytes] = _checked(ev, verify)

    def result(self) -> memoryview:
        """The part of the caller's buffer read into."""
        return self._view[:self._n]


class SharedTarget(Target):
    """``size`` bytes of a registered shared buffer at ``base``: the server
    writes them; chunks carry no data, only their CRC32C to check there."""

    def __init__(self, buf: SharedBuffer, base: int, size: int) -> None:
        super().__init__()
        self._buf = buf
        self._base = base
        self._size = size
        self.ref = pb.BufferRef(handle=buf.handle, offset=base)

    def request_length(self, length: int) -> int:
        """``length`` (0: to the end; the server checks that it fits)."""
        if length > self._size:
            raise ValueError(f"length {length} is larger than the buffer ({self._size})")
        return length

    def checks(self, verify: Optional[bool]) -> bool:
        """Only when asked (True): the bytes never were in a message, the
        server wrote them here itself. Coverage is checked regardless."""
        return verify is True

    def place(self, at: int, ev: pb.Event, verify: bool) -> None:
        """Checks the chunk the server wrote into the buffer."""
        if at + ev.bytes > self._size:
            raise _too_small(self._size)
        start = self._base + at
        if verify and _crc.crc32c(self._buf.view[start:start + ev.bytes]) != ev.crc32c:
            raise corrupt(f"CRC32C mismatch in the shared buffer at offset {ev.offset}", "", ev)

    def result(self) -> memoryview:
        """The range of the shared buffer read into."""
        return self._buf.view[self._base:self._base + self._n]


class WriteSource:
    """The bytes of one write: ``view``, and ``ref`` when they lie in a
    registered shared buffer (the server then reads them there)."""

    def __init__(self, view: memoryview, ref: Optional[pb.BufferRef] = None) -> None:
        self.view = view
        self.ref = ref


def _address(view: memoryview) -> Optional[int]:
    """The address of a writable, non-empty view's first byte."""
    if view.readonly or not view.nbytes:
        return None
    return ctypes.addressof(ctypes.c_char.from_buffer(view))


class Buffers:
    """The shared buffers one client has registered, and whether its lane
    is reachable: ``caps.buffer_lane`` and its socket present here."""

    def __init__(self, caps: pb.Capabilities, token: Optional[str]) -> None:
        self.socket = caps.buffer_socket if caps.buffer_lane else ""
        self.reachable = bool(self.socket) and os.path.exists(self.socket)
        self._token = token

    def _register(self, buf: SharedBuffer) -> None:
        if not buf.registered:
            buf.register(self.socket, self._token)

    def _shared_range(self, view: memoryview) -> Optional[Tuple[SharedBuffer, int]]:
        """The shared buffer ``view`` lies in (registered now if it was not),
        and its offset there."""
        buf = SharedBuffer.of(view)
        if buf is None:
            return None
        self._register(buf)
        at, base = _address(view), _address(buf.view)
        if at is None or base is None or not 0 <= at - base <= buf.size - view.nbytes:
            return None
        return buf, at - base

    def target(self, buf: ReadBuffer) -> Target:
        """Where a read into ``buf`` lands."""
        if buf is None:
            return Target()
        if isinstance(buf, SharedBuffer):
            if not self.reachable:
                return ViewTarget(buf.view)
            self._register(buf)
            return SharedTarget(buf, 0, buf.size)
        view = memoryview(buf)
        shared = self._shared_range(view) if self.reachable else None
        if shared is not None:
            return SharedTarget(shared[0], shared[1], view.nbytes)
        return ViewTarget(view)

    def source(self, data: WriteData) -> WriteSource:
        """The bytes of ``data`` to write, in shared memory when they are."""
        if isinstance(data, SharedBuffer):
            if self.reachable:
                self._register(data)
            data = data.view
        view = memoryview(data)
        view = view if view.format == "B" and view.ndim == 1 else view.cast("B")
        shared = self._shared_range(view) if self.reachable else None
        if shared is None:
            return WriteSource(view)
        buf, at = shared
        return WriteSource(view, pb.BufferRef(handle=buf.handle, offset=at, length=view.nbytes))
