#!/usr/bin/python3
"""Parsers of the peer tools' output, and the writer of docs/PERFORMANCE.md.

Part of tests/bench (see README.md); run.sh calls it:

  report.py parse-fio FIO.json            -> one JSON object on stdout
  report.py parse-wrk WRK.txt             -> one JSON object
  report.py parse-h2load H2LOAD.txt LOG   -> one JSON object
  report.py write RESULTS.jsonl OUT.md    -> the report
  report.py sample-other SUITE_PID OUT    -> CPU use of other processes, until killed

Every parsed object uses the names of `overlap bench --json`: ops, ops_per_s
(or iops), mb_per_s (MB = 10^6 bytes), p50_us, p90_us, p99_us, seconds.
Standard library only.
"""

import json
import os
import re
import statistics
import sys
import time


# ---------------------------------------------------------------------------
# Parsers


def parse_fio(path):
    with open(path) as f:
        text = f.read()
    # fio may print warnings before its JSON.
    data = json.loads(text[text.index("{"):])
    job = data["jobs"][0]
    side = job["read"] if job["read"]["io_bytes"] > 0 else job["write"]
    pct = side.get("clat_ns", {}).get("percentile", {})
    runtime_s = side["runtime"] / 1000.0 if side.get("runtime") else 0.0

    def us(key):
        return round(pct.get(key, 0) / 1000.0, 1)

    out = {"iops": round(side["iops"], 1), "mb_per_s": round(side["bw_bytes"] / 1e6, 2),
           "ops": side["total_ios"], "bytes": side["io_bytes"], "seconds": runtime_s,
           "p50_us": us("50.000000"), "p90_us": us("90.000000"),
           "p99_us": us("99.000000"), "p999_us": us("99.900000"),
           "errors": job.get("error", 0), "jobs": len(data["jobs"])}
    sync = job.get("sync", {}).get("lat_ns", {})
    if sync.get("N"):
        # With --fdatasync fio times the syncs apart from the writes.
        out["sync_mean_us"] = round(sync["mean"] / 1000.0, 1)
    return out


_UNITS_US = {"us": 1.0, "ms": 1000.0, "s": 1e6, "m": 60e6}
_UNITS_B = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


def _duration_us(text):
    m = re.match(r"([0-9.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * _UNITS_US[m.group(2)] if m else 0.0


def parse_wrk(path):
    text = open(path).read()
    out = {}
    m = re.search(r"(\d+) requests in ([0-9.]+)(\w+), ([0-9.]+)(\w+) read", text)
    if not m:
        return {"error": "no wrk summary", "raw": text[-300:]}
    requests = int(m.group(1))
    seconds = _duration_us(m.group(2) + m.group(3)) / 1e6
    read_bytes = float(m.group(4)) * _UNITS_B.get(m.group(5), 1)
    out.update({"ops": requests, "ops_total": requests, "seconds": seconds,
                "ops_per_s": round(requests / seconds, 1) if seconds else 0,
                # wrk counts response headers too (about 250 B per response).
                "mb_per_s": round(read_bytes / seconds / 1e6, 2) if seconds else 0})
    for q, key in (("50", "p50_us"), ("90", "p90_us"), ("99", "p99_us")):
        m = re.search(r"^\s+" + q + r"%\s+([0-9.]+\w+)", text, re.M)
        if m:
            out[key] = round(_duration_us(m.group(1)), 1)
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(g) for g in m.groups())
    out["errors"] = errors
    return out


