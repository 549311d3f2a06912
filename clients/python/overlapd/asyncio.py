"""overlapd for asyncio, on ``grpc.aio``: no thread per call.

Example::

    import asyncio
    import overlapd.asyncio

    async def main() -> None:
        async with overlapd.asyncio.Client("127.0.0.1:50051") as c:
            await c.write_file("a.txt", b"hello")
            data = await c.read_file("a.txt")
            sizes = await asyncio.gather(*(c.read_file(f"part{i}") for i in range(1000)))

            c.readfile("a.txt")                      # the seed API: returns at once
            async for event in c.events():           # until nothing is outstanding
                print(event.type, event.fname, event.bytes)

            async for ev in c.subscribe(path_prefix="logs/", from_seq=0):
                ...                                   # resumes after a disconnect

    asyncio.run(main())

``read_file``, ``write_file`` and ``stat`` each run over ``Execute`` calls
of their own, at most ``max_calls`` at once on the channel (the server
allows ``max_streams_per_connection``, 128 by default, so many more tasks
wait their turn): cancelling the task cancels its call, and the server
cancels its ops (``OP_CANCELLED``; a ``link_next`` chain stops). The seed
API (``readfile`` / ``writefile`` / ``events()``) shares one Session stream,
as :mod:`overlapd.aio` does (registering a shared buffer there is one
short blocking exchange on the server's local Unix socket). Errors are :class:`overlapd.OverlapdError`
(failed ops, refused batches) and :class:`grpc.aio.AioRpcError` (the call).
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Callable, List, Optional, Sequence, Tuple

import grpc
import grpc.aio

from overlapd import ops
from overlapd.errors import broken, per_path
from overlapd.seed import Event, EventType, Handle, Tracker
from overlapd.session import BatchLike, Metadata, as_batch
from overlapd.subscription import Subscription
from overlapd.targets import Buffers, ReadBuffer, Target, WriteData
from overlapd.v1 import overlapd_pb2 as pb
from overlapd.v1 import overlapd_pb2_grpc as pb_grpc

__all__ = ["Client", "Event", "EventType", "Handle", "Session", "Subscription"]

class Session:
    """Pipelined batches over one ``Session`` stream (``client.session()``).

    Example::

        async with client.session() as s:
            tag = s.submit([ops.stat("a")])
            async for ev in s.events():
                if ev.type == pb.BATCH_COMPLETE and ev.tag == tag:
                    break
    """

    def __init__(self, stub: pb_grpc.IoServiceStub, metadata: Metadata) -> None:
        self._queue: "asyncio.Queue[Optional[pb.Batch]]" = asyncio.Queue()
        self._call = stub.Session(self._requests(), metadata=metadata)
        self._next_tag = 1

    async def _requests(self) -> AsyncIterator[pb.Batch]:
        while True:
            batch = await self._queue.get()
            if batch is None:
                return
            yield batch

    def submit(self, batch_or_ops: BatchLike, *, tag: Optional[int] = None) -> int:
        """Queues a batch for the stream and returns its tag (given, or fresh)."""
        if tag is None:
            tag = self._next_tag
            self._next_tag += 1
        self._queue.put_nowait(as_batch(batch_or_ops, tag))
        return tag

    async def events(self) -> AsyncIterator[pb.Event]:
        """Every event of the stream as it arrives, until the call ends."""
        async for message in self._call:
            for ev in message.events:
                yield ev

    def close_input(self) -> None:
        """Half-closes: the server ends the call once every op completed."""
        self._queue.put_nowait(None)

    def cancel(self) -> None:
        """Cancels the call: ops in flight end cancelled on the server."""
        self._call.cancel()

    async def __aenter__(self) -> "Session":
        return self

    async def __aexit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            self.cancel()
            return
        self.close_input()
        async for _ in self.events():
            pass


class Client:
    """A ``grpc.aio`` channel to one overlapd server. Create it, or enter it
    (``async with``: fetches the capabilities the seed API needs), inside a
    running event loop.

    Args:
        target: ``HOST:PORT``.
        token: a bearer token. credentials: TLS, None for plaintext.
        max_calls: Execute calls open at once (below the server's
            ``max_streams_per_connection``).
        verify: check CRC32Cs of what is read (see :class:`overlapd.aio.Client`).
        options: extra gRPC channel options.
    """

    def __init__(self, target: str = "127.0.0.1:50051", *, token: Optional[str] = None,
                 credentials: Optional[grpc.ChannelCredentials] = None, max_calls: int = 64,
                 verify: Optional[bool] = None, options: Sequence[Tuple[str, object]] = ()) -> None:
        opts = [("grpc.max_receive_message_length", -1),
                ("grpc.max_send_message_length", -1), *options]
        self._channel = (grpc.aio.insecure_channel(target, options=opts) if credentials is None
                         else grpc.aio.secure_channel(target, credentials, options=opts))
        self._stub = pb_grpc.IoServiceStub(self._channel)
        self._metadata: Metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._token = token
        self._calls = asyncio.Semaphore(max(1, max_calls))
        self._verify = verify
        self._caps: Optional[pb.Capabilities] = None
        self._buffers: Optional[Buffers] = None
        self._seed: Optional[Tuple[Session, AsyncIterator[pb.Event], Tracker]] = None

    @property
    def stub(self) -> pb_grpc.IoServiceStub:
        """The raw ``grpc.aio`` stub (Submit, GetJob, CancelJob, ...)."""
        return self._stub

    async def capabilities(self) -> pb.Capabilities:
        """The server's limits (``GetCapabilities``), fetched anew."""
        self._caps = await self._stub.GetCapabilities(pb.GetCapabilitiesRequest(),
                                                      metadata=self._metadata)
        self._buffers = self._buffers or Buffers(self._caps, self._token)
        return self._caps

    async def _cached_caps(self) -> pb.Capabilities:
        return self._caps if self._caps is not None else await self.capabilities()

    async def execute(self, batch_or_ops: BatchLike, *,
                      tag: Optional[int] = None) -> AsyncIterator[pb.Event]:
        """One batch over ``Execute``: its events as they arrive (the raw
        interface: failures are events). Waits for a free call slot first;
        cancelling the consuming task, or leaving the loop, cancels the call."""
        async with self._calls:
            call = self._stub.Execute(as_batch(batch_or_ops, tag), metadata=self._metadata)
            try:
                async for message in call:
                    for ev in message.events:
                        yield ev
            finally:
                call.cancel()  # a no-op once it has ended

    async def _run(self, path: str, start: Callable[[Tracker], Tuple[Handle, List[pb.Batch]]]
                   ) -> Event:
        """Runs one seed op over Execute calls, stage after stage."""
        tracker = Tracker(await self._cached_caps(), verify=self._verify)
        handle, batches = start(tracker)
        with per_path(path):
            while batches:
                staged = await asyncio.gather(*(self._feed(tracker, b) for b in batches))
                batches = [b for more in staged for b in more]
        if handle.event is None:
            raise broken("the op ended without its terminal event", path)
        if handle.event.error is not None:
            raise handle.event.error
        return handle.event

    async def _feed(self, tracker: Tracker, batch: pb.Batch) -> List[pb.Batch]:
        more: List[pb.Batch] = []
        async for ev in self.execute(batch):
            more.extend(tracker.feed(ev)[1])
        return more

    async def read_file(self, path: str, *, offset: int = 0, length: int = 0) -> bytes:
        """``length`` bytes of ``path`` at ``offset`` (0: to the end); raises
        :class:`overlapd.OverlapdError` (``NOT_FOUND``, ``DATA_LOSS``, ...)."""
        event = await self._run(path, lambda t: t.read(path, Target(), offset=offset,
                                                       length=length))
        assert event.buf is not None
        return event.buf.tobytes()

    async def write_file(self, path: str, data: WriteData, *, durable: bool = False,
                         atomic: bool = False) -> int:
        """Replaces ``path`` with ``data``; returns the bytes written."""
        await self._cached_caps()
        assert self._buffers is not None
        source = self._buffers.source(data)
        event = await self._run(path, lambda t: t.write(path, source, durable=durable,
                                                        atomic=atomic))
        return event.bytes

    async def stat(self, path: str) -> pb.FileInfo:
        """Metadata of ``path``."""
        event = await self._run(path, lambda t: t.simple("stat", path, ops.stat(path)))
        assert event.stat is not None
        return event.stat

    def session(self) -> Session:
        """A :class:`Session` of this channel (``async with``)."""
        return Session(self._stub, self._metadata)

    # -- the seed API over one Session --------------------------------------

    def _seed_parts(self) -> Tuple[Session, Tracker, Buffers]:
        if self._caps is None or self._buffers is None:
            raise RuntimeError("enter the client (async with) or await capabilities() first")
        if self._seed is None:
            s = self.session()
            self._seed = (s, s.events(), Tracker(self._caps, verify=self._verify))
        return self._seed[0], self._seed[2], self._buffers

    def _submit(self, session: Session, started: Tuple[Handle, List[pb.Batch]]) -> Handle:
        for b in started[1]:
            session.submit(b, tag=b.tag)
        return started[0]

    def readfile(self, name: str, buf: ReadBuffer = None, *, offset: int = 0,
                 length: int = 0) -> Handle:
        """:meth:`overlapd.aio.Client.readfile`: returns at once."""
        s, tracker, buffers = self._seed_parts()
        return self._submit(s, tracker.read(name, buffers.target(buf), offset=offset,
                                            length=length))

    def writefile(self, name: str, data: WriteData, *, durable: bool = False,
                  atomic: bool = False) -> Handle:
        """:meth:`overlapd.aio.Client.writefile`: returns at once."""
        s, tracker, buffers = self._seed_parts()
        return self._submit(s, tracker.write(name, buffers.source(data), durable=durable,
                                             atomic=atomic))

    async def events(self) -> AsyncIterator[Event]:
        """The seed ops' :class:`Event` s in completion order, until none is
        outstanding (ops submitted meanwhile included)."""
        s, tracker, _ = self._seed_parts()
        assert self._seed is not None
        stream = self._seed[1]
        while tracker.outstanding:
            try:
                raw = await stream.__anext__()
            except StopAsyncIteration:
                raise broken(f"the session ended with {tracker.outstanding} op(s) "
                             "outstanding") from None
            done, more = tracker.feed(raw)
            for b in more:
                s.submit(b, tag=b.tag)
            for e in done:
                yield e

    def subscribe(self, *, job_ids: Sequence[int] = (), path_prefix: str = "",
                  types: Sequence[int] = (), from_seq: Optional[int] = None,
                  include_session_events: bool = False, retries: int = 10,
                  backoff_s: float = 0.2) -> Subscription:
        """Follows the server's event log (``Subscribe``) as an async
        iterator that resumes after a disconnect at the last seq seen + 1, so
        nothing is skipped or repeated (see :class:`Subscription`)."""
        request = pb.SubscribeRequest(job_ids=list(job_ids), path_prefix=path_prefix,
                                      types=list(types),
                                      include_session_events=include_session_events)
        return Subscription(self._stub, request, self._metadata, from_seq=from_seq,
                            retries=retries, backoff_s=backoff_s)

    async def close(self) -> None:
        """Cancels what is in flight and closes the channel."""
        if self._seed is not None:
            self._seed[0].cancel()
            self._seed = None
        await self._channel.close()

    async def __aenter__(self) -> "Client":
        await self.capabilities()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
