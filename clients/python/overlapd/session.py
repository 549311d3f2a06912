"""Pipelined batches over one ``Session`` stream: :class:`Session`.

Example::

    with client.session() as s:
        tags = [s.submit([ops.write(f"part{i}", b"x")]) for i in range(10)]
        for t in tags:
            s.wait(t)          # raises OverlapdError on a failed op
"""

from __future__ import annotations

import queue
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

from overlapd.errors import broken, check_batch
from overlapd.v1 import overlapd_pb2 as pb
from overlapd.v1 import overlapd_pb2_grpc as pb_grpc

BatchLike = Union[pb.Batch, pb.Op, Iterable[pb.Op]]
Metadata = Sequence[Tuple[str, str]]


def as_batch(batch_or_ops: BatchLike, tag: Optional[int] = None) -> pb.Batch:
    """``batch_or_ops`` (a Batch, one Op, or ops) as a Batch with ``tag``."""
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


class Session:
    """Pipelined batches over one ``Session`` stream: submit many batches
    without waiting, then collect each one's events.

    Use it as a context manager: leaving the block half-closes the stream,
    waits for every op to finish, and raises :class:`OverlapdError` for a
    batch that was not awaited and failed, or never completed (when the block
    raised, the call is cancelled instead). Not thread-safe: submit and wait
    from one thread. Do not mix :meth:`events` with :meth:`wait` on one
    session.

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
        self._op_counts: Dict[int, int] = {}           # ops of each batch in flight, by tag
        self._pending_tags: Set[int] = set()

    def _request_iter(self) -> Iterator[pb.Batch]:
        # gRPC consumes this on its own thread; the queue hands batches over.
        while True:
            item = self._requests.get()
            if item is Session._CLOSE:
                return
            yield item

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
        batch = as_batch(batch_or_ops, tag)
        self._pending_tags.add(tag)
        self._op_counts[tag] = len(batch.ops)
        self._requests.put(batch)
        return tag

    def events(self) -> Iterator[pb.Event]:
        """Every event of the session, as it arrives, until the stream ends
        (after :meth:`close`). The raw interface: nothing is raised for a
        failed op (see :func:`check_batch`)."""
        for message in self._responses:
            for ev in message.events:
                if ev.type == pb.BATCH_COMPLETE:
                    self._pending_tags.discard(ev.tag)
                    self._op_counts.pop(ev.tag, None)
                yield ev

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
        :class:`OverlapdError` when the server refused the batch, for its
        first failed or cancelled op, and when an op has no terminal event
        (see :func:`check_batch`)."""
        while tag not in self._done:
            if not self._pump():
                raise broken(f"the session ended before batch {tag} completed")
        events = self._done.pop(tag)
        self._pending_tags.discard(tag)
        op_count = self._op_counts.pop(tag, None)
        if check:
            if op_count is None:  # events() saw it first: count the ops that answered
                op_count = len({e.op_index for e in events[:-1] if e.type != pb.READ_CHUNK})
            check_batch(events, op_count)
        return events

    def close_input(self) -> None:
        """Half-closes the stream: no more batches. Events keep coming; the
        server ends the call once every op has completed, so :meth:`wait`
        and :meth:`events` then end instead of waiting for more."""
        if not self._closed:
            self._closed = True
            self._requests.put(Session._CLOSE)

    def close(self, *, check: bool = True) -> None:
        """Half-closes the stream, then reads it until the server ends the
        call (every op completed). With ``check`` (default), then raises
        :class:`OverlapdError` for the first batch not awaited that failed
        (as :meth:`wait` would), or that never completed; events not awaited
        are dropped."""
        self.close_input()
        while self._pump():
            pass
        if not check:
            return
        for tag in sorted(self._done):
            self.wait(tag)
        if self._pending_tags:
            raise broken(f"the session ended before batch {min(self._pending_tags)} completed")

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
