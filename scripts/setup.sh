#!/usr/bin/env bash
# Installs everything offload needs to build and test (Debian packages, vitest
# from npm for the fixtures) and builds it. Idempotent: a second run only builds.
# Usage: scripts/setup.sh [build-dir]   (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}

pkgs=(g++ cmake ninja-build make pkg-config ccache git
      libboost1.81-dev libboost-filesystem1.81-dev
      libtomlplusplus-dev libpugixml-dev nlohmann-json3-dev libcli11-dev
      libspdlog-dev libfmt-dev doctest-dev openssh-server openssh-client
      python3 python3-pytest python3-pytest-xdist python3-pytest-rerunfailures
      libxml2-utils bubblewrap nodejs npm tmux)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from elsewhere than Debian (e.g. a preinstalled nodejs).
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# vitest for the vitest fixtures and example (v4 supports Node 20).
if [ -f "$root/tests/fixtures/vitest/package.json" ] && [ ! -x "$root/tests/fixtures/vitest/node_modules/.bin/vitest" ]; then
  (cd "$root/tests/fixtures/vitest" && NPM_CONFIG_LOGLEVEL=error npm install --no-audit --no-fund)
fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${OFFLOAD_BUILD_TYPE:-RelWithDebInfo}" \
  "${launcher[@]}" ${OFFLOAD_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$(nproc)"