def parse_h2load(path, log_path):
    text = open(path).read()
    m = re.search(r"finished in ([0-9.]+)(\w+), ([0-9.]+) req/s", text)
    if not m:
        return {"error": "no h2load summary", "raw": text[-300:]}
    seconds = _duration_us(m.group(1) + m.group(2)) / 1e6
    out = {"seconds": seconds, "ops_per_s": float(m.group(3))}
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored", text)
    if m:
        out["ops"] = int(m.group(4))
        out["ops_total"] = int(m.group(3))
        out["errors"] = int(m.group(5)) + int(m.group(6))
    m = re.search(r"traffic: .*\((\d+)\) data", text)
    if m and seconds:
        out["bytes"] = int(m.group(1))
        out["mb_per_s"] = round(int(m.group(1)) / seconds / 1e6, 2)
    # The log holds one line per request: start (us since epoch), status,
    # duration (us). h2load itself prints no percentiles.
    durations = []
    try:
        for line in open(log_path):
            parts = line.split()
            if len(parts) >= 3:
                durations.append(float(parts[2]))
    except OSError:
        pass
    if durations:
        durations.sort()
        for q, key in ((0.5, "p50_us"), (0.9, "p90_us"), (0.99, "p99_us")):
            out[key] = durations[min(len(durations) - 1, int(q * len(durations)))]
    return out


# ---------------------------------------------------------------------------
# Other work on the machine


def _proc_table():
    """{pid: (ppid, cpu ticks, comm)} of every process."""
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                text = f.read()
        except OSError:
            continue
        close = text.rfind(")")
        fields = text[close + 2:].split()
        procs[int(d)] = (int(fields[1]), int(fields[11]) + int(fields[12]),
                         text[text.find("(") + 1:close])
    return procs


def sample_other(suite_pid, out_path, interval=0.5, limit_s=7200):
    """Every `interval` s, appends to `out_path` how many cores processes
    outside the suite used since the last sample, and which. Kernel threads
    are left out: writeback and io-wq work mostly serve the suite itself."""
    tick = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    prev = _proc_table()
    prev_t = time.monotonic()
    end = prev_t + limit_s
    with open(out_path, "a") as out:
        while time.monotonic() < end:
            time.sleep(interval)
            procs = _proc_table()
            now = time.monotonic()
            used = {}
            for pid, (ppid, ticks, comm) in procs.items():
                if pid not in prev or pid in (1, 2) or ppid == 2:
                    continue
                chain, p, ours = 0, pid, False
                while p > 1 and chain < 64:
                    if p in (suite_pid, me):
                        ours = True
                        break
                    p = procs.get(p, (1,))[0]
                    chain += 1
                if ours:
                    continue
                delta = ticks - prev[pid][1]
                if delta > 0:
                    used[comm] = used.get(comm, 0) + delta
            total = sum(used.values()) / tick / (now - prev_t)
            top = sorted(used.items(), key=lambda kv: -kv[1])[:3]
            out.write(json.dumps({"t": time.time(), "cores": round(total, 3),
                                  "top": [c for c, _ in top]}) + "\n")
            out.flush()
            prev, prev_t = procs, now


def other_load(samples_path, start, end):
    """Mean cores used by other processes in [start, end] and their names."""
    vals, names = [], {}
    try:
        for line in open(samples_path):
            s = json.loads(line)
            if start <= s["t"] <= end:
                vals.append(s["cores"])
                if s["cores"] > 0.05:
                    for c in s["top"]:
                        names[c] = names.get(c, 0) + 1
    except (OSError, ValueError):
        return None, []
    if not vals:
        return None, []
    return sum(vals) / len(vals), [c for c, _ in sorted(names.items(), key=lambda kv: -kv[1])[:3]]


# ---------------------------------------------------------------------------
# The report


