#include "model/strip_weights.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <new>
#include <thread>

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

// One matrix to prepare: its strips to write (gemm set) and/or its code sums.
struct Plan {
  const TensorView* w;
  int bits;
  size_t row_bytes, strip_bytes, strips, offset;  // strips: of 16 rows, whether or not they are written
  qs8_qcxw_strips_gemm_fn gemm;                   // null: no strips
  size_t sums_offset;                             // into StripWeights::code_sums_, or kNoSums
  int32_t* code_sums;                             // [N] at sums_offset once allocated, or null
};
constexpr size_t kNoSums = SIZE_MAX;

// Every matrix's rows, cut into tasks of kStripsPerTask strips that the loading thread and its helpers
// take in order. A repacked matrix's pages of the file are dropped by whoever packs its last task.
class PackJob {
 public:
  PackJob(const ModelFile* file, const std::vector<Plan>& plans, uint8_t* arena)
      : file_(file), plans_(plans), arena_(arena), remaining_(plans.size()) {
    for (size_t i = 0; i < plans.size(); ++i) {
      first_task_.push_back(tasks_);
      const size_t tasks = (plans[i].strips + kStripsPerTask - 1) / kStripsPerTask;
      remaining_[i].store(tasks, std::memory_order_relaxed);
      tasks_ += tasks;
    }
  }

  // Packs tasks until none is left. Never throws (it runs on helper threads): a task whose read
  // buffer cannot be allocated marks the job failed, and every thread stops.
  void Run() noexcept {
    std::vector<uint8_t> buffer;
    for (size_t task; !failed_.load(std::memory_order_relaxed) &&
                      (task = next_.fetch_add(1, std::memory_order_relaxed)) < tasks_;) {
      const size_t i = static_cast<size_t>(std::upper_bound(first_task_.begin(), first_task_.end(), task) - first_task_.begin()) - 1;
      try {
        Pack(plans_[i], task - first_task_[i], &buffer);
      } catch (const std::bad_alloc&) {
        failed_.store(true, std::memory_order_relaxed);
        return;
      }
      if (remaining_[i].fetch_sub(1, std::memory_order_acq_rel) == 1 && file_ && plans_[i].gemm) {
        try {
          file_->DropFromMemory(*plans_[i].w);
        } catch (const std::bad_alloc&) {  // its pages stay cached: harmless
        }
      }
    }
  }
  // Read once every thread has finished.
  bool failed() const { return failed_.load(std::memory_order_relaxed); }

 private:
  // Its rows are read with pread into `buffer`: through the mapping, each 4 KB page costs a fault and
  // then has to be dropped again, and that took longer than the packing.
  void Pack(const Plan& plan, size_t task, std::vector<uint8_t>* buffer) const {
    const TensorView& w = *plan.w;
    const size_t N = static_cast<size_t>(w.rows()), K = static_cast<size_t>(w.cols());
    const size_t n0 = task * kStripsPerTask * kStripChannels, n = std::min(N - n0, kStripsPerTask * kStripChannels);
    const uint8_t* rows = w.data + n0 * plan.row_bytes;
    if (file_) rows = file_->ReadBytes(rows, n * plan.row_bytes, buffer);
    if (plan.gemm)
      edgelm_qs8_pack_strips(plan.bits, n, K, rows, plan.row_bytes, arena_ + plan.offset + n0 / kStripChannels * plan.strip_bytes);
    if (plan.code_sums) edgelm_qs8_code_sums(plan.bits, n, K, rows, plan.row_bytes, plan.code_sums + n0);
  }

