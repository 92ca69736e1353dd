#!/usr/bin/env bash
# build-xcframework.sh — builds bindings/swift/CEdgelm.xcframework: libedgelm.a (with its dependencies
# inside) for iOS devices (arm64) and for the simulator (arm64 + x86_64), with edgelm.h and the CEdgelm
# module map. macOS only: Xcode and CMake >= 3.22. The first run downloads the pinned dependency sources.
#
#   scripts/build-xcframework.sh        (env: BUILD_DIR, default build-ios: one build per slice)
#
# Each slice is its own configure of the ios-arm64 preset: the kernels and XNNPACK pick their sources by
# architecture at configure time, so one build cannot hold two architectures.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -s)" != Darwin ]; then
  echo "build-xcframework.sh: iOS libraries need macOS with Xcode; this machine runs $(uname -s)." >&2
  echo "See docs/ios.md." >&2
  exit 1
fi
for tool in xcodebuild cmake lipo; do
  if ! command -v "$tool" >/dev/null; then
    echo "build-xcframework.sh: $tool not found: install Xcode (xcode-select --install) and CMake >= 3.22" >&2
    exit 1
  fi
done

build_dir="${BUILD_DIR:-build-ios}"
xcframework=bindings/swift/CEdgelm.xcframework
first_slice="$build_dir/iphoneos-arm64"
dependencies="xnnpack cpuinfo pthreadpool fxdiv flatbuffers"  # third_party/pins.txt and flatbuffers, lower case

# build_slice SDK ARCH: configures and builds libedgelm.a for one SDK and architecture.
build_slice() {
  local sdk=$1 arch=$2
  local dir="$build_dir/$sdk-$arch"
  local reuse=()
  if [ "$dir" != "$first_slice" ]; then
    # Later slices reuse the first one's downloads and its flatc, which runs on this Mac.
    local name
    for name in $dependencies; do
      reuse+=("-DFETCHCONTENT_SOURCE_DIR_$(tr '[:lower:]' '[:upper:]' <<<"$name")=$PWD/$first_slice/_deps/$name-src")
    done
    reuse+=("-DFLATC_EXECUTABLE=$PWD/$first_slice/flatc-host/bin/flatc")
  fi
  echo "== $sdk $arch"
  cmake --preset ios-arm64 -B "$dir" -DCMAKE_OSX_SYSROOT="$sdk" -DCMAKE_OSX_ARCHITECTURES="$arch" \
    -DCMAKE_SYSTEM_PROCESSOR="$arch" ${reuse[@]+"${reuse[@]}"}
  cmake --build "$dir" --config Release --target edgelm_static
}

build_slice iphoneos arm64
build_slice iphonesimulator arm64
build_slice iphonesimulator x86_64

# The Xcode generator puts a target's output in <its folder>/<config>-<sdk>.
library() { echo "$build_dir/$1-$2/src/Release-$1/libedgelm.a"; }
mkdir -p "$build_dir/simulator"
lipo -create "$(library iphonesimulator arm64)" "$(library iphonesimulator x86_64)" \
  -output "$build_dir/simulator/libedgelm.a"

headers="$build_dir/headers"
rm -rf "$headers"
mkdir -p "$headers/edgelm"
cp include/edgelm/edgelm.h "$headers/edgelm/"
cp bindings/swift/module.modulemap "$headers/"

rm -rf "$xcframework"  # xcodebuild does not overwrite
xcodebuild -create-xcframework \
  -library "$(library iphoneos arm64)" -headers "$headers" \
  -library "$build_dir/simulator/libedgelm.a" -headers "$headers" \
  -output "$xcframework"
echo "built $xcframework"
