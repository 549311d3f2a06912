"""The Python client against a real overlapd on loopback (fixtures in conftest.py)."""

from __future__ import annotations

import errno
import os
import random

import grpc
import pytest

import overlapd
from overlapd import OverlapdError, ops, pb
from overlapd import crc32c as crc

REFUSED = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED)


def mkdirs(server, *dirs: str) -> None:
    # The Mkdir op is not served yet, and writes do not create parents: make
    # the folders under the server's root directly.
    for d in dirs:
        (server.root / d).mkdir(parents=True, exist_ok=True)


def refused_code(exc: BaseException) -> grpc.StatusCode:
    return exc.code() if isinstance(exc, grpc.RpcError) else exc.code  # type: ignore[union-attr]


def test_crc32c_backends_agree_with_the_standard_vector() -> None:
    assert crc.crc32c_python(b"123456789") == 0xE3069283
    assert crc.crc32c(b"123456789") == 0xE3069283
    assert crc.crc32c(b"") == 0
    data = random.Random(1).randbytes(70_001)
    assert crc.crc32c(data) == crc.crc32c_python(data)
    assert crc.crc32c(data[1000:], crc.crc32c(data[:1000])) == crc.crc32c(data)


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
    # The pure-Python CRC32C agrees with the server's.
    monkeypatch.setattr(overlapd.client._crc, "crc32c", crc.crc32c_python)
    assert client.read_file("crc/a.bin", verify=True) == data
    # A checksum that does not match is DATA_LOSS, not silently wrong bytes.
    monkeypatch.setattr(overlapd.client._crc, "crc32c", lambda b, c=0: 12345)
    with pytest.raises(OverlapdError) as info:
        client.read_file("crc/a.bin", verify=True)
    assert info.value.code == grpc.StatusCode.DATA_LOSS
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


def test_missing_file_raises_not_found(client: overlapd.Client) -> None:
    with pytest.raises(OverlapdError) as info:
        client.stat("no/such/file")
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert info.value.errno == errno.ENOENT
    assert "NOT_FOUND" in str(info.value)
    with pytest.raises(OverlapdError) as info:
        client.read_file("missing.bin")
    assert info.value.code == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd"])
def test_path_escape_is_refused(client: overlapd.Client, server, path: str) -> None:
    mkdirs(server, "a")  # so that a/../../x fails on the escape, not on a missing "a"
    # Execute refuses a bad batch as a whole (an RPC error); a Session answers
    # it with a BATCH_COMPLETE carrying the error (an OverlapdError).
    with pytest.raises((grpc.RpcError, OverlapdError)) as info:
        client.stat(path)
    assert refused_code(info.value) in REFUSED
    with pytest.raises((grpc.RpcError, OverlapdError)) as info:
        client.write_file(path, b"escape")
    assert refused_code(info.value) in REFUSED
    assert not (server.root.parent / "x").exists()


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
    by_tag = {}
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


def test_bearer_tokens_scope_the_client(token_server) -> None:
    from conftest import READ_TOKEN, TEAM_TOKEN
    (token_server.root / "hello.txt").write_bytes(b"hello")
    with overlapd.Client(token_server.target, timeout=60) as anonymous:
        with pytest.raises(grpc.RpcError) as info:
            anonymous.capabilities()
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with overlapd.Client(token_server.target, token=READ_TOKEN, timeout=60) as reader:
        assert reader.read_file("hello.txt") == b"hello"
        with pytest.raises((grpc.RpcError, OverlapdError)) as info:
            reader.write_file("new.txt", b"x")
        assert refused_code(info.value) == grpc.StatusCode.PERMISSION_DENIED
    with overlapd.Client(token_server.target, token=TEAM_TOKEN, timeout=60) as team:
        (token_server.root / "team").mkdir()
        team.write_file("team/a.txt", b"mine")
        assert (token_server.root / "team/a.txt").read_bytes() == b"mine"
        with pytest.raises((grpc.RpcError, OverlapdError)) as info:
            team.read_file("hello.txt")
        assert refused_code(info.value) == grpc.StatusCode.PERMISSION_DENIED
    assert not (token_server.root / "new.txt").exists()
