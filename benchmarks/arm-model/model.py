#!/usr/bin/env python3
"""Static performance model of edgelm's NEON GEMM loops under llvm-mca 19, and the CI gate on it.

Compiles benchmarks/arm-model/loops.cc once per ISA (neon, neondot, i8mm: the -march flags of
kernels/isa_flags.cmake), takes the steady-state K loop out of each modeled function, applies the two
llvm-mca model corrections, runs llvm-mca for six core models and derives MAC/cycle, GOPS and weight GB/s.
XNNPACK's kernels for the same datatypes are modeled alongside as reference rows (never gated).
Method and caveats: benchmarks/arm-model/README.md and docs/performance.md. Python 3 stdlib only.

  model.py                              summary on stdout
  model.py --csv out.csv --markdown out.md
  model.py --check benchmarks/arm-model/baseline.csv      the gate (exit 1 on a > 5% MAC/cycle drop)
  model.py --write-baseline                               refresh baseline.csv from the current kernels
  model.py --kernels-rev 1fe447c --csv old.csv            another revision's kernels/ (or --kernels DIR)
  model.py --compare old.csv                              old vs current, per loop, on N1
"""

import argparse
import concurrent.futures
import csv
import glob
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_BASELINE = os.path.join(HERE, "baseline.csv")

LLVM_MCA = "llvm-mca-19"
OBJDUMP = "llvm-objdump-19"
READELF = "llvm-readelf-19"
CLANGXX = "clang++-19"
CLANG = "clang-19"
GXX = "aarch64-linux-gnu-g++"

ITERATIONS = 500
TOLERANCE = 0.05  # --check fails below (1 - TOLERANCE) x baseline
NOTE_THRESHOLD = 0.01  # changes beyond this (either way) are reported as notes
PRIMARY = "clang19"  # the NDK compiler; the only gated compiler
PANEL_M = 128  # rows of the panel prefill's effective figure (32 four-row tiles per decoded panel)
DRAM_GBPS = 20.0  # "cores to saturate" reference bandwidth


class Core:
    def __init__(self, key, mcpu, label, ghz, i8mm, in_order=False, n2=False):
        self.key, self.mcpu, self.label, self.ghz, self.i8mm = key, mcpu, label, ghz, i8mm
        self.in_order, self.n2 = in_order, n2


# Phone core -> LLVM 19 scheduling model (arm_mca.md section 1: LLVM 19 maps cortex-a76/a78/x1 to the
# Cortex-A57 model, so the Neoverse model of the same generation stands in). Clocks are nominal peaks.
CORES = [
    Core("a55", "cortex-a55", "A55", 2.0, False, in_order=True),
    Core("a510", "cortex-a510", "A510", 1.8, True, in_order=True),
    Core("a78", "neoverse-n1", "A76/A78 (N1)", 2.6, False),
    Core("a710", "cortex-a710", "A710/A715 (N2)", 2.5, True, n2=True),
    Core("x1", "neoverse-v1", "X1 (V1)", 3.0, False),
    Core("x2", "neoverse-v2", "X2/X3 (V2)", 3.0, True),
]
CORE_BY_MCPU = {c.mcpu: c for c in CORES}

ISAS = ["neon", "neondot", "i8mm"]
DEFAULT_ISA_FLAGS = {"neon": [], "neondot": ["-march=armv8.2-a+dotprod"], "i8mm": ["-march=armv8.2-a+dotprod+i8mm"]}
BYTES_PER_WEIGHT = {"qc8w": 1.0, "qc4w": 0.5, "qc2w": 0.25}
TYPES = ["qc8w", "qc4w", "qc2w"]

# XNNPACK 75db3c0 kernels that its gemm-config.c selects on Android arm64 dotprod cores (arm_mca.md
# section 1), as reference rows: (operator, type, role, rows, tile label, source path, isa flags).
XNNPACK_KERNELS = [
    ("qs8_qc8w", "qc8w", "decode", 1, "1x16c4 C", "src/qs8-qc8w-gemm/gen/qs8-qc8w-gemm-1x16c4-minmax-fp32-neondot.c"),
    ("qs8_qc8w", "qc8w", "prefill", 4, "4x16c4 asm ld128",
     "src/qs8-qc8w-gemm/gen/qs8-qc8w-gemm-4x16c4-minmax-fp32-asm-aarch64-neondot-ld128.S"),
    ("qs8_qc4w", "qc4w", "decode", 1, "1x16c4 asm ld128_2",
     "src/qs8-qc4w-gemm/gen/qs8-qc4w-gemm-1x16-minmax-fp32-asm-aarch64-neondot-ld128.S"),
    ("qs8_qc4w", "qc4w", "prefill", 5, "5x16c4 asm ld128_2",
     "src/qs8-qc4w-gemm/gen/qs8-qc4w-gemm-5x16-minmax-fp32-asm-aarch64-neondot-ld128.S"),
    ("qd8_f32_qc4w", "qc4w", "decode", 1, "1x16c4 C", "src/qd8-f32-qc4w-gemm/gen/qd8-f32-qc4w-gemm-1x16c4-minmax-neondot.c"),
    ("qd8_f32_qc4w", "qc4w", "prefill", 4, "4x16c4 C", "src/qd8-f32-qc4w-gemm/gen/qd8-f32-qc4w-gemm-4x16c4-minmax-neondot.c"),
    ("qs8_qc2w", "qc2w", "decode", 1, "1x8c4 C", "src/qs8-qc2w-gemm/gen/qs8-qc2w-gemm-1x8c4-minmax-fp32-neondot.c"),
    ("qs8_qc2w", "qc2w", "prefill", 8, "8x8c4 C", "src/qs8-qc2w-gemm/gen/qs8-qc2w-gemm-8x8c4-minmax-fp32-neondot.c"),
    ("qd8_f32_qc2w", "qc2w", "decode", 1, "1x8c4 C", "src/qd8-f32-qc2w-gemm/gen/qd8-f32-qc2w-gemm-1x8c4-minmax-neondot.c"),
    ("qd8_f32_qc2w", "qc2w", "prefill", 8, "8x8c4 C", "src/qd8-f32-qc2w-gemm/gen/qd8-f32-qc2w-gemm-8x8c4-minmax-neondot.c"),
]
XNNPACK_FLAGS = ["-march=armv8.2-a+dotprod"]
# The reference rows stay at this commit (the archive third_party/pins.txt pinned when they were chosen).
XNNPACK_COMMIT = "75db3c093b6d74fe90b8df82670cd8a01102ba38"

