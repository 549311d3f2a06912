#!/usr/bin/env bash
# Generates the Python protobuf and gRPC stubs of proto/overlapd/v1/overlapd.proto.
#
#   clients/python/generate.sh [OUTDIR]     (default: clients/python/_gen)
#
# Writes OUTDIR/overlapd/v1/overlapd_pb2.py and overlapd_pb2_grpc.py. The
# stubs are build output, never committed: the `overlapd` package finds them
# through OVERLAPD_PY_GEN, clients/python/_gen, or any sys.path entry that
# holds overlapd/v1/ (see overlapd/__init__.py).
#
# Uses Debian's protoc (protobuf-compiler) and gRPC Python plugin
# (protobuf-compiler-grpc), which match python3-protobuf / python3-grpcio;
# grpcio-tools from PyPI is not needed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
out="${1:-${here}/_gen}"
protoc="${PROTOC:-protoc}"
plugin="${GRPC_PYTHON_PLUGIN:-/usr/bin/grpc_python_plugin}"

if [[ ! -x "${plugin}" ]]; then
  echo "generate.sh: ${plugin} missing (Debian package protobuf-compiler-grpc)" >&2
  exit 1
fi

# Generate into a temporary folder, then move into place, so that a reader
# (a parallel build or test) never sees a half-written module.
mkdir -p "${out}"
tmp="$(mktemp -d "${out}/.gen.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT
"${protoc}" -I "${repo}/proto" \
  --python_out="${tmp}" --grpc_out="${tmp}" \
  --plugin=protoc-gen-grpc="${plugin}" \
  "${repo}/proto/overlapd/v1/overlapd.proto"
# overlapd/ and overlapd/v1/ stay without __init__.py on purpose: they are
# namespace portions merged into the source package `overlapd`, whose own
# __init__.py must be the one that runs.
mkdir -p "${out}/overlapd/v1"
for f in overlapd_pb2.py overlapd_pb2_grpc.py; do
  mv -f "${tmp}/overlapd/v1/${f}" "${out}/overlapd/v1/${f}"
done
