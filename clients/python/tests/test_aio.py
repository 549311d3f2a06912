"""The seed API (overlapd.aio) against the real server: the backup example,
completion order, readfile returning before its read completes, and 1 GiB
reads into a bytearray and a shared buffer (peak RSS in a process of its
own)."""

from __future__ import annotations

import errno
import json
import mmap
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import grpc
import pytest

import overlapd
from overlapd import aio, crc32c
from overlapd.aio import EventType

from conftest import PYTHON_DIR, Server, mkdirs

MIB = 1 << 20


def make_file(path: Path, size: int) -> int:
    """Writes ``size`` bytes to ``path`` that differ at every 4 KiB page (a
    random block of up to 64 MiB, repeated, each page stamped with its
    index: cheaper than that many random bytes, and a page out of place
    still shows); returns their CRC32C."""
    pattern = os.urandom(min(size, 64 * MIB))
    crc = 0
    with open(path, "wb") as f:
        for at in range(0, size, len(pattern)):
            block = bytearray(pattern[:size - at])
            for page in range(0, len(block) - 7, 4096):
                block[page:page + 8] = (at + page).to_bytes(8, "little")
            crc = crc32c.crc32c(block, crc)
            f.write(block)
    return crc


def sparse_file(path: Path, size: int) -> int:
    """A file of ``size`` zero bytes, made without writing them; their CRC32C."""
    with open(path, "wb") as f:
        f.truncate(size)
    return crc32c.crc32c(bytes(size))


@pytest.fixture()
def seed(server: Server):
    c = aio.connect(server.target)
    yield c
    aio.close()


def test_the_seed_example_backs_up_and_reports_the_write_it_cannot_do(server, seed):
    mkdirs(server, "seed", "seed/d.bin.bak")  # d's backup name is a directory
    names = [f"seed/1GB-raw.{i}" for i in (1, 2, 3)]
    crcs = {n: make_file(server.root / n, 64 * MIB) for n in names}
    (server.root / "seed/d.bin").write_bytes(b"cannot be backed up")
    assert seed.lane  # the shared buffers below are written by the server
    bufs = [overlapd.SharedBuffer(64 * MIB) for _ in names]
    for name, buf in zip(names, bufs):
        aio.readfile(name, buf)
    aio.readfile("seed/d.bin", bytearray(1024))

    seen: List[tuple] = []
    with aio.events() as events:
        for event in events:
            seen.append((event.type, event.fname))
            if event.type == EventType.FileReadComplete:
                aio.writefile(event.fname + ".bak", event.buf)
            if event.type == EventType.FileWriteFailed:
                failure = event.error
    for name in names:
        assert crc32c.crc32c((server.root / (name + ".bak")).read_bytes()) == crcs[name]
        assert seen.index((EventType.FileReadComplete, name)) < seen.index(
            (EventType.FileWriteComplete, name + ".bak"))
    assert (EventType.FileWriteFailed, "seed/d.bin.bak") in seen
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION and failure.errno == errno.EISDIR
    assert len(seen) == 8 and seed.outstanding == 0
    for buf in bufs:
        buf.close()
    for name in names:  # pytest keeps recent temp folders: do not leave 384 MiB there
        for path in (server.root / name, server.root / (name + ".bak")):
            path.unlink()


def test_events_come_in_completion_order(server, seed):
    """A large read submitted first completes after small ones submitted
    behind it. Not by chance: the large one comes over gRPC, so its bytes
    must pass the stream's 64 MiB read budget, which only the events() loop
    drains; the small ones land in shared memory, which takes no budget."""
    mkdirs(server, "order")
    sparse_file(server.root / "order/large.bin", 192 * MIB)
    small = [f"order/s{i}" for i in range(5)]
    for i, name in enumerate(small):
        (server.root / name).write_bytes(bytes([i + 1]) * 4096)
    shared = overlapd.SharedBuffer(len(small) * 4096)
    aio.readfile("order/large.bin", bytearray(192 * MIB))
    for i, name in enumerate(small):
        aio.readfile(name, shared.view[i * 4096:(i + 1) * 4096])  # a slice of it
    with aio.events() as events:
        order = [(e.fname, e.type, e.error) for e in events]
    assert {(t, err) for _, t, err in order} == {(EventType.FileReadComplete, None)}
    assert [n for n, _, _ in order][-1] == "order/large.bin"  # submitted first, done last
    assert sorted(n for n, _, _ in order[:-1]) == small
    assert bytes(shared.view[4 * 4096:]) == b"\5" * 4096


def test_readfile_returns_before_the_read_completes(server, seed):
    """Measured on both sides: the server has not finished the read when
    readfile returns (its ok-read counter has not moved) and the client's
    completion comes later."""
    mkdirs(server, "early")
    crc = sparse_file(server.root / "early/a.bin", 160 * MIB)
    seed.stat("early/a.bin")
    with aio.events() as events:
        list(events)  # the stream is open, the capabilities known
    reads_before = server.metric("overlapd_ops_total", op="read", result="ok")
    t0 = time.monotonic()
    handle = aio.readfile("early/a.bin", bytearray(160 * MIB))
    returned = time.monotonic() - t0
    reads_at_return = server.metric("overlapd_ops_total", op="read", result="ok")
    with aio.events() as events:
        done = [e for e in events]
    completed = time.monotonic() - t0
    print(f"readfile returned after {returned * 1e3:.2f} ms, the read completed after "
          f"{completed * 1e3:.0f} ms")
    assert reads_at_return == reads_before and not done[0].error
    assert server.metric("overlapd_ops_total", op="read", result="ok") == reads_before + 1
    assert handle.event is done[0] and returned < completed
    assert crc32c.crc32c(done[0].buf) == crc


