// The Gemma 4 text decoder (docs/design.md points to the architecture notes): one graph for every
// weight format. Residual stream, norm statistics and softmax are f32.
#pragma once

#include <memory>
#include <vector>

#include "common/status.h"
#include "format/model_file.h"
#include "model/kv_cache.h"
#include "model/linear.h"
#include "model/thread_pool.h"
#include "model/strip_weights.h"
#include "model/xnn_linear.h"

namespace edgelm {

// Hooks to look inside a forward pass (tests compare internals with the reference; calibration
// records linear inputs). Rows are the tokens the pass computed at that point.
class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  virtual void OnLinearInput(const TensorView& weight, const float* x, int rows) {}
  virtual void OnLinearOutput(const TensorView& weight, const float* y, int rows) {}
  // A KV owner's keys (after k_norm and RoPE) and values (after their norm), [rows][kv_dim], before
  // the cache encodes them.
  virtual void OnKeysValues(int layer, const float* k, const float* v, int rows, int kv_dim) {}
  // index 0 = scaled embedding, i = residual after layer i-1, L+1 = final norm output.
  virtual void OnHidden(int index, const float* x, int rows) {}
  virtual void OnAttentionOutput(int layer, const float* x, int rows) {}
  virtual void OnMlpOutput(int layer, const float* x, int rows) {}
  virtual void OnPleInputs(const float* pli, int rows) {}  // [rows][L][P]
};

enum class LogitsMode {
  kNone,  // fill the KV cache only
  kLast,  // logits of the last token; KV-sharing layers run for that token only
  kAll,   // logits of every token
};

// Reusable buffers of one session, sized by the largest chunk seen, and the thread pool its forward
// passes run on (borrowed).
struct Workspace;
struct WorkspaceDeleter {
  void operator()(Workspace* ws) const;
};
using WorkspacePtr = std::unique_ptr<Workspace, WorkspaceDeleter>;

// The Gemma 4 rules a config must follow beyond the format's bounds: the family, and KV-sharing
// layers forming a suffix of the stack (Forward skips them for all but the last prefill token).
Status CheckGemma4Config(const ModelConfig& config);

class Gemma4Model {
 public:
  ~Gemma4Model();
  // Checks the config, binds every tensor of the manifest and checks shapes and dtypes against the
  // architecture, then hands the integer linears `engine` picks to XNNPACK (which packs them).
  // `num_threads` sizes the model's shared pool (0 = one per core, 1 = the calling thread only).
  // LinearEngine::kAuto follows EDGELM_KERNELS when it is set.
  // `packed_cache` keeps XNNPACK's packed weights between loads (model/xnn_linear.h).
  static Status Create(std::shared_ptr<const ModelFile> file, std::unique_ptr<Gemma4Model>* out, int num_threads = 1,
                       LinearEngine engine = LinearEngine::kAuto, const PackedWeightsCache& packed_cache = {});

  const ModelConfig& config() const { return file_->config(); }
  const ModelFile& file() const { return *file_; }
  // Threads of the shared pool, resolved (0 became the core count).
  int num_threads() const { return shared_pool_->threads(); }
  // The pool shared by every workspace that asks for it (pthreadpool runs one job at a time, so
  // its users take turns). Null when num_threads is 1.
  pthreadpool_t shared_pool() const { return shared_pool_->get(); }
  // Bytes of weights one decode step reads (everything but the PLE table, plus one PLE row).
  uint64_t decode_weight_bytes() const;
  // The PLE table, gathered one row per token (null without PLE).
  const TensorView* ple_table() const { return ple_table_; }
  // The linears XNNPACK runs, with their packed weights.
  const XnnWeights& xnn() const { return *xnn_; }
  const StripWeights& strips() const { return *strips_; }

  // A workspace whose forward passes run on `pool` (null = the calling thread); the pool and this
  // model must outlive it.
  WorkspacePtr NewWorkspace(pthreadpool_t pool) const;
  // Bytes a workspace grows to for chunks of up to `chunk` tokens over `context` positions on
  // `threads` threads: activations, attention scratch, quantized linear inputs and logits.
  uint64_t WorkspaceBytes(int chunk, int context, int threads) const;
  // Frees a workspace's buffers (they grow again on the next Forward); returns the bytes freed.
  static size_t ReleaseWorkspace(Workspace* ws);

  // Runs `count` tokens at positions kv->length() ... and appends their K/V. `logits` receives
  // [count][vocab] (kAll) or [vocab] (kLast). count must not exceed kv->max_chunk().
  Status Forward(const int* tokens, int count, LogitsMode mode, KvCache* kv, Workspace* ws, float* logits,
                 ForwardObserver* observer = nullptr) const;

 private:
  struct LayerWeights;
  Gemma4Model() = default;
  Status Bind();
  // The steps of Forward, in order; `rows` tokens from `first_row` of the chunk are live.
  void Embed(const int* tokens, int count, Workspace* ws, ForwardObserver* observer) const;
  void PerLayerInputs(const int* tokens, int count, Workspace* ws, ForwardObserver* observer) const;
  void Attention(int layer, int rows, int first_pos, KvCache* kv, Workspace* ws, ForwardObserver* observer) const;
  void DecoderLayer(int layer, int rows, int first_row, int first_pos, KvCache* kv, Workspace* ws,
                    ForwardObserver* observer) const;
  void Head(int rows, int out_rows, Workspace* ws, float* logits, ForwardObserver* observer) const;

  std::shared_ptr<const ModelFile> file_;
  std::unique_ptr<ThreadPool> shared_pool_;
  const TensorView* embed_ = nullptr;
  const TensorView* ple_table_ = nullptr;
  const TensorView* ple_projection_ = nullptr;
  const TensorView* ple_projection_norm_ = nullptr;
  const TensorView* final_norm_ = nullptr;
  const TensorView* lm_head_ = nullptr;  // the output head: embed_ when tied
  std::vector<LayerWeights> layers_;
  struct OwnedTensor {
    TensorView view;
    std::vector<uint8_t> bytes;
  };
  std::vector<std::unique_ptr<OwnedTensor>> norms_;  // heap copies of the norm tensors (Bind says why)
  std::vector<const TensorView*> multiplied_;  // every tensor Linear runs, in manifest order
  std::unique_ptr<XnnWeights> xnn_;
  std::unique_ptr<StripWeights> strips_;
  std::vector<std::vector<float>> inv_freq_;  // per layer: RoPE frequency of each of head_dim/2 pairs
};

}  // namespace edgelm
