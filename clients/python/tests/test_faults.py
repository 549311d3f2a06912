"""Faults a healthy server does not produce on demand, injected between the
client and the real server: events dropped, chunk bytes or write payloads
corrupted, chunks doubled. Every helper must raise, never return a result
for what did not happen."""

from __future__ import annotations

import io
import os
from typing import Callable, Iterator, List, Optional

import grpc
import pytest

import overlapd
from overlapd import OverlapdError, pb

from conftest import mkdirs

EventFilter = Callable[[pb.Event], List[pb.Event]]
BatchFilter = Callable[[pb.Batch], pb.Batch]


class _Responses:
    """A call's response stream with every event passed through ``fault``."""

    def __init__(self, call: grpc.Call, fault: EventFilter) -> None:
        self._call = call
        self._fault = fault

    def __iter__(self) -> "_Responses":
        return self

    def __next__(self) -> pb.EventBatch:
        message = next(self._call)
        out = pb.EventBatch()
        for ev in message.events:
            out.events.extend(self._fault(ev))
        return out

    def cancel(self) -> None:
        self._call.cancel()


class FaultyStub:
    """The real stub, with ``events`` applied to Execute and Session
    responses and ``batches`` to Session requests."""

    def __init__(self, stub: overlapd.pb_grpc.IoServiceStub,
                 events: Optional[EventFilter] = None,
                 batches: Optional[BatchFilter] = None) -> None:
        self._stub = stub
        self._events = events or (lambda ev: [ev])
        self._batches = batches or (lambda b: b)

    def GetCapabilities(self, *args, **kwargs):  # noqa: N802 (the RPC's name)
        return self._stub.GetCapabilities(*args, **kwargs)

    def Execute(self, request, **kwargs):  # noqa: N802
        return _Responses(self._stub.Execute(request, **kwargs), self._events)

    def Session(self, requests: Iterator[pb.Batch], **kwargs):  # noqa: N802
        return _Responses(self._stub.Session((self._batches(b) for b in requests), **kwargs),
                          self._events)


def drop(event_type: int) -> EventFilter:
    return lambda ev: [] if ev.type == event_type else [ev]


@pytest.fixture()
def faulty(server) -> Iterator[Callable[..., overlapd.Client]]:
    """Makes clients of the real server whose stub injects the given faults."""
    clients: List[overlapd.Client] = []

    def make(**faults) -> overlapd.Client:
        c = server.client()
        c._stub = FaultyStub(c._stub, **faults)  # type: ignore[assignment]
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


DATA = os.urandom((3 << 20) + 4321)  # several chunks, an odd tail


@pytest.fixture()
def remote(client: overlapd.Client, server) -> str:
    mkdirs(server, "faults")
    client.write_file("faults/data.bin", DATA)
    return "faults/data.bin"


def reads(client: overlapd.Client, path: str, tmp_path) -> List[Callable[[], object]]:
    return [lambda: client.read_file(path),
            lambda: client.read_to(path, io.BytesIO()),
            lambda: client.read_to(path, tmp_path / "dst.bin")]


def assert_raises_code(call: Callable[[], object], code: grpc.StatusCode) -> OverlapdError:
    with pytest.raises(OverlapdError) as info:
        call()
    assert info.value.code == code, info.value
    return info.value


def test_positive_control_the_proxy_alone_changes_nothing(faulty, remote, tmp_path) -> None:
    c = faulty()
    assert c.read_file(remote) == DATA
    out = io.BytesIO()
    assert c.read_to(remote, out) == len(DATA) and out.getvalue() == DATA
    assert c.write_file("faults/pc.bin", DATA) == len(DATA)
    assert c.stat("faults/pc.bin").size == len(DATA)
    assert [e.name for e in c.list("faults")] == ["data.bin", "pc.bin"]


@pytest.mark.parametrize("missing", ["READ_COMPLETE", "BATCH_COMPLETE"])
def test_reads_raise_without_their_terminal_event(faulty, remote, tmp_path, missing) -> None:
    c = faulty(events=drop(pb.EventType.Value(missing)))
    for call in reads(c, remote, tmp_path):
        with pytest.raises(OverlapdError):
            call()
    assert not (tmp_path / "dst.bin").exists()


