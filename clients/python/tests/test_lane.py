"""The buffer lane from Python: a real overlapd, a real memfd."""

from __future__ import annotations

import os
import socket

import grpc
import pytest

import overlapd
from overlapd import pb


def test_read_into_lands_in_the_shared_buffer(server, client):
    data = os.urandom(3 * (1 << 20) + 5)
    (server.root / "lane.bin").write_bytes(data)
    caps = client.capabilities()
    assert caps.buffer_lane and caps.buffer_socket
    with overlapd.SharedBuffer(4 << 20) as buf:
        buf.view[:] = b"\xab" * buf.size
        n = client.read_into("lane.bin", buf, buffer_offset=100)
        assert n == len(data)
        assert bytes(buf.view[100:100 + n]) == data
        assert bytes(buf.view[:100]) == b"\xab" * 100  # nothing outside the range
        # A part of the file, at another offset.
        assert client.read_into("lane.bin", buf, offset=10, length=1000) == 1000
        assert bytes(buf.view[:1000]) == data[10:1010]


def test_a_file_larger_than_the_room_left_is_out_of_range(server, client):
    (server.root / "lane2.bin").write_bytes(b"x" * 8192)
    with overlapd.SharedBuffer(4096) as buf:
        with pytest.raises(overlapd.OverlapdError) as e:
            client.read_into("lane2.bin", buf)
        assert e.value.code == grpc.StatusCode.OUT_OF_RANGE
        assert client.read_into("lane2.bin", buf, length=4096) == 4096  # positive control


def test_registration_refuses_what_is_not_a_memfd(client):
    path = client.capabilities().buffer_socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        conn.connect(path)
        r, w = os.pipe()
        try:
            socket.send_fds(conn, [b"register"], [r])
            answer = conn.recv(4096).decode()
        finally:
            os.close(r)
            os.close(w)
    assert answer.startswith("error INVALID_ARGUMENT"), answer


def test_an_unknown_handle_fails_the_batch(client):
    op = pb.Op(read=pb.Read(path="x", into=pb.BufferRef(handle=b"\0" * 16)))
    with pytest.raises(grpc.RpcError) as e:
        list(client.execute([op]))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
