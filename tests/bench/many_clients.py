#!/usr/bin/python3
"""Holds many concurrent overlapd streams open: Session streams that each read
a small file now and then, and Subscribe streams that follow the event log.

Part of tests/bench (see README.md): run.sh starts it, waits for the
"attached" line, measures the server (RSS, a probe client's read latency),
then stops it with SIGTERM.

One asyncio loop holds every stream (gRPC aio: a stream is a task, not a
thread), spread over --channels connections. The server's own gauge
(overlapd_streams{rpc=...} on --metrics) says when all streams are attached.
Every loop is bounded: attaching by --attach-timeout, holding by --hold.

Prints JSON lines on stdout:
  {"phase": "attached", "sessions": N, "subscribers": M, "seconds": S, ...}
  {"phase": "done", "session_reads": N, "read_p50_us": ..., "read_p99_us": ...,
   "events": N, "errors": N, ...}

Needs the generated stubs (clients/python/generate.sh OUTDIR) on --gen.
"""

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sys
import time
import urllib.request


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", required=True, help="overlapd gRPC HOST:PORT")
    p.add_argument("--metrics", default="", help="overlapd metrics HOST:PORT")
    p.add_argument("--gen", required=True, help="dir holding overlapd/v1/overlapd_pb2*.py")
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--subscribers", type=int, default=10000)
    p.add_argument("--channels", type=int, default=50, help="TCP connections in all")
    p.add_argument("--read-path", action="append", default=[],
                   help="files the sessions read (repeatable)")
    p.add_argument("--session-interval", type=float, default=5.0,
                   help="seconds between one session's reads")
    p.add_argument("--submit-interval", type=float, default=1.0,
                   help="seconds between detached jobs (a Stat) that subscribers see; 0: none")
    p.add_argument("--match-fraction", type=float, default=0.01,
                   help="share of subscribers whose filter matches those jobs' events")
    p.add_argument("--attach-timeout", type=float, default=180.0)
    p.add_argument("--hold", type=float, default=600.0,
                   help="upper bound on seconds to hold the streams after attaching")
    return p.parse_args()


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def scrape_streams(metrics_addr):
    """{"session": n, "subscribe": n} from overlapd_streams, or {} on failure."""
    try:
        with urllib.request.urlopen(f"http://{metrics_addr}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for m in re.finditer(r'^overlapd_streams\{rpc="(\w+)"\} ([0-9.e+]+)$', text, re.M):
        out[m.group(1)] = int(float(m.group(2)))
    return out


async def main():
    args = parse_args()
    sys.path.insert(0, args.gen)
    import grpc  # noqa: E402  (Debian's python3-grpcio)
    from overlapd.v1 import overlapd_pb2 as pb  # noqa: E402
    from overlapd.v1 import overlapd_pb2_grpc as pb_grpc  # noqa: E402

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    channels = [
        grpc.aio.insecure_channel(
            args.server,
            options=[("grpc.use_local_subchannel_pool", 1), ("overlap.many_clients", i)])
        for i in range(max(1, args.channels))
    ]
    stubs = [pb_grpc.IoServiceStub(c) for c in channels]
    stats = {"events": 0, "errors": 0, "first_error": "", "reads": 0, "lost": 0}
    read_latencies = []
    paths = args.read_path or ["small/d0/f0000"]

    def error(msg):
        stats["errors"] += 1
        if not stats["first_error"]:
            stats["first_error"] = str(msg)[:300]

    async def subscriber(i):
        # A few subscribers follow every job event; the rest filter on a
        # prefix nothing has, so they stay attached and idle (the server
        # still looks at them on every append).
        match = i < int(args.subscribers * args.match_fraction)
        req = pb.SubscribeRequest(path_prefix="" if match else "no-such-prefix/")
        call = stubs[i % len(stubs)].Subscribe(req)
        try:
            async for batch in call:
                stats["events"] += len(batch.events)
                for e in batch.events:
                    if e.type == pb.EVENTS_LOST:
                        stats["lost"] += e.count
        except asyncio.CancelledError:
            call.cancel()
            raise
        except grpc.aio.AioRpcError as e:
            if not stop.is_set() and e.code() != grpc.StatusCode.CANCELLED:
                error(f"subscribe: {e.code().name}: {e.details()}")

    async def session(i):
        rng = random.Random(i)
        call = stubs[i % len(stubs)].Session()
        try:
            await asyncio.sleep(rng.uniform(0, args.session_interval))
            n = 0
            while not stop.is_set():
                n += 1
                batch = pb.Batch(tag=n, ops=[pb.Op(tag=1, read=pb.Read(path=rng.choice(paths)))])
                t0 = time.monotonic()
                await call.write(batch)
                while True:
                    msg = await call.read()
                    if msg is grpc.aio.EOF:
                        raise RuntimeError("session ended by the server")
                    done = False
                    for e in msg.events:
                        if e.type == pb.OP_FAILED:
                            error(f"read: {e.error.message}")
                        if e.type == pb.BATCH_COMPLETE:
                            done = True
                    if done:
                        break
                read_latencies.append(time.monotonic() - t0)
                stats["reads"] += 1
                try:
                    await asyncio.wait_for(stop.wait(), args.session_interval)
                except asyncio.TimeoutError:
                    pass
            await call.done_writing()
        except asyncio.CancelledError:
            call.cancel()
            raise
        except (grpc.aio.AioRpcError, RuntimeError) as e:
            if not stop.is_set():
                error(f"session: {e}")

    async def submitter():
        n = 0
        while not stop.is_set() and args.submit_interval > 0:
            n += 1
            try:
                await stubs[n % len(stubs)].Submit(
                    pb.Batch(label="many_clients", ops=[pb.Op(tag=n, stat=pb.Stat(path=paths[0]))]),
                    timeout=10)
            except grpc.aio.AioRpcError as e:
                error(f"submit: {e.code().name}: {e.details()}")
            try:
                await asyncio.wait_for(stop.wait(), args.submit_interval)
            except asyncio.TimeoutError:
                pass

    t0 = time.monotonic()
    tasks = []
    # Open in slices so that the loop keeps serving already-open streams.
    for i in range(args.subscribers):
        tasks.append(asyncio.create_task(subscriber(i)))
        if i % 500 == 499:
            await asyncio.sleep(0)
    for i in range(args.sessions):
        tasks.append(asyncio.create_task(session(i)))
        if i % 500 == 499:
            await asyncio.sleep(0)

    attached = {}
    deadline = t0 + args.attach_timeout
    while time.monotonic() < deadline and not stop.is_set():
        if args.metrics:
            attached = scrape_streams(args.metrics)
            if (attached.get("subscribe", 0) >= args.subscribers
                    and attached.get("session", 0) >= args.sessions):
                break
        else:
            await asyncio.sleep(5)
            break
        await asyncio.sleep(0.5)
    ok = (not args.metrics or (attached.get("subscribe", 0) >= args.subscribers
                               and attached.get("session", 0) >= args.sessions))
    emit({"phase": "attached" if ok else "attach_timeout",
          "sessions": args.sessions, "subscribers": args.subscribers,
          "server_streams": attached, "seconds": round(time.monotonic() - t0, 2),
          "errors": stats["errors"], "first_error": stats["first_error"]})

    submit_task = asyncio.create_task(submitter())
    try:
        await asyncio.wait_for(stop.wait(), args.hold)
    except asyncio.TimeoutError:
        pass
    stop.set()
    submit_task.cancel()
    # Sessions notice `stop` within one read; subscribers are cancelled.
    for t in tasks[: args.subscribers]:
        t.cancel()
    await asyncio.wait(tasks + [submit_task], timeout=30)
    for t in tasks:
        t.cancel()
    for c in channels:
        await c.close(grace=None)
    lat = sorted(read_latencies)
    emit({"phase": "done", "session_reads": stats["reads"],
          "read_p50_us": round(percentile(lat, 0.5) * 1e6, 1),
          "read_p99_us": round(percentile(lat, 0.99) * 1e6, 1),
          "events": stats["events"], "events_lost": stats["lost"],
          "errors": stats["errors"], "first_error": stats["first_error"],
          "cpu_s": round(sum(os.times()[:2]), 2),
          "seconds": round(time.monotonic() - t0, 2)})
    # Everything is reported. With grpcio 1.51, asyncio.run's teardown can
    # wait tens of seconds on the aio calls just cancelled; nothing is left
    # to flush, so leave at once.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
