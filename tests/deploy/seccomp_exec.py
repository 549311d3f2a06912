#!/usr/bin/python3
"""Runs a command under a Docker-format seccomp profile, as a container
runtime would apply it, without a container runtime: the tests run overlapd
and overlap under deploy/seccomp/overlapd.json this way.

    seccomp_exec.py PROFILE.json [--drop NAME,...] -- COMMAND [ARG...]

--drop removes syscalls from the profile's allow rules first (the tests'
negative control: the same profile without io_uring). Needs python3-seccomp
(libseccomp's Python binding, Debian package python3-seccomp); exits 77 when
it is missing, so that a caller can skip with that reason.
"""
import errno
import json
import os
import sys

try:
    import seccomp
except ImportError:
    sys.stderr.write("seccomp_exec: python3-seccomp is not installed\n")
    sys.exit(77)

OPS = {
    "SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_LT": seccomp.LT, "SCMP_CMP_LE": seccomp.LE,
    "SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_GE": seccomp.GE, "SCMP_CMP_GT": seccomp.GT,
    "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ,
}


def action(name, errno_ret):
    if name == "SCMP_ACT_ALLOW":
        return seccomp.ALLOW
    if name == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(errno_ret if errno_ret is not None else errno.EPERM)
    if name == "SCMP_ACT_KILL":
        return seccomp.KILL
    raise SystemExit("seccomp_exec: unsupported action " + name)


def build(profile, drop):
    f = seccomp.SyscallFilter(action(profile["defaultAction"], profile.get("defaultErrnoRet")))
    for rule in profile["syscalls"]:
        act = action(rule["action"], rule.get("errnoRet"))
        args = [seccomp.Arg(a["index"], OPS[a["op"]], a["value"], a.get("valueTwo", 0))
                for a in rule.get("args", [])]
        for name in rule["names"]:
            if name in drop and rule["action"] == "SCMP_ACT_ALLOW":
                continue
            try:
                f.add_rule(act, name, *args)
            except (RuntimeError, ValueError):
                pass  # not a syscall of this architecture (as Docker does)
    return f


def main(argv):
    if "--" not in argv:
        raise SystemExit(__doc__)
    split = argv.index("--")
    opts, command = argv[1:split], argv[split + 1:]
    drop = set()
    if len(opts) == 3 and opts[1] == "--drop":
        drop = set(opts[2].split(","))
    with open(opts[0]) as fh:
        profile = json.load(fh)
    build(profile, drop).load()
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
