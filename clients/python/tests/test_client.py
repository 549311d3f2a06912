"""The Python client against a real overlapd on loopback (fixtures in conftest.py):
checksums, round trips, listing, raw batches and sessions. Errors are in
test_errors.py, injected faults in test_faults.py, large streamed transfers in
test_streaming.py."""

from __future__ import annotations

import os
import random

import grpc
import pytest

import overlapd
from overlapd import OverlapdError, ops, pb
from overlapd import crc32c as crc

from conftest import mkdirs


def test_crc32c_matches_the_standard_vector_and_continues() -> None:
    assert crc.crc32c(b"123456789") == 0xE3069283
    assert crc.crc32c(b"") == 0
    data = random.Random(1).randbytes(70_001)
    assert crc.crc32c(data[1000:], crc.crc32c(data[:1000])) == crc.crc32c(data)
    assert crc.crc32c(memoryview(bytearray(data))[5:]) == crc.crc32c(data[5:])


def test_crc32c_combine_equals_the_crc_of_the_concatenation() -> None:
    rng = random.Random(2)
    for _ in range(200):
        a = rng.randbytes(rng.randrange(0, 5000))
        b = rng.randbytes(rng.randrange(0, 5000))
        assert crc.crc32c_combine(crc.crc32c(a), crc.crc32c(b), len(b)) == crc.crc32c(a + b)
    # Folding chunks in file order, as the read helpers do.
    data = rng.randbytes(3 << 20)
    folded = 0
    for off in range(0, len(data), 1 << 20):
        piece = data[off:off + (1 << 20)]
        folded = crc.crc32c_combine(folded, crc.crc32c(piece), len(piece))
    assert folded == crc.crc32c(data)


def test_capabilities(client: overlapd.Client) -> None:
    caps = client.capabilities()
    assert caps.engine in ("uring", "threads")
    assert caps.workers >= 1
    assert caps.chunk_bytes > 0
    assert caps.max_op_bytes > 0 and caps.max_ops_per_batch > 0
    assert caps.server_version


@pytest.mark.parametrize("size,durable", [(0, False), (1, True), (5 * (1 << 20) + 12345, False),
                                          (5 * (1 << 20), True)])
def test_write_read_round_trip(client: overlapd.Client, server, size: int, durable: bool) -> None:
    mkdirs(server, "rt")
    data = os.urandom(size)
    path = f"rt/blob-{size}.bin"
    assert client.write_file(path, data, durable=durable) == size
    assert client.read_file(path, verify=True) == data
    # The server wrote real bytes under its root.
    assert (server.root / path).read_bytes() == data
    # Rewriting with less data truncates.
    client.write_file(path, b"short", durable=True)
    assert client.read_file(path) == b"short"


def test_read_file_checks_crc32c(client: overlapd.Client, server, monkeypatch) -> None:
    mkdirs(server, "crc")
    data = os.urandom(3 << 20)
    client.write_file("crc/a.bin", data)
    # A checksum that does not match is DATA_LOSS, not silently wrong bytes
    # (test_faults.py corrupts the bytes themselves).
    real = crc.crc32c
    monkeypatch.setattr(overlapd.client._crc, "crc32c", lambda b, c=0: real(b, c) ^ 1)
    with pytest.raises(OverlapdError) as info:
        client.read_file("crc/a.bin", verify=True)
    assert info.value.code == grpc.StatusCode.DATA_LOSS
    assert info.value.filename == "crc/a.bin"
    # Positive control: without verification the same read succeeds.
    assert client.read_file("crc/a.bin", verify=False) == data


def test_stat_and_list(client: overlapd.Client, server) -> None:
    mkdirs(server, "dir")
    names = [f"f{i:02d}" for i in range(7)]
    for i, name in enumerate(names):
        client.write_file(f"dir/{name}", b"x" * i)
    info = client.stat("dir/f03")
    assert info.type == pb.FILE_TYPE_REGULAR
    assert info.size == 3
    assert info.mtime_ns > 0
    assert client.stat("dir").type == pb.FILE_TYPE_DIRECTORY

    entries = client.list("dir")
    assert [e.name for e in entries] == names
    assert [e.size for e in entries] == list(range(7))
    # Paging: 3 pages of at most 3 give the same entries.
    assert [e.name for e in client.list("dir", page_size=3)] == names


def test_execute_batch_yields_tagged_events(client: overlapd.Client, server) -> None:
    mkdirs(server, "batch")
    data = os.urandom(100_000)
    client.write_file("batch/a.bin", data)
    batch = [
        ops.stat("batch/a.bin", tag=11),
        ops.read("batch/a.bin", tag=12),
        ops.list_dir("batch", tag=13),
        ops.stat("batch/missing", tag=14),
        ops.write("batch/b.bin", b"hello", tag=15, link_next=True),
        ops.read("batch/b.bin", tag=16),
    ]
    events = list(client.execute(batch, tag=99))

    assert events[-1].type == pb.BATCH_COMPLETE
    assert events[-1].tag == 99
    assert sum(e.type == pb.BATCH_COMPLETE for e in events) == 1
    by_tag: dict = {}
    for e in events[:-1]:
        by_tag.setdefault(e.tag, []).append(e)
    assert set(by_tag) == {11, 12, 13, 14, 15, 16}
    assert len({e.job_id for e in events}) == 1
    assert len({e.seq for e in events}) == len(events)

    assert by_tag[11][-1].type == pb.STAT_COMPLETE and by_tag[11][-1].stat.size == len(data)
    chunks = sorted((e for e in by_tag[12] if e.type == pb.READ_CHUNK), key=lambda e: e.offset)
    assert b"".join(e.data for e in chunks) == data
    assert by_tag[12][-1].type == pb.READ_COMPLETE and by_tag[12][-1].bytes == len(data)
    assert by_tag[12][-1].crc32c == crc.crc32c(data)
    # b.bin may or may not exist yet: the list runs beside the write.
    assert by_tag[13][-1].type == pb.LIST_COMPLETE
    assert "a.bin" in [x.name for x in by_tag[13][-1].entries]
    failed = by_tag[14][-1]
    assert failed.type == pb.OP_FAILED and overlapd.failed(failed)
    assert OverlapdError.from_event(failed).code == grpc.StatusCode.NOT_FOUND
    assert by_tag[15][-1].type == pb.WRITE_COMPLETE and by_tag[15][-1].bytes == 5
    # Linked after the write, so the read sees its bytes.
    assert b"".join(e.data for e in by_tag[16] if e.type == pb.READ_CHUNK) == b"hello"


def test_session_pipelines_batches(client: overlapd.Client, server) -> None:
    mkdirs(server, "sess")
    with client.session() as s:
        tags = [s.submit([ops.write(f"sess/p{i}", bytes([i]) * 1000, tag=i)]) for i in range(8)]
        for t in reversed(tags):  # completion order does not matter to wait()
            events = s.wait(t)
            assert events[-1].type == pb.BATCH_COMPLETE and events[-1].tag == t
            assert events[0].type == pb.WRITE_COMPLETE
        bad = s.submit([ops.stat("sess/none")])
        with pytest.raises(OverlapdError) as info:
            s.wait(bad)
        assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert [e.name for e in client.list("sess")] == [f"p{i}" for i in range(8)]
