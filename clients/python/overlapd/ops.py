"""Builders of :class:`overlapd.pb.Op`, for batches passed to ``execute``.

Each returns one ``Op``; ``tag`` is echoed in every event of the op and
``link_next`` makes the next op of the batch wait for this one to succeed.

Example::

    from overlapd import ops

    batch = [
        ops.write("a.bin", b"x" * 100, tag=1, link_next=True),
        ops.fsync("a.bin", tag=2),
        ops.read("b.bin", tag=3),
        ops.stat("c.bin", tag=4),
    ]
    for event in client.execute(batch):
        print(event.tag, pb.EventType.Name(event.type))
"""

from __future__ import annotations

from overlapd.v1 import overlapd_pb2 as pb


def read(path: str, offset: int = 0, length: int = 0, *, tag: int = 0,
         link_next: bool = False) -> pb.Op:
    """Read ``length`` bytes at ``offset`` (0: to end of file)."""
    return pb.Op(tag=tag, link_next=link_next,
                 read=pb.Read(path=path, offset=offset, length=length))


def write(path: str, data: bytes, offset: int = 0, *,
          mode: int = pb.WRITE_MODE_AT, durability: int = pb.DURABILITY_NONE,
          expected_crc32c: int | None = None, tag: int = 0,
          link_next: bool = False) -> pb.Op:
    """Write ``data`` at ``offset``; ``mode`` is a ``pb.WriteMode`` value."""
    w = pb.Write(path=path, offset=offset, data=data, mode=mode, durability=durability)
    if expected_crc32c is not None:
        w.expected_crc32c = expected_crc32c
    return pb.Op(tag=tag, link_next=link_next, write=w)


def fsync(path: str, *, data_only: bool = False, tag: int = 0,
          link_next: bool = False) -> pb.Op:
    """fsync(2) (or fdatasync(2) with ``data_only``) a file or directory."""
    return pb.Op(tag=tag, link_next=link_next, fsync=pb.Fsync(path=path, data_only=data_only))


def stat(path: str, *, tag: int = 0, link_next: bool = False) -> pb.Op:
    """Metadata of ``path``: a STAT_COMPLETE event with ``stat`` set."""
    return pb.Op(tag=tag, link_next=link_next, stat=pb.Stat(path=path))


def list_dir(path: str, *, start_after: str = "", limit: int = 0, tag: int = 0,
             link_next: bool = False) -> pb.Op:
    """One page of directory entries: a LIST_COMPLETE event."""
    return pb.Op(tag=tag, link_next=link_next,
                 list=pb.List(path=path, start_after=start_after, limit=limit))


def copy(src: str, dst: str, *, durability: int = pb.DURABILITY_NONE, tag: int = 0,
         link_next: bool = False) -> pb.Op:
    """Server-side copy of ``src`` to ``dst``."""
    return pb.Op(tag=tag, link_next=link_next,
                 copy=pb.Copy(src=src, dst=dst, durability=durability))


def rename(src: str, dst: str, *, no_replace: bool = False, tag: int = 0,
           link_next: bool = False) -> pb.Op:
    """Rename ``src`` to ``dst``."""
    return pb.Op(tag=tag, link_next=link_next,
                 rename=pb.Rename(src=src, dst=dst, no_replace=no_replace))


def delete(path: str, *, directory: bool = False, tag: int = 0,
           link_next: bool = False) -> pb.Op:
    """Delete a file (or an empty directory with ``directory``)."""
    return pb.Op(tag=tag, link_next=link_next,
                 delete=pb.Delete(path=path, directory=directory))


def mkdir(path: str, *, parents: bool = False, tag: int = 0,
          link_next: bool = False) -> pb.Op:
    """Create a directory (``parents``: like mkdir -p)."""
    return pb.Op(tag=tag, link_next=link_next, mkdir=pb.Mkdir(path=path, parents=parents))
