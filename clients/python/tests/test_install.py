"""The package as users install it: `pip install --no-build-isolation` of a
copy of the sources (clients/python and proto/, as a checkout has them) into
a fresh venv that sees Debian's packages, then import and a round trip from
that venv alone."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from conftest import PYTHON_DIR, REPO, Server

ROUND_TRIP = """
import os, sys, overlapd
from overlapd import aio
assert overlapd.__file__.startswith(sys.prefix), overlapd.__file__
assert os.path.isfile(os.path.join(os.path.dirname(overlapd.__file__), "py.typed"))
c = aio.connect(sys.argv[1])
c.writefile("installed.txt", b"round trip")
with aio.events() as events:
    assert [e.type for e in events] == [aio.EventType.FileWriteComplete]
h = aio.readfile("installed.txt")
with aio.events() as events:
    list(events)
print(bytes(h.event.buf).decode())
"""


def test_pip_install_into_a_fresh_venv(server: Server, tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(PYTHON_DIR, checkout / "clients/python",
                    ignore=shutil.ignore_patterns("_gen", "build", "*.egg-info", "__pycache__",
                                                  ".mypy_cache", ".pytest_cache"))
    shutil.copytree(REPO / "proto", checkout / "proto")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OVERLAPD_PY_GEN")}
    venv = tmp_path / ".venv"

    def run(*args: str) -> str:
        out = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=180)
        assert out.returncode == 0, f"{args}:\n{out.stdout}\n{out.stderr}"
        return out.stdout

    run("/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv))
    run(str(venv / "bin/pip"), "install", "--no-build-isolation", "--no-input",
        str(checkout / "clients/python"))
    assert run(str(venv / "bin/python"), "-c", ROUND_TRIP, server.target) == "round trip\n"
    # Positive control: outside the venv, without PYTHONPATH, there is no package.
    out = subprocess.run(["/usr/bin/python3", "-c", "import overlapd.aio"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "overlapd" in out.stderr
