"""The seed API: ``readfile`` and ``writefile`` return at once, ``events()``
yields what completed, in completion order.

Example (a backup of three files; each write starts as its read completes)::

    from overlapd import aio
    from overlapd.aio import EventType

    aio.connect("127.0.0.1:50051")
    bufs = [overlapd.SharedBuffer(1 << 30) for _ in range(3)]
    for name, buf in zip(["1GB-raw.1", "1GB-raw.2", "1GB-raw.3"], bufs):
        aio.readfile(name, buf)
    with aio.events() as events:
        for event in events:
            if event.type == EventType.FileReadComplete:
                aio.writefile(event.fname + ".bak", event.buf)
            elif event.type == EventType.FileWriteComplete:
                log.debug("backed up " + event.fname)
            elif event.type in (EventType.FileWriteFailed, EventType.FileReadFailed):
                log.error(f"failed {event.fname}: {event.error}")

Every op of one :class:`Client` goes over one ``Session`` stream. A read
lands in ``buf``: a ``bytearray``, a writable ``memoryview`` or an ``mmap``
(chunks copied in at their offsets), an :class:`overlapd.SharedBuffer` or a
view of one (when the server is on this host and its buffer lane is
reachable, the server writes the memory itself: no copy in Python), or
nothing (a ``bytearray`` is made). ``event.buf`` is a ``memoryview`` of the
bytes read, in that buffer; passing it to ``writefile`` writes from the
shared buffer, without copying either.

The module-level functions use a default client: the one :func:`connect`
made, else one connected to ``$OVERLAPD_SERVER`` (default
``127.0.0.1:50051``) with ``$OVERLAPD_TOKEN``. A :class:`Client` has the
same calls as methods, for code that holds several connections. Not
thread-safe: call from one thread.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator, List, Optional, Tuple

import grpc

from overlapd import ops
from overlapd.client import Client as _SyncClient
from overlapd.errors import broken
from overlapd.seed import Event, EventType, Handle, Tracker
from overlapd.session import Session
from overlapd.targets import Buffers, ReadBuffer, WriteData
from overlapd.v1 import overlapd_pb2 as pb

__all__ = ["Client", "Event", "EventType", "Handle", "close", "connect", "copyfile",
           "default_client", "delete", "events", "readfile", "rename", "stat", "writefile"]


class Client:
    """The seed API over one connection: ops submitted with the methods go
    over one Session stream, opened at the first one.

    Args:
        target: ``HOST:PORT`` of the server.
        token: a bearer token (also used to register shared buffers).
        credentials: TLS channel credentials, None for plaintext.
        verify: check each chunk's CRC32C and that the chunks add up to
            each read's. None (default): for bytes that came over gRPC, not
            for those the server wrote into shared memory itself (True:
            those too, at about 1 GB/s of CPU; False: neither). That the
            chunks cover each read exactly is checked always.

    Attributes:
        client: the :class:`overlapd.Client` underneath (its whole-file
            helpers block; ``client.stat(name).size`` to size a buffer).

    Example::

        with aio.Client("127.0.0.1:50051") as c:
            h = c.readfile("a.txt")
            with c.events() as events:
                for ev in events:
                    print(ev.type, ev.fname, bytes(ev.buf or b""))
            assert h.done
    """

    def __init__(self, target: str = "127.0.0.1:50051", *, token: Optional[str] = None,
                 credentials: Optional[grpc.ChannelCredentials] = None,
                 verify: Optional[bool] = None) -> None:
        self.client = _SyncClient(target, token=token, credentials=credentials)
        self._token = token
        self._verify = verify
        self._session: Optional[Session] = None
        self._stream: Optional[Iterator[pb.Event]] = None
        self._tracker: Optional[Tracker] = None
        self._buffers: Optional[Buffers] = None

    def _start(self) -> Tracker:
        if self._tracker is None:
            caps = self.client.capabilities()
            self._tracker = Tracker(caps, verify=self._verify)
            self._buffers = Buffers(caps, self._token)
        return self._tracker

    def _send(self, batches: List[pb.Batch]) -> None:
        if self._session is None:
            self._session = self.client.session()
            self._stream = self._session.events()
        for b in batches:
            self._session.submit(b, tag=b.tag)

    @property
    def lane(self) -> bool:
        """Whether reads into shared buffers use the buffer lane."""
        return self._parts()[1].reachable

    @property
    def outstanding(self) -> int:
        """Ops submitted whose event :meth:`events` has not yet yielded."""
        return self._tracker.outstanding if self._tracker else 0

    def readfile(self, name: str, buf: ReadBuffer = None, *, offset: int = 0,
                 length: int = 0) -> Handle:
        """Starts reading ``length`` bytes of ``name`` at ``offset`` (0: to the
        end of the file) into ``buf``; returns at once. ``FileReadComplete``
        carries the bytes as ``event.buf``; a file larger than ``buf``
        fails with ``OUT_OF_RANGE``."""
        tracker, buffers = self._parts()
        return self._go(tracker.read(name, buffers.target(buf), offset=offset, length=length))

    def writefile(self, name: str, data: WriteData, *, durable: bool = False,
                  atomic: bool = False) -> Handle:
        """Starts replacing ``name`` with ``data``; returns at once. Data in a
        registered shared buffer (``event.buf`` of a lane read) is written
        from there by the server. ``durable``: on stable storage before
        ``FileWriteComplete``; ``atomic``: readers see the old or the new
        content, never a mix. Leave ``data`` unchanged until the event."""
        tracker, buffers = self._parts()
        return self._go(tracker.write(name, buffers.source(data), durable=durable, atomic=atomic))

    def copyfile(self, src: str, dst: str, *, durable: bool = False) -> Handle:
        """Starts a server-side copy of ``src`` to ``dst`` (``FileCopyComplete``)."""
        durability = pb.DURABILITY_FULL if durable else pb.DURABILITY_NONE
        return self._simple("copy", src, ops.copy(src, dst, durability=durability))

    def stat(self, name: str) -> Handle:
        """Starts a stat of ``name``; ``event.stat`` is its :class:`pb.FileInfo`."""
        return self._simple("stat", name, ops.stat(name))

    def delete(self, name: str) -> Handle:
        """Starts deleting the file ``name`` (``FileDeleteComplete``)."""
        return self._simple("delete", name, ops.delete(name))

    def rename(self, src: str, dst: str) -> Handle:
        """Starts renaming ``src`` to ``dst`` (``FileRenameComplete``)."""
        return self._simple("rename", src, ops.rename(src, dst))

    def _simple(self, kind: str, name: str, op: pb.Op) -> Handle:
        return self._go(self._start().simple(kind, name, op))

    def _parts(self) -> Tuple[Tracker, Buffers]:
        tracker = self._start()
        assert self._buffers is not None
        return tracker, self._buffers

    def _go(self, started: Tuple[Handle, List[pb.Batch]]) -> Handle:
        """Sends the batches of a call that has started; its handle."""
        self._send(started[1])
        return started[0]

    def _iter_events(self) -> Iterator[Event]:
        tracker = self._start()
        while tracker.outstanding:
            assert self._stream is not None
            raw = next(self._stream, None)
            if raw is None:
                raise broken(f"the session ended with {tracker.outstanding} op(s) outstanding")
            done, more = tracker.feed(raw)
            self._send(more)
            yield from done

    @contextlib.contextmanager
    def events(self) -> Iterator[Iterator[Event]]:
        """Yields an iterator of :class:`Event` s, in the order the ops
        complete, until none is outstanding, ops submitted inside the loop
        included. Leaving the loop early keeps the rest for the next call."""
        yield self._iter_events()

    def close(self) -> None:
        """Cancels what is outstanding and closes the connection."""
        if self._session is not None:
            self._session.cancel()
            self._session = None
        self.client.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default: Optional[Client] = None


def connect(target: Optional[str] = None, *, token: Optional[str] = None,
            verify: Optional[bool] = None) -> Client:
    """Connects the default client of the module-level functions (closing
    the previous one) to ``target`` (default ``$OVERLAPD_SERVER``, else
    ``127.0.0.1:50051``) with ``token`` (default ``$OVERLAPD_TOKEN``)."""
    global _default
    close()
    _default = Client(target or os.environ.get("OVERLAPD_SERVER") or "127.0.0.1:50051",
                      token=token or os.environ.get("OVERLAPD_TOKEN") or None, verify=verify)
    return _default


def default_client() -> Client:
    """The default client, connected from the environment if need be."""
    return _default if _default is not None else connect()


def close() -> None:
    """Closes the default client, if any."""
    global _default
    if _default is not None:
        _default.close()
        _default = None


def readfile(name: str, buf: ReadBuffer = None, *, offset: int = 0, length: int = 0) -> Handle:
    """:meth:`Client.readfile` of the default client."""
    return default_client().readfile(name, buf, offset=offset, length=length)


def writefile(name: str, data: WriteData, *, durable: bool = False,
              atomic: bool = False) -> Handle:
    """:meth:`Client.writefile` of the default client."""
    return default_client().writefile(name, data, durable=durable, atomic=atomic)


def copyfile(src: str, dst: str, *, durable: bool = False) -> Handle:
    """:meth:`Client.copyfile` of the default client."""
    return default_client().copyfile(src, dst, durable=durable)


def stat(name: str) -> Handle:
    """:meth:`Client.stat` of the default client."""
    return default_client().stat(name)


def delete(name: str) -> Handle:
    """:meth:`Client.delete` of the default client."""
    return default_client().delete(name)


def rename(src: str, dst: str) -> Handle:
    """:meth:`Client.rename` of the default client."""
    return default_client().rename(src, dst)


def events() -> "contextlib.AbstractContextManager[Iterator[Event]]":
    """:meth:`Client.events` of the default client."""
    return default_client().events()
