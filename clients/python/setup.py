"""Builds the package with its generated stubs.

build_py copies the sources, then puts overlapd/v1/overlapd_pb2.py and
overlapd_pb2_grpc.py into the build: generated from ../../proto with
Debian's protoc and grpc_python_plugin (generate.sh) when the proto is
there, else copied from $OVERLAPD_PY_GEN or _gen/ (stubs made beforehand).
Metadata lives in pyproject.toml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
STUBS = ("overlapd_pb2.py", "overlapd_pb2_grpc.py")


def _prebuilt() -> str:
    for folder in (os.environ.get("OVERLAPD_PY_GEN", ""), os.path.join(HERE, "_gen")):
        if folder and all(os.path.isfile(os.path.join(folder, "overlapd/v1", f)) for f in STUBS):
            return folder
    return ""


class BuildWithStubs(build_py):
    """build_py, plus the protobuf and gRPC stubs of overlapd.proto."""

    def run(self) -> None:
        super().run()
        out = os.path.join(self.build_lib, "overlapd", "v1")
        os.makedirs(out, exist_ok=True)
        proto = os.path.join(HERE, "..", "..", "proto", "overlapd", "v1", "overlapd.proto")
        with tempfile.TemporaryDirectory() as tmp:
            source = _prebuilt()
            if os.path.isfile(proto):
                subprocess.run([os.path.join(HERE, "generate.sh"), tmp], check=True)
                source = tmp
            if not source:
                raise SystemExit("overlapd: no proto/overlapd/v1/overlapd.proto beside "
                                 "clients/python and no prebuilt stubs (OVERLAPD_PY_GEN)")
            for f in STUBS:
                shutil.copyfile(os.path.join(source, "overlapd/v1", f), os.path.join(out, f))


setup(cmdclass={"build_py": BuildWithStubs})
