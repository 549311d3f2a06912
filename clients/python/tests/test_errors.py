"""Failures raise, with the path: refused batches (bad paths, token scopes),
failed ops (errno), and batches not awaited in a Session. Each refusal sits
beside a positive control that the same call on a good path succeeds."""

from __future__ import annotations

import errno
import io
import os
import pickle
from pathlib import Path
from typing import Callable, Dict

import grpc
import pytest

import overlapd
from overlapd import OverlapdError, ops, pb

from conftest import READ_TOKEN, TEAM_TOKEN, mkdirs

REFUSED = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED)


def helpers(client: overlapd.Client, path: str, tmp_path: Path) -> Dict[str, Callable[[], object]]:
    """Every helper that takes a path, called on ``path``."""
    return {  # writes first, so that the reads of a positive control find the file
        "write_file": lambda: client.write_file(path, b"written"),
        "write_from path": lambda: client.write_from(path, tmp_path / "src.bin"),
        "write_from fileobj": lambda: client.write_from(path, io.BytesIO(b"refused?")),
        "stat": lambda: client.stat(path),
        "list": lambda: client.list(path),
        "read_file": lambda: client.read_file(path),
        "read_to path": lambda: client.read_to(path, tmp_path / "dst.bin"),
        "read_to fileobj": lambda: client.read_to(path, io.BytesIO()),
    }


def assert_refused(call: Callable[[], object], path: str,
                   codes: tuple = REFUSED) -> OverlapdError:
    with pytest.raises(OverlapdError) as info:
        call()
    e = info.value
    assert e.code in codes, e
    assert e.filename == path and e.path == path
    assert isinstance(e, OSError)
    return e


BAD_PATHS = {
    "absolute": "/etc/passwd",
    "escape": "a/../../x",
    "parent": "../x",
    "300-byte name": "a/" + "n" * 300,
}


@pytest.mark.parametrize("path", BAD_PATHS.values(), ids=BAD_PATHS.keys())
def test_every_helper_raises_for_a_refused_path(client: overlapd.Client, server, tmp_path,
                                                path: str) -> None:
    mkdirs(server, "a", "good")  # a/../../x fails on the escape, not on a missing "a"
    (tmp_path / "src.bin").write_bytes(b"local source")
    (server.root / "good/f").write_bytes(b"good")
    for name, call in helpers(client, path, tmp_path).items():
        assert_refused(call, path)
    assert not (tmp_path / "dst.bin").exists()
    assert not (server.root.parent / "x").exists()
    # Positive control: the same helpers on a good path succeed.
    for name, call in helpers(client, "good/f", tmp_path).items():
        if name == "list":
            assert [e.name for e in client.list("good")] == ["f"]
        else:
            call()
    assert client.read_file("good/f") == b"refused?"  # the last write_from's bytes


def test_read_only_token_cannot_write(token_server, tmp_path) -> None:
    (token_server.root / "hello.txt").write_bytes(b"hello")
    (tmp_path / "src.bin").write_bytes(b"x")
    with overlapd.Client(token_server.target, token=READ_TOKEN, timeout=60) as reader:
        for call in (lambda: reader.write_file("new.txt", b"x"),
                     lambda: reader.write_from("new.txt", tmp_path / "src.bin"),
                     lambda: reader.write_from("new.txt", io.BytesIO(b"x"))):
            assert_refused(call, "new.txt", (grpc.StatusCode.PERMISSION_DENIED,))
        # Positive control: reading is in its scope.
        assert reader.read_file("hello.txt") == b"hello"
        assert reader.read_to("hello.txt", tmp_path / "copy.txt") == 5
        assert reader.stat("hello.txt").size == 5
    assert not (token_server.root / "new.txt").exists()


def test_prefixed_token_stays_inside_its_prefix(token_server, tmp_path) -> None:
    (token_server.root / "team").mkdir(exist_ok=True)
    (token_server.root / "outside.txt").write_bytes(b"not yours")
    (tmp_path / "src.bin").write_bytes(b"local source")
    with overlapd.Client(token_server.target, token=TEAM_TOKEN, timeout=60) as team:
        # "teammate/x" shares the prefix's letters but not its component.
        for path in ("outside.txt", "teammate/x", "team/../outside.txt"):
            for name, call in helpers(team, path, tmp_path).items():
                assert_refused(call, path)
        assert not (tmp_path / "dst.bin").exists()
        # Positive control: inside team/ everything works.
        for name, call in helpers(team, "team/mine", tmp_path).items():
            if name == "list":
                assert [e.name for e in team.list("team")] == ["mine"]
            else:
                call()
    assert (token_server.root / "outside.txt").read_bytes() == b"not yours"
    assert (token_server.root / "team/mine").read_bytes() == b"refused?"


