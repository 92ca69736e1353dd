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
constexpr size_t kStripsPerTask = 64;  // 1024 channels: a few hundred KB per task at E2B's widths

struct PackTask {
  int bits;
  size_t N, K, row_bytes, strip_bytes;
  const uint8_t* w;
  uint8_t* out;
};

void PackStrips(void* context, size_t first, size_t count) {
  const PackTask& t = *static_cast<const PackTask*>(context);
  const size_t n0 = first * kStripChannels, n = std::min(t.N - n0, count * kStripChannels);
  edgelm_qs8_pack_strips(t.bits, n, t.K, t.w + n0 * t.row_bytes, t.row_bytes, t.out + first * t.strip_bytes);
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
  for (auto& entry : index_) munmap(entry.second.data, entry.second.bytes);
}

std::unique_ptr<StripWeights> StripWeights::Create(const ModelFile* file, const std::vector<const TensorView*>& tensors,
                                                   const XnnWeights& xnn, pthreadpool_t pool) {
  std::unique_ptr<StripWeights> s(new StripWeights());
  const edgelm_kernels& kernels = *edgelm_kernels_select();
  // Largest first, as XnnWeights: the peak is the copies so far plus one original.
  std::vector<const TensorView*> by_size(tensors);
  std::stable_sort(by_size.begin(), by_size.end(), [](const TensorView* a, const TensorView* b) { return a->size > b->size; });
  for (const TensorView* w : by_size) {
    const qs8_qcxw_strips_gemm_fn gemm = StripsGemm(kernels, w->dtype);
    if (!gemm || s->index_.count(w) || xnn.Find(w) >= 0 || !LinearSupports(*w)) continue;
    const int bits = BitsOf(w->dtype);
    const size_t N = static_cast<size_t>(w->rows()), K = static_cast<size_t>(w->cols());
    uint64_t row_bytes = 0;
    (void)RowBytes(w->dtype, w->cols(), &row_bytes);  // validated at load
    const size_t strip_bytes = edgelm_qs8_strip_bytes(bits, K), strips = (N + kStripChannels - 1) / kStripChannels;
    const size_t bytes = std::max<size_t>(strips * strip_bytes, 1);
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      Log(LogLevel::kWarn, "no memory to repack '" + w->name + "' into channel strips: it runs row-major");
      continue;
    }
    madvise(p, bytes, MADV_HUGEPAGE);  // advisory: fewer TLB misses in the decode stream where granted
    PackTask task{bits, N, K, row_bytes, strip_bytes, w->data, static_cast<uint8_t*>(p)};
    pthreadpool_parallelize_1d_tile_1d(pool, PackStrips, &task, strips, kStripsPerTask, 0);
    s->index_[w] = Copy{p, bytes, Strips{static_cast<const uint8_t*>(p), strip_bytes, gemm}};
    s->packed_bytes_ += bytes;
    if (file) file->DropFromMemory(*w);
  }
  return s;
}

Strips StripWeights::Find(const TensorView* w) const {
  auto it = index_.find(w);
  return it == index_.end() ? Strips{} : it->second.strips;
}

std::vector<const TensorView*> StripWeights::tensors() const {
  std::vector<const TensorView*> out;
  for (const auto& entry : index_) out.push_back(entry.first);
  return out;
}

}  // namespace edgelm
