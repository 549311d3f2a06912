"""The overlapd client: :class:`Client`, :class:`Session`, :class:`OverlapdError`.

A :class:`Client` wraps one gRPC channel to one overlapd server. Whole-file
helpers (:meth:`Client.read_file`, :meth:`Client.write_file`, :meth:`Client.stat`,
:meth:`Client.list`) raise :class:`OverlapdError` when an op fails at run time
(an ``OP_FAILED`` event); errors of the call itself (a refused batch, an
unreachable server, a deadline) pass through as :class:`grpc.RpcError`.

Example::

    import overlapd
    from overlapd import ops

    with overlapd.Client("127.0.0.1:50051") as c:
        print(c.capabilities().engine)
        c.write_file("data/blob.bin", b"\\0" * (10 << 20))
        blob = c.read_file("data/blob.bin")
        try:
            c.stat("no/such/file")
        except overlapd.OverlapdError as e:
            print(e.code.name, e.errno)      # NOT_FOUND 2

        # Raw batches: every event, in completion order.
        for ev in c.execute([ops.stat("data/blob.bin", tag=1), ops.read("data/blob.bin", tag=2)]):
            print(ev.tag, overlapd.pb.EventType.Name(ev.type))
"""

from __future__ import annotations

import queue
import threading
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import grpc

from overlapd import crc32c as _crc
from overlapd import ops
from overlapd.v1 import overlapd_pb2 as pb
from overlapd.v1 import overlapd_pb2_grpc as pb_grpc

BatchLike = Union[pb.Batch, pb.Op, Iterable[pb.Op]]
Metadata = Sequence[Tuple[str, str]]

#: Largest Write op :meth:`Client.write_file` sends (the server may allow more;
#: smaller ops keep messages well under gRPC's limits and pipeline better).
WRITE_PIECE_BYTES = 4 << 20

_STATUS_BY_VALUE = {s.value[0]: s for s in grpc.StatusCode}


class OverlapdError(Exception):
    """An operation that failed on the server (an ``OP_FAILED`` event, or a
    batch a Session refused).

    Attributes:
        code: the canonical :class:`grpc.StatusCode` (``NOT_FOUND``,
            ``PERMISSION_DENIED``, ``DATA_LOSS``, ...).
        message: the server's message.
        errno: the errno behind the failure, 0 when there is none.
        path: the op's path, when known.
        event: the :class:`pb.Event` the error came from, when there is one.

    Example::

        try:
            client.read_file("missing")
        except OverlapdError as e:
            assert e.code == grpc.StatusCode.NOT_FOUND and e.errno == errno.ENOENT
    """

    def __init__(self, code: grpc.StatusCode, message: str, errno: int = 0, *,
                 path: str = "", event: Optional[pb.Event] = None) -> None:
        super().__init__(code, message, errno)
        self.code = code
        self.message = message
        self.errno = errno
        self.path = path
        self.event = event

    @classmethod
    def from_event(cls, event: pb.Event) -> "OverlapdError":
        """Builds the error of an ``OP_FAILED`` / ``OP_CANCELLED`` event, or of
        a ``BATCH_COMPLETE`` that carries an error."""
        if event.type == pb.OP_CANCELLED and not event.error.code:
            return cls(grpc.StatusCode.CANCELLED, "operation cancelled",
                       path=event.path, event=event)
        code = _STATUS_BY_VALUE.get(event.error.code, grpc.StatusCode.UNKNOWN)
        return cls(code, event.error.message, event.error.errno_value,
                   path=event.path, event=event)

    def __str__(self) -> str:
        text = f"{self.code.name}: {self.message}"
        if self.path and self.path not in self.message:
            text += f" ({self.path})"
        if self.errno:
            text += f" [errno {self.errno}]"
        return text


def failed(event: pb.Event) -> bool:
    """True when ``event`` reports a failure: ``OP_FAILED``, ``OP_CANCELLED``,
    or a ``BATCH_COMPLETE`` with an error (a batch refused in a Session)."""
    return (event.type in (pb.OP_FAILED, pb.OP_CANCELLED) or
            (event.type == pb.BATCH_COMPLETE and event.error.code != 0))


def _check(event: pb.Event) -> pb.Event:
    if failed(event):
        raise OverlapdError.from_event(event)
    return event


def _as_batch(batch_or_ops: BatchLike, tag: Optional[int] = None) -> pb.Batch:
    if isinstance(batch_or_ops, pb.Batch):
        batch = batch_or_ops
        if tag is not None and batch.tag != tag:
            batch = pb.Batch()
            batch.CopyFrom(batch_or_ops)
            batch.tag = tag
        return batch
    if isinstance(batch_or_ops, pb.Op):
        batch_or_ops = [batch_or_ops]
    return pb.Batch(ops=list(batch_or_ops), tag=tag or 0)


