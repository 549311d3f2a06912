# Sourced by the benchmark scripts: where the repository and the built
# binaries are. BUILD_DIR (default build, relative to the repository).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
build="${BUILD_DIR:-build}"
[[ "${build}" = /* ]] || build="${repo}/${build}"
bin="${build}/bin"
