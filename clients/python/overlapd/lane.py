"""The buffer lane: memory shared with an overlapd on the same host.

A :class:`SharedBuffer` is a memfd (``os.memfd_create``), sized, sealed
against shrinking (``F_SEAL_SHRINK``: the server maps it, and a shrink would
fault its mapping) and mapped here; :meth:`SharedBuffer.register` sends it to
the server's Unix socket (``Capabilities.buffer_socket``) with
``SCM_RIGHTS``. Reads then land in it straight from the server's engine,
on every worker at once (:meth:`overlapd.Client.read_into`), and no byte
crosses gRPC.

Example::

    with overlapd.Client(target) as c, overlapd.SharedBuffer(1 << 30) as buf:
        buf.register(c.capabilities().buffer_socket)
        n = c.read_into("big.bin", buf)
        header = bytes(buf.view[:16])

The registration lasts while the buffer's connection is open: :meth:`close`
(or leaving the ``with``) ends it, and the server unmaps the memory once its
ops on it have finished. Protocol: ``service/buffer_lane.h``.
"""

from __future__ import annotations

import fcntl
import gc
import mmap
import os
import socket
import weakref
from typing import TYPE_CHECKING, Optional

import grpc

from overlapd.errors import OverlapdError

if TYPE_CHECKING:
    from overlapd.client import Client

# fcntl's sealing constants (Linux); Python 3.8+ has F_ADD_SEALS on Linux.
_F_ADD_SEALS = getattr(fcntl, "F_ADD_SEALS", 1033)
_F_SEAL_SHRINK = getattr(fcntl, "F_SEAL_SHRINK", 0x0002)


def _code(name: str) -> grpc.StatusCode:
    for c in grpc.StatusCode:
        if c.name == name:
            return c
    return grpc.StatusCode.UNKNOWN


class SharedBuffer:
    """``size`` bytes shared with the server; ``view`` is a writable
    :class:`memoryview` of them."""

    def __init__(self, size: int) -> None:
        if size <= 0:
            raise ValueError("a shared buffer needs at least one byte")
        self.size = size
        self.fd = os.memfd_create("overlapd-buffer", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(self.fd, size)
            fcntl.fcntl(self.fd, _F_ADD_SEALS, _F_SEAL_SHRINK)
            self._map = mmap.mmap(self.fd, size, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(self.fd)
            raise
        self.view = memoryview(self._map)
        self.handle = b""
        self._conn: Optional[socket.socket] = None
        SharedBuffer._by_map[id(self._map)] = self

    #: Every live buffer, by the id of its mapping (see :meth:`of`).
    _by_map: "weakref.WeakValueDictionary[int, SharedBuffer]" = weakref.WeakValueDictionary()

    @staticmethod
    def of(view: memoryview) -> Optional["SharedBuffer"]:
        """The open buffer whose memory ``view`` (a slice of its ``view``)
        lies in, else None."""
        buf = SharedBuffer._by_map.get(id(view.obj))
        return buf if buf is not None and buf.fd >= 0 and buf._map is view.obj else None

    def register(self, socket_path: str, token: Optional[str] = None) -> bytes:
        """Registers the buffer with the server at ``socket_path``; returns
        its 16-byte handle. The server's refusal raises
        :class:`OverlapdError` with its code (``UNAUTHENTICATED``,
        ``RESOURCE_EXHAUSTED``, ...); an unreachable socket ``UNAVAILABLE``."""
        self.unregister()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            conn.connect(socket_path)
            request = b"register" + (b" " + token.encode() if token else b"")
            socket.send_fds(conn, [request], [self.fd])
            answer = conn.recv(4096).decode(errors="replace")
        except OSError as e:
            conn.close()
            raise OverlapdError(grpc.StatusCode.UNAVAILABLE,
                                f"buffer socket {socket_path!r}: {e}") from e
        words = answer.split(" ", 2)
        if len(words) == 3 and words[0] == "ok":
            self.handle = bytes.fromhex(words[1])
            self._conn = conn
            return self.handle
        conn.close()
        if len(words) >= 2 and words[0] == "error":
            raise OverlapdError(_code(words[1]), words[2] if len(words) == 3 else "")
        raise OverlapdError(grpc.StatusCode.INTERNAL, f"buffer lane: unexpected answer {answer!r}")

    @property
    def registered(self) -> bool:
        """Whether the server holds the buffer (its connection is open)."""
        return self._conn is not None

    def unregister(self) -> None:
        """Ends the registration: the server unmaps the memory once its ops
        on it have finished."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self.handle = b""

    def close(self) -> None:
        """Unregisters and unmaps the buffer; views of it must be gone."""
        self.unregister()
        if self.fd >= 0:
            self.view.release()
            try:
                self._map.close()
            except BufferError:
                # Views of the buffer still held, perhaps only by garbage
                # cycles (an aio Event and its Handle refer to each other):
                # collect those, then try once more.
                gc.collect()
                self._map.close()
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "SharedBuffer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_into(client: "Client", path: str, buf: SharedBuffer, *, buffer_offset: int = 0,
              offset: int = 0, length: int = 0, verify: bool = True,
              token: Optional[str] = None) -> int:
    """:meth:`overlapd.Client.read_into`: one Read op whose bytes land in
    ``buf`` at ``buffer_offset``; returns the bytes read."""
    from overlapd import crc32c as _crc
    from overlapd.errors import corrupt
    from overlapd.v1 import overlapd_pb2 as pb

    if not buf.registered:
        buf.register(client.capabilities().buffer_socket, token)
    op = pb.Op(read=pb.Read(path=path, offset=offset, length=length,
                            into=pb.BufferRef(handle=buf.handle, offset=buffer_offset)))
    received = 0
    total = None
    for ev in client.execute([op]):
        if ev.type in (pb.OP_FAILED, pb.OP_CANCELLED):
            raise OverlapdError.from_event(ev, path)
        if ev.type == pb.READ_COMPLETE:
            total = ev.bytes
        elif ev.type == pb.READ_CHUNK:
            at = buffer_offset + (ev.offset - offset)
            if ev.offset < offset or at + ev.bytes > buf.size:
                raise corrupt(f"chunk at offset {ev.offset} is outside the buffer", path, ev)
            if verify and _crc.crc32c(buf.view[at:at + ev.bytes]) != ev.crc32c:
                raise corrupt(f"chunk at offset {ev.offset}: CRC32C mismatch", path, ev)
            received += ev.bytes
    if total is None or received != total:
        raise corrupt(f"{received} bytes in chunks, READ_COMPLETE says {total}", path)
    return int(total)