def test_reads_land_where_asked_and_failures_name_their_code(server):
    mkdirs(server, "where")
    data = os.urandom(3 * MIB + 17)
    (server.root / "where/a.bin").write_bytes(data)
    shared = overlapd.SharedBuffer(4 * MIB)
    with aio.Client(server.target, verify=True) as c:  # CRCs in shared memory too
        into = bytearray(4 * MIB)
        anonymous = mmap.mmap(-1, 4 * MIB)
        handles = {
            "bytearray": c.readfile("where/a.bin", into),
            "view": c.readfile("where/a.bin", memoryview(into)[MIB:], offset=MIB),
            "shared": c.readfile("where/a.bin", shared),
            "mmap": c.readfile("where/a.bin", anonymous),
            "new": c.readfile("where/a.bin", offset=10, length=100),
            "small": c.readfile("where/a.bin", bytearray(10)),
            "missing": c.readfile("where/none"),
        }
        with c.events() as events:
            got: Dict[object, object] = {e.handle: e for e in events}
        ev = {k: got[h] for k, h in handles.items()}
        assert bytes(into[:len(data)]) == data and bytes(ev["view"].buf) == data[MIB:]
        assert ev["shared"].buf.obj is shared._map and bytes(ev["shared"].buf) == data
        assert bytes(ev["new"].buf) == data[10:110]
        assert bytes(ev["mmap"].buf) == data and anonymous[:len(data)] == data
        assert ev["small"].error.code == grpc.StatusCode.OUT_OF_RANGE
        assert ev["missing"].type == EventType.FileReadFailed
        assert ev["missing"].error.errno == errno.ENOENT
        # A write from a view of the shared buffer goes over the lane, the
        # others over gRPC in pieces; both land whole.
        w1 = c.writefile("where/from-shared", ev["shared"].buf, durable=True)
        w2 = c.writefile("where/from-bytes", data, atomic=False)
        w3 = c.writefile("where/atomic", data[:1000], atomic=True)
        with c.events() as events:
            assert {e.type for e in events} == {EventType.FileWriteComplete}
        assert w1.event and w1.event.bytes == len(data) and w2.event and w3.event
        del got, ev, handles, w1  # the views of the buffers, before closing them
    shared.close()
    anonymous.close()
    for name, want in (("from-shared", data), ("from-bytes", data), ("atomic", data[:1000])):
        assert (server.root / "where" / name).read_bytes() == want


GIB = 1 << 30
RSS_LIMIT_KIB = int(1.3 * GIB) >> 10


def probe(server: Server, mode: str, remote: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PYTHON_DIR), env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("rss_probe.py")),
                          server.target, mode, remote, ""],
                         env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    result: dict = json.loads(out.stdout)
    print(f"{mode} ({out.stderr.strip()}): peak RSS {result['peak_kib'] >> 10} MiB, base {result['base_kib'] >> 10} MiB")
    return result


def test_a_1gib_readfile_into_a_bytearray_and_a_shared_buffer(server):
    """Byte-identical (the CRC32C of all of it) both ways; into shared
    memory the client's peak RSS stays under 1.3 GiB: the buffer itself,
    no copy of it."""
    mkdirs(server, "gib")
    remote = server.root / "gib/a.bin"
    t0 = time.monotonic()
    crc = make_file(remote, GIB)
    print(f"made 1 GiB in {time.monotonic() - t0:.1f} s")
    try:
        shared = probe(server, "aio_shared", "gib/a.bin")
        assert shared["bytes"] == GIB and shared["crc32c"] == crc and shared["lane"]
        assert shared["peak_kib"] < RSS_LIMIT_KIB
        # Positive control of the measure: the buffer's pages are counted.
        assert shared["peak_kib"] - shared["base_kib"] > (GIB >> 10) * 0.9
        plain = probe(server, "aio_bytearray", "gib/a.bin")
        assert plain["bytes"] == GIB and plain["crc32c"] == crc
    finally:
        remote.unlink()


def test_the_examples_run(server):
    mkdirs(server, "ex")
    for i in (1, 2):
        (server.root / f"ex/{i}").write_bytes(bytes([i]) * (1 << 20))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PYTHON_DIR), env.get("PYTHONPATH")) if p)
    examples = PYTHON_DIR / "examples"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                              timeout=60)

    ok = run(str(examples / "seed_backup.py"), "-v", "--server", server.target, "ex/1", "ex/2")
    assert ok.returncode == 0 and "2 of 2 backed up (shared memory)" in ok.stderr, ok.stderr
    assert (server.root / "ex/2.bak").read_bytes() == bytes([2]) * (1 << 20)
    bad = run(str(examples / "seed_backup.py"), "--server", server.target, "ex/1", "ex/none")
    assert bad.returncode == 1 and "failed backed up ex/none: NOT_FOUND" in bad.stderr
    copied = run(str(examples / "async_copy.py"), "--server", server.target,
                 "ex/1", "ex/1.copy", "ex/2", "ex/2.copy")
    assert copied.returncode == 0, copied.stderr
    assert (server.root / "ex/1.copy").read_bytes() == bytes([1]) * (1 << 20)
