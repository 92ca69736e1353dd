#include "model/strip_weights.h"

#include <sys/mman.h>

#include <algorithm>

#include "common/log.h"
#include "dispatch.h"
#include "format/model_file.h"
#include "model/linear.h"
#include "model/xnn_linear.h"

namespace edgelm {
namespace {

constexpr size_t kStripChannels = 16;
constexpr size_t kStripsPerTask = 16;  // 256 rows: 192 KB of E2B's int4 rows at K = 1536, an L2's share
constexpr size_t kHugePage = size_t{2} << 20;

// Anonymous memory for `bytes`, 2 MB-aligned and faulted in at once as transparent huge pages where the
// system grants them: page by page, first-touch faults cost more than the packing itself (on a
// 2-core VM, 1.1 s of a 1.8 s load for E2B's 0.86 GB). Both madvise calls are advisory (older kernels
// refuse MADV_POPULATE_WRITE: the pages then fault in as packing writes them). Null if out of memory.
uint8_t* MapArena(size_t bytes, void** mapping, size_t* mapping_bytes) {
  *mapping_bytes = bytes + kHugePage;
  *mapping = mmap(nullptr, *mapping_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (*mapping == MAP_FAILED) {
    *mapping = nullptr;
    return nullptr;
  }
  const uintptr_t aligned = (reinterpret_cast<uintptr_t>(*mapping) + kHugePage - 1) & ~uintptr_t{kHugePage - 1};
  uint8_t* p = reinterpret_cast<uint8_t*>(aligned);
  madvise(p, bytes, MADV_HUGEPAGE);
#ifdef MADV_POPULATE_WRITE
  madvise(p, bytes, MADV_POPULATE_WRITE);
#endif
  return p;
}

struct PackTask {
  const ModelFile* file;  // null: read `w` in place
  int bits;
  size_t N, K, row_bytes, strip_bytes;
  const uint8_t* w;
  uint8_t* out;
  std::vector<std::vector<uint8_t>>* buffers;  // one per pool thread
};

// Strips [task * kStripsPerTask, +kStripsPerTask). Their rows are read with pread into the thread's
// buffer: through the mapping, each 4 KB page costs a fault and then has to be dropped again, and
// that took longer than the packing.
void PackStrips(void* context, size_t thread, size_t task) {
  const PackTask& t = *static_cast<const PackTask*>(context);
  const size_t n0 = task * kStripsPerTask * kStripChannels, n = std::min(t.N - n0, kStripsPerTask * kStripChannels);
  const uint8_t* rows = t.w + n0 * t.row_bytes;
  if (t.file) rows = t.file->ReadBytes(rows, n * t.row_bytes, &(*t.buffers)[thread]);
  edgelm_qs8_pack_strips(t.bits, n, t.K, rows, t.row_bytes, t.out + n0 / kStripChannels * t.strip_bytes);
}

int BitsOf(DType dtype) { return dtype == DType::I8 ? 8 : dtype == DType::I4 ? 4 : dtype == DType::I2 ? 2 : 0; }

qs8_qcxw_strips_gemm_fn StripsGemm(const edgelm_kernels& k, DType dtype) {
  switch (dtype) {
    case DType::I8: return k.qs8_qc8w_strips_gemm;
    case DType::I4: return k.qs8_qc4w_strips_gemm;
    case DType::I2: return k.qs8_qc2w_strips_gemm;
    default: return nullptr;
  }
}

}  // namespace

StripWeights::~StripWeights() {
  if (mapping_) munmap(mapping_, mapping_bytes_);
}

std::unique_ptr<StripWeights> StripWeights::Create(const ModelFile* file, const std::vector<const TensorView*>& tensors,
                                                   const XnnWeights& xnn, pthreadpool_t pool) {
  std::unique_ptr<StripWeights> s(new StripWeights());
  const edgelm_kernels& kernels = *edgelm_kernels_select();
  // Every copy in one mapping: one mmap, one populate and one munmap per model (per tensor, the
  // unmaps' TLB shootdowns made a small model's load 12x slower).
  struct Plan {
    const TensorView* w;
    int bits;
    size_t strip_bytes, strips, offset;
    qs8_qcxw_strips_gemm_fn gemm;
  };
  std::vector<Plan> plans;
  size_t total = 0;
  for (const TensorView* w : tensors) {
    const qs8_qcxw_strips_gemm_fn gemm = StripsGemm(kernels, w->dtype);
    if (!gemm || xnn.Find(w) >= 0 || !LinearSupports(*w)) continue;
    if (std::any_of(plans.begin(), plans.end(), [&](const Plan& p) { return p.w == w; })) continue;
    const int bits = BitsOf(w->dtype);
    const size_t strip_bytes = edgelm_qs8_strip_bytes(bits, static_cast<size_t>(w->cols()));
    const size_t strips = (static_cast<size_t>(w->rows()) + kStripChannels - 1) / kStripChannels;
    plans.push_back({w, bits, strip_bytes, strips, total, gemm});
    total += strips * strip_bytes;  // a multiple of 64 bytes
  }
  if (plans.empty()) return s;
  uint8_t* arena = MapArena(total, &s->mapping_, &s->mapping_bytes_);
  if (!arena) {
    Log(LogLevel::kWarn, "no memory to repack the integer weights into channel strips: they run row-major");
    return s;
  }
  // The originals' rows come in by pread (PackStrips), so they are not mapped into this process;
  // dropping their pages covers a read that fell back to the mapping, and pages an earlier user of
  // the file faulted in.
  std::vector<std::vector<uint8_t>> buffers(pthreadpool_get_threads_count(pool));  // freed on return
  for (const Plan& plan : plans) {
    const TensorView& w = *plan.w;
    uint64_t row_bytes = 0;
    (void)RowBytes(w.dtype, w.cols(), &row_bytes);  // validated at load
    PackTask task{file, plan.bits, static_cast<size_t>(w.rows()), static_cast<size_t>(w.cols()), row_bytes,
                  plan.strip_bytes, w.data, arena + plan.offset, &buffers};
    pthreadpool_parallelize_1d_with_thread(pool, PackStrips, &task, (plan.strips + kStripsPerTask - 1) / kStripsPerTask, 0);
    s->index_[plan.w] = Strips{arena + plan.offset, plan.strip_bytes, plan.gemm};
    if (file) file->DropFromMemory(w);
  }
  s->packed_bytes_ = total;
  return s;
}

Strips StripWeights::Find(const TensorView* w) const {
  auto it = index_.find(w);
  return it == index_.end() ? Strips{} : it->second;
}

std::vector<const TensorView*> StripWeights::tensors() const {
  std::vector<const TensorView*> out;
  for (const auto& entry : index_) out.push_back(entry.first);
  return out;
}

}  // namespace edgelm