class Results:
    def __init__(self, path):
        self.rows = []
        # run.sh writes the other-load samples beside the results.
        cand = os.path.join(os.path.dirname(os.path.abspath(path)), "other-load.jsonl")
        self.samples_path = cand if os.path.exists(cand) else None
        for line in open(path):
            line = line.strip()
            if line:
                try:
                    self.rows.append(json.loads(line))
                except ValueError:
                    pass

    def one(self, section):
        for r in self.rows:
            if r.get("section") == section:
                return r
        return {}

    def runs(self, section, case, tool):
        return [r for r in self.rows
                if r.get("section") == section and r.get("case") == case and r.get("tool") == tool]

    def median(self, section, case, tool, key):
        vals = [r[key] for r in self.runs(section, case, tool)
                if isinstance(r.get(key), (int, float)) and not r.get("error")]
        return statistics.median(vals) if vals else None

    def spread(self, section, case, tool, key):
        vals = [r[key] for r in self.runs(section, case, tool)
                if isinstance(r.get(key), (int, float)) and not r.get("error")]
        return (min(vals), max(vals), len(vals)) if vals else None

    def cpu_per_op_us(self, section, case, tool):
        vals = []
        for r in self.runs(section, case, tool):
            ops = r.get("ops_total") or r.get("ops")
            if isinstance(r.get("server_cpu_s"), (int, float)) and ops:
                vals.append(r["server_cpu_s"] / ops * 1e6)
        return statistics.median(vals) if vals else None

    def unsupported(self, section, case, tool):
        for r in self.runs(section, case, tool):
            if r.get("unsupported"):
                return r["unsupported"]
        return None


def fmt(v, digits=0):
    if v is None:
        return "–"
    if isinstance(v, float) and digits == 0 and abs(v) < 10:
        digits = 2
    return f"{v:,.{digits}f}"


