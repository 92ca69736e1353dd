#!/usr/bin/env bash
# qemu-aarch64-run.sh — run an aarch64 Linux program under qemu-user as a given CPU model, with an ARM
# /proc/cpuinfo for that model:
#   scripts/qemu-aarch64-run.sh CPU PROGRAM [ARGS...]     CPU: cortex-a53 | cortex-a76 | max
# qemu-user passes the host's /proc/cpuinfo through, and cpuinfo (which edgelm and XNNPACK use to pick
# kernels) crashes on an x86 one. The program runs in a private mount namespace in which a file
# describing the emulated cores is bind-mounted over /proc/cpuinfo; the features still come from the
# hwcaps qemu reports for the model, the core type (MIDR) from this file. Needs root or unprivileged
# user namespaces. Env: ARM64_DEPS_ROOT (default /opt/arm64-deps) for the arm64 shared libraries.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,3p' "$0" >&2; exit 2; }
cpu="$1"
shift
case "$cpu" in
  cortex-a53) part=0xd03 variant=0x0 features="fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid" ;;
  cortex-a76) part=0xd0b variant=0x4 features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
  # qemu's "max" has every extension it emulates (dotprod, i8mm, ...): described as a Neoverse V1.
  max) part=0xd40 variant=0x1 features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svebf16 i8mm bf16 dgh rng bti" ;;
  *) echo "qemu-aarch64-run.sh: unknown CPU model '$cpu' (cortex-a53, cortex-a76 or max)" >&2; exit 2 ;;
esac
fake="$(mktemp "${TMPDIR:-/tmp}/cpuinfo-$cpu.XXXXXX")"
trap 'rm -f "$fake"' EXIT
cores="$(nproc)"
for ((i = 0; i < cores; ++i)); do
  printf 'processor\t: %d\nBogoMIPS\t: 50.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: 0\n\n' \
    "$i" "$features" "$variant" "$part"
done >"$fake"
libs="${ARM64_DEPS_ROOT:-/opt/arm64-deps}/usr/lib/aarch64-linux-gnu"
run=(qemu-aarch64 -cpu "$cpu" -L /usr/aarch64-linux-gnu -E "LD_LIBRARY_PATH=$libs" "$@")
ns=(unshare --mount --propagation private)
[ "$(id -u)" -eq 0 ] || ns+=(--map-root-user)
"${ns[@]}" sh -c 'mount --bind "$0" /proc/cpuinfo && shift && exec "$@"' "$fake" _ "${run[@]}"
