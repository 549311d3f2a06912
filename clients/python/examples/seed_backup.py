#!/usr/bin/python3
"""The seed example: back up files as fast as the server can read them.

    make run        # in another terminal: overlapd on 127.0.0.1:50051, lane at ./data.sock
    python3 clients/python/examples/seed_backup.py 1GB-raw.1 1GB-raw.2 1GB-raw.3

Each NAME (relative to the server's root) is read into a buffer of its own
(shared memory written by the server itself when it runs on this host), and
as each read completes, NAME.bak is written from that same buffer: reads and
writes overlap, and no byte is copied in Python. Exits 1 if any backup
failed. PYTHONPATH must hold clients/python and the generated stubs, or the
package be installed (see clients/python/README.md).
"""

from __future__ import annotations

import argparse
import logging
import sys

import overlapd
from overlapd import aio
from overlapd.aio import EventType

log = logging.getLogger("seed_backup")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=None, help="HOST:PORT (default $OVERLAPD_SERVER "
                        "or 127.0.0.1:50051)")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(message)s")

    client = aio.connect(args.server)
    failed = 0
    bufs = []
    for name in args.names:  # a buffer of each file's size
        try:
            size = client.client.stat(name).size
        except overlapd.OverlapdError as e:
            log.error("failed backed up " + name + f": {e}")
            failed += 1
            continue
        bufs.append(overlapd.SharedBuffer(max(1, size)))
        aio.readfile(name, bufs[-1])

    with aio.events() as events:
        for event in events:
            if event.type == EventType.FileReadComplete:
                aio.writefile(event.fname + ".bak", event.buf)
            if event.type == EventType.FileWriteComplete:
                log.debug("backed up " + event.fname)
            if event.type in (EventType.FileWriteFailed, EventType.FileReadFailed):
                log.error("failed backed up " + event.fname + f": {event.error}")
                failed += 1
    log.debug(f"{len(args.names) - failed} of {len(args.names)} backed up "
              f"({'shared memory' if client.lane else 'gRPC'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
