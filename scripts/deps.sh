#!/usr/bin/env bash
# Installs the Debian 12 packages overlapd builds and tests with, when any is
# missing. Shared by the Makefile and .ci/run so the list lives in one place.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ccache git curl procps
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev prometheus-cpp-dev liburing-dev libisal-dev
  libgtest-dev libgmock-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgoogle-perftools-dev libssl-dev libcivetweb-dev libsystemd-dev libsqlite3-dev
  python3-grpcio python3-protobuf python3-pytest python3-crc32c
  python3-setuptools python3-wheel python3-venv python3-pip
)
# Test-only peers: a real Prometheus scrapes the server in the metrics test
# (and promtool checks the metrics, the alert rules and their unit test);
# openssl makes the certificates of the TLS tests; chromium loads the status
# page headless; yamllint and systemd (systemd-analyze verify) check deploy/;
# python3-seccomp runs overlapd under deploy/seccomp/overlapd.json; clang
# runs its thread-safety analysis over the sources (scripts/thread_safety.py);
# python3-mypy checks the Python client's types (mypy --strict).
if [[ "${1:-}" == "--test" ]]; then
  PACKAGES+=(prometheus openssl chromium yamllint systemd python3-seccomp clang python3-mypy)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
