// Our kernels' repacked weights. Where the selected kernel variant has a GEMM over channel strips
// (kernels/gemm.h) for a tensor's dtype (x86: avx2, avx512vnni), the tensor is repacked into strips once, at load: a decode
// step then reads each matrix as one linear stream, and prefill skips the per-call transposes of the
// row-major kernels (docs/performance.md, "Channel strips"). The copy lives in anonymous memory
// (transparent huge pages where the system allows them) and the file's pages of the original are
// dropped right after, so it replaces the original in memory instead of adding to it.
// In the same pass over the rows, tensors with asymmetric per-token inputs get their per-channel code
// sums (4 bytes per channel, LinearTakesCodeSums), with or without strips.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "format/tensor.h"
#include "model/linear.h"

namespace edgelm {

class ModelFile;
class XnnWeights;

// Immutable after Create; shared by every workspace.
class StripWeights {
 public:
  ~StripWeights();
  // Repacks every tensor of `tensors` that XNNPACK does not run (`xnn`), that Linear supports and whose
  // dtype has a strips GEMM in the selected kernel variant, and sums the codes of those that
  // LinearTakesCodeSums, on `threads` threads (the caller's and threads - 1 helpers started for it);
  // drops a repacked tensor's pages of `file` (null: tensors not in a file). If the copies, sums or
  // buffers to read the rows cannot be allocated, the tensors concerned run without them (logged):
  // this never fails the load.
  static std::unique_ptr<StripWeights> Create(const ModelFile* file, const std::vector<const TensorView*>& tensors,
                                              const XnnWeights& xnn, int threads);

  // What Linear gets with `w`: its strips (data null if it stays row-major) and code sums (or null).
  PreparedWeights Find(const TensorView* w) const;
  // The tensors repacked into strips.
  std::vector<const TensorView*> tensors() const;
  // Bytes of the copies and the code sums (resident, anonymous memory).
  uint64_t packed_bytes() const { return packed_bytes_; }

 private:
  StripWeights() = default;
  void* mapping_ = nullptr;  // every tensor's strips, from its first 2 MB boundary on
  size_t mapping_bytes_ = 0;
  std::vector<int32_t> code_sums_;  // every summed tensor's, one after the other
  std::unordered_map<const TensorView*, PreparedWeights> index_;
  uint64_t packed_bytes_ = 0;
};

}  // namespace edgelm
