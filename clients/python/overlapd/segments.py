"""The Read ops of a streamed read, and the check that their chunks cover
exactly what each READ_COMPLETE reports. Used by :class:`overlapd.Client`."""

from __future__ import annotations

from typing import List, Optional, Tuple

from overlapd import crc32c as _crc
from overlapd.errors import corrupt
from overlapd.v1 import overlapd_pb2 as pb


class Segment:
    """One Read op of a streamed read: the range it asked for, and what
    arrived for it."""

    def __init__(self, start: int, length: int) -> None:
        self.start = start
        self.length = length
        self.spans: List[Tuple[int, int, int]] = []  # (offset, bytes, crc32c) of each chunk
        self.events: List[pb.Event] = []             # every event but the chunks
        self.terminal: Optional[pb.Event] = None     # its READ_COMPLETE, once arrived


def check_segment(seg: Segment, done: pb.Event, path: str, verify: bool) -> None:
    """Raises DATA_LOSS unless the chunks of ``seg`` cover exactly the
    ``done.bytes`` its READ_COMPLETE reports, from its start, without a gap
    or overlap, and (``verify``) their CRC32Cs combine to the READ_COMPLETE's.
    Each chunk's own CRC32C was checked on arrival, against its bytes."""
    if done.bytes > seg.length:
        raise corrupt(f"the Read of {seg.length} bytes at offset {seg.start} reports "
                      f"{done.bytes}", path, done)
    pos = seg.start
    crc = 0
    for offset, n, chunk_crc in sorted(seg.spans):
        if offset != pos:
            raise corrupt(f"the chunks of the Read at offset {seg.start} leave a gap or an "
                          f"overlap at offset {pos}", path, done)
        crc = _crc.crc32c_combine(crc, chunk_crc, n)
        pos += n
    if pos - seg.start != done.bytes:
        raise corrupt(f"the chunks of the Read at offset {seg.start} hold "
                      f"{pos - seg.start} bytes, READ_COMPLETE says {done.bytes}", path, done)
    if verify and crc != done.crc32c:
        raise corrupt(f"CRC32C mismatch of the {done.bytes} bytes at offset {seg.start}",
                      path, done)
