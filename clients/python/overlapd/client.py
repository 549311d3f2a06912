"""The overlapd client: :class:`Client` (its :class:`~overlapd.session.Session`
and :class:`~overlapd.errors.OverlapdError` live in modules of their own).

A :class:`Client` wraps one gRPC channel to one overlapd server.

Whole-file helpers never report success for what did not happen. Each checks
its batch to the end: ``BATCH_COMPLETE`` arrived without an error, no op
ended ``OP_FAILED`` or ``OP_CANCELLED``, every op has exactly one terminal
event, reads cover their range without a gap and match their CRC32C, writes
wrote every byte. Anything else raises :class:`OverlapdError`, an
:class:`OSError` naming the path: a failed op (``NOT_FOUND``, ``errno``
ENOENT), a batch the server refused (an absolute path, an over-long name, a
token without the scope), corrupt data (``DATA_LOSS``), a server that broke
the protocol (``INTERNAL``). Errors of the call rather than of the path (an
unreachable server, a deadline, a missing token) stay :class:`grpc.RpcError`.

Memory: :meth:`Client.read_to` and :meth:`Client.write_from` stream between
the server and a local file or file object, holding at most the in-flight
window (``window`` ops of :data:`READ_SEGMENT_BYTES` /
:data:`WRITE_PIECE_BYTES`), whatever the file's size. :meth:`Client.read_file`
returns ``bytes`` built in place (the file's size, not twice it), and
:meth:`Client.write_file` sends slices of the caller's buffer.

Example::

    import overlapd
    from overlapd import ops

    with overlapd.Client("127.0.0.1:50051") as c:
        print(c.capabilities().engine)
        c.write_file("data/blob.bin", b"\\0" * (10 << 20))
        blob = c.read_file("data/blob.bin")
        c.read_to("data/blob.bin", "/tmp/blob.bin")      # streamed to a local file
        c.write_from("data/copy.bin", "/tmp/blob.bin")   # streamed from one
        try:
            c.stat("no/such/file")
        except overlapd.OverlapdError as e:              # also an OSError
            print(e.code.name, e.errno, e.filename)      # NOT_FOUND 2 no/such/file

        # Raw batches: every event, in completion order.
        for ev in c.execute([ops.stat("data/blob.bin", tag=1), ops.read("data/blob.bin", tag=2)]):
            print(ev.tag, overlapd.pb.EventType.Name(ev.type))
"""

from __future__ import annotations

import collections
import contextlib
import errno as _errno
import io
import os
import secrets
import threading
from typing import IO, Callable, Deque, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import grpc

from overlapd import crc32c as _crc
from overlapd import lane as _lane
from overlapd import ops
from overlapd.lane import SharedBuffer
# OverlapdError, Session, check_batch and failed were defined here first:
# importing them from overlapd.client keeps working.
from overlapd.errors import (OverlapdError, broken, check_batch, corrupt, failed,  # noqa: F401
                             one_op, per_path)
from overlapd.localio import InOrder, pwrite_all, uninitialised_bytes, write_all
from overlapd.segments import Segment as _Segment
from overlapd.segments import check_segment as _check_segment
from overlapd.session import BatchLike, Metadata, Session, as_batch
from overlapd.v1 import overlapd_pb2 as pb
from overlapd.v1 import overlapd_pb2_grpc as pb_grpc

#: A local file: a path, or a binary file object.
LocalFile = Union[str, "os.PathLike[str]", IO[bytes]]

