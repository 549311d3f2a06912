"""Streamed transfers: byte-identical round trips at the edges of the read
segments and write pieces, through pipes, and the peak memory of a large
file moved by each helper, measured in a process of its own."""

from __future__ import annotations

import filecmp
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import overlapd
from overlapd import crc32c as crc
from overlapd.client import READ_SEGMENT_BYTES, WRITE_PIECE_BYTES

from conftest import PYTHON_DIR, mkdirs

SIZES = [0, 1, WRITE_PIECE_BYTES - 1, WRITE_PIECE_BYTES, WRITE_PIECE_BYTES + 1,
         READ_SEGMENT_BYTES, READ_SEGMENT_BYTES + 1,
         5 * READ_SEGMENT_BYTES + 12345]  # more Reads than the window, an odd tail


@pytest.mark.parametrize("size", SIZES)
def test_streamed_round_trip_is_byte_identical(client: overlapd.Client, server, tmp_path,
                                               size: int) -> None:
    mkdirs(server, "stream")
    data = os.urandom(size)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    path = f"stream/{size}.bin"
    assert client.write_from(path, src, durable=size % 2 == 1) == size
    assert (server.root / path).read_bytes() == data
    dst = tmp_path / "dst.bin"
    assert client.read_to(path, dst) == size
    assert filecmp.cmp(src, dst, shallow=False)
    assert client.read_file(path) == data
    # window 1: one op at a time gives the same bytes.
    out = io.BytesIO()
    assert client.read_to(path, out, window=1) == size and out.getvalue() == data
    assert client.write_file(path, memoryview(data), window=1) == size
    assert client.read_file(path, window=1) == data


def test_streams_through_pipes(client: overlapd.Client, server) -> None:
    """Neither end can seek: the source is read once, the destination gets
    the bytes in file order."""
    mkdirs(server, "pipe")
    data = os.urandom(3 * READ_SEGMENT_BYTES + 777)

    def feed(w: int) -> None:
        with os.fdopen(w, "wb") as f:
            for off in range(0, len(data), 1 << 20):
                f.write(data[off:off + (1 << 20)])

    r, w = os.pipe()
    feeder = threading.Thread(target=feed, args=(w,))
    feeder.start()
    with os.fdopen(r, "rb") as f:
        assert client.write_from("pipe/a.bin", f) == len(data)
    feeder.join()

    digest = hashlib.sha256()

    def drain(r: int) -> None:
        with os.fdopen(r, "rb") as f:
            while block := f.read(1 << 16):
                digest.update(block)

    r, w = os.pipe()
    drainer = threading.Thread(target=drain, args=(r,))
    drainer.start()
    with os.fdopen(w, "wb") as sink:
        assert client.read_to("pipe/a.bin", sink) == len(data)
    drainer.join()
    assert digest.digest() == hashlib.sha256(data).digest()


def test_read_to_a_file_object_writes_from_its_position(client: overlapd.Client,
                                                        server) -> None:
    mkdirs(server, "pos")
    client.write_file("pos/a.bin", b"payload")
    out = io.BytesIO()
    out.write(b"header:")
    assert client.read_to("pos/a.bin", out) == 7
    assert out.getvalue() == b"header:payload"


# A file large enough that a copy of it stands out from what a streamed
# transfer holds: the in-flight window (DEFAULT_WINDOW times
# READ_SEGMENT_BYTES or WRITE_PIECE_BYTES), the message being parsed, and
# gRPC's receive buffers, whose HTTP/2 window grows with BDP probing. Measured
# here: 40-75 MiB, the same for 1 GiB as for 256 MiB, varying with malloc's
# per-thread arenas. A streamed transfer must stay under half the file.
BIG = 256 << 20
BIG_MIB = BIG >> 20
STREAMED_LIMIT_MIB = BIG_MIB / 2


def probe(server, mode: str, remote: str, local: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PYTHON_DIR), env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("rss_probe.py")),
                          server.target, mode, remote, str(local)],
                         env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    result["growth_mib"] = (result["peak_kib"] - result["base_kib"]) / 1024
    print(f"{mode}: {BIG_MIB} MiB moved, peak RSS {result['peak_kib'] / 1024:.0f} MiB, "
          f"growth {result['growth_mib']:.0f} MiB")
    return result


def test_large_transfers_keep_memory_bounded(server, tmp_path) -> None:
    """Peak RSS growth of a 256 MiB transfer: the streaming helpers stay far
    below the file's size, read_file (which must hold the result) near one
    copy, well under two; write_file is measured with its data loaded, so it
    must add no copy of it."""
    mkdirs(server, "big")
    src = tmp_path / "src.bin"
    rng_crc = 0
    with open(src, "wb") as f:
        for _ in range(BIG_MIB):
            block = os.urandom(1 << 20)
            rng_crc = crc.crc32c(block, rng_crc)
            f.write(block)
    dst = tmp_path / "dst.bin"
    remote = server.root / "big/a.bin"
    try:
        up = probe(server, "write_from", "big/a.bin", src)
        assert up["bytes"] == BIG and filecmp.cmp(src, remote, shallow=False)
        assert up["growth_mib"] < STREAMED_LIMIT_MIB

        down = probe(server, "read_to", "big/a.bin", dst)
        assert down["bytes"] == BIG and filecmp.cmp(src, dst, shallow=False)
        assert down["growth_mib"] < STREAMED_LIMIT_MIB

        whole = probe(server, "read_file", "big/a.bin", dst)
        assert whole["bytes"] == BIG and whole["crc32c"] == rng_crc
        # Positive control of the measure: the result itself is one copy.
        assert whole["growth_mib"] > BIG_MIB * 0.9
        assert whole["growth_mib"] < BIG_MIB * 1.5

        remote.unlink()
        sent = probe(server, "write_file", "big/a.bin", src)
        assert sent["bytes"] == BIG and sent["crc32c"] == rng_crc
        assert filecmp.cmp(src, remote, shallow=False)
        assert sent["growth_mib"] < STREAMED_LIMIT_MIB
    finally:
        # pytest keeps the folders of recent runs: do not leave 768 MiB there.
        for p in (src, dst, remote):
            p.unlink(missing_ok=True)