CSV_FIELDS = ["side", "type", "isa", "loop", "tile", "role", "rows", "compiler", "core", "mcpu", "ghz", "insns",
              "macs_iter", "codes_iter", "cycles_iter", "per_cycle", "unit", "gops", "weight_gbps",
              "cores_for_20gbps", "corrections", "flags", "mix", "toolchain"]


class ModelError(Exception):
    """A loop that cannot be found or modeled: always fatal, never a silently missing row."""


def log(msg):
    print(f"arm-model: {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if p.returncode != 0:
        raise ModelError(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr.strip()}")
    return p


# ---------------------------------------------------------------------------------------------- disassembly

class Insn:
    __slots__ = ("addr", "mnem", "ops", "target")

    def __init__(self, addr, mnem, ops, target=None):
        self.addr, self.mnem, self.ops, self.target = addr, mnem, ops, target

    def text(self):
        return f"{self.mnem}\t{self.ops}" if self.ops else self.mnem


BRANCHES = re.compile(r"^(b|bl|b\.\w+|bc\.\w+|cbn?z|tbn?z)$")
SYM_LINE = re.compile(r"^([0-9a-f]+) <(.+)>:$")
INSN_LINE = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
TARGET = re.compile(r"(?:^|,\s*)(?:0x)?([0-9a-f]+)(?:\s+<[^>]*>)?$")


def disassemble(obj):
    """{symbol: [Insn]} of every function in obj, and {address: symbol} of their starts."""
    out = run([OBJDUMP, "-d", "--no-show-raw-insn", "--mattr=+dotprod,+i8mm", obj]).stdout
    funcs, starts, cur = {}, {}, None
    for line in out.splitlines():
        m = SYM_LINE.match(line)
        if m:
            cur = m.group(2)
            funcs[cur] = []
            starts[int(m.group(1), 16)] = cur
            continue
        m = INSN_LINE.match(line)
        if not m or cur is None:
            continue
        addr, mnem, ops = int(m.group(1), 16), m.group(2), m.group(3)
        ops = re.sub(r"\s*//.*$", "", ops).strip()
        target = None
        if BRANCHES.match(mnem):
            t = TARGET.search(ops)
            if t:
                target = int(t.group(1), 16)
                ops = ops[: t.start()] + (", " if t.group(0).startswith(",") else "") + "{T}"
        else:
            ops = re.sub(r"\s*<[^>]*>$", "", ops)
        funcs[cur].append(Insn(addr, mnem, ops, target))
    return funcs, starts


def mca_info(obj):
    """{function: (rows, cols)} from loops.cc's .mca_info records."""
    out = run([READELF, "-p", ".mca_info", obj]).stdout
    info = {}
    for m in re.finditer(r"\]\s+(mca_\w+) (\d+) (\d+)\s*$", out, re.M):
        info[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return info


# ---------------------------------------------------------------------------------------------- loops

def macs_of(insn):
    """Multiply-accumulates of one instruction: SDOT 16, SMMLA 32, SMULL/SMLAL(2) one per product lane."""
    m = insn.mnem
    if m in ("sdot", "udot", "usdot", "sudot"):
        return 8 if re.match(r"v\d+\.2s", insn.ops) else 16
    if m in ("smmla", "ummla", "usmmla"):
        return 32
    if m in ("smull", "smull2", "smlal", "smlal2", "umull", "umull2", "umlal", "umlal2"):
        lanes = {"8h": 8, "4s": 4, "2d": 2}
        a = re.match(r"v\d+\.(\w+)", insn.ops)
        return lanes.get(a.group(1), 0) if a else 0
    return 0


def is_mem(insn):
    return insn.mnem.startswith(("ld", "st")) and "[" in insn.ops


def is_vector_store(insn):
    return insn.mnem.startswith("st") and "[" in insn.ops and re.match(r"\{?\s*[qdv]\d+", insn.ops) is not None


def is_vector_alu(insn):
    return not is_mem(insn) and re.search(r"\bv\d+\.", insn.ops) is not None


def mix(loop):
    """A short signature of a loop's instruction mix, e.g. 'sdot:8 ldr:5 shl:4 and:4 | 28 insns'."""
    counts = {}
    for i in loop:
        counts[i.mnem] = counts.get(i.mnem, 0) + 1
    keys = sorted(counts, key=lambda k: (-counts[k], k))
    return " ".join(f"{k}:{counts[k]}" for k in keys)


def innermost_loops(insns):
    """Loops closed by a backward branch to a target inside the function with no other backward branch
    inside them: [(loop instructions)]."""
    index = {ins.addr: n for n, ins in enumerate(insns)}
    back = [n for n, ins in enumerate(insns)
            if ins.target is not None and ins.mnem != "bl" and ins.target <= ins.addr and ins.target in index]
    loops = []
    for n in back:
        first = index[insns[n].target]
        if any(first <= other < n for other in back if other != n):
            continue
        if reaches_end(insns[first:n + 1]):
            loops.append(insns[first:n + 1])
    return loops


def reaches_end(body):
    """Whether control entering at the top of body can reach its closing branch (falling through, or by
    its forward branches): rejects 'loops' that are only a block laid out before a backward jump into it."""
    top, end = body[0].addr, body[-1].addr
    live, reach = True, set()
    for ins in body:
        live = live or ins.addr in reach
        if not live:
            continue
        if ins is body[-1]:
            return True
        if ins.target is not None and ins.mnem != "bl" and top < ins.target <= end:
            reach.add(ins.target)
        if ins.mnem in ("b", "br", "ret", "retaa", "retab") or ins.mnem.startswith("brk"):
            live = False
    return False


def find_loop(func, funcs, starts, want):
    """The steady-state loop of func (or of a local function it calls: GCC/clang may outline TileRows).
    want='macs': the loop with the most multiply-accumulates; want='stores': the loop with vector stores
    and the most vector arithmetic (panel decode). A signature that appears twice keeps the smaller loop
    (the larger is a padded tail). Raises ModelError when there is none."""
    seen, todo, candidates = set(), [func], []
    while todo:
        name = todo.pop()
        if name in seen or name not in funcs:
            continue
        seen.add(name)
        insns = funcs[name]
        candidates += innermost_loops(insns)
        lo, hi = insns[0].addr, insns[-1].addr
        for ins in insns:  # local calls only: an external call's target is its own address in a .o
            if ins.mnem == "bl" and ins.target in starts and not lo <= ins.target <= hi:
                todo.append(starts[ins.target])
    if want == "macs":
        scored = [(sum(macs_of(i) for i in lp), lp) for lp in candidates]
        scored = [s for s in scored if s[0] > 0]
    else:
        scored = [(sum(is_vector_alu(i) for i in lp), lp) for lp in candidates if any(is_vector_store(i) for i in lp)]
    if not scored:
        found = "; ".join(f"[{len(lp)} insns: {mix(lp)}]" for lp in candidates) or "no loops at all"
        raise ModelError(f"{func}: no {'multiply' if want == 'macs' else 'vector-store'} loop found "
                         f"(searched {', '.join(sorted(seen))}; innermost loops: {found})")
    best = max(s for s, _ in scored)
    loop = min((lp for s, lp in scored if s == best), key=len)
    return loop, loop_flags(loop, [lp for s, lp in scored if s == best and lp is not loop])


def loop_flags(loop, others):
    """What looks suspicious in an extracted loop: stack traffic (spills), branches inside it, and other
    candidate loops that were not chosen."""
    flags = []
    stack = [i for i in loop if is_mem(i) and re.search(r"\[(sp|x29)\b", i.ops)]
    if stack:
        flags.append(f"stack-access:{len(stack)}")
    inner = [i for i in loop[:-1] if i.target is not None and i.mnem != "bl"]
    if inner:
        flags.append(f"branches-inside:{len(inner)}")
    calls = [i for i in loop if i.mnem == "bl"]
    if calls:
        flags.append(f"calls:{len(calls)}")
    if others:  # the doc's "signature appears twice": the larger copy (a padded tail) was dropped
        flags.append("same-signature-loops-dropped:" + "/".join(str(len(o)) for o in others))
    return " ".join(flags)


# ---------------------------------------------------------------------------------------------- corrections

POST_IMM = re.compile(r"^(.*)\[(x\d+|sp)\],\s*#(-?(?:0x[0-9a-f]+|\d+))$")
POST_REG = re.compile(r"^(.*)\[(x\d+|sp)\],\s*(x\d+)$")
PRE_IDX = re.compile(r"^(.*)\[(x\d+|sp),\s*#(-?(?:0x[0-9a-f]+|\d+))\]!$")


def add_insn(base, imm):
    return Insn(None, "sub" if imm < 0 else "add", f"{base}, {base}, #{abs(imm)}")


def correct_n2(loop):
    """N2 model (cortex-a710): the writeback of LDR q/d post-index gets the full load latency, which
    serializes pointer-bumping loads. Split each into ldr [x] + add x, #imm."""
    out, n = [], 0
    for i in loop:
        m = POST_IMM.match(i.ops)
        if i.mnem == "ldr" and m and re.match(r"[qd]\d+,", i.ops):
            out.append(Insn(i.addr, "ldr", f"{m.group(1)}[{m.group(2)}]"))
            out.append(add_insn(m.group(2), int(m.group(3), 0)))
            n += 1
        else:
            out.append(i)
    return out, (f"n2-split:{n}" if n else "")


def correct_in_order(loop):
    """A55/A510 models chain every post-index (and pre-index) writeback at load latency: fold them into
    one ADD per base register per iteration, placed after that register's last writeback."""
    out, imm, regs, last = [], {}, {}, {}
    for i in loop:
        m = POST_IMM.match(i.ops) if is_mem(i) else None
        r = POST_REG.match(i.ops) if is_mem(i) and not m else None
        p = PRE_IDX.match(i.ops) if is_mem(i) and not (m or r) else None
        if m:
            base = m.group(2)
            imm[base] = imm.get(base, 0) + int(m.group(3), 0)
            out.append(Insn(i.addr, i.mnem, f"{m.group(1)}[{base}]"))
        elif r:
            base = r.group(2)
            regs.setdefault(base, []).append(r.group(3))
            out.append(Insn(i.addr, i.mnem, f"{r.group(1)}[{base}]"))
        elif p:
            base = p.group(2)
            imm[base] = imm.get(base, 0) + int(p.group(3), 0)
            out.append(Insn(i.addr, i.mnem, f"{p.group(1)}[{base}, #{p.group(3)}]"))
        else:
            out.append(i)
            continue
        last[base] = len(out) - 1
    if not last:
        return loop, ""
    for base, pos in sorted(last.items(), key=lambda kv: -kv[1]):  # insert from the back: indexes stay valid
        adds = ([add_insn(base, imm[base])] if imm.get(base) else []) + \
               [Insn(None, "add", f"{base}, {base}, {r}") for r in regs.get(base, [])]
        out[pos + 1:pos + 1] = adds
    return out, f"wb-fold:{len(last)}"


def loop_asm(loop):
    """The loop as assembly llvm-mca reads: its backward branch to .Lloop, other branches to labels."""
    first, last = loop[0].addr, loop[-1].addr
    inside = {i.target for i in loop if i.target is not None and first < i.target <= last}
    lines, used_exit = [".Lloop:"], False
    for i in loop:
        if i.addr in inside:
            lines.append(f".Lt{i.addr:x}:")
        ops = i.ops
        if "{T}" in ops:
            if i.target == first:
                label = ".Lloop"
            elif i.target in inside:
                label = f".Lt{i.target:x}"
            else:
                label, used_exit = ".Lexit", True
            ops = ops.replace("{T}", label)
        lines.append(f"  {i.mnem}\t{ops}" if ops else f"  {i.mnem}")
    if used_exit:
        lines.append(".Lexit:")
    return "\n".join(lines) + "\n"


def mca_cycles(asm, core, path):
    with open(path, "w") as f:
        f.write(asm)
    p = subprocess.run([LLVM_MCA, "-mtriple=aarch64", f"-mcpu={core.mcpu}", "-mattr=+dotprod,+i8mm",
                        f"-iterations={ITERATIONS}", "-timeline=false", "-instruction-info=false", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    m = re.search(r"^Total Cycles:\s+(\d+)", p.stdout, re.M)
    if p.returncode != 0 or not m:
        raise ModelError(f"llvm-mca failed for {path} on {core.mcpu}:\n{p.stderr.strip()}")
    return int(m.group(1)) / ITERATIONS


# ---------------------------------------------------------------------------------------------- building

def read_isa_flags(kernels):
    flags = dict(DEFAULT_ISA_FLAGS)
    path = os.path.join(kernels, "isa_flags.cmake")
    if os.path.exists(path):
        for m in re.finditer(r"^set\(EDGELM_ISA_FLAGS_(\w+)\s+(.*)\)\s*$", open(path).read(), re.M):
            if m.group(1) in flags:
                flags[m.group(1)] = m.group(2).split()
    return flags


def tree_features(kernels):
    """-D flags telling loops.cc what this kernels/ tree provides (older trees lack the aliases/panels)."""
    header = os.path.join(kernels, "simd", "neon_qs8_gemm.h")
    if not os.path.exists(header):
        raise ModelError(f"{header} not found: --kernels must name a kernels/ directory")
    text = open(header).read()
    aliases = "Qs8OneRowTile" in text and "Qs8FourRowTile" in text
    panels = "DecodePanelRow" in text and "Qs8PanelFourRowTile" in text
    if not aliases:
        log(f"{kernels}: no Qs8OneRowTile/Qs8FourRowTile aliases; modeling the 1fe447c tile shapes")
    if not panels:
        log(f"{kernels}: no DecodePanelRow/Qs8PanelFourRowTile; no panel rows")
    return [f"-DMCA_HAVE_TILE_ALIASES={int(aliases)}", f"-DMCA_HAVE_PANELS={int(panels)}"]


def compilers(use_gcc):
    out = [("clang19", [CLANGXX, "--target=aarch64-linux-gnu", "-O3", "-std=c++17"])]
    if use_gcc:
        out.append(("gcc12", [GXX, "-O3", "-std=c++17"]))
    return out


def parse_name(func):
    m = re.match(r"mca_(qc\dw)_(neon|neondot|i8mm)_(\w+)$", func)
    if not m:
        raise ModelError(f"unexpected function name {func} in .mca_info")
    return m.group(1), m.group(2), m.group(3)


def edgelm_jobs(kernels, work, use_gcc):
    """Compiles loops.cc (sequentially: one compile job at a time) and returns the loops to model."""
    flags, feats = read_isa_flags(kernels), tree_features(kernels)
    jobs = []
    for comp, cmd in compilers(use_gcc):
        for isa in ISAS:
            obj = os.path.join(work, f"loops_{isa}_{comp}.o")
            run(cmd + ["-I", kernels] + flags[isa] + feats + ["-c", os.path.join(HERE, "loops.cc"), "-o", obj])
            funcs, starts = disassemble(obj)
            info = mca_info(obj)
            if not info:
                raise ModelError(f"{obj}: no .mca_info records")
            for func, (rows, cols) in info.items():
                if func not in funcs:
                    raise ModelError(f"{obj}: {func} is recorded but not in the disassembly")
                typ, fisa, role = parse_name(func)
                if fisa != isa:
                    raise ModelError(f"{func} compiled into the {isa} object")
                panel_decode = role.endswith("panel_decode")
                loop, lflags = find_loop(func, funcs, starts, "stores" if panel_decode else "macs")
                jobs.append(dict(side="edgelm", type=typ, isa=isa, loop=func[len("mca_"):], role=role,
                                 tile="" if panel_decode else f"{rows}x{cols}", rows=rows, compiler=comp,
                                 insns=loop, flags=lflags, panel_decode=panel_decode))
    return jobs


def xnnpack_source(args, work):
    """The XNNPACK tree to read kernels from (extracted from the pinned archive), or None with a note."""
    if args.xnnpack_src:
        return args.xnnpack_src
    third_party = os.environ.get("EDGELM_THIRD_PARTY_DIR", os.path.join(REPO, "..", "shared", "third_party"))
    pattern = os.path.join(third_party, f"XNNPACK-{XNNPACK_COMMIT}.tar.gz")
    archives = sorted(glob.glob(pattern))
    if not archives:
        log(f"no XNNPACK archive ({pattern}) and no --xnnpack-src: XNNPACK reference rows skipped")
        return None
    dest = os.path.join(work, "xnnpack")
    wanted = [k[5] for k in XNNPACK_KERNELS]
    with tarfile.open(archives[0]) as tar:
        members = []
        for m in tar.getmembers():
            rel = m.name.split("/", 1)[1] if "/" in m.name else ""
            if rel.startswith(("include/", "src/xnnpack/")) or rel in wanted:
                m.name = rel
                members.append(m)
        kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(dest, members=members, **kw)
    return dest


def xnnpack_jobs(src, work):
    # include/xnnpack.h includes <pthreadpool.h> for one opaque type; the kernels use nothing of it.
    stub = os.path.join(work, "xnnpack-stub")
    os.makedirs(stub, exist_ok=True)
    with open(os.path.join(stub, "pthreadpool.h"), "w") as f:
        f.write("#pragma once\ntypedef struct pthreadpool* pthreadpool_t;\n")
    jobs = []
    for n, (op, typ, role, rows, tile, path) in enumerate(XNNPACK_KERNELS):
        full = os.path.join(src, path)
        if not os.path.exists(full):
            raise ModelError(f"XNNPACK kernel {full} not found")
        obj = os.path.join(work, f"xnn_{n}.o")
        cmd = [CLANG, "--target=aarch64-linux-gnu", "-O3"] + XNNPACK_FLAGS + \
              ["-I", src, "-I", os.path.join(src, "include"), "-I", os.path.join(src, "src"), "-I", stub, "-c", full, "-o", obj]
        run(cmd)
        funcs, starts = disassemble(obj)
        kernels = [f for f in funcs if f.startswith("xnn_")]
        if len(kernels) != 1:
            raise ModelError(f"{obj}: expected one xnn_ kernel, found {kernels}")
        loop, flags = find_loop(kernels[0], funcs, starts, "macs")
        jobs.append(dict(side="XNNPACK", type=typ, isa="neondot", loop=f"{op} {tile}", role=role,
                         tile=tile.split()[0], rows=rows, compiler="clang19" if path.endswith(".c") else "asm",
                         insns=loop, flags=flags, panel_decode=False))
    return jobs


def model_job(job, core, work, loops_dir):
    loop = job["insns"]
    corrections = ""
    if core.n2:
        loop, corrections = correct_n2(loop)
    elif core.in_order:
        loop, corrections = correct_in_order(loop)
    asm = loop_asm(loop)
    name = re.sub(r"\W+", "_", f"{job['side']}_{job['loop']}_{job['compiler']}_{core.key}")
    path = os.path.join(loops_dir or work, f"{name}.s")
    cycles = mca_cycles(asm, core, path)
    typ, orig = job["type"], job["insns"]
    r = dict(side=job["side"], type=typ, isa=job["isa"], loop=job["loop"], tile=job["tile"], role=job["role"],
            rows=job["rows"], compiler=job["compiler"], core=core.label, mcpu=core.mcpu, ghz=core.ghz,
            insns=len(orig), macs_iter="", codes_iter="", cycles_iter=round(cycles, 3), corrections=corrections,
            mix=mix(orig), flags=job["flags"])
    bpw = BYTES_PER_WEIGHT[typ]
    if job["panel_decode"]:
        codes = sum(stored_bytes(i) for i in orig)
        r.update(codes_iter=codes, per_cycle=codes / cycles, unit="code")
        r["weight_gbps"] = r["per_cycle"] * core.ghz * bpw  # packed weight bytes decoded per second
        r["gops"] = ""
    else:
        macs = sum(macs_of(i) for i in orig)
        mpc = macs / cycles
        r.update(macs_iter=macs, per_cycle=mpc, unit="MAC", gops=2 * mpc * core.ghz)
        r["weight_gbps"] = mpc * core.ghz * bpw / job["rows"]
    r["cores_for_20gbps"] = DRAM_GBPS / r["weight_gbps"] if job["role"] == "decode" and r["weight_gbps"] else ""
    return r


def stored_bytes(insn):
    if not is_vector_store(insn):
        return 0
    regs = re.findall(r"\b([qdsv])(\d+)(?:\.(\d+)([bhsd]))?", insn.ops.split("[")[0])
    size = {"q": 16, "d": 8, "s": 4}
    total = 0
    for kind, _, lanes, lane in regs:
        if kind == "v":
            total += int(lanes) * {"b": 1, "h": 2, "s": 4, "d": 8}[lane] if lanes else 16
        else:
            total += size[kind]
    return total


def panel_rows(rows):
    """The panel prefill at M = PANEL_M: the int8 4x4 tile's K loop plus the panel decode of its kPanelCols
    weight rows, amortized over PANEL_M/4 four-row tiles:
        eff MAC/cycle = 1 / (1 / tile_MAC_per_cycle + 1 / (M x decode_codes_per_cycle))"""
    out = []
    by = {(r["loop"], r["compiler"], r["mcpu"]): r for r in rows if r["side"] == "edgelm"}
    for r in rows:
        if r["side"] != "edgelm" or not r["role"].endswith("panel_decode"):
            continue
        tile = by.get((r["loop"][: -len("_decode")], r["compiler"], r["mcpu"]))
        if tile is None:
            raise ModelError(f"{r['loop']}: no panel tile row next to it")
        eff = 1.0 / (1.0 / tile["per_cycle"] + 1.0 / (PANEL_M * r["per_cycle"]))
        core = CORE_BY_MCPU[r["mcpu"]]
        e = dict(tile)
        e.update(loop=f"{tile['loop']}@M{PANEL_M}", role=f"prefill_panel_m{PANEL_M}", rows=PANEL_M, insns="",
                 macs_iter="", codes_iter="", cycles_iter="", per_cycle=eff, gops=2 * eff * core.ghz,
                 weight_gbps=eff * core.ghz * BYTES_PER_WEIGHT[r["type"]] / PANEL_M, cores_for_20gbps="",
                 corrections="", flags="", mix=f"= 1/(1/{tile['per_cycle']:.2f} + 1/({PANEL_M} x {r['per_cycle']:.2f}))")
        out.append(e)
    return out


def toolchain_version():
    v = run([LLVM_MCA, "--version"]).stdout
    m = re.search(r"LLVM version (\S+)", v)
    return f"llvm-mca {m.group(1) if m else '?'}"


def model(args, kernels):
    t0 = time.time()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgelm-arm-model-") as work:
        cores = [c for c in CORES if not args.cores or c.mcpu in args.cores or c.key in args.cores]
        jobs = edgelm_jobs(kernels, work, args.gcc)
        if args.xnnpack:
            src = xnnpack_source(args, work)
            if src:
                jobs += xnnpack_jobs(src, work)
        if args.loops_dir:
            os.makedirs(args.loops_dir, exist_ok=True)
            for j in jobs:
                name = re.sub(r"\W+", "_", f"{j['side']}_{j['loop']}_{j['compiler']}")
                with open(os.path.join(args.loops_dir, f"{name}.extracted.s"), "w") as f:
                    f.write(loop_asm(j["insns"]))
        for j in jobs:
            if j["flags"]:
                log(f"{j['side']} {j['loop']} ({j['compiler']}): {j['flags']}")
        tasks = [(j, c) for j in jobs for c in cores if c.i8mm or j["isa"] != "i8mm"]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(model_job, j, c, work, args.loops_dir) for j, c in tasks]
            rows = [f.result() for f in futures]
    rows += panel_rows(rows)
    tc = toolchain_version()
    for r in rows:
        r["toolchain"] = tc
    log(f"{len(jobs)} loops x {len(cores)} cores: {len(rows)} rows in {time.time() - t0:.1f} s")
    return rows


# ---------------------------------------------------------------------------------------------- output

def fmt(v, digits=1):
    return "" if v == "" or v is None else f"{float(v):.{digits}f}"


def write_csv(rows, path):
    with (open(path, "w", newline="") if path != "-" else _stdout()) as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{r[k]:.4g}" if isinstance(r.get(k), float) else r.get(k, "")) for k in CSV_FIELDS})


class _stdout:
    def __enter__(self):
        return sys.stdout

    def __exit__(self, *a):
        return False


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


ROLE_ORDER = ["decode", "prefill_direct", "prefill_panel_decode", "prefill_panel", f"prefill_panel_m{PANEL_M}",
              "prefill_mmla4", "prefill_mmla2", "prefill"]


def sort_key(r):
    side = 0 if r["side"] == "edgelm" else 1
    return (TYPES.index(r["type"]), side, ISAS.index(r["isa"]), ROLE_ORDER.index(r["role"]) if r["role"] in ROLE_ORDER
            else 99, r["loop"], r["compiler"])


def loop_label(r):
    if r["side"] == "edgelm":
        label = r["loop"].split("_", 2)[2]  # drop type and isa
        return f"{label} {r['tile']}".strip() if "@" not in label else label.replace("@", f" {r['tile']} @")
    return r["loop"]


def grouped(rows):
    keys, cells = [], {}
    for r in sorted(rows, key=sort_key):
        k = (r["side"], r["type"], r["isa"], r["loop"], r["compiler"])
        if k not in cells:
            keys.append(k)
            cells[k] = {}
        cells[k][r["mcpu"]] = r
    return keys, cells


def markdown(rows):
    keys, cells = grouped(rows)
    cores = [c for c in CORES if any(c.mcpu in cells[k] for k in keys)]
    out = io.StringIO()
    w = out.write
    w(f"<!-- generated by benchmarks/arm-model/model.py --markdown ({rows[0]['toolchain'] if rows else ''}) -->\n\n")
    for typ in TYPES:
        tk = [k for k in keys if k[1] == typ]
        if not tk:
            continue
        w(f"**{typ}: K-loop throughput per core** — MAC/cycle (cycles per loop iteration); panel decode: int8 codes "
          f"decoded per cycle; — = ISA absent on that core\n\n")
        w("| side | ISA | loop | compiler | MACs/iter | insns | " + " | ".join(c.label for c in cores) + " |\n")
        w("|---|---|---|---|---:|---:|" + "---:|" * len(cores) + "\n")
        for k in tk:
            any_r = next(iter(cells[k].values()))
            per = []
            for c in cores:
                r = cells[k].get(c.mcpu)
                if r is None:
                    per.append("—")
                elif r["cycles_iter"] == "":
                    per.append(f"{fmt(r['per_cycle'])}")
                else:
                    unit = " codes" if r["unit"] == "code" else ""
                    per.append(f"{fmt(r['per_cycle'])}{unit} ({fmt(r['cycles_iter'])})")
            macs = any_r["macs_iter"] if any_r["macs_iter"] != "" else (
                f"{any_r['codes_iter']} codes" if any_r["codes_iter"] != "" else "")
            w(f"| {any_r['side']} | {any_r['isa']} | {loop_label(any_r)} | {any_r['compiler']} | {macs} | "
              f"{any_r['insns']} | " + " | ".join(per) + " |\n")
        w("\n")
    w(f"Panel prefill at M = {PANEL_M} (`@M{PANEL_M}` rows): each panel of 4 weight rows is decoded once and "
      f"reused by {PANEL_M // 4} four-row int8 tiles, so\n"
      f"eff MAC/cycle = 1 / (1 / tile MAC/cycle + 1 / ({PANEL_M} x panel-decode codes/cycle)).\n\n")

    w("**GOPS per core (2 x GMAC/s) at the nominal clocks; in brackets the weight GB/s one core consumes "
      "(bytes per weight / rows of the tile)**\n\n")
    w("| type | side | ISA | loop | compiler | " + " | ".join(f"{c.label} @{c.ghz}" for c in cores) + " |\n")
    w("|---|---|---|---|---|" + "---:|" * len(cores) + "\n")
    for k in keys:
        any_r = next(iter(cells[k].values()))
        if any_r["unit"] != "MAC" or any_r["role"] == "prefill_panel":
            continue
        per = []
        for c in cores:
            r = cells[k].get(c.mcpu)
            per.append("—" if r is None else f"{fmt(r['gops'], 0)} ({fmt(r['weight_gbps'])})")
        w(f"| {any_r['type']} | {any_r['side']} | {any_r['isa']} | {loop_label(any_r)} | {any_r['compiler']} | "
          + " | ".join(per) + " |\n")
    w("\n")

    w(f"**Decode (M = 1): cores whose combined weight demand equals {DRAM_GBPS:.0f} GB/s** — below this count a "
      f"GEMV is compute-bound, at or above it bandwidth-bound\n\n")
    w("| type | side | ISA | loop | compiler | " + " | ".join(c.label for c in cores) + " |\n")
    w("|---|---|---|---|---|" + "---:|" * len(cores) + "\n")
    for k in keys:
        any_r = next(iter(cells[k].values()))
        if any_r["role"] != "decode":
            continue
        per = []
        for c in cores:
            r = cells[k].get(c.mcpu)
            per.append("—" if r is None else fmt(r["cores_for_20gbps"]))
        w(f"| {any_r['type']} | {any_r['side']} | {any_r['isa']} | {loop_label(any_r)} | {any_r['compiler']} | "
          + " | ".join(per) + " |\n")
    return out.getvalue()


def summary(rows):
    keys, cells = grouped(rows)
    cores = [c for c in CORES if any(c.mcpu in cells[k] for k in keys)]
    lines = [f"{'loop':<58} {'cc':<7}" + "".join(f"{c.mcpu:>13}" for c in cores)]
    for k in keys:
        any_r = next(iter(cells[k].values()))
        name = f"{any_r['side'][:3]} {any_r['type']} {any_r['isa']} {loop_label(any_r)}"
        per = []
        for c in cores:
            r = cells[k].get(c.mcpu)
            per.append(f"{'—':>13}" if r is None else f"{fmt(r['per_cycle']):>6} ({fmt(r['cycles_iter']) or '-':>4})")
        lines.append(f"{name:<58} {any_r['compiler']:<7}" + "".join(per))
    lines.append("MAC/cycle (cycles/iter); panel_decode rows: codes/cycle. --markdown / --csv for the full tables.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- gate

def gated(rows):
    return {(r["loop"], r["mcpu"]): r for r in rows if r["side"] == "edgelm" and r["compiler"] == PRIMARY}


def check(rows, baseline_path):
    """Fails (returns 1) when a gated loop's MAC/cycle (codes/cycle for the panel decode) on some core is
    more than TOLERANCE below the baseline; every failure names its loop and core. Other changes are notes,
    one line per loop."""
    base = gated(read_csv(baseline_path))
    cur = gated(rows)
    fails, notes, grouped_notes = [], [], {}

    def note(loop, what, detail):
        grouped_notes.setdefault((loop, what), []).append(detail)

    if base:
        bt = next(iter(base.values())).get("toolchain", "")
        ct = rows[0]["toolchain"] if rows else ""
        if bt and bt != ct:
            notes.append(f"baseline made with {bt}, now {ct}: differences may come from the toolchain")
    for key in sorted(base):
        b = base[key]
        loop, mcpu = key
        c = cur.get(key)
        if c is None:
            fails.append(f"{loop} on {mcpu}: in the baseline but not modeled now (removed or renamed loop?)")
            continue
        old, new = float(b["per_cycle"]), float(c["per_cycle"])
        ratio = new / old if old else float("inf")
        unit = "codes/cycle" if c["unit"] == "code" else "MAC/cycle"
        change = f"{mcpu} {old:.2f} -> {new:.2f} ({(ratio - 1) * 100:+.1f}%)"
        if b.get("tile", "") != str(c["tile"]):
            note(loop, f"tile changed {b.get('tile')} -> {c['tile']}", mcpu)
        if ratio < 1 - TOLERANCE:
            fails.append(f"{loop} on {mcpu}: {old:.2f} -> {new:.2f} {unit} ({(ratio - 1) * 100:+.1f}%); "
                         f"loop now: {c['mix']}")
        elif ratio > 1 + NOTE_THRESHOLD:
            note(loop, f"improved ({unit}), refresh the baseline (model.py --write-baseline)", change)
        elif ratio < 1 - NOTE_THRESHOLD:
            note(loop, f"slower ({unit}) but within the {TOLERANCE * 100:.0f}% tolerance", change)
    for loop, mcpu in sorted(set(cur) - set(base)):
        note(loop, "not in the baseline (refresh it with --write-baseline)", mcpu)
    notes += [f"{loop}: {what}: {', '.join(details)}" for (loop, what), details in grouped_notes.items()]
    for n in notes:
        print(f"note: {n}")
    for f in fails:
        print(f"FAIL: {f}")
    print(f"arm-model gate: {len(base)} baseline rows (edgelm loops x cores, {PRIMARY}), {len(fails)} below "
          f"{(1 - TOLERANCE) * 100:.0f}% of the baseline" + ("" if fails else ": pass"))
    return 1 if fails else 0


def compare(old_path, rows, mcpus):
    """Old (CSV) vs current per loop, on the given cores, plus the path M = 128 takes in each."""
    old = {(r["loop"], r["mcpu"]): r for r in read_csv(old_path)
           if r["side"] == "edgelm" and r["compiler"] == PRIMARY}
    new = gated(rows)
    out = io.StringIO()
    for mcpu in mcpus:
        core = CORE_BY_MCPU[mcpu]
        out.write(f"\n**{core.label}: old ({os.path.basename(old_path)}) vs current, MAC/cycle "
                  f"(cycles/iter); panel decode: codes/cycle**\n\n")
        out.write("| loop | old tile | old | new tile | new | new/old |\n|---|---|---:|---|---:|---:|\n")
        loops = []
        for (loop, m) in list(old) + list(new):
            if m == mcpu and loop not in loops:
                loops.append(loop)
        sample = {**{k[0]: v for k, v in old.items()}, **{k[0]: v for k, v in new.items()}}
        loops.sort(key=lambda l: sort_key(sample[l]))
        for loop in loops:
            o, n = old.get((loop, mcpu)), new.get((loop, mcpu))
            cell = lambda r: "—" if r is None else (f"{float(r['per_cycle']):.1f}" + (
                f" ({float(r['cycles_iter']):.1f})" if r["cycles_iter"] not in ("", None) else ""))
            ratio = f"{float(n['per_cycle']) / float(o['per_cycle']):.2f}x" if o and n else "—"
            out.write(f"| {loop} | {o['tile'] if o else '—'} | {cell(o)} | {n['tile'] if n else '—'} | {cell(n)} "
                      f"| {ratio} |\n")
        # The loop M = 128 runs in: neondot sub-byte codes moved from the 4-row direct tile to the panels.
        out.write(f"| **M = {PANEL_M} path** | | | | | |\n")
        for typ in TYPES:
            def path(table):
                p = table.get((f"{typ}_neondot_prefill_panel@M{PANEL_M}", mcpu))
                return p or table.get((f"{typ}_neondot_prefill_direct", mcpu))
            o, n = path(old), path(new)
            if o and n:
                out.write(f"| {typ} neondot M={PANEL_M}: {o['loop']} -> {n['loop']} | {o['tile']} | "
                          f"{float(o['per_cycle']):.1f} | {n['tile']} | {float(n['per_cycle']):.1f} | "
                          f"{float(n['per_cycle']) / float(o['per_cycle']):.2f}x |\n")
    return out.getvalue()


# ---------------------------------------------------------------------------------------------- main

def kernels_at(rev, work):
    dest = os.path.join(work, f"kernels-{rev}")
    os.makedirs(dest)
    archive = subprocess.run(["git", "-C", REPO, "archive", rev, "kernels"], stdout=subprocess.PIPE, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(dest, **kw)
    return os.path.join(dest, "kernels")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernels", default=os.path.join(REPO, "kernels"), help="kernels/ directory to model")
    ap.add_argument("--kernels-rev", help="model kernels/ of this git revision instead (git archive)")
    ap.add_argument("--csv", help="write all rows as CSV (- for stdout)")
    ap.add_argument("--markdown", help="write the markdown tables (- for stdout)")
    ap.add_argument("--check", metavar="BASELINE", help="gate: exit 1 when a clang loop drops > 5%% below BASELINE")
    ap.add_argument("--write-baseline", nargs="?", const=DEFAULT_BASELINE, metavar="PATH",
                    help=f"write the gated rows (edgelm, {PRIMARY}) as the new baseline (default {DEFAULT_BASELINE})")
    ap.add_argument("--compare", metavar="OLD_CSV", help="print old (a --csv of another run) vs current")
    ap.add_argument("--compare-cores", default="neoverse-n1", help="comma-separated -mcpu list for --compare")
    ap.add_argument("--gcc", action="store_true", help="also compile with aarch64-linux-gnu-g++ (a second column)")
    ap.add_argument("--xnnpack", dest="xnnpack", action="store_true", default=None,
                    help="add XNNPACK reference rows (default unless --check/--write-baseline only)")
    ap.add_argument("--no-xnnpack", dest="xnnpack", action="store_false")
    ap.add_argument("--xnnpack-src", help="an XNNPACK 75db3c0 source tree (default: its archive in "
                                          "$EDGELM_THIRD_PARTY_DIR, else ../shared/third_party)")
    ap.add_argument("--cores", help="comma-separated subset of -mcpu names (default: all six)")
    ap.add_argument("--loops-dir", help="keep every extracted and corrected loop (.s) here")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="parallel llvm-mca processes (default 2)")
    args = ap.parse_args()
    args.cores = args.cores.split(",") if args.cores else None
    if args.xnnpack is None:
        args.xnnpack = bool(args.csv or args.markdown) or not (args.check or args.write_baseline or args.compare)

    for tool in (LLVM_MCA, OBJDUMP, READELF, CLANGXX) + ((GXX,) if args.gcc else ()) + ((CLANG,) if args.xnnpack else ()):
        if not shutil.which(tool):
            sys.exit(f"arm-model: {tool} not found (scripts/setup.sh installs llvm-19 and clang-19)")
    try:
        os.nice(5)
    except OSError:
        pass

    try:
        with tempfile.TemporaryDirectory(prefix="edgelm-arm-model-src-") as srcwork:
            kernels = kernels_at(args.kernels_rev, srcwork) if args.kernels_rev else os.path.abspath(args.kernels)
            rows = model(args, kernels)
    except ModelError as e:
        print(f"arm-model: ERROR: {e}", file=sys.stderr)
        return 2
    rows.sort(key=lambda r: (sort_key(r), [c.mcpu for c in CORES].index(r["mcpu"])))

    status = 0
    if args.csv:
        write_csv(rows, args.csv)
    if args.markdown:
        text = markdown(rows)
        if args.markdown == "-":
            sys.stdout.write(text)
        else:
            open(args.markdown, "w").write(text)
    if args.write_baseline:
        write_csv([r for r in rows if r["side"] == "edgelm" and r["compiler"] == PRIMARY], args.write_baseline)
        log(f"baseline written: {args.write_baseline}")
    if args.compare:
        sys.stdout.write(compare(args.compare, rows, args.compare_cores.split(",")))
    if args.check:
        status = check(rows, args.check)
    if not (args.csv or args.markdown or args.write_baseline or args.compare or args.check):
        sys.stdout.write(summary(rows))
    return status


if __name__ == "__main__":
    sys.exit(main())
