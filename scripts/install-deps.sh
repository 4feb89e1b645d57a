#!/usr/bin/env bash
# Installs the Debian 12 packages Kestrel needs, only those missing, and says what it does.
#   scripts/install-deps.sh test    compiler, CMake, Eigen, xsimd, Catch2, Google Benchmark,
#                                   Python with matplotlib (the report of the CI smoke run)
#   scripts/install-deps.sh bench   the same, plus R with the cluster package (k-medoids peer)
# Exits non-zero, printing the exact apt-get line, when it cannot install (not root, no sudo).
set -euo pipefail

set_name=${1:-test}
packages=(g++ make cmake libeigen3-dev libxsimd-dev catch2 libbenchmark-dev python3 python3-matplotlib)
case "$set_name" in
  test) ;;
  bench) packages+=(r-base-core r-cran-cluster libsundials-dev) ;;
  *) echo "usage: $0 [test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "kestrel: all required Debian packages are installed (${set_name})"
  exit 0
fi

line="apt-get install -y --no-install-recommends ${missing[*]}"
echo "kestrel: installing missing packages: $line"
if [ "$(id -u)" -eq 0 ]; then
  run=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run=(sudo -n)
else
  echo "kestrel: cannot install packages (not root and no password-less sudo). Run as root:" >&2
  echo "  apt-get update && $line" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! { "${run[@]}" apt-get update -qq && "${run[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
  echo "kestrel: package installation failed; the command was:" >&2
  echo "  apt-get update && $line" >&2
  exit 1
fi
