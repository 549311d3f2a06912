"""A ``Subscribe`` call that resumes after a disconnect: :class:`Subscription`.

Example::

    sub = client.subscribe(path_prefix="logs/", from_seq=0)
    async for ev in sub:
        print(ev.seq, ev.path)
    print(sub.resumes, sub.next_seq)
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Optional

import grpc
import grpc.aio

from overlapd.session import Metadata
from overlapd.v1 import overlapd_pb2 as pb
from overlapd.v1 import overlapd_pb2_grpc as pb_grpc

#: Call errors after which the subscription is opened again: the server or
#: the connection went away, not a refusal.
RESUMABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


class Subscription:
    """The events of a ``SubscribeRequest`` as an async iterator.

    After a resumable error (``UNAVAILABLE``: the connection dropped) it
    subscribes again with ``from_seq`` = the last seq seen + 1: the event
    log replays what happened meanwhile, and ``EVENTS_LOST`` comes first if
    the log no longer holds it, never a silent gap. ``retries`` failures in
    a row without an event end it with the error. Resuming is exact once an
    event was seen or ``from_seq`` given (a subscription "from now" that
    drops before its first event resumes "from now").

    Attributes:
        next_seq: the seq it would resume at (None: from now).
        resumes: how many times it has subscribed again.
    """

    def __init__(self, stub: pb_grpc.IoServiceStub, request: pb.SubscribeRequest,
                 metadata: Metadata, *, from_seq: Optional[int], retries: int,
                 backoff_s: float) -> None:
        self._stub = stub
        self._request = request
        self._metadata = metadata
        self.next_seq = from_seq
        self.resumes = 0
        self._retries = retries
        self._backoff_s = backoff_s
        self._call: Optional[grpc.aio.UnaryStreamCall] = None

    def __aiter__(self) -> AsyncIterator[pb.Event]:
        return self._events()

    def _open(self) -> grpc.aio.UnaryStreamCall:
        request = pb.SubscribeRequest()
        request.CopyFrom(self._request)
        if self.next_seq is not None:
            request.from_seq = self.next_seq
        return self._stub.Subscribe(request, metadata=self._metadata)

    def _seen(self, ev: pb.Event) -> None:
        last = ev.last_seq if ev.type == pb.EVENTS_LOST else ev.seq
        if last:
            self.next_seq = max(self.next_seq or 0, last + 1)

    async def _events(self) -> AsyncIterator[pb.Event]:
        failures = 0
        while True:
            self._call = call = self._open()
            try:
                async for message in call:
                    failures = 0
                    for ev in message.events:
                        self._seen(ev)
                        yield ev
                return  # the server ended it (a drain)
            except grpc.aio.AioRpcError as e:
                failures += 1
                if e.code() not in RESUMABLE or failures > self._retries:
                    raise
            finally:
                call.cancel()
            self.resumes += 1
            await asyncio.sleep(self._backoff_s * failures)

    def cancel(self) -> None:
        """Cancels the call in progress; the iterator then raises CancelledError."""
        if self._call is not None:
            self._call.cancel()
