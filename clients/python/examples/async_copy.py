#!/usr/bin/python3
"""Copies files on the server with asyncio: every copy at once, each a read
then a write, on one channel.

    make run        # in another terminal
    python3 clients/python/examples/async_copy.py a.txt b.txt [SRC DST ...]

Pairs of SRC DST paths (relative to the server's root). Press Ctrl-C to
cancel: the tasks' calls are cancelled, and with them the ops on the server.
Exits 1 if any copy failed. (For large files the server-side Copy op moves
no byte to the client; this shows the asyncio API.)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import List, Tuple

import overlapd
import overlapd.asyncio


async def copy(client: overlapd.asyncio.Client, src: str, dst: str) -> int:
    data = await client.read_file(src)
    return await client.write_file(dst, data, durable=True)


async def main(server: str, pairs: List[Tuple[str, str]]) -> int:
    async with overlapd.asyncio.Client(server) as client:
        results = await asyncio.gather(*(copy(client, s, d) for s, d in pairs),
                                       return_exceptions=True)
    failed = 0
    for (src, dst), result in zip(pairs, results):
        if isinstance(result, overlapd.OverlapdError):
            print(f"{src} -> {dst}: {result}", file=sys.stderr)
            failed += 1
        elif isinstance(result, BaseException):
            raise result
        else:
            print(f"{src} -> {dst}: {result} bytes")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("paths", nargs="+", help="SRC DST [SRC DST ...]")
    args = parser.parse_args()
    if len(args.paths) % 2:
        parser.error("paths come in pairs: SRC DST")
    pairs = list(zip(args.paths[0::2], args.paths[1::2]))
    sys.exit(asyncio.run(main(args.server, pairs)))
