#!/usr/bin/env bash
# android-run.sh — build edgelm for Android arm64 (the android-arm64-v8a preset), copy edgelm-chat,
# libedgelm.so and a model to a device with adb, and run edgelm-chat there.
#
#   scripts/android-run.sh [-s SERIAL] [-m MODEL] [-p PROMPT] [--no-build] [-- CHAT_OPTIONS...]
#
#   -s SERIAL    the device to use when several are connected (default: $ANDROID_SERIAL)
#   -m MODEL     the model file to copy (default: models/brown-tiny-mobile.edgelm)
#   -p PROMPT    one shot: continue PROMPT, then print the stats line; without -p, an interactive REPL
#                (/stats prints the stats line, /quit ends)
#   --no-build   use what the build folder holds
#   CHAT_OPTIONS more edgelm-chat options, e.g. -- --chat -n 64 -t 4
# Env: ANDROID_NDK (needed to build), BUILD_DIR (default build-android-arm64-v8a).
# Files go to /data/local/tmp/edgelm on the device; the model is copied only when it changed. XNNPACK's
# packed weights are kept beside it (MODEL.xnnpack, --packed-cache): the first run writes them, later
# runs map them instead of packing.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "android-run.sh: $*" >&2
  exit 1
}
usage() { sed -n '5,14p' "$0" | sed 's/^# \{0,1\}//'; }

serial="${ANDROID_SERIAL:-}"
model=models/brown-tiny-mobile.edgelm
prompt=""
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    -s | -m | -p) [ $# -ge 2 ] || die "$1 needs a value" ;;
  esac
  case "$1" in
    -s) serial=$2; shift 2 ;;
    -m) model=$2; shift 2 ;;
    -p) prompt=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) usage >&2; exit 2 ;;
  esac
done
chat_options=("$@")

build_dir="${BUILD_DIR:-build-android-arm64-v8a}"
if [ "$build" = 1 ]; then
  [ -n "${ANDROID_NDK:-}" ] ||
    die "ANDROID_NDK is not set: point it at an NDK, e.g. export ANDROID_NDK=\$HOME/Android/Sdk/ndk/<version> (docs/android.md)"
  [ -f "$ANDROID_NDK/build/cmake/android.toolchain.cmake" ] ||
    die "ANDROID_NDK=$ANDROID_NDK is not an NDK: it has no build/cmake/android.toolchain.cmake"
  cmake --preset android-arm64-v8a -B "$build_dir"
  cmake --build "$build_dir" --target chat
fi
chat="$build_dir/examples/edgelm-chat"
library="$build_dir/src/libedgelm.so"
for file in "$chat" "$library"; do
  [ -f "$file" ] || die "$file is missing: build first (run without --no-build)"
done
[ -f "$model" ] || die "no model file $model"

command -v adb >/dev/null || die "adb not found: install the Android SDK platform-tools and put them on PATH"
if [ -z "$serial" ]; then
  devices=$(adb devices | awk 'NR > 1 && $2 == "device" { print $1 }')
  case "$(grep -c . <<<"$devices" || true)" in
    0) die "no device: connect one with USB debugging on, then check that 'adb devices' lists it as 'device'" ;;
    1) serial=$devices ;;
    *) die "several devices (${devices//$'\n'/ }): choose one with -s SERIAL or ANDROID_SERIAL" ;;
  esac
fi
state=$(adb -s "$serial" get-state 2>/dev/null || true)
[ "$state" = device ] || die "device $serial is not ready (state: ${state:-not connected}); see 'adb devices'"
device=(adb -s "$serial")

remote=/data/local/tmp/edgelm
remote_model="$remote/$(basename "$model")"
"${device[@]}" shell mkdir -p "$remote"
"${device[@]}" push "$chat" "$library" "$remote/"
"${device[@]}" push --sync "$model" "$remote_model"

# adb shell runs one command line in the device's sh: quote every word for it.
quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
command_line="cd $remote && LD_LIBRARY_PATH=$remote ./edgelm-chat -m $(quote "$remote_model")"
command_line+=" --packed-cache $(quote "$remote_model.xnnpack")"
for option in ${chat_options[@]+"${chat_options[@]}"}; do
  command_line+=" $(quote "$option")"
done
if [ -n "$prompt" ]; then
  exec "${device[@]}" shell "$command_line -p $(quote "$prompt")"
fi
exec "${device[@]}" shell -t "$command_line"