def test_missing_token_is_an_error_of_the_call(token_server) -> None:
    # Not a failure of one path: it stays a grpc.RpcError.
    with overlapd.Client(token_server.target, timeout=60) as anonymous:
        with pytest.raises(grpc.RpcError) as info:
            anonymous.read_file("hello.txt")
        assert not isinstance(info.value, OverlapdError)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_overlapd_error_is_an_oserror_with_the_servers_errno(client: overlapd.Client, server,
                                                             tmp_path) -> None:
    mkdirs(server, "errs/dir")
    for call in (lambda: client.stat("errs/missing"),
                 lambda: client.read_file("errs/missing"),
                 lambda: client.read_to("errs/missing", tmp_path / "dst.bin"),
                 lambda: client.list("errs/missing")):
        with pytest.raises(OSError) as info:
            call()
        e = info.value
        assert isinstance(e, OverlapdError)
        assert e.errno == errno.ENOENT and e.code == grpc.StatusCode.NOT_FOUND
        assert e.filename == "errs/missing"
        assert e.strerror == e.message and "NOT_FOUND" in str(e) and "ENOENT" in str(e)
        assert e.event is not None and e.event.type == pb.OP_FAILED
    for call in (lambda: client.read_file("errs/dir"),
                 lambda: client.read_to("errs/dir", io.BytesIO()),
                 lambda: client.write_file("errs/dir", b"x"),
                 lambda: client.write_from("errs/dir", io.BytesIO(b"x"))):
        with pytest.raises(OverlapdError) as info:
            call()
        assert info.value.errno == errno.EISDIR, info.value
        assert info.value.filename == "errs/dir"
    assert not (tmp_path / "dst.bin").exists()
    # Positive control: the directory itself is there.
    assert client.stat("errs/dir").type == pb.FILE_TYPE_DIRECTORY


def test_overlapd_error_survives_pickling() -> None:
    e = OverlapdError(grpc.StatusCode.NOT_FOUND, "gone", errno.ENOENT, path="a/b")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is OverlapdError
    assert (back.code, back.message, back.errno, back.filename) == \
        (grpc.StatusCode.NOT_FOUND, "gone", errno.ENOENT, "a/b")
    assert str(back) == str(e)


def test_read_to_a_path_leaves_it_untouched_on_failure(client: overlapd.Client, server,
                                                       tmp_path) -> None:
    dst = tmp_path / "keep.bin"
    dst.write_bytes(b"precious")
    with pytest.raises(OverlapdError):
        client.read_to("no/such/file", dst)
    assert dst.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["keep.bin"]  # no temporary file left
    # Positive control: a read that works replaces it.
    mkdirs(server, "keep")
    client.write_file("keep/a.bin", b"new content")
    assert client.read_to("keep/a.bin", dst) == 11
    assert dst.read_bytes() == b"new content"
    assert sorted(os.listdir(tmp_path)) == ["keep.bin"]


def test_session_refused_batch_raises_on_wait(client: overlapd.Client) -> None:
    with client.session() as s:
        bad = s.submit([ops.stat("/abs")])
        good = s.submit([ops.stat("")])
        with pytest.raises(OverlapdError) as info:
            s.wait(bad)
        assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert s.wait(good)[0].type == pb.STAT_COMPLETE  # the session goes on


def test_session_close_raises_for_a_failed_batch_not_awaited(client: overlapd.Client) -> None:
    s = client.session()
    s.submit([ops.stat("")])
    s.submit([ops.stat("never/there")])
    with pytest.raises(OverlapdError) as info:
        s.close()
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert info.value.filename == "never/there"
    # The context manager does the same.
    with pytest.raises(OverlapdError):
        with client.session() as s:
            s.submit([ops.stat("/abs")])
    # Positive control: successful batches not awaited close quietly.
    with client.session() as s:
        s.submit([ops.stat("")])
        s.submit([ops.list_dir("")])


def test_check_batch_returns_terminal_events_or_raises(client: overlapd.Client, server) -> None:
    mkdirs(server, "cb")
    (server.root / "cb/a").write_bytes(b"abc")
    events = list(client.execute([ops.stat("cb/a"), ops.read("cb/a")]))
    stat, read = overlapd.check_batch(events, 2)
    assert stat.type == pb.STAT_COMPLETE and read.type == pb.READ_COMPLETE and read.bytes == 3
    # Raw events of a failed op: execute yields them, check_batch raises.
    events = list(client.execute([ops.stat("cb/a"), ops.stat("cb/none")]))
    assert any(e.type == pb.OP_FAILED for e in events)
    with pytest.raises(OverlapdError) as info:
        overlapd.check_batch(events, 2)
    assert info.value.errno == errno.ENOENT
    # A batch of more ops than answered, or one cut before its end.
    with pytest.raises(OverlapdError) as info:
        overlapd.check_batch(list(client.execute([ops.stat("cb/a")])), 2)
    assert info.value.code == grpc.StatusCode.INTERNAL
    with pytest.raises(OverlapdError):
        overlapd.check_batch(list(client.execute([ops.stat("cb/a")]))[:-1], 1)
