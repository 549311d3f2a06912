"""Errors of the overlapd client: :class:`OverlapdError`, and the checks
that turn events into results or errors (:func:`check_batch`, :func:`failed`).

The rule they serve: never report success for what did not happen. A batch
succeeded only when its ``BATCH_COMPLETE`` carries no error, no op ended
``OP_FAILED`` / ``OP_CANCELLED``, and every op has exactly one terminal
event; anything else is an :class:`OverlapdError` naming the path.

Example::

    from overlapd import OverlapdError, check_batch

    events = list(client.execute([ops.stat("a"), ops.stat("b")]))
    try:
        a, b = check_batch(events, 2)
    except OverlapdError as e:          # an OSError
        print(e.code.name, e.errno, e.filename)
"""

from __future__ import annotations

import contextlib
import errno as _errno
from typing import Iterator, List, Optional, Sequence, Tuple

import grpc

from overlapd.v1 import overlapd_pb2 as pb

_STATUS_BY_VALUE = {s.value[0]: s for s in grpc.StatusCode}

# Codes with which the server refuses a batch for what it asks (its path, its
# size, the token's scope): failures of that path, raised as OverlapdError by
# the helpers (see per_path) like a failed op. The other codes concern the
# call itself (UNAVAILABLE, DEADLINE_EXCEEDED, UNAUTHENTICATED, CANCELLED,
# ...) and pass through as grpc.RpcError.
_REFUSAL_CODES = frozenset({
    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.DATA_LOSS,
})


class OverlapdError(OSError):
    """A failure of one path: a failed or cancelled op, a batch the server
    refused, corrupt or missing data, or a server that broke the protocol.

    An :class:`OSError`, so ``except OSError`` and ``e.errno`` / ``e.filename``
    work as for local files.

    Attributes:
        code: the canonical :class:`grpc.StatusCode` (``NOT_FOUND``,
            ``PERMISSION_DENIED``, ``DATA_LOSS``, ...).
        message: the server's (or the client's) message; also ``strerror``.
        errno: the errno the server reported (``error.errno_value``), 0 when
            it reported none (a refused batch, a CRC mismatch).
        path: the path concerned, "" when unknown; also ``filename`` (None
            when unknown).
        event: the :class:`pb.Event` the error came from, when there is one.

    Example::

        try:
            client.read_file("missing")
        except OverlapdError as e:
            assert e.code == grpc.StatusCode.NOT_FOUND and e.errno == errno.ENOENT
            assert e.filename == "missing" and isinstance(e, OSError)
    """

    def __init__(self, code: grpc.StatusCode, message: str, errno: int = 0, *,
                 path: str = "", event: Optional[pb.Event] = None) -> None:
        super().__init__(errno, message, path or None)
        self.code = code
        self.message = message
        self.errno = errno
        self.path = path
        self.event = event

    @classmethod
    def from_event(cls, event: pb.Event, path: str = "") -> "OverlapdError":
        """Builds the error of an ``OP_FAILED`` / ``OP_CANCELLED`` event, or of
        a ``BATCH_COMPLETE`` that carries an error. ``path`` is used when the
        event names none (a ``BATCH_COMPLETE``)."""
        path = event.path or path
        if event.type == pb.OP_CANCELLED and not event.error.code:
            return cls(grpc.StatusCode.CANCELLED, "operation cancelled", path=path, event=event)
        code = _STATUS_BY_VALUE.get(event.error.code, grpc.StatusCode.UNKNOWN)
        return cls(code, event.error.message, event.error.errno_value, path=path, event=event)

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError, path: str = "") -> "OverlapdError":
        """Builds the error of a call the server ended with a non-OK status
        (an ``Execute`` whose batch it refused)."""
        code = error.code() if callable(getattr(error, "code", None)) else None
        details = error.details() if callable(getattr(error, "details", None)) else None
        return cls(code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN,
                   str(details or error), path=path)

    def __str__(self) -> str:
        text = f"{self.code.name}: {self.message}"
        if self.path and self.path not in self.message:
            text += f" ({self.path})"
        if self.errno:
            text += f" [errno {self.errno} {_errno.errorcode.get(self.errno, '?')}]"
        return text

    def __reduce__(self) -> Tuple[object, ...]:
        # OSError's own reduce would call the constructor with (errno,
        # strerror, filename).
        return (_rebuild_error, (type(self), self.code, self.message, self.errno, self.path,
                                 self.event))


