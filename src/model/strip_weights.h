// Our kernels' repacked weights. Where the selected kernel variant has a GEMM over channel strips
// (kernels/gemm.h) for a tensor's dtype (x86: avx2, avx512vnni), the tensor is repacked into strips once, at load: a decode
// step then reads each matrix as one linear stream, and prefill skips the per-call transposes of the
// row-major kernels (docs/performance.md, "Channel strips"). The copy lives in anonymous memory
// (transparent huge pages where the system allows them) and the file's pages of the original are
// dropped right after, so it replaces the original in memory instead of adding to it.
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
  // dtype has a strips GEMM in the selected kernel variant, on `threads` threads (the caller's and
  // threads - 1 helpers started for it), and drops its pages of `file` (null: tensors not in a file).
  // If the copies or the buffers to read the rows cannot be allocated, every tensor stays row-major
  // (logged): this never fails the load.
  static std::unique_ptr<StripWeights> Create(const ModelFile* file, const std::vector<const TensorView*>& tensors,
                                              const XnnWeights& xnn, int threads);

  // `w`'s strips, or null (Strips::data) if it stays row-major.
  Strips Find(const TensorView* w) const;
  std::vector<const TensorView*> tensors() const;
  // Bytes of the copies (resident, anonymous memory).
  uint64_t packed_bytes() const { return packed_bytes_; }

 private:
  StripWeights() = default;
  void* mapping_ = nullptr;  // every tensor's strips, from its first 2 MB boundary on
  size_t mapping_bytes_ = 0;
  std::unordered_map<const TensorView*, Strips> index_;
  uint64_t packed_bytes_ = 0;
};

}  // namespace edgelm
