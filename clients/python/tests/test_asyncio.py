"""overlapd.asyncio against the real server: many concurrent reads on one
channel, a subscription resumed across a cut connection without a gap,
and a cancelled task whose ops the server cancels."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Awaitable, Callable, List, Optional, Set, Tuple

import grpc
import pytest

import overlapd
import overlapd.asyncio as oa
from overlapd import ops, pb
from overlapd.aio import EventType

from conftest import Server, mkdirs

# Reconnect fast after the proxy is cut (gRPC's default backoff starts at 1 s).
FAST_RECONNECT = (("grpc.initial_reconnect_backoff_ms", 50),
                  ("grpc.min_reconnect_backoff_ms", 50),
                  ("grpc.max_reconnect_backoff_ms", 200))
WAIT_S = 30.0


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))


async def until(check: Callable[[], bool], what: str) -> None:
    """Polls ``check`` (bounded) instead of sleeping a guessed time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_a_thousand_concurrent_read_file_tasks_on_one_channel(server: Server) -> None:
    mkdirs(server, "many")
    want = [f"file {i} ".encode() * (1 + i % 50) for i in range(1000)]
    for i, data in enumerate(want):
        (server.root / f"many/{i}").write_bytes(data)

    async def main() -> Tuple[List[bytes], pb.FileInfo]:
        async with oa.Client(server.target) as c:
            got = await asyncio.gather(*(c.read_file(f"many/{i}") for i in range(1000)))
            assert await c.write_file("many/w.bin", b"x" * (9 << 20)) == 9 << 20
            with pytest.raises(overlapd.OverlapdError) as e:
                await c.read_file("many/none")
            assert e.value.code == grpc.StatusCode.NOT_FOUND
            return list(got), await c.stat("many/w.bin")

    got, info = run(main())
    assert got == want and info.size == 9 << 20


def test_the_seed_api_on_asyncio(server: Server) -> None:
    mkdirs(server, "aseed")
    (server.root / "aseed/a").write_bytes(b"alpha")

    async def main() -> List[Tuple[EventType, str]]:
        seen = []
        async with oa.Client(server.target) as c:
            c.readfile("aseed/a")
            async for ev in c.events():
                seen.append((ev.type, ev.fname))
                if ev.type == EventType.FileReadComplete:
                    assert ev.buf is not None and bytes(ev.buf) == b"alpha"
                    c.writefile(ev.fname + ".bak", ev.buf)
        return seen

    assert run(main()) == [(EventType.FileReadComplete, "aseed/a"),
                           (EventType.FileWriteComplete, "aseed/a.bak")]
    assert (server.root / "aseed/a.bak").read_bytes() == b"alpha"


class Proxy:
    """A TCP forwarder to the server that can drop every connection and
    refuse new ones until resumed."""

    def __init__(self, upstream: str) -> None:
        self.host, port = upstream.rsplit(":", 1)
        self.port = int(port)
        self.paused = False
        self.accepted = 0
        self._writers: Set[asyncio.StreamWriter] = set()
        self._server: Optional[asyncio.AbstractServer] = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.paused:
            writer.transport.abort()
            return
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
            self._writers.discard(writer)

    def cut(self) -> None:
        self.paused = True
        for w in list(self._writers):
            w.transport.abort()

    def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()


async def next_ops(it: Any, n: int) -> List[pb.Event]:
    """The next ``n`` write completions of a subscription."""
    out: List[pb.Event] = []
    while len(out) < n:
        ev = await asyncio.wait_for(it.__anext__(), WAIT_S)
        if ev.type == pb.WRITE_COMPLETE:
            out.append(ev)
    return out


async def submit_job(c: oa.Client, prefix: str) -> None:
    job = await c.stub.Submit(pb.Batch(ops=[ops.write(f"{prefix}{i}", b"x") for i in range(3)]))
    states: List[int] = []

    async def poll() -> None:
        states.append((await c.stub.GetJob(pb.GetJobRequest(id=job.id))).state)

    while not states or states[-1] in (pb.QUEUED, pb.RUNNING):
        await poll()
    assert states[-1] == pb.SUCCEEDED


def test_a_subscription_resumes_after_a_disconnect_without_a_gap(server: Server) -> None:
    mkdirs(server, "subr")

    async def main() -> None:
        proxy = Proxy(server.target)
        target = await proxy.start()
        async with oa.Client(target, options=FAST_RECONNECT) as c, \
                oa.Client(server.target) as direct:
            sub = c.subscribe(path_prefix="subr/", from_seq=0, retries=100, backoff_s=0.02)
            it = sub.__aiter__()
            await submit_job(direct, "subr/a")
            got = await next_ops(it, 3)
            proxy.cut()                        # the subscriber's connection drops...
            await submit_job(direct, "subr/b")  # ...while these events happen
            proxy.paused = False
            got += await next_ops(it, 3)
            assert sub.resumes >= 1 and proxy.accepted >= 2  # it really reconnected
            reference = await next_ops(direct.subscribe(path_prefix="subr/",
                                                        from_seq=0).__aiter__(), 6)
            assert [(e.seq, e.path) for e in got] == [(e.seq, e.path) for e in reference]
            assert [e.seq for e in got] == sorted({e.seq for e in got})
            await it.aclose()
        proxy.close()

    run(main())


def test_cancelling_the_task_cancels_the_ops_on_the_server(server: Server) -> None:
    """A Read linked to a Write: the task stops consuming after the first
    chunk (so the read cannot finish: the stream's read budget is full),
    then is cancelled. The server counts the read cancelled and the write
    never lands; the same batch left alone writes it (positive control)."""
    mkdirs(server, "cancel")
    with open(server.root / "cancel/big.bin", "wb") as f:
        f.truncate(256 << 20)
    batch = [ops.read("cancel/big.bin", link_next=True), ops.write("cancel/marker", b"x")]
    marker = server.root / "cancel/marker"

    def cancelled_reads() -> float:
        return server.metric("overlapd_ops_total", op="read", result="cancelled")

    async def main() -> None:
        async with oa.Client(server.target) as c:
            first_chunk = asyncio.Event()

            async def reader() -> None:
                async for _ in c.execute(batch):
                    first_chunk.set()
                    await asyncio.Event().wait()  # stops consuming

            before = cancelled_reads()
            task = asyncio.create_task(reader())
            await asyncio.wait_for(first_chunk.wait(), WAIT_S)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await until(lambda: cancelled_reads() == before + 1, "the read cancelled")
            assert not marker.exists()
            events = [ev async for ev in c.execute(batch)]  # positive control
            assert events[-1].type == pb.BATCH_COMPLETE and marker.exists()

    run(main())