def _rebuild_error(cls: type, code: grpc.StatusCode, message: str, errno: int, path: str,
                   event: Optional[pb.Event]) -> OverlapdError:
    error: OverlapdError = cls(code, message, errno, path=path, event=event)
    return error


def broken(message: str, path: str = "") -> OverlapdError:
    """A server that broke the protocol (a missing or doubled event)."""
    return OverlapdError(grpc.StatusCode.INTERNAL, message, path=path)


def corrupt(message: str, path: str, event: Optional[pb.Event] = None) -> OverlapdError:
    """Data that is wrong: a CRC32C mismatch, a gap, a short write (DATA_LOSS)."""
    return OverlapdError(grpc.StatusCode.DATA_LOSS, message, path=path, event=event)


def failed(event: pb.Event) -> bool:
    """True when ``event`` reports a failure: ``OP_FAILED``, ``OP_CANCELLED``,
    or a ``BATCH_COMPLETE`` with an error (a batch refused in a Session)."""
    return (event.type in (pb.OP_FAILED, pb.OP_CANCELLED) or
            (event.type == pb.BATCH_COMPLETE and event.error.code != 0))


def check_batch(events: Sequence[pb.Event], op_count: int, path: str = "") -> List[pb.Event]:
    """The terminal event of each op of one batch, by op index.

    Raises :class:`OverlapdError` unless the batch really succeeded:
    ``events`` ends with ``BATCH_COMPLETE`` carrying no error, no op ended
    ``OP_FAILED`` or ``OP_CANCELLED``, and each of the ``op_count`` ops has
    exactly one terminal event (any type but ``READ_CHUNK``). ``path`` names
    the path in errors whose event names none.

    Example::

        events = list(client.execute([ops.stat("a"), ops.stat("b")]))
        a, b = check_batch(events, 2)
        print(a.stat.size, b.stat.size)
    """
    if not events or events[-1].type != pb.BATCH_COMPLETE:
        raise broken("the batch ended without BATCH_COMPLETE", path)
    if events[-1].error.code:
        raise OverlapdError.from_event(events[-1], path)
    body = events[:-1]
    for ev in body:  # a failure is the answer, before any protocol complaint
        if failed(ev):
            raise OverlapdError.from_event(ev, path)
    terminal: List[Optional[pb.Event]] = [None] * op_count
    for ev in body:
        if ev.type == pb.READ_CHUNK:
            continue
        name = pb.EventType.Name(ev.type) if ev.type in pb.EventType.values() else str(ev.type)
        if ev.type in (pb.BATCH_COMPLETE, pb.EVENTS_LOST, pb.EVENT_TYPE_UNSPECIFIED):
            raise broken(f"unexpected {name} event inside a batch", path)
        if ev.op_index >= op_count:
            raise broken(f"{name} event for op {ev.op_index} of a batch of {op_count}", path)
        if terminal[ev.op_index] is not None:
            raise broken(f"op {ev.op_index} of the batch has two terminal events", path)
        terminal[ev.op_index] = ev
    for i, ev in enumerate(terminal):
        if ev is None:
            raise broken(f"op {i} of the batch has no terminal event", path)
    return [ev for ev in terminal if ev is not None]  # all of them: checked above


def one_op(events: Sequence[pb.Event], path: str, want: int) -> pb.Event:
    """The terminal event of a batch of one op, which must be of type ``want``."""
    done = check_batch(events, 1, path)[0]
    if done.type != want:
        raise broken(f"{pb.EventType.Name(want)} expected, got "
                     f"{pb.EventType.Name(done.type)}", path)
    return done


@contextlib.contextmanager
def per_path(path: str) -> Iterator[None]:
    """Turns a refused call (see _REFUSAL_CODES) into the OverlapdError of
    ``path``, as a Session's refused batch already is."""
    try:
        yield
    except grpc.RpcError as e:
        code = e.code() if callable(getattr(e, "code", None)) else None
        if code in _REFUSAL_CODES:
            raise OverlapdError.from_rpc_error(e, path) from e
        raise
