// The tensors a Gemma 4 text decoder needs, derived from its resolved config. The converter writes
// exactly these; the loader requires exactly these (names without the Hugging Face "model." prefix).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "format/model_config.h"
#include "format/tensor.h"

namespace edgelm {

enum class TensorRole {
  kEmbedding,      // token embedding, also the output head when tied
  kLmHead,         // a separate output head (config.tie_word_embeddings == false)
  kPleTable,       // per-layer embedding table, gathered one row per token
  kPleProjection,  // per_layer_model_projection (context part of PLE)
  kAttention,      // q/k/v/o projections
  kMlp,            // gate/up/down
  kPleLayer,       // per-layer PLE gate and projection
  kNorm,           // RMSNorm weights and layer scalars (always f32)
};

// Where the graph binds a tensor: one slot per model-level tensor, and per layer (with TensorInfo::layer).
enum class TensorSlot {
  kEmbed, kPleTable, kPleProjection, kPleProjectionNorm, kFinalNorm, kLmHead,
  kInputNorm, kQProj, kQNorm, kKProj, kVProj, kKNorm, kOProj, kPostAttentionNorm, kPreFfnNorm,
  kGateProj, kUpProj, kDownProj, kPostFfnNorm, kPleGate, kPleLayerProjection, kPostPleNorm, kLayerScalar,
};
constexpr int kFirstLayerSlot = static_cast<int>(TensorSlot::kInputNorm);
constexpr int kTensorSlotCount = static_cast<int>(TensorSlot::kLayerScalar) + 1;

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  TensorRole role;
  TensorSlot slot;
  int layer = -1;              // -1 for model-level tensors
  bool kv_consumer = false;    // the layer reads another layer's KV cache
  bool is_matrix() const { return role != TensorRole::kNorm; }
};

std::vector<TensorInfo> Gemma4TensorManifest(const ModelConfig& config);

const char* TensorRoleName(TensorRole role);

// Bytes of a model's weights as stored: codes plus one f32 scale per row for integer codes.
struct WeightBytes {
  uint64_t file = 0;       // every tensor
  uint64_t ple_table = 0;  // the PLE table: stays on flash, gathered one row per token
  std::map<TensorRole, uint64_t> by_role;
  // What decoding keeps touching, so what stays resident: everything but the PLE table.
  uint64_t resident() const { return file - ple_table; }
};

// Sums the tensors of `manifest`, each stored as the dtype `dtype_of` gives it (`dtype_of` returns
// false for a tensor that is absent; it is not counted). Fails, naming the tensor, on a shape the
// dtype cannot hold. Used by `edgelm-inspect --estimate` and by the load-time memory budget.
Status SumWeightBytes(const std::vector<TensorInfo>& manifest,
                      const std::function<bool(const TensorInfo&, DType*)>& dtype_of, WeightBytes* out);

}  // namespace edgelm
