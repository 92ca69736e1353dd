// The Gemma 4 text decoder (spec: docs in ../shared/docs/gemma4_arch.md §3): one graph for every
// weight format. Residual stream, norm statistics and softmax are f32.
#pragma once

#include <memory>
#include <vector>

#include "common/status.h"
#include "format/model_file.h"
#include "model/linear.h"
#include "runtime/kv_cache.h"

namespace edgelm {

// Hooks to look inside a forward pass (tests compare internals with the reference; calibration
// records linear inputs). Rows are the tokens the pass computed at that point.
class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  virtual void OnLinearInput(const TensorView& weight, const float* x, int rows) {}
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

// Reusable buffers of one session; sized by the largest chunk seen.
struct Workspace;
struct WorkspaceDeleter {
  void operator()(Workspace* ws) const;
};
using WorkspacePtr = std::unique_ptr<Workspace, WorkspaceDeleter>;

class Gemma4Model {
 public:
  ~Gemma4Model();
  // Binds every tensor of the manifest and checks shapes and dtypes against the architecture.
  // `num_threads`: compute threads (0 = one per core, 1 = the calling thread only).
  static Status Create(std::shared_ptr<const ModelFile> file, std::unique_ptr<Gemma4Model>* out, int num_threads = 1);

  const ModelConfig& config() const { return file_->config(); }
  const ModelFile& file() const { return *file_; }
  // Bytes of weights one decode step reads (everything but the PLE table, plus one PLE row).
  uint64_t decode_weight_bytes() const;
  // Bytes of attention scratch a workspace grows to for chunks of up to `chunk` tokens over `context`
  // positions: each task's scores, decode spans and their statistics, and the work items.
  uint64_t attention_scratch_bytes(int chunk, int context) const;

  static WorkspacePtr NewWorkspace();

  // Runs `count` tokens at positions kv->length() ... and appends their K/V. `logits` receives
  // [count][vocab] (kAll) or [vocab] (kLast). count must not exceed kv->max_chunk().
  Status Forward(const int* tokens, int count, LogitsMode mode, KvCache* kv, Workspace* ws, float* logits,
                 ForwardObserver* observer = nullptr) const;

 private:
  struct LayerWeights;
  Gemma4Model() = default;
  Status Bind();
  void Attention(int layer, int rows, int first_pos, KvCache* kv, Workspace* ws) const;

  std::shared_ptr<const ModelFile> file_;
  pthreadpool_t pool_ = nullptr;  // shared by every session; pthreadpool serializes concurrent jobs
  const TensorView* embed_ = nullptr;
  const TensorView* ple_table_ = nullptr;
  const TensorView* ple_projection_ = nullptr;
  const TensorView* ple_projection_norm_ = nullptr;
  const TensorView* final_norm_ = nullptr;
  std::vector<LayerWeights> layers_;
  std::vector<std::vector<float>> inv_freq_;  // per layer: RoPE frequency of each of head_dim/2 pairs
};

}  // namespace edgelm
