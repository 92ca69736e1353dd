// XNNPACK (third_party/pins.txt) as the engine of the integer linears. At load, each integer tensor is
// given to XNNPACK's fully-connected operator for its arithmetic, or left to our kernels
// (model/linear.h), by a rule per tensor (ChooseXnnOperator; docs/performance.md has the
// measurements behind it):
//   static int8 input, int8 output with a scale (the published graph) -> qs8_qc{8,4,2}w
//   static or per-token int8 input, f32 output                         -> qd8_f32_qc{8,4,2}w, the
//       scale (and zero point) passed as XNNPACK's per-row parameters; 2-bit on x86 -> qdu8_f32_qc2w
// XNNPACK packs the weights once, into memory the model owns (a weights-cache provider); the file
// pages of the originals are then dropped, so the packed copy replaces them in memory rather than
// doubling it. Given a cache path, the packed weights are written there once and mapped from it at
// later loads (format/packed_weights_file.h), which then pack nothing. Operators hold per-call state, so every workspace (session) creates
// its own from the shared packed weights: nothing is packed twice, and sessions on different threads
// never wait for each other.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <pthreadpool.h>

#include "common/status.h"
#include "format/tensor.h"

struct xnn_operator;

namespace edgelm {

class ModelFile;

// Which engine runs the integer linears.
enum class LinearEngine {
  kAuto,     // per tensor, the faster on this CPU (the default)
  kEdgelm,   // our kernels only
  kXnnpack,  // XNNPACK for every tensor it supports, with SIMD kernels on this CPU
};
// kAuto unless EDGELM_KERNELS names another: "xnnpack" forces XNNPACK; "edgelm" or one of our
// variants (e.g. "avx2") forces our kernels; unset or "auto" is kAuto.
LinearEngine LinearEngineFromEnvironment();
const char* LinearEngineName(LinearEngine engine);

// The XNNPACK operator a tensor runs as.
enum class XnnOperator { kNone, kQd8F32Qc8w, kQd8F32Qc4w, kQd8F32Qc2w, kQdu8F32Qc2w, kQs8Qc8w, kQs8Qc4w, kQs8Qc2w };
const char* XnnOperatorName(XnnOperator op);

// The operator `w` would run as under `engine` on this CPU; kNone = our kernels (float or block
// weights, grouped scales, shapes XNNPACK's layouts do not fit, 2-bit where only a scalar kernel
// exists, or a requantization scale XNNPACK refuses).
XnnOperator ChooseXnnOperator(const TensorView& w, LinearEngine engine);

// Where XNNPACK's packed weights are kept between loads of a model.
struct PackedWeightsCache {
  std::string path;     // the cache file; empty: pack at every load, into anonymous memory
  bool verify = false;    // check the cached bytes against their CRC-32 before using them
  bool populate = false;  // fault the cache file's pages in at load (LoadOptions::populate)
};

// The weights of every tensor run by XNNPACK, packed once per model. Immutable after Create;
// shared by every workspace.
class XnnWeights {
 public:
  ~XnnWeights();
  // Packs each tensor of `tensors` that ChooseXnnOperator gives an operator and drops its pages of
  // `file` (null: tensors not in a file) from memory. XNNPACK failing to initialize or to take a
  // tensor is not an error: our kernels run what it does not (the log says why). With a cache path
  // (and a file), tensors the cache holds for this model, XNNPACK build and CPU are mapped from it
  // instead of packed; if any had to be packed, the cache is rewritten and every packed tensor then
  // served from it. A cache that is absent, stale, damaged or cannot be written costs a packing, not
  // the load (the log says why).
  static Status Create(const ModelFile* file, const std::vector<const TensorView*>& tensors, LinearEngine engine,
                       const PackedWeightsCache& cache, std::unique_ptr<XnnWeights>* out);

  // The plan index of `w`, or -1 if our kernels run it.
  int Find(const TensorView* w) const;
  size_t size() const { return plans_.size(); }
  XnnOperator op(int index) const { return plans_[index].op; }
  const TensorView& tensor(int index) const { return *plans_[index].w; }
  // Bytes of XNNPACK's packed copies (resident: anonymous memory, or pages of the cache file) and of
  // the originals they replace.
  uint64_t packed_bytes() const;
  // Tensors mapped from the cache file rather than packed at this load; whether the packed weights
  // are pages of the cache file (clean, evictable) rather than anonymous memory.
  int cached_tensors() const { return cached_tensors_; }
  bool served_from_cache_file() const;
  uint64_t source_bytes() const { return source_bytes_; }
  // Scratch bytes one workspace needs for `rows` tokens through the widest planned tensor.
  uint64_t ScratchBytes(int rows) const;

  struct Cache;  // the xnn_weights_cache_provider behind the packed copies

 private:
  struct Plan {
    const TensorView* w;
    XnnOperator op;
  };
  XnnWeights() = default;
  Status CreateOperator(int index, xnn_operator** out) const;
  friend class XnnOperators;

  std::vector<Plan> plans_;
  std::unordered_map<const TensorView*, int> index_;
  std::unique_ptr<Cache> cache_;
  uint64_t source_bytes_ = 0;
  int cached_tensors_ = 0;
};

// One workspace's operators over a model's XnnWeights, created on first use, and their scratch.
// One thread at a time, like the workspace that owns it.
class XnnOperators {
 public:
  explicit XnnOperators(const XnnWeights* weights) : weights_(weights) {}
  ~XnnOperators();
  XnnOperators(const XnnOperators&) = delete;
  XnnOperators& operator=(const XnnOperators&) = delete;

  // y[M][N] = Linear(w, x) through XNNPACK when `w` has a plan; false when our kernels must run it
  // (no plan, or XNNPACK failed for this call: the message goes to the log once).
  bool Run(const TensorView& w, const float* x, int M, float* y, pthreadpool_t pool);
  // Frees the scratch (it grows again on the next Run); returns the bytes freed.
  size_t ReleaseScratch();

 private:
  struct Slot {
    xnn_operator* op = nullptr;
    size_t batch = 0;               // the batch size and pool of the last reshape
    pthreadpool_t pool = nullptr;
    bool failed = false;
  };
  bool Prepare(int index, size_t M, pthreadpool_t pool, Slot* slot);

  const XnnWeights* weights_;
  std::vector<Slot> slots_;
  std::vector<int8_t> input_;        // [M][K] codes (+ XNN_EXTRA_BYTES)
  std::vector<int8_t> output_;       // [M][N] int8 outputs of the qs8 operators
  std::vector<float> row_sum_;       // per row, 2-bit operators
  struct RowParams {                 // XNNPACK's xnn_quantization_params
    int32_t zero_point;
    float scale;
  };
  std::vector<RowParams> params_;    // per row (+ XNN_EXTRA_QUANTIZATION_PARAMS)
  std::vector<uint8_t> workspace_;   // the operators' own, when reshape asks for one
};

}  // namespace edgelm