class Client:
    """A connection to one overlapd server.

    Args:
        target: ``HOST:PORT`` of the server's gRPC listener.
        credentials: TLS channel credentials (``grpc.ssl_channel_credentials``);
            None for a plaintext channel.
        token: a bearer token, sent as ``authorization: Bearer <token>``.
        timeout: deadline in seconds for each call (None: no deadline). For
            streams it bounds the whole call.
        options: extra gRPC channel options.

    The client is thread-safe (gRPC channels are); a :class:`Session` is not.

    Example::

        with Client("127.0.0.1:50051") as c:
            caps = c.capabilities()
            print(caps.engine, caps.workers, caps.max_op_bytes)
    """

    def __init__(self, target: str = "127.0.0.1:50051", *,
                 credentials: Optional[grpc.ChannelCredentials] = None,
                 token: Optional[str] = None, timeout: Optional[float] = None,
                 options: Sequence[Tuple[str, object]] = ()) -> None:
        # The server bounds messages itself (Capabilities.max_message_bytes);
        # the client accepts whatever it sends.
        opts = [("grpc.max_receive_message_length", -1),
                ("grpc.max_send_message_length", -1), *options]
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options=opts)
        else:
            self._channel = grpc.secure_channel(target, credentials, options=opts)
        self._stub = pb_grpc.IoServiceStub(self._channel)
        self._metadata: Metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout = timeout
        self._caps: Optional[pb.Capabilities] = None
        self._caps_lock = threading.Lock()
        self.target = target

    # -- lifetime ---------------------------------------------------------

    def close(self) -> None:
        """Closes the channel; calls in progress are cancelled."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stub(self) -> pb_grpc.IoServiceStub:
        """The raw generated stub, for RPCs this class does not wrap (Submit,
        Subscribe, GetJob, CancelJob, ListJobs)."""
        return self._stub

    # -- unary ------------------------------------------------------------

    def capabilities(self) -> pb.Capabilities:
        """The server's real limits (``GetCapabilities``), fetched anew.

        Example::

            caps = client.capabilities()
            assert caps.engine in ("uring", "threads")
        """
        caps = self._stub.GetCapabilities(pb.GetCapabilitiesRequest(),
                                          metadata=self._metadata, timeout=self._timeout)
        with self._caps_lock:
            self._caps = caps
        return caps

    def _cached_caps(self) -> pb.Capabilities:
        with self._caps_lock:
            caps = self._caps
        return caps if caps is not None else self.capabilities()

    # -- batches ----------------------------------------------------------

    def execute(self, batch_or_ops: BatchLike, *, tag: Optional[int] = None) -> Iterator[pb.Event]:
        """Runs one batch (``Execute``) and yields its events as they arrive,
        ending after ``BATCH_COMPLETE``.

        ``batch_or_ops`` is a :class:`pb.Batch`, one :class:`pb.Op`, or an
        iterable of ops (see :mod:`overlapd.ops`); ``tag`` sets the batch tag.
        Failed ops arrive as ``OP_FAILED`` events (see :func:`failed` and
        :meth:`OverlapdError.from_event`); nothing is raised for them. A batch
        the server refuses as a whole raises :class:`grpc.RpcError`. Leaving
        the loop early cancels the call.

        Example::

            for ev in client.execute([ops.stat("a", tag=1), ops.stat("b", tag=2)], tag=9):
                if ev.type == pb.BATCH_COMPLETE:
                    assert ev.tag == 9
                elif failed(ev):
                    print(ev.tag, OverlapdError.from_event(ev))
        """
        call = self._stub.Execute(_as_batch(batch_or_ops, tag),
                                  metadata=self._metadata, timeout=self._timeout)
        try:
            for message in call:
                yield from message.events
        finally:
            call.cancel()  # a no-op once the call has ended

    def session(self) -> "Session":
        """Opens a :class:`Session`: pipelined batches over one stream.

        Example::

            with client.session() as s:
                t1 = s.submit([ops.write("a", b"1")])
                t2 = s.submit([ops.write("b", b"2")])   # sent before t1 completes
                s.wait(t1); s.wait(t2)
        """
        return Session(self._stub, self._metadata, self._timeout)

    def _run_one(self, op: pb.Op) -> List[pb.Event]:
        events = list(self.execute([op]))
        for ev in events:
            _check(ev)
        return events

    # -- whole-file helpers -----------------------------------------------

    def stat(self, path: str) -> pb.FileInfo:
        """Metadata of ``path``; raises :class:`OverlapdError` (``NOT_FOUND``, ...).

        Example::

            info = client.stat("data/blob.bin")
            print(info.size, info.type == pb.FILE_TYPE_REGULAR, info.mtime_ns)
        """
        for ev in self._run_one(ops.stat(path)):
            if ev.type == pb.STAT_COMPLETE:
                return ev.stat
        raise OverlapdError(grpc.StatusCode.INTERNAL, "no STAT_COMPLETE event", path=path)

    def list(self, path: str = "", *, page_size: int = 0) -> List[pb.FileInfo]:
        """Every entry of directory ``path``, sorted by name, fetching all pages.

        ``page_size`` 0 uses the server's ``max_list_entries``.

        Example::

            names = [e.name for e in client.list("data")]
        """
        entries: List[pb.FileInfo] = []
        start_after = ""
        while True:
            page = None
            for ev in self._run_one(ops.list_dir(path, start_after=start_after, limit=page_size)):
                if ev.type == pb.LIST_COMPLETE:
                    page = ev
            if page is None:
                raise OverlapdError(grpc.StatusCode.INTERNAL, "no LIST_COMPLETE event", path=path)
            entries.extend(page.entries)
            if not page.more_entries or not page.entries:
                return entries
            start_after = page.entries[-1].name

    def read_file(self, path: str, *, verify: Optional[bool] = None) -> bytes:
        """The whole content of ``path``.

        Chunks arrive in any order; they are put back in place by offset and
        must cover the file without a gap. ``verify`` checks the CRC32C of
        every chunk and of the whole file against the server's: True always,
        False never, None (default) only when a native CRC32C is present
        (:data:`overlapd.crc32c.FAST`: Debian's ``libisal2``), since the
        pure-Python one runs at about 10 MB/s. A mismatch raises
        :class:`OverlapdError` with ``DATA_LOSS``.

        Example::

            data = client.read_file("data/blob.bin", verify=True)
        """
        if verify is None:
            verify = _crc.FAST
        chunks: List[Tuple[int, bytes]] = []
        complete: Optional[pb.Event] = None
        for ev in self.execute([ops.read(path)]):
            _check(ev)
            if ev.type == pb.READ_CHUNK:
                if verify and _crc.crc32c(ev.data) != ev.crc32c:
                    raise OverlapdError(grpc.StatusCode.DATA_LOSS,
                                        f"CRC32C mismatch in the chunk at offset {ev.offset}",
                                        path=path, event=ev)
                chunks.append((ev.offset, ev.data))
            elif ev.type == pb.READ_COMPLETE:
                complete = ev
        if complete is None:
            raise OverlapdError(grpc.StatusCode.INTERNAL, "no READ_COMPLETE event", path=path)
        chunks.sort(key=lambda c: c[0])
        end = 0
        for offset, data in chunks:
            if offset != end:
                raise OverlapdError(grpc.StatusCode.DATA_LOSS,
                                    f"chunks leave a gap or overlap at offset {end}", path=path)
            end += len(data)
        if end != complete.bytes:
            raise OverlapdError(grpc.StatusCode.DATA_LOSS,
                                f"chunks hold {end} bytes, READ_COMPLETE says {complete.bytes}",
                                path=path)
        content = b"".join(data for _, data in chunks)
        if verify and _crc.crc32c(content) != complete.crc32c:
            raise OverlapdError(grpc.StatusCode.DATA_LOSS, "CRC32C mismatch of the whole file",
                                path=path, event=complete)
        return content

    def write_file(self, path: str, data: Union[bytes, bytearray, memoryview],
                   durable: bool = False, *, window: int = 4) -> int:
        """Replaces the content of ``path`` with ``data`` (created if missing);
        returns the bytes written.

        The data goes in Write ops of at most 4 MiB (or the server's
        ``max_op_bytes`` when smaller) over one Session: the first truncates
        the file, and once it has completed the rest are pipelined, up to
        ``window`` batches in flight, each awaited to its ``BATCH_COMPLETE``.
        With ``durable`` the last op is sent after all others completed, with
        ``DURABILITY_FULL`` (fsync of the file and its directory), so the call
        returns only once the whole file is on stable storage. Not atomic: a
        reader may see a partly written file (``REPLACE_ATOMIC`` is for that).

        Example::

            client.write_file("out/report.csv", b"a,b\\n1,2\\n", durable=True)
        """
        view = memoryview(data).cast("B")
        size = len(view)
        piece = max(1, min(WRITE_PIECE_BYTES, self._cached_caps().max_op_bytes or WRITE_PIECE_BYTES))
        offsets = list(range(0, size, piece)) or [0]
        last = len(offsets) - 1

        def write_op(i: int, mode: int) -> pb.Op:
            off = offsets[i]
            durability = pb.DURABILITY_FULL if durable and i == last else pb.DURABILITY_NONE
            return ops.write(path, bytes(view[off:off + piece]), off, mode=mode,
                             durability=durability, tag=i)

        written = 0
        with self.session() as s:
            # The truncating write must land before any other.
            written += _written(s.wait(s.submit([write_op(0, pb.WRITE_MODE_TRUNCATE)])))
            in_flight: List[int] = []
            tail = [last] if durable and last > 0 else []
            for i in range(1, last + 1):
                if i in tail:
                    continue
                if len(in_flight) >= max(1, window):
                    written += _written(s.wait(in_flight.pop(0)))
                in_flight.append(s.submit([write_op(i, pb.WRITE_MODE_AT)]))
            for t in in_flight:
                written += _written(s.wait(t))
            for i in tail:  # durable: the FULL fsync covers every write before it
                written += _written(s.wait(s.submit([write_op(i, pb.WRITE_MODE_AT)])))
        return written


def _written(events: List[pb.Event]) -> int:
    return sum(ev.bytes for ev in events if ev.type == pb.WRITE_COMPLETE)


class Session:
    """Pipelined batches over one ``Session`` stream: submit many batches
    without waiting, then collect each one's events.

    Use it as a context manager: leaving the block half-closes the stream and
    waits for every op to finish (or cancels the call when the block raised).
    Not thread-safe: submit and wait from one thread. Do not mix
    :meth:`events` with :meth:`wait` on one session.

    Example::

        with client.session() as s:
            tags = [s.submit([ops.write(f"part{i}", b"x" * 1024)]) for i in range(10)]
            for t in tags:
                events = s.wait(t)     # raises OverlapdError on a failed op
                assert events[-1].type == pb.BATCH_COMPLETE
    """

    _CLOSE = object()

    def __init__(self, stub: pb_grpc.IoServiceStub, metadata: Metadata,
                 timeout: Optional[float]) -> None:
        self._requests: "queue.Queue[object]" = queue.Queue()
        self._call = stub.Session(self._request_iter(), metadata=metadata, timeout=timeout)
        self._responses = iter(self._call)
        self._next_tag = 1
        self._closed = False
        self._by_job: Dict[int, List[pb.Event]] = {}   # events of batches in flight
        self._done: Dict[int, List[pb.Event]] = {}     # finished batches by tag, not yet awaited
        self._pending_tags: set = set()

    def _request_iter(self) -> Iterator[pb.Batch]:
        # gRPC consumes this on its own thread; the queue hands batches over.
        while True:
            item = self._requests.get()
            if item is Session._CLOSE:
                return
            yield item  # type: ignore[misc]

    def submit(self, batch_or_ops: BatchLike, *, tag: Optional[int] = None) -> int:
        """Sends a batch and returns its tag (given, or a fresh one), to pass
        to :meth:`wait`. Tags of batches in flight must differ."""
        if self._closed:
            raise ValueError("session closed")
        if tag is None:
            tag = self._next_tag
            self._next_tag += 1
        if tag in self._pending_tags:
            raise ValueError(f"batch tag {tag} already in flight")
        self._pending_tags.add(tag)
        self._requests.put(_as_batch(batch_or_ops, tag))
        return tag

    def events(self) -> Iterator[pb.Event]:
        """Every event of the session, as it arrives, until the stream ends
        (after :meth:`close`)."""
        for message in self._responses:
            yield from message.events

    def _pump(self) -> bool:
        """Reads one message and files its events by batch; False at the end."""
        try:
            message = next(self._responses)
        except StopIteration:
            return False
        for ev in message.events:
            group = self._by_job.setdefault(ev.job_id, [])
            group.append(ev)
            if ev.type == pb.BATCH_COMPLETE:
                del self._by_job[ev.job_id]
                self._done[ev.tag] = group
        return True

    def wait(self, tag: int, *, check: bool = True) -> List[pb.Event]:
        """Blocks until the batch ``tag`` completes and returns its events,
        ``BATCH_COMPLETE`` last. With ``check`` (default), raises
        :class:`OverlapdError` for its first failed op, or when the server
        refused the batch."""
        while tag not in self._done:
            if not self._pump():
                raise OverlapdError(grpc.StatusCode.UNAVAILABLE,
                                    f"session ended before batch {tag} completed")
        events = self._done.pop(tag)
        self._pending_tags.discard(tag)
        if check:
            for ev in events:
                _check(ev)
        return events

    def close(self) -> None:
        """Half-closes the stream, then drains it until the server ends the
        call (every op completed). Events not awaited are dropped."""
        if not self._closed:
            self._closed = True
            self._requests.put(Session._CLOSE)
        for _ in self._responses:
            pass

    def cancel(self) -> None:
        """Cancels the call: ops in flight end as cancelled."""
        self._closed = True
        self._requests.put(Session._CLOSE)
        self._call.cancel()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.cancel()
