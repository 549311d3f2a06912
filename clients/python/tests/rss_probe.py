"""Runs one transfer in a process of its own and prints its peak RSS as JSON.

    rss_probe.py TARGET MODE REMOTE LOCAL

MODE is aio_shared or aio_bytearray (a seed readfile, see aio_read),
write_from (LOCAL -> REMOTE), write_file (LOCAL read into memory
first, then sent), read_to (REMOTE -> LOCAL) or read_file (REMOTE into
memory; LOCAL unused). Prints {"base_kib": ..., "peak_kib": ..., "bytes": ..., ...}: the resident
set once the client is connected (and, for write_file, the data loaded), and
its high-water mark during the transfer.

A process of its own, because a high-water mark covers a whole process:
pytest's would hide the transfer's. And not getrusage's ru_maxrss: Linux
carries it across fork and exec (exec_mmap folds the old mm's peak into
signal->maxrss), so a child of a large pytest starts at pytest's size. The
mm's own mark, VmHWM in /proc/self/status, starts afresh at exec and is
reset to the current RSS by writing 5 to /proc/self/clear_refs (Linux 4.0,
Documentation/admin-guide/mm/soft-dirty.rst and proc.rst).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Dict

import overlapd
from overlapd import crc32c


def status_kib() -> Dict[str, int]:
    """VmRSS and VmHWM of /proc/self/status, in KiB."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields


def start_measure() -> int:
    """Resets the high-water mark to the current RSS; returns that RSS."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return status_kib()["VmRSS"]


def aio_read(target: str, mode: str, remote: str) -> None:
    """One seed readfile of ``remote`` into a 1 GiB buffer made (untouched)
    before the measure starts: a SharedBuffer (aio_shared) or a bytearray."""
    from overlapd import aio

    # verify=False: the CRC32C below checks every byte once, against the file's.
    with aio.Client(target, verify=False) as client:
        lane = client.lane  # connected, capabilities known
        size = 1 << 30
        buf = overlapd.SharedBuffer(size) if mode == "aio_shared" else bytearray(size)
        base = start_measure()
        t0 = time.monotonic()
        client.readfile(remote, buf)
        with client.events() as events:
            event = next(iter(events))
        t1 = time.monotonic()
        if event.error:
            raise event.error
        n = event.bytes
        crc = crc32c.crc32c(event.buf)
        peak = status_kib()["VmHWM"]
    print(f"read in {t1 - t0:.2f} s", file=sys.stderr)
    print(json.dumps({"base_kib": base, "peak_kib": peak, "bytes": n, "crc32c": crc,
                      "lane": lane}))


def main() -> None:
    target, mode, remote, local = sys.argv[1:5]
    if mode.startswith("aio_"):
        return aio_read(target, mode, remote)
    with overlapd.Client(target, timeout=120) as client:
        client.capabilities()  # connected: the channel's memory is in the base
        if mode == "write_file":
            with open(local, "rb") as f:
                data = f.read()
            base = start_measure()
            n = client.write_file(remote, data)
            crc = crc32c.crc32c(data)
        elif mode == "write_from":
            base = start_measure()
            n = client.write_from(remote, local)
            crc = 0
        elif mode == "read_to":
            base = start_measure()
            n = client.read_to(remote, local)
            crc = 0
        elif mode == "read_file":
            base = start_measure()
            content = client.read_file(remote)
            n = len(content)
            crc = crc32c.crc32c(content)
        else:
            raise SystemExit(f"unknown mode {mode}")
        peak = status_kib()["VmHWM"]
    # For comparison only (see above): inherited from the parent.
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"base_kib": base, "peak_kib": peak, "bytes": n, "crc32c": crc,
                      "ru_maxrss_kib": maxrss}))


if __name__ == "__main__":
    main()
