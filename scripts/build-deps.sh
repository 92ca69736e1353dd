#!/usr/bin/env bash
# build-deps.sh — build XNNPACK, pthreadpool and cpuinfo (third_party/pins.txt) once per machine and
# print the install prefix that edgelm's CMake takes as EDGELM_DEPS_PREFIX.
#
#   scripts/build-deps.sh [--arch native|aarch64]
#
# The prefix is a folder of the cache named by a hash of what the result depends on (the pins,
# cmake/xnnpack_options.cmake, cmake/pthreadpool_spin.cmake (the one edit made to the pinned sources),
# the compiler, the architecture and this script's recipe number, raised
# when the build steps below change their result): a second run prints it at once, a changed pin
# builds a new one. Sources come from $EDGELM_THIRD_PARTY_DIR
# (default ../shared/third_party), checked against the pinned sha256, or are fetched with git by commit.
# Env: EDGELM_DEPS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/edgelm-deps), EDGELM_THIRD_PARTY_DIR.
# Build progress goes to stderr; stdout is only the prefix.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
arch=native
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build-deps.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
log() { printf '[build-deps] %s\n' "$*" >&2; }
recipe=1

pins="$repo/third_party/pins.txt"
options="$repo/cmake/xnnpack_options.cmake"
spin="$repo/cmake/pthreadpool_spin.cmake"
toolchain_args=()
case "$arch" in
  # The system compiler whatever CC says: the fuzz build (clang) links the same C libraries as the rest.
  native) cc=cc; unset CC CXX ;;
  aarch64)
    cc=aarch64-linux-gnu-gcc
    toolchain_args=(-DCMAKE_TOOLCHAIN_FILE="$repo/cmake/aarch64-linux-gnu.toolchain.cmake") ;;
  *) echo "build-deps.sh: --arch must be native or aarch64, not '$arch'" >&2; exit 2 ;;
esac

key=$( { cat "$pins" "$options" "$spin"; echo "recipe $recipe $arch"; uname -m; "$cc" --version | head -n 1; } |
       sha256sum | cut -c1-16)
cache="${EDGELM_DEPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgelm-deps}"
prefix="$cache/$arch-$key"
if [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi

third_party="${EDGELM_THIRD_PARTY_DIR:-$repo/../shared/third_party}"
work="$cache/.work-$arch-$key"
rm -rf "$work" && mkdir -p "$work/src"
# fetch NAME URL COMMIT SHA256: the source tree of NAME at COMMIT into $work/src/NAME.
fetch() {
  local name="$1" url="$2" commit="$3" sha="$4" archive="$third_party/$1-$3.tar.gz"
  if [ -f "$archive" ]; then
    if [ "$(sha256sum <"$archive" | cut -c1-64)" != "$sha" ]; then
      echo "build-deps.sh: $archive does not match its pinned sha256 $sha" >&2
      exit 1
    fi
    tar -xzf "$archive" -C "$work/src"
    mv "$work/src/$name-$commit" "$work/src/$name"
  else
    log "$name: no offline archive in $third_party; fetching $url at $commit"
    git init -q "$work/src/$name"
    git -C "$work/src/$name" fetch -q --depth 1 "$url" "$commit"
    git -C "$work/src/$name" -c advice.detachedHead=false checkout -q FETCH_HEAD
  fi
}
while read -r name url commit sha; do
  case "$name" in ''|'#'*) continue ;; esac
  fetch "$name" "$url" "$commit" "$sha"
done <"$pins"
cmake -DPTHREADPOOL_SOURCE_DIR="$work/src/pthreadpool" -P "$spin"

# XNNPACK adds pthreadpool and cpuinfo as subprojects and installs all three; every *_SOURCE_DIR is set,
# or its configure step would try to download them.
log "building XNNPACK, pthreadpool and cpuinfo for $arch into $prefix (a few minutes, once)"
src="$work/src"
cmake -S "$src/XNNPACK" -B "$work/build" -G Ninja -C "$options" "${toolchain_args[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
  -DPTHREADPOOL_SOURCE_DIR="$src/pthreadpool" -DCPUINFO_SOURCE_DIR="$src/cpuinfo" \
  -DFXDIV_SOURCE_DIR="$src/FXdiv" >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log" >&2; exit 1; }
cmake --build "$work/build" --parallel "$(nproc)" >"$work/build.log" 2>&1 ||
  { tail -n 50 "$work/build.log" >&2; exit 1; }
rm -rf "$prefix"
cmake --install "$work/build" >/dev/null
cp "$pins" "$prefix/pins.txt"
touch "$prefix/.complete"
rm -rf "$work"
log "built in ${SECONDS}s"
echo "$prefix"