  const ModelFile* file_;
  const std::vector<Plan>& plans_;
  uint8_t* arena_;
  std::vector<size_t> first_task_;
  size_t tasks_ = 0;
  std::atomic<size_t> next_{0};
  std::atomic<bool> failed_{false};
  std::vector<std::atomic<size_t>> remaining_;
};

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
                                                   const XnnWeights& xnn, int threads) {
  std::unique_ptr<StripWeights> s(new StripWeights());
  const edgelm_kernels& kernels = *edgelm_kernels_select();
  // Every copy in one mapping: one mmap, one populate and one munmap per model (per tensor, the
  // unmaps' TLB shootdowns made a small model's load 12x slower).
  std::vector<Plan> plans;
  size_t total = 0, sums = 0;
  for (const TensorView* w : tensors) {
    const qs8_qcxw_strips_gemm_fn gemm = StripsGemm(kernels, w->dtype);
    const bool code_sums = LinearTakesCodeSums(*w);
    if ((!gemm && !code_sums) || xnn.Find(w) >= 0 || !LinearSupports(*w)) continue;
    if (std::any_of(plans.begin(), plans.end(), [&](const Plan& p) { return p.w == w; })) continue;
    const int bits = BitsOf(w->dtype);
    uint64_t row_bytes = 0;
    (void)RowBytes(w->dtype, w->cols(), &row_bytes);  // validated at load
    const size_t strip_bytes = edgelm_qs8_strip_bytes(bits, static_cast<size_t>(w->cols()));
    const size_t strips = (static_cast<size_t>(w->rows()) + kStripChannels - 1) / kStripChannels;
    plans.push_back({w, bits, static_cast<size_t>(row_bytes), strip_bytes, strips, total, gemm,
                     code_sums ? sums : kNoSums, nullptr});
    if (gemm) total += strips * strip_bytes;  // a multiple of 64 bytes
    if (code_sums) sums += static_cast<size_t>(w->rows());
  }
  if (plans.empty()) return s;
  try {
    s->code_sums_.resize(sums);
    for (Plan& plan : plans)
      if (plan.sums_offset != kNoSums) plan.code_sums = s->code_sums_.data() + plan.sums_offset;
  } catch (const std::bad_alloc&) {
    Log(LogLevel::kWarn, "no memory for the code sums of asymmetric-input weights: they run as two kernel rows");
  }
  uint8_t* arena = nullptr;
  if (total > 0 && !(arena = MapArena(total, &s->mapping_, &s->mapping_bytes_))) {
    Log(LogLevel::kWarn, "no memory to repack the integer weights into channel strips: they run row-major");
    for (Plan& plan : plans) plan.gemm = nullptr;
  }
  plans.erase(std::remove_if(plans.begin(), plans.end(), [](const Plan& p) { return !p.gemm && !p.code_sums; }), plans.end());
  // The originals' rows come in by pread (PackJob::Pack), so they are not mapped into this process;
  // dropping their pages covers a read that fell back to the mapping, and pages an earlier user of
  // the file faulted in.
  PackJob job(file, plans, arena);
  // Helpers are plain threads, not the model's pthreadpool: their start and join are what
  // ThreadSanitizer sees as ordering the packing before the first forward (it cannot see through the
  // uninstrumented pool). A helper that cannot start leaves its share to the others.
  std::vector<std::thread> helpers;
  try {
    helpers.reserve(static_cast<size_t>(std::max(threads - 1, 0)));
    while (static_cast<int>(helpers.size()) + 1 < threads) helpers.emplace_back([&job] { job.Run(); });
  } catch (const std::exception&) {  // std::system_error or std::bad_alloc
  }
  job.Run();
  for (std::thread& t : helpers) t.join();
  if (job.failed()) {  // some strips or sums were never written: none is used
    Log(LogLevel::kWarn, "no memory to read the integer weights for repacking into channel strips: they run row-major");
    return std::unique_ptr<StripWeights>(new StripWeights());  // unmaps the partial copy with `s`
  }
  for (const Plan& plan : plans) {
    PreparedWeights& p = s->index_[plan.w];
    if (plan.gemm) p.strips = Strips{arena + plan.offset, plan.strip_bytes, plan.gemm};
    p.code_sums = plan.code_sums;
  }
  s->packed_bytes_ = (arena ? total : 0) + s->code_sums_.size() * sizeof(int32_t);
  return s;
}

PreparedWeights StripWeights::Find(const TensorView* w) const {
  auto it = index_.find(w);
  return it == index_.end() ? PreparedWeights{} : it->second;
}

std::vector<const TensorView*> StripWeights::tensors() const {
  std::vector<const TensorView*> out;
  for (const auto& entry : index_)
    if (entry.second.strips.data) out.push_back(entry.first);
  return out;
}

}  // namespace edgelm