def test_stat_and_list_raise_without_their_terminal_event(faulty, remote) -> None:
    assert_raises_code(lambda: faulty(events=drop(pb.STAT_COMPLETE)).stat(remote),
                       grpc.StatusCode.INTERNAL)
    assert_raises_code(lambda: faulty(events=drop(pb.LIST_COMPLETE)).list("faults"),
                       grpc.StatusCode.INTERNAL)
    assert_raises_code(lambda: faulty(events=drop(pb.BATCH_COMPLETE)).stat(remote),
                       grpc.StatusCode.INTERNAL)


def test_list_raises_on_a_page_that_claims_more_but_holds_none(faulty, remote) -> None:
    def empty_page(ev: pb.Event) -> List[pb.Event]:
        if ev.type == pb.LIST_COMPLETE:
            ev = pb.Event(type=ev.type, job_id=ev.job_id, tag=ev.tag, more_entries=True)
        return [ev]
    assert_raises_code(lambda: faulty(events=empty_page).list("faults"), grpc.StatusCode.INTERNAL)


@pytest.mark.parametrize("missing", ["WRITE_COMPLETE", "BATCH_COMPLETE"])
def test_writes_raise_without_their_terminal_event(faulty, server, tmp_path, missing) -> None:
    mkdirs(server, "faults")
    c = faulty(events=drop(pb.EventType.Value(missing)))
    (tmp_path / "src.bin").write_bytes(DATA)
    for call in (lambda: c.write_file("faults/w.bin", DATA),
                 lambda: c.write_from("faults/w.bin", tmp_path / "src.bin")):
        assert_raises_code(call, grpc.StatusCode.INTERNAL)


def test_a_short_write_is_not_success(faulty, server) -> None:
    mkdirs(server, "faults")

    def short(ev: pb.Event) -> List[pb.Event]:
        if ev.type == pb.WRITE_COMPLETE:
            ev.bytes -= 1
        return [ev]
    e = assert_raises_code(lambda: faulty(events=short).write_file("faults/s.bin", DATA),
                           grpc.StatusCode.DATA_LOSS)
    assert e.filename == "faults/s.bin"


def corrupt_first_chunk() -> EventFilter:
    done: List[int] = []

    def flip(ev: pb.Event) -> List[pb.Event]:
        if ev.type == pb.READ_CHUNK and not done:
            done.append(1)
            data = bytearray(ev.data)
            data[len(data) // 2] ^= 0x01
            ev.data = bytes(data)
        return [ev]
    return flip


def test_a_corrupted_chunk_is_data_loss(faulty, remote, tmp_path) -> None:
    for i in range(3):
        c = faulty(events=corrupt_first_chunk())
        e = assert_raises_code(reads(c, remote, tmp_path)[i], grpc.StatusCode.DATA_LOSS)
        assert e.filename == remote and "CRC32C" in e.message
    assert not (tmp_path / "dst.bin").exists()


def test_a_doubled_chunk_is_data_loss_even_unverified(faulty, remote) -> None:
    def double(ev: pb.Event) -> List[pb.Event]:
        return [ev, ev] if ev.type == pb.READ_CHUNK and ev.offset == 0 else [ev]
    c = faulty(events=double)
    assert_raises_code(lambda: c.read_file(remote, verify=False), grpc.StatusCode.DATA_LOSS)
    assert_raises_code(lambda: c.read_to(remote, io.BytesIO(), verify=False),
                       grpc.StatusCode.DATA_LOSS)


def test_a_corrupted_write_payload_is_refused_before_the_file_changes(faulty, server) -> None:
    mkdirs(server, "faults")
    (server.root / "faults/old.bin").write_bytes(b"old content")

    def flip(batch: pb.Batch) -> pb.Batch:
        for op in batch.ops:
            if op.HasField("write") and op.write.data:
                data = bytearray(op.write.data)
                data[0] ^= 0x80
                op.write.data = bytes(data)
        return batch
    c = faulty(batches=flip)
    for call in (lambda: c.write_file("faults/old.bin", DATA),
                 lambda: c.write_from("faults/old.bin", io.BytesIO(DATA))):
        assert_raises_code(call, grpc.StatusCode.DATA_LOSS)
    # The server checked expected_crc32c before the truncating write.
    assert (server.root / "faults/old.bin").read_bytes() == b"old content"
