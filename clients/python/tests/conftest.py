"""Fixtures: the real overlapd binary on loopback, and the client package.

Environment:
    OVERLAPD_BIN     the server binary (default: build/bin/overlapd of the repo)
    OVERLAPD_PY_GEN  folder with the generated stubs (overlapd/v1/*_pb2*.py);
                     when unset and no stubs are importable, generate.sh
                     writes them into a temporary folder for this run.
"""

from __future__ import annotations

import atexit
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest

PYTHON_DIR = Path(__file__).resolve().parent.parent   # clients/python
REPO = PYTHON_DIR.parent.parent

if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))


def _stubs_present() -> bool:
    dirs = [os.environ.get("OVERLAPD_PY_GEN", ""), str(PYTHON_DIR / "_gen"), *sys.path]
    return any(d and (Path(d) / "overlapd/v1/overlapd_pb2_grpc.py").is_file() for d in dirs)


if not _stubs_present():
    _gen = tempfile.mkdtemp(prefix="overlapd-pygen-")
    atexit.register(shutil.rmtree, _gen, ignore_errors=True)
    subprocess.run([str(PYTHON_DIR / "generate.sh"), _gen], check=True)
    os.environ["OVERLAPD_PY_GEN"] = _gen

import overlapd  # noqa: E402  (after the stubs are in place)

READY_TIMEOUT_S = 30.0


class Server:
    """A running overlapd: ``target`` is its gRPC address, ``root`` its --root."""

    def __init__(self, proc: subprocess.Popen, target: str, metrics: str, root: Path):
        self.proc = proc
        self.target = target
        self.metrics = metrics
        self.root = root
        self.log: Callable[[], str] = lambda: ""

    def client(self) -> overlapd.Client:
        return overlapd.Client(self.target, timeout=60)

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of the server's /metrics (0 when absent)."""
        with urllib.request.urlopen(f"http://{self.metrics}/metrics", timeout=10) as r:
            text = r.read().decode()
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            key, _, value = line.rpartition(" ")
            if key.split("{")[0] != name:
                continue
            have = key[len(name):].strip("{}")
            if sorted(have.split(",")) == sorted(want.split(",")) or (not want and not have):
                return float(value)
        return 0.0


def _run_server(tmp_path_factory: pytest.TempPathFactory,
                extra_flags: tuple = ()) -> Iterator[Server]:
    """Starts overlapd with `extra_flags`, yields it, drains it with SIGTERM."""
    binary = Path(os.environ.get("OVERLAPD_BIN", REPO / "build/bin/overlapd"))
    if not os.access(binary, os.X_OK):
        pytest.fail(f"overlapd binary {binary} missing: build it, or set OVERLAPD_BIN")
    root = tmp_path_factory.mktemp("root")
    log = open(tmp_path_factory.mktemp("log") / "overlapd.log", "w+b")
    proc = subprocess.Popen(
        [str(binary), "--root", str(root), "--listen", "127.0.0.1:0",
         "--metrics-listen", "127.0.0.1:0", "--workers", "2", "--drain-seconds", "10",
         *extra_flags],
        stdout=subprocess.PIPE, stderr=log, text=True)

    # Read the ready line on a thread so a server that hangs before printing
    # it fails the test after a timeout instead of blocking it.
    # spdlog writes its log to stdout too: keep every line for the failure
    # messages.
    lines: "queue.Queue[str]" = queue.Queue()
    output: list = []

    def pump() -> None:
        assert proc.stdout is not None  # stdout=PIPE
        for line in proc.stdout:
            output.append(line)
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()

    def server_log() -> str:
        log.seek(0)
        return "".join(output) + log.read().decode(errors="replace")

    ready = ""
    try:
        while not ready.startswith("overlapd ready "):
            ready = lines.get(timeout=READY_TIMEOUT_S)
    except queue.Empty:
        proc.kill()
        pytest.fail(f"overlapd printed no ready line in {READY_TIMEOUT_S}s; log:\n"
                    + server_log())
    fields = dict(f.split("=", 1) for f in ready.split()[2:])
    srv = Server(proc, fields["grpc"], fields["metrics"], root)
    srv.log = server_log
    yield srv

    # A server that died during a test was reported by that test (see
    # `client`); raising here again would only bury pytest's summary.
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    rc: object
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = "no exit within 30 s"
    reader.join(timeout=5)
    if rc != 0:
        # A teardown failure of a session fixture is reported as an error
        # of the last test.
        pytest.fail(f"overlapd did not drain cleanly on SIGTERM ({rc}); log:\n{server_log()}",
                    pytrace=False)


def mkdirs(server: Server, *dirs: str) -> None:
    """Makes folders under the server's root directly: writes do not create
    parents, and the tests should not depend on the Mkdir op."""
    for d in dirs:
        (server.root / d).mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _run_server(tmp_path_factory)


# Bearer tokens of `token_server`: one read-only, one read-write under team/.
READ_TOKEN = "py-read-token-0123456789"
TEAM_TOKEN = "py-team-token-0123456789"


@pytest.fixture(scope="session")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An overlapd with --tokens (READ_TOKEN: read; TEAM_TOKEN: read,write team/)."""
    tokens = tmp_path_factory.mktemp("tokens") / "tokens"
    tokens.write_text(f"{READ_TOKEN} read\n{TEAM_TOKEN} read,write team/\n")
    yield from _run_server(tmp_path_factory, ("--tokens", str(tokens)))


@pytest.fixture()
def client(server: Server) -> Iterator[overlapd.Client]:
    if server.proc.poll() is not None:
        pytest.fail(f"overlapd is not running (exit {server.proc.returncode})", pytrace=False)
    with server.client() as c:
        yield c
    rc = server.proc.poll()
    if rc is not None:
        pytest.fail(f"overlapd died during this test (exit {rc}); log:\n{server.log()}",
                    pytrace=False)
