"""The seed API's bookkeeping, without IO: which batches an ``aio.readfile``
or ``writefile`` sends, and which :class:`Event` each op's server events
turn into. :mod:`overlapd.aio` (threads of grpc) and :mod:`overlapd.asyncio`
(grpc.aio) each pump a :class:`Tracker` over one Session stream.

Example::

    tracker = Tracker(client.capabilities())
    handle, batches = tracker.read("a.bin", Target.allocate())
    for b in batches:
        session.submit(b, tag=b.tag)
    for raw in session.events():
        done, more = tracker.feed(raw)   # more: batches to send now
        ...
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import grpc

from overlapd import crc32c as _crc
from overlapd import ops
from overlapd.errors import OverlapdError, corrupt, failed
from overlapd.segments import Segment, check_segment
from overlapd.targets import Target, WriteSource
from overlapd.v1 import overlapd_pb2 as pb


class EventType(enum.Enum):
    """What happened to one op of the seed API (``event.type``)."""

    FileReadComplete = "read-complete"
    FileReadFailed = "read-failed"
    FileWriteComplete = "write-complete"
    FileWriteFailed = "write-failed"
    FileCopyComplete = "copy-complete"
    FileCopyFailed = "copy-failed"
    FileStatComplete = "stat-complete"
    FileStatFailed = "stat-failed"
    FileDeleteComplete = "delete-complete"
    FileDeleteFailed = "delete-failed"
    FileRenameComplete = "rename-complete"
    FileRenameFailed = "rename-failed"


#: The kinds of op, in one table: (completed, failed, the server's
#: terminal event type on success).
KINDS: Dict[str, Tuple[EventType, EventType, int]] = {
    "read": (EventType.FileReadComplete, EventType.FileReadFailed, pb.READ_COMPLETE),
    "write": (EventType.FileWriteComplete, EventType.FileWriteFailed, pb.WRITE_COMPLETE),
    "copy": (EventType.FileCopyComplete, EventType.FileCopyFailed, pb.COPY_COMPLETE),
    "stat": (EventType.FileStatComplete, EventType.FileStatFailed, pb.STAT_COMPLETE),
    "delete": (EventType.FileDeleteComplete, EventType.FileDeleteFailed, pb.DELETE_COMPLETE),
    "rename": (EventType.FileRenameComplete, EventType.FileRenameFailed, pb.RENAME_COMPLETE),
}


@dataclass
class Event:
    """One op of the seed API has ended.

    Attributes:
        type: an :class:`EventType`.
        fname: the name given to ``readfile`` / ``writefile`` / ... (the
            source of a copy or rename).
        buf: reads: a :class:`memoryview` of the bytes read, in the caller's
            buffer (or the shared buffer, or a new ``bytearray`` when none
            was given); None for other ops and on failure.
        bytes: bytes read or written.
        crc32c: the server's CRC32C of those bytes (reads: of the range;
            writes of several pieces: of the last piece).
        error: the :class:`OverlapdError` of a failed op (``code``,
            ``errno``, ``message``), else None.
        handle: the :class:`Handle` the call returned.
        stat: the :class:`pb.FileInfo` of a stat, else None.
    """

    type: EventType
    fname: str
    buf: Optional[memoryview] = None
    bytes: int = 0
    crc32c: int = 0
    error: Optional[OverlapdError] = None
    handle: Optional["Handle"] = None
    stat: Optional[pb.FileInfo] = None


@dataclass(eq=False)
class Handle:
    """What ``readfile``, ``writefile`` and the others return at once: the
    op's ``kind`` and ``fname``, and its :class:`Event` once it has ended
    (``event`` None until then)."""

    kind: str
    fname: str
    event: Optional[Event] = None

    @property
    def done(self) -> bool:
        """True once the op's event has been produced."""
        return self.event is not None


@dataclass(eq=False)
class _Op:
    """One handle's state: the batches it still has to send and the ones in
    flight, by tag."""

    handle: Handle
    target: Optional[Target] = None          # reads
    segment: Optional[Segment] = None        # reads: the chunks seen
    pending: List[List[pb.Batch]] = field(default_factory=list)  # writes: stages to send
    in_flight: int = 0
    total: int = 0
    crc: int = 0
    error: Optional[OverlapdError] = None
    stat: Optional[pb.FileInfo] = None