def fmt_spread(res, section, case, tool, key, digits=0):
    m = res.median(section, case, tool, key)
    s = res.spread(section, case, tool, key)
    if m is None:
        return "–"
    if s and s[2] > 1:
        return f"{fmt(m, digits)} ({fmt(s[0], digits)}–{fmt(s[1], digits)})"
    return fmt(m, digits)


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def write_report(results_path, out_path):
    res = Results(results_path)
    m = res.one("machine")
    end = res.one("end")
    git = res.one("git")
    L = []
    add = L.append

    add("# overlapd performance")
    add("")
    add("Generated by `make bench` (`tests/bench/run.sh`); do not edit by hand. Every figure "
        f"is the median of {m.get('runs', '?')} runs (min–max in brackets) measured in one run of "
        "the suite, overlapd beside its peer on the same files. MB = 10^6 bytes. "
        "The targets are issue 4's.")
    add("")
    if m.get("quick"):
        add("> **Quick run (`BENCH_QUICK=1`)**: short runs on small files; the figures are a "
            "smoke test, not a measurement.")
        add("")
    load_start = " ".join(m.get("loadavg_start", []))
    load_end = end.get("loadavg_end", "")
    add("## Machine")
    add("")
    add("| | |")
    add("|---|---|")
    add(f"| date | {m.get('date', '')} (commit {git.get('commit', '?')}"
        f"{', with local changes' if git.get('dirty') else ''}"
        f"{'; binaries built ' + git['built'] if git.get('built') else ''}) |")
    add(f"| cores | {m.get('cores')} ({m.get('cpu', '')}) |")
    add(f"| memory | {m.get('memory_bytes', 0) / 2**30:.1f} GiB |")
    add(f"| kernel | {m.get('kernel', '')} |")
    add(f"| disk | {m.get('disk', '')} ({m.get('device', '')}, {m.get('fstype', '')}) |")
    add(f"| virtualization | {m.get('virt') or 'none detected'} |")
    add(f"| load average | {load_start} at start, {load_end} at end |")
    add(f"| suite time | {end.get('suite_seconds', '?')} s, {m.get('duration_s', '?')} s per timed run |")
    add("")
    marks = sorted((r["t"], r["name"]) for r in res.rows if r.get("section") == "mark")
    samples = res.samples_path
    if marks and samples:
        add("Other work on the machine while each part ran (CPU used by processes outside the "
            "suite, sampled every 0.5 s; kernel threads left out):")
        add("")
        add("| part | other processes, mean cores busy | mostly |")
        add("|---|---|---|")
        noisy = []
        for i, (t, name) in enumerate(marks):
            t_end = marks[i + 1][0] if i + 1 < len(marks) else end.get("t", t + 1e9)
            load, names = other_load(samples, t, t_end)
            if load is None:
                continue
            flag = ""
            if load > 0.1 * float(m.get("cores", 1)):
                flag = " **(noisy)**"
                noisy.append(name)
            add(f"| {name} | {load:.2f} of {m.get('cores')}{flag} | {', '.join(names) or '–'} |")
        add("")
        if noisy:
            add(f"> **Noisy machine**: other work used more than a tenth of the cores during: "
                f"{', '.join(noisy)}. Ratios (measured side by side, tools alternating) hold "
                "better than absolute figures there; latency tails suffer most.")
            add("")

    # --- Targets -------------------------------------------------------------
    add("## Targets")
    add("")
    add("| workload | target | overlapd | peer | ratio | |")
    add("|---|---|---|---|---|---|")

    def target_row(name, target, ours, peer, value, goal, higher=True, unit="", note=""):
        if value is None:
            verdict = "not measured" + (f": {note}" if note else "")
            shown = "–"
        else:
            ok = value >= goal if higher else value < goal
            verdict = "**met**" if ok else "**not met**"
            shown = f"{value:.2f}×"
        add(f"| {name} | {target} | {ours} | {peer} | {shown} | {verdict} |")

    # Ratio targets: overlapd's figure over its peer's, from the same case.
    # (section, case, overlapd tool, peer tool, field, name, target, goal,
    #  overlapd unit, peer unit)
    ratio_targets = [
        ("engine", "randread_direct_qd32", "engine", "fio", "iops",
         "engine, 4 KiB random read, O_DIRECT, QD32", "≥ 1.0× fio io_uring IOPS", 1.0, "", ""),
        ("engine", "randread_hot_allcores", "engine", "fio", "iops",
         "engine, 4 KiB random read, hot cache, all cores", "≥ 0.9× fio psync IOPS", 0.9, "", ""),
        ("e2e", "small_4k", "overlapd", "nginx_wrk", "ops_per_s",
         "end to end, 4 KiB reads, batched", "≥ 2.0× nginx+wrk requests/s", 2.0,
         " ops/s", " req/s"),
        ("e2e", "medium_1m", "overlapd", "nginx_h2load", "mb_per_s",
         "end to end, 1 MiB reads", "≥ 1.0× nginx+h2load bytes/s", 1.0, " MB/s", " MB/s"),
        ("huge", "hot", "overlapd", "cat", "mb_per_s",
         "one huge file, hot, one Read op", "≥ 0.8× `cat` throughput", 0.8, " MB/s", " MB/s"),
    ]
    for section, case, ours_tool, peer_tool, field, name, target, goal, ours_unit, peer_unit \
            in ratio_targets:
        o = res.median(section, case, ours_tool, field)
        p = res.median(section, case, peer_tool, field)
        uns = res.unsupported(section, case, ours_tool)
        target_row(name, target, fmt(o) + ours_unit, fmt(p) + peer_unit, ratio(o, p), goal,
                   note=uns or "")
    loaded_rss = res.median("many", "loaded", "server", "rss_kib")
    idle_p99 = res.median("many", "idle", "probe", "p99_us")
    loaded_p99 = res.median("many", "loaded", "probe", "p99_us")
    subs = [r for r in res.runs("many", "attach", "many_clients")]
    label = "10,000 subscribers + 1,000 sessions"
    if subs and subs[0].get("subscribers") and subs[0].get("subscribers") != 10000:
        label = f"{subs[0]['subscribers']:,} subscribers + {subs[0].get('sessions', 0):,} sessions"
    attached_ok = bool(subs) and subs[0].get("phase") == "attached"
    target_row(label + ": server RSS", "< 1 GiB",
               fmt(loaded_rss / 1024 if loaded_rss else None) + " MiB", "1,024 MiB",
               ratio(loaded_rss / 1024 if loaded_rss else None, 1024), 1.0, higher=False,
               note="" if attached_ok else "streams not attached")
    target_row(label + ": probe p99 4 KiB read", "< 2× idle p99",
               fmt(loaded_p99) + " µs", fmt(idle_p99) + " µs idle", ratio(loaded_p99, idle_p99),
               2.0, higher=False, note="" if attached_ok else "streams not attached")
    add("")

    # --- Engine vs fio -------------------------------------------------------
    add("## Engine vs fio")
    add("")
    add("`overlapd_engine_bench` (ioengine driven directly, no gRPC; latency = submit → "
        "completion) and fio on the same file with the same parameters, run alternately. "
        "fio's latency is its completion latency (clat).")
    add("")
    add("| workload | tool | IOPS | MB/s | p50 µs | p99 µs | ratio (IOPS) |")
    add("|---|---|---|---|---|---|---|")
    engine_cases = [
        ("randread_direct_qd32", "4 KiB random read, O_DIRECT, QD32", ["engine", "fio"]),
        ("randread_hot_allcores", "4 KiB random read, hot cache, all cores "
         "(engine QD 32×cores; fio psync, one job per core)", ["engine", "fio", "fio_uring_qd32"]),
        ("seqread_hot", "1 MiB sequential read, hot, QD8", ["engine", "fio"]),
        ("seqread_cold", "1 MiB sequential read, cold (one pass), QD8", ["engine", "fio"]),
        ("write_1m", "1 MiB writes (page cache), QD8", ["engine", "fio"]),
        ("write_1m_fdatasync", "1 MiB writes + fdatasync each, QD1", ["engine", "fio"]),
    ]
    tool_names = {"engine": "overlapd engine", "fio": "fio",
                  "fio_uring_qd32": "fio io_uring QD32 (reference)"}
    for case, title, tools in engine_cases:
        base = res.median("engine", case, "fio", "iops")
        for t in tools:
            uns = res.unsupported("engine", case, t)
            if uns:
                add(f"| {title} | {tool_names[t]} | {uns} | | | | |")
                continue
            if not res.runs("engine", case, t):
                continue
            v = res.median("engine", case, t, "iops")
            r = ratio(v, base) if t != "fio" else None
            add(f"| {title} | {tool_names[t]} | {fmt_spread(res, 'engine', case, t, 'iops')} | "
                f"{fmt(res.median('engine', case, t, 'mb_per_s'), 1)} | "
                f"{fmt(res.median('engine', case, t, 'p50_us'), 1)} | "
                f"{fmt(res.median('engine', case, t, 'p99_us'), 1)} | "
                f"{'' if r is None else f'{r:.2f}×'} |")
    add("")

    # --- End to end ----------------------------------------------------------
    add("## End to end vs nginx")
    add("")
    add("overlapd and nginx (one worker per core, sendfile, open_file_cache, no access log) "
        "serve the same files from a hot page cache on 127.0.0.1; the clients run on the same "
        "cores. `overlap bench read`: 2 Session streams, each on its own connection and thread; "
        "4 KiB files in batches of 64 with 8 batches in flight per stream, 1 MiB files in "
        "batches of 8 with 4 in flight; latency from batch sent to the op's READ_COMPLETE. "
        "wrk: HTTP/1.1, 64 connections, a random file per request. h2load: HTTP/2, 8 "
        "connections × 8 streams. Server CPU per op = the server's utime+stime during the run "
        "/ ops completed (warm-up and drain included on both sides).")
    add("")
    add("| workload | tool | ops/s | MB/s | p50 µs | p99 µs | server CPU µs/op | ratio |")
    add("|---|---|---|---|---|---|---|---|")
    e2e_cases = [
        ("small_4k", "4 KiB files", [("overlapd", "overlap bench (Session, batched)"),
                                      ("nginx_wrk", "nginx + wrk (HTTP/1.1)")], "ops_per_s",
         "nginx_wrk"),
        ("medium_1m", "1 MiB files", [("overlapd", "overlap bench (Session)"),
                                       ("nginx_h2load", "nginx + h2load (HTTP/2)")], "mb_per_s",
         "nginx_h2load"),
        ("write_4k", "write 4 KiB files", [("overlapd", "overlap bench write")], None, None),
        ("write_1m", "write 1 MiB files", [("overlapd", "overlap bench write")], None, None),
        ("write_1m_durable", "write 1 MiB files, durable (fsync file + dir), one at a time",
         [("overlapd", "overlap bench write --durable")], None, None),
    ]
    for case, title, tools, key, peer in e2e_cases:
        for t, name in tools:
            if not res.runs("e2e", case, t):
                continue
            r = None
            if key and peer and t != peer:
                r = ratio(res.median("e2e", case, t, key), res.median("e2e", case, peer, key))
            add(f"| {title} | {name} | {fmt_spread(res, 'e2e', case, t, 'ops_per_s')} | "
                f"{fmt(res.median('e2e', case, t, 'mb_per_s'), 1)} | "
                f"{fmt(res.median('e2e', case, t, 'p50_us'))} | "
                f"{fmt(res.median('e2e', case, t, 'p99_us'))} | "
                f"{fmt(res.cpu_per_op_us('e2e', case, t), 1)} | "
                f"{'' if r is None else f'{r:.2f}×'} |")
    add("")
    errs = sum(r.get("errors", 0) or 0 for r in res.rows if r.get("section") == "e2e"
               and isinstance(r.get("errors"), int))
    if errs:
        add(f"Errors during the end-to-end runs: {errs} (see the raw results).")
        add("")

    # --- Huge file -----------------------------------------------------------
    add("## One huge file")
    add("")
    big = None
    for r in res.runs("huge", "hot", "cat"):
        big = r.get("bytes")
    add(f"One file of {big / 2**30:.1f} GiB, read whole: through overlapd as one `Read` op "
        "(`overlap bench read --path big.bin --count 1`), by `cat FILE > /dev/null`, by fio "
        "(io_uring, sequential 1 MiB, depth 8), and by the engine alone (the same single op, "
        "no gRPC). Cold: the file's page cache dropped before each read "
        "(POSIX_FADV_DONTNEED, as fio does)." if big else "Not measured.")
    add("")
    add("| cache | tool | MB/s | seconds | ratio vs cat |")
    add("|---|---|---|---|---|")
    for temp in ("hot", "cold"):
        base = res.median("huge", temp, "cat", "mb_per_s")
        for t, name in (("overlapd", "overlapd, one Read op"), ("cat", "cat"),
                        ("fio", "fio io_uring"), ("engine_one_op", "engine alone, one op")):
            if not res.runs("huge", temp, t):
                continue
            v = res.median("huge", temp, t, "mb_per_s")
            r = ratio(v, base) if t != "cat" else None
            add(f"| {temp} | {name} | {fmt_spread(res, 'huge', temp, t, 'mb_per_s')} | "
                f"{fmt(res.median('huge', temp, t, 'seconds'), 2)} | "
                f"{'' if r is None else f'{r:.2f}×'} |")
    add("")

    # --- Many clients --------------------------------------------------------
    add("## Many clients")
    add("")
    att = subs[0] if subs else {}
    done = next(iter(res.runs("many", "done", "many_clients")), {})
    add(f"`tests/bench/many_clients.py` (Python gRPC aio, one process, "
        f"{att.get('sessions', '?')} Session streams + {att.get('subscribers', '?')} Subscribe "
        "streams over 50 connections). Each session reads a 4 KiB file every 5 s; 1% of the "
        "subscribers follow every job event, the rest filter on a prefix nothing matches; one "
        "small detached job per second feeds them. The probe is `overlap bench read` on the "
        "4 KiB files with one op in flight.")
    add("")
    add("| | value |")
    add("|---|---|")
    idle_rss = res.median("many", "idle", "probe", "rss_kib")
    add(f"| streams attached | {att.get('phase', 'not run')} "
        f"(server gauge {json.dumps(att.get('server_streams', {}))}) in {att.get('seconds', '?')} s |")
    add(f"| server RSS idle | {fmt(idle_rss / 1024 if idle_rss else None, 1)} MiB |")
    add(f"| server RSS attached | {fmt(loaded_rss / 1024 if loaded_rss else None, 1)} MiB "
        f"(peak {fmt((res.median('many', 'loaded', 'server', 'hwm_kib') or 0) / 1024, 1)} MiB) |")
    after = res.median("many", "after", "server", "rss_kib")
    add(f"| server RSS after they left | {fmt(after / 1024 if after else None, 1)} MiB |")
    add(f"| probe p50 / p99 idle | {fmt(res.median('many', 'idle', 'probe', 'p50_us'))} / "
        f"{fmt_spread(res, 'many', 'idle', 'probe', 'p99_us')} µs |")
    add(f"| probe p50 / p99 attached | {fmt(res.median('many', 'loaded', 'probe', 'p50_us'))} / "
        f"{fmt_spread(res, 'many', 'loaded', 'probe', 'p99_us')} µs |")
    if done:
        add(f"| session reads during the hold | {done.get('session_reads', 0):,}, p50 "
            f"{fmt(done.get('read_p50_us'))} µs, p99 {fmt(done.get('read_p99_us'))} µs "
            f"(Python client) |")
        add(f"| subscriber events received | {done.get('events', 0):,} "
            f"(lost {done.get('events_lost', 0)}) |")
        add(f"| load tool CPU | {fmt(done.get('cpu_s'), 1)} s over {fmt(done.get('seconds'), 1)} s "
            "(it shares the cores with the server and the probe) |")
        add(f"| load tool errors | {done.get('errors', 0)}"
            f"{': ' + done['first_error'] if done.get('first_error') else ''} |")
    add("")

    # --- Profiles -------------------------------------------------------------
    profiles = [r for r in res.rows if r.get("section") == "profile" and r.get("lines")]
    if profiles:
        add("## Where the server's time goes")
        add("")
        add("`perf record -g` of overlapd during an extra end-to-end run (not a measured one); "
            "the top entries by self time (thread, object, symbol).")
        add("")
        for p in profiles:
            add(f"{'4 KiB reads' if p['case'] == 'small_4k' else '1 MiB reads'}:")
            add("")
            add("```")
            for line in p["lines"]:
                L.append(line if len(line) <= 130 else line[:127] + "...")
            add("```")
            add("")

    add("## How to read this")
    add("")
    add("- Ratios are measured side by side in one run and hold better than absolute "
        "figures; on a shared or virtualized machine the clients, the servers and anything "
        "else running share the same cores.")
    add("- The clients run on the same machine as the servers: on few cores the load "
        "generators (wrk, h2load, `overlap bench`) take a large share of the CPU, which caps "
        "both sides.")
    add("- Raw results (every run) are in `build/bench-results.jsonl`; "
        "`tests/bench/README.md` says how each figure is taken.")
    add("")
    # The buffer lane's section (tests/bench/lane.sh) is kept as it is.
    kept = ""
    if os.path.exists(out_path):
        old = open(out_path).read()
        if "<!-- lane:" in old:
            kept = "\n" + old[old.index("<!-- lane:"):]
    with open(out_path, "w") as f:
        f.write("\n".join(L) + kept)


def main(argv):
    if len(argv) >= 3 and argv[1] == "parse-fio":
        try:
            print(json.dumps(parse_fio(argv[2])))
        except (OSError, ValueError, KeyError, IndexError) as e:
            print(json.dumps({"error": f"fio output: {e}"}))
    elif len(argv) >= 3 and argv[1] == "parse-wrk":
        print(json.dumps(parse_wrk(argv[2])))
    elif len(argv) >= 4 and argv[1] == "parse-h2load":
        print(json.dumps(parse_h2load(argv[2], argv[3])))
    elif len(argv) >= 4 and argv[1] == "write":
        write_report(argv[2], argv[3])
    elif len(argv) >= 4 and argv[1] == "sample-other":
        sample_other(int(argv[2]), argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
