// The tensors a Gemma 4 text decoder needs, derived from its resolved config. The converter writes
// exactly these; the loader requires exactly these (names without the Hugging Face "model." prefix).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/model_config.h"

namespace edgelm {

enum class TensorRole {
  kEmbedding,      // token embedding, also the tied output head
  kPleTable,       // per-layer embedding table, gathered one row per token
  kPleProjection,  // per_layer_model_projection (context part of PLE)
  kAttention,      // q/k/v/o projections
  kMlp,            // gate/up/down
  kPleLayer,       // per-layer PLE gate and projection
  kNorm,           // RMSNorm weights and layer scalars (always f32)
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  TensorRole role;
  int layer = -1;              // -1 for model-level tensors
  bool kv_consumer = false;    // the layer reads another layer's KV cache
  bool is_matrix() const { return role != TensorRole::kNorm; }
};

std::vector<TensorInfo> Gemma4TensorManifest(const ModelConfig& config);

const char* TensorRoleName(TensorRole role);

}  // namespace edgelm