class Tracker:
    """Turns seed calls into Session batches and the server's events into
    :class:`Event` s, in completion order. Not thread-safe; no IO.

    Each call takes fresh batch tags (the op's tag is its batch's). A write
    larger than one op goes in stages: the truncating piece first, then the
    others at once, the last one alone after them when durable."""

    def __init__(self, caps: pb.Capabilities, *, verify: Optional[bool] = None,
                 piece_bytes: int = 4 << 20) -> None:
        self._caps = caps
        self._verify = verify
        self._piece = max(1, min(piece_bytes, caps.max_op_bytes or piece_bytes))
        self._ops: Dict[int, _Op] = {}  # by batch tag
        self._handles = 0               # ops without their event yet
        self._next_tag = 1

    @property
    def outstanding(self) -> int:
        """Ops whose :class:`Event` has not been produced yet."""
        return self._handles

    def _batch(self, state: _Op, op: pb.Op) -> pb.Batch:
        tag = self._next_tag
        self._next_tag += 1
        op.tag = tag
        self._ops[tag] = state
        return pb.Batch(ops=[op], tag=tag)

    def _start(self, state: _Op, batches: List[pb.Batch]) -> Tuple[Handle, List[pb.Batch]]:
        self._handles += 1
        state.in_flight += len(batches)
        return state.handle, batches

    def read(self, name: str, target: Target, *, offset: int = 0,
             length: int = 0) -> Tuple[Handle, List[pb.Batch]]:
        """A Read of ``length`` bytes at ``offset`` (0: to the end of the
        file) into ``target``."""
        state = _Op(Handle("read", name), target=target)
        op = ops.read(name, offset, target.request_length(length))
        if target.ref is not None:
            op.read.into.CopyFrom(target.ref)
        state.segment = Segment(offset, op.read.length or (1 << 63))
        return self._start(state, [self._batch(state, op)])

    def write(self, name: str, src: WriteSource, *, durable: bool = False,
              atomic: bool = False) -> Tuple[Handle, List[pb.Batch]]:
        """Replaces ``name`` with the bytes of ``src``: one op from a shared
        buffer or of a small payload, else pieces in stages."""
        state = _Op(Handle("write", name))
        full = pb.DURABILITY_FULL if durable else pb.DURABILITY_NONE
        mode = pb.WRITE_MODE_REPLACE_ATOMIC if atomic else pb.WRITE_MODE_TRUNCATE
        if src.ref is not None or len(src.view) <= self._piece:
            op = ops.write(name, b"" if src.ref is not None else bytes(src.view), mode=mode,
                           durability=full)
            if src.ref is not None:
                getattr(op.write, "from").CopyFrom(src.ref)
            else:
                op.write.expected_crc32c = _crc.crc32c(op.write.data)
            return self._start(state, [self._batch(state, op)])
        if atomic:
            raise ValueError(f"an atomic write over gRPC is one op of at most {self._piece} "
                             "bytes; pass a registered SharedBuffer for larger ones")
        pieces = [self._piece_op(name, src.view, at, full if durable and last else None)
                  for at, last in _pieces(len(src.view), self._piece)]
        pieces[0].write.mode = pb.WRITE_MODE_TRUNCATE
        stages = [[pieces[0]], pieces[1:-1] if durable else pieces[1:]]
        if durable:
            stages.append([pieces[-1]])
        state.pending = [[self._batch(state, op) for op in stage] for stage in stages[1:] if stage]
        return self._start(state, [self._batch(state, pieces[0])])

    def _piece_op(self, name: str, view: memoryview, at: int,
                  durability: Optional[int]) -> pb.Op:
        data = bytes(view[at:at + self._piece])
        return ops.write(name, data, at, durability=durability or pb.DURABILITY_NONE,
                         expected_crc32c=_crc.crc32c(data))

    def simple(self, kind: str, name: str, op: pb.Op) -> Tuple[Handle, List[pb.Batch]]:
        """One op of ``kind`` (copy, stat, delete, rename) on ``name``."""
        state = _Op(Handle(kind, name))
        return self._start(state, [self._batch(state, op)])

    def feed(self, ev: pb.Event) -> Tuple[List[Event], List[pb.Batch]]:
        """One server event: the :class:`Event` s it completes (zero or one)
        and the batches to send now (a write's next stage)."""
        state = self._ops.get(ev.tag)
        if state is None:
            return [], []  # not ours (a batch of another user of the stream)
        if ev.type == pb.READ_CHUNK:
            self._chunk(state, ev)
        elif ev.type == pb.BATCH_COMPLETE:
            del self._ops[ev.tag]
            if ev.error.code and state.error is None:
                state.error = OverlapdError.from_event(ev, state.handle.fname)
            state.in_flight -= 1
            return self._settle(state)
        else:
            self._terminal(state, ev)
        return [], []

    def _chunk(self, state: _Op, ev: pb.Event) -> None:
        assert state.target is not None and state.segment is not None
        if state.error is not None:
            return
        seg = state.segment
        try:
            if ev.offset < seg.start or ev.offset + ev.bytes > seg.start + seg.length:
                raise corrupt(f"a chunk at offset {ev.offset} is outside the Read", "", ev)
            state.target.place(ev.offset - seg.start, ev, state.target.checks(self._verify))
            seg.spans.append((ev.offset, ev.bytes, ev.crc32c))
        except OverlapdError as e:
            e.path = e.path or state.handle.fname
            state.error = e

    def _terminal(self, state: _Op, ev: pb.Event) -> None:
        name = state.handle.fname
        if state.error is not None:
            return
        if failed(ev):
            state.error = OverlapdError.from_event(ev, name)
            return
        if ev.type != KINDS[state.handle.kind][2]:
            state.error = OverlapdError(grpc.StatusCode.INTERNAL,
                                        f"unexpected {pb.EventType.Name(ev.type)}", path=name)
            return
        state.total += ev.bytes
        state.crc = ev.crc32c
        if ev.type == pb.STAT_COMPLETE:
            state.stat = ev.stat
        if state.segment is not None:
            try:
                assert state.target is not None
                check_segment(state.segment, ev, name, state.target.checks(self._verify))
                state.target.finish(ev.bytes)
            except OverlapdError as e:
                state.error = e

    def _settle(self, state: _Op) -> Tuple[List[Event], List[pb.Batch]]:
        if state.in_flight:
            return [], []
        if state.pending and state.error is None:
            stage = state.pending.pop(0)
            state.in_flight = len(stage)
            return [], stage
        for stage in state.pending:  # a failed write: the rest is never sent
            for b in stage:
                self._ops.pop(b.tag, None)
        self._handles -= 1
        done, bad, _ = KINDS[state.handle.kind]
        event = Event(bad if state.error else done, state.handle.fname, bytes=state.total,
                      crc32c=state.crc, error=state.error, handle=state.handle, stat=state.stat)
        if state.target is not None and state.error is None:
            event.buf = state.target.result()
        state.handle.event = event
        return [event], []


def _pieces(size: int, piece: int) -> List[Tuple[int, bool]]:
    """(offset, is last) of each piece of ``size`` bytes."""
    starts = list(range(0, size, piece))
    return [(at, i == len(starts) - 1) for i, at in enumerate(starts)]