#: Largest Write op the write helpers send (the server may allow more;
#: smaller ops keep messages well under gRPC's limits and pipeline better).
WRITE_PIECE_BYTES = 4 << 20
#: Bytes each Read op of the read helpers asks for. The server splits it
#: into chunks (``Capabilities.chunk_bytes``) read on all its workers.
READ_SEGMENT_BYTES = 8 << 20
#: Ops the read and write helpers keep in flight by default.
DEFAULT_WINDOW = 4


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
        self._token = token
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
        This is the raw interface: failed ops arrive as ``OP_FAILED`` events
        and nothing is raised for them (pass the events to
        :func:`check_batch`, or test each with :func:`failed`). A batch the
        server refuses as a whole raises :class:`grpc.RpcError`; a stream
        that ends without ``BATCH_COMPLETE`` raises :class:`OverlapdError`
        (``INTERNAL``). Leaving the loop early cancels the call.

        Example::

            for ev in client.execute([ops.stat("a", tag=1), ops.stat("b", tag=2)], tag=9):
                if ev.type == pb.BATCH_COMPLETE:
                    assert ev.tag == 9
                elif failed(ev):
                    print(ev.tag, OverlapdError.from_event(ev))
        """
        call = self._stub.Execute(as_batch(batch_or_ops, tag),
                                  metadata=self._metadata, timeout=self._timeout)
        complete = False
        try:
            for message in call:
                for ev in message.events:
                    complete = complete or ev.type == pb.BATCH_COMPLETE
                    yield ev
        finally:
            call.cancel()  # a no-op once the call has ended
        if not complete:
            raise broken("the Execute stream ended without BATCH_COMPLETE")

    def read_into(self, path: str, buf: "SharedBuffer", *, buffer_offset: int = 0,
                  offset: int = 0, length: int = 0, verify: bool = True) -> int:
        """Reads ``path`` (``length`` bytes at ``offset``; 0: to EOF) into the
        shared buffer ``buf`` at ``buffer_offset`` with one Read op, the
        server's workers writing straight into the memory (same host only:
        :mod:`overlapd.lane`). Registers ``buf`` first if it is not yet.
        ``verify`` checks each chunk's CRC32C in the buffer. Returns the
        bytes read; a read to EOF of a file larger than the room left raises
        ``OUT_OF_RANGE``.

        Example::

            with overlapd.SharedBuffer(1 << 20) as buf:
                n = client.read_into("a.bin", buf)
                data = buf.view[:n]
        """
        return _lane.read_into(self, path, buf, buffer_offset=buffer_offset, offset=offset,
                               length=length, verify=verify, token=self._token)

    def session(self) -> "Session":
        """Opens a :class:`Session`: pipelined batches over one stream.

        Example::

            with client.session() as s:
                t1 = s.submit([ops.write("a", b"1")])
                t2 = s.submit([ops.write("b", b"2")])   # sent before t1 completes
                s.wait(t1); s.wait(t2)
        """
        return Session(self._stub, self._metadata, self._timeout)

    def _run_one(self, op: pb.Op, path: str, want: int) -> pb.Event:
        """Runs one op over Execute; its terminal event, of type ``want``."""
        with per_path(path):
            return one_op(list(self.execute([op])), path, want)

    # -- whole-file helpers -----------------------------------------------

    def stat(self, path: str) -> pb.FileInfo:
        """Metadata of ``path``; raises :class:`OverlapdError` (``NOT_FOUND``, ...).

        Example::

            info = client.stat("data/blob.bin")
            print(info.size, info.type == pb.FILE_TYPE_REGULAR, info.mtime_ns)
        """
        return self._run_one(ops.stat(path), path, pb.STAT_COMPLETE).stat

    def list(self, path: str = "", *, page_size: int = 0) -> List[pb.FileInfo]:
        """Every entry of directory ``path``, sorted by name, fetching all pages.

        ``page_size`` 0 uses the server's ``max_list_entries``. A page that
        claims more entries but brings none raises ``INTERNAL`` rather than
        return a short list.

        Example::

            names = [e.name for e in client.list("data")]
        """
        entries: List[pb.FileInfo] = []
        start_after = ""
        while True:
            page = self._run_one(ops.list_dir(path, start_after=start_after, limit=page_size),
                                 path, pb.LIST_COMPLETE)
            entries.extend(page.entries)
            if not page.more_entries:
                return entries
            if not page.entries:
                raise broken("a LIST_COMPLETE page claims more entries but holds none", path)
            start_after = page.entries[-1].name

    def read_file(self, path: str, *, verify: Optional[bool] = None,
                  window: int = DEFAULT_WINDOW) -> bytes:
        """The whole content of ``path``, as ``bytes``.

        The file is read in ops of :data:`READ_SEGMENT_BYTES`, ``window`` in
        flight, over one Session; its chunks arrive in any order and are
        copied straight to their offset in a result of the size
        :meth:`stat` gives, so the peak memory is about the file's size, not
        twice it. A file that grows meanwhile is read up to the size
        :meth:`stat` gave; one that shrinks, up to its new end. For files
        larger than memory use :meth:`read_to`.

        Every chunk's CRC32C is checked against the server's, and each op's
        chunks must cover its range without a gap or overlap and combine to
        the CRC32C of its ``READ_COMPLETE``; a mismatch raises
        :class:`OverlapdError` with ``DATA_LOSS``. ``verify=False`` skips
        the CRC checks (not the coverage checks); None (the default) means
        True.

        Example::

            data = client.read_file("data/blob.bin")
        """
        verify = True if verify is None else verify
        info = self.stat(path)
        if info.type != pb.FILE_TYPE_REGULAR or info.size == 0:
            # No size to build the result on (an empty file may have grown
            # since): read to the end, in order. Anything but a regular
            # file fails on the server.
            out = io.BytesIO()
            self.read_to(path, out, verify=verify, window=window)
            return out.getvalue()
        size = info.size
        buffer: Optional[bytearray] = None
        try:
            content, view = uninitialised_bytes(size)
        except NotImplementedError:
            buffer = bytearray(size)
            content, view = b"", memoryview(buffer)

        def place(offset: int, data: bytes) -> None:
            view[offset:offset + len(data)] = data

        try:
            end = self._read_segments(path, place, size, verify, window)
        finally:
            view.release()
        if buffer is not None:
            content = bytes(buffer)
        return content if end == size else content[:end]

    def read_to(self, path: str, dst: LocalFile, *, verify: Optional[bool] = None,
                window: int = DEFAULT_WINDOW) -> int:
        """Streams the content of ``path`` to ``dst``; returns the bytes
        written there.

        ``dst`` is a local path or a binary file object (anything with
        ``write(bytes)``: a file, a pipe, ``sys.stdout.buffer``, a socket's
        ``makefile("wb")``). Memory stays bounded by the in-flight window
        (``window`` reads of :data:`READ_SEGMENT_BYTES`), whatever the
        file's size. The file is read until a short read (its end); checks
        are those of :meth:`read_file`.

        A path ``dst`` is written to a temporary file beside it, each chunk
        at its offset as it arrives, and renamed over ``dst`` only once every
        byte has arrived and been checked: on any error the temporary file is
        removed and ``dst`` is left as it was. A file object gets the bytes
        in file order from its current position (chunks that arrive early
        wait in memory, within the window), and may have received part of
        the content when an error is raised.

        Example::

            n = client.read_to("data/blob.bin", "/tmp/blob.bin")
            with open("/tmp/copy.bin", "wb") as f:
                client.read_to("data/blob.bin", f)
        """
        verify = True if verify is None else verify
        if isinstance(dst, (str, os.PathLike)):
            target = os.fspath(dst)
            directory, name = os.path.split(os.path.abspath(target))
            tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.overlapd-part")
            # O_EXCL: never write through a file or link that was already there.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            try:
                with os.fdopen(fd, "wb"):  # closes fd
                    # A file of our own can take each chunk at its offset as
                    # it arrives: nothing is held back for ordering.
                    n = self._read_segments(path, lambda off, data: pwrite_all(fd, data, off),
                                            None, verify, window)
                    os.ftruncate(fd, n)  # chunks past the end (a file that grew) are not content
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            return n
        return self._read_in_order(path, dst, verify, window)

    def _read_in_order(self, path: str, f: IO[bytes], verify: bool, window: int) -> int:
        writer = InOrder(lambda data: write_all(f, data))
        end = self._read_segments(path, writer, None, verify, window)
        if writer.next != end:  # the segment checks make this impossible
            raise corrupt(f"{writer.next} bytes written in order, the file has {end}", path)
        return end

    def _read_segments(self, path: str, sink: Callable[[int, bytes], None],
                       length: Optional[int], verify: bool, window: int) -> int:
        """Reads ``path`` from offset 0 in Read ops of READ_SEGMENT_BYTES,
        ``window`` in flight over one Session, and passes every checked chunk
        to ``sink(offset, data)`` as it arrives (in any order). Returns where
        the content ends.

        ``length`` None reads until a short Read (the end of file); a length
        reads that many bytes at most. The content ends at the first short
        Read: chunks beyond it (a file that grew meanwhile) may have reached
        ``sink``, and are not content.

        A Read frees its place in the window at its terminal event, where
        its chunks are checked; its BATCH_COMPLETE must still come. Once no
        Read is left to issue the stream is half-closed, so the server ends
        it when every op has completed: an event it never sends is found
        missing then, instead of awaited until the deadline. Errors: the
        first failed or refused Read, a chunk outside its Read's range or
        after its end, a CRC32C mismatch, a Read whose chunks do not cover
        exactly what its READ_COMPLETE says, a missing or doubled event.
        """
        caps = self._cached_caps()
        seg_bytes = max(1, min(READ_SEGMENT_BYTES, caps.max_read_bytes or READ_SEGMENT_BYTES))
        window = max(1, window)
        segments: Dict[int, _Segment] = {}  # by tag, until their BATCH_COMPLETE
        running = 0                          # of those, without their terminal event
        next_start = 0
        next_tag = 1
        end: Optional[int] = None  # the end of the first short Read

        with per_path(path), self.session() as s:
            def issue() -> None:
                nonlocal next_start, next_tag, running
                while (running < window and end is None and
                       (length is None or next_start < length)):
                    n = seg_bytes if length is None else min(seg_bytes, length - next_start)
                    segments[next_tag] = _Segment(next_start, n)
                    # The op's tag is the batch's: chunks and BATCH_COMPLETE
                    # both lead back to the segment.
                    s.submit([ops.read(path, next_start, n, tag=next_tag)], tag=next_tag)
                    next_start += n
                    next_tag += 1
                    running += 1
                if end is not None or (length is not None and next_start >= length):
                    s.close_input()

            issue()
            for ev in s.events():
                seg = segments.get(ev.tag)
                if seg is None:
                    raise broken(f"event for tag {ev.tag}, which no Read in flight has", path)
                if ev.type == pb.READ_CHUNK:
                    data = ev.data  # a copy out of the message: take it once
                    if (seg.terminal is not None or ev.offset < seg.start or
                            ev.offset + len(data) > seg.start + seg.length or
                            len(data) != ev.bytes):
                        raise corrupt(f"a chunk of {len(data)} bytes at offset {ev.offset} is "
                                      f"outside its Read of {seg.length} bytes at "
                                      f"{seg.start}, or after its end", path, ev)
                    if verify and _crc.crc32c(data) != ev.crc32c:
                        raise corrupt(f"CRC32C mismatch in the chunk at offset {ev.offset}",
                                      path, ev)
                    seg.spans.append((ev.offset, len(data), ev.crc32c))
                    if data:
                        sink(ev.offset, data)
                    continue
                seg.events.append(ev)
                if ev.type == pb.BATCH_COMPLETE:
                    del segments[ev.tag]
                    one_op(seg.events, path, pb.READ_COMPLETE)  # refused, or no terminal event
                    continue
                if failed(ev):
                    raise OverlapdError.from_event(ev, path)
                if ev.type != pb.READ_COMPLETE or seg.terminal is not None:
                    raise broken(f"{pb.EventType.Name(ev.type)} event for a Read that "
                                 f"{'has ended' if seg.terminal else 'is running'}", path)
                seg.terminal = ev
                running -= 1
                _check_segment(seg, ev, path, verify)
                if ev.bytes < seg.length:
                    short_end = seg.start + ev.bytes
                    end = short_end if end is None else min(end, short_end)
                issue()
            if segments:
                raise broken(f"the session ended with {len(segments)} Read(s) without "
                             "BATCH_COMPLETE", path)
        if end is None:
            assert length is not None  # without a length, reading stops at a short Read
            end = length
        return end

    def write_file(self, path: str, data: Union[bytes, bytearray, memoryview],
                   durable: bool = False, *, window: int = DEFAULT_WINDOW) -> int:
        """Replaces the content of ``path`` with ``data`` (created if missing);
        returns the bytes written.

        The data goes in Write ops of at most :data:`WRITE_PIECE_BYTES` (or
        the server's ``max_op_bytes`` when smaller), each a slice of
        ``data`` (no whole copy is made), over one Session: the first
        truncates the file, and once it has completed the rest are
        pipelined, up to ``window`` in flight. Each op carries the CRC32C of
        its bytes, which the server checks before writing (a corrupted
        transfer fails with ``DATA_LOSS`` and writes nothing), and each must
        report every byte written. With ``durable`` the last op is sent
        after all others completed, with ``DURABILITY_FULL`` (fsync of the
        file and its directory), so the call returns only once the whole
        file is on stable storage. Not atomic: a reader may see a partly
        written file, and a failure leaves one (``REPLACE_ATOMIC`` ops are
        for that).

        Example::

            client.write_file("out/report.csv", b"a,b\\n1,2\\n", durable=True)
        """
        view = memoryview(data).cast("B")
        piece = self._write_piece_bytes()

        def pieces() -> Iterator[bytes]:
            for off in range(0, len(view), piece):
                yield bytes(view[off:off + piece])  # protobuf takes bytes only

        return self._write_pieces(path, pieces(), durable, window)

    def write_from(self, path: str, src: LocalFile, durable: bool = False, *,
                   window: int = DEFAULT_WINDOW) -> int:
        """Replaces the content of ``path`` with the bytes of ``src`` (created
        if missing), streamed; returns the bytes written.

        ``src`` is a local path or a binary file object read to its end from
        its current position (``read(n)`` returning ``b""`` at the end: a
        file, a pipe, ``sys.stdin.buffer``). Memory stays bounded by the
        in-flight window (``window`` Write ops of :data:`WRITE_PIECE_BYTES`,
        plus one read ahead), whatever the size. Ops, checks and
        ``durable`` are those of :meth:`write_file`.

        Example::

            client.write_from("backup/db.dump", "/var/backups/db.dump", durable=True)
            with open("/tmp/big.bin", "rb") as f:
                client.write_from("data/big.bin", f)
        """
        piece = self._write_piece_bytes()

        def pieces(f: IO[bytes]) -> Iterator[bytes]:
            while True:
                data = f.read(piece)
                if data is None:
                    raise BlockingIOError(_errno.EAGAIN, "source would block")
                if not isinstance(data, bytes):
                    raise TypeError(f"write_from needs a binary source; read() gave "
                                    f"{type(data).__name__}")
                if not data:
                    return
                yield data

        if isinstance(src, (str, os.PathLike)):
            with open(src, "rb") as f:
                return self._write_pieces(path, pieces(f), durable, window)
        return self._write_pieces(path, pieces(src), durable, window)

    def _write_piece_bytes(self) -> int:
        return max(1, min(WRITE_PIECE_BYTES, self._cached_caps().max_op_bytes or WRITE_PIECE_BYTES))

    def _write_pieces(self, path: str, pieces: Iterator[bytes], durable: bool,
                      window: int) -> int:
        """Writes the concatenation of ``pieces`` as the new content of
        ``path``: the first piece truncates and must complete before the
        others go out, ``window`` at a time; with ``durable`` the last goes
        alone, after all others, with DURABILITY_FULL. One piece is read
        ahead, to know which one is last."""
        window = max(1, window)
        written = 0
        offset = 0
        with per_path(path), self.session() as s:
            def send(data: bytes, mode: int, last: bool) -> Tuple[int, int, int, int]:
                crc = _crc.crc32c(data)
                durability = pb.DURABILITY_FULL if durable and last else pb.DURABILITY_NONE
                tag = s.submit([ops.write(path, data, offset, mode=mode, durability=durability,
                                          expected_crc32c=crc)])
                return tag, offset, len(data), crc

            def finish(sent: Tuple[int, int, int, int]) -> int:
                tag, at, n, crc = sent
                done = one_op(s.wait(tag, check=False), path, pb.WRITE_COMPLETE)
                if done.bytes != n:
                    raise corrupt(f"the write at offset {at} stored {done.bytes} of {n} bytes",
                                  path, done)
                if done.crc32c != crc:
                    raise corrupt(f"the write at offset {at} reports CRC32C {done.crc32c:#010x}, "
                                  f"sent {crc:#010x}", path, done)
                return n

            current = next(pieces, b"")
            following = next(pieces, None)
            # The truncating write must land before any other.
            first = send(current, pb.WRITE_MODE_TRUNCATE, following is None)
            if following is None:
                s.close_input()  # see below
            written += finish(first)
            offset += len(current)
            in_flight: Deque[Tuple[int, int, int, int]] = collections.deque()
            while following is not None:
                current, following = following, next(pieces, None)
                last = following is None
                if durable and last:  # the FULL fsync covers every write before it
                    while in_flight:
                        written += finish(in_flight.popleft())
                if len(in_flight) >= window:
                    written += finish(in_flight.popleft())
                in_flight.append(send(current, pb.WRITE_MODE_AT, last))
                offset += len(current)
            # Nothing more to send: the server ends the call once the rest
            # completed, so a BATCH_COMPLETE it never sends is found missing.
            s.close_input()
            while in_flight:
                written += finish(in_flight.popleft())
        return written
