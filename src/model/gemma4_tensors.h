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
  int64_t slice_cols = 0;      // the PLE table: columns of one layer's slice of a row
  bool is_matrix() const { return role != TensorRole::kNorm; }
};

std::vector<TensorInfo> Gemma4TensorManifest(const ModelConfig& config);

const char* TensorRoleName(TensorRole role);

// Bytes of a model's weights as stored: codes plus f32 scales for integer codes.
struct WeightBytes {
  uint64_t file = 0;      // every tensor
  // Tables only gathered one row per token: the PLE table, and the token table when the head is a
  // separate tensor. They stay on flash.
  uint64_t gathered = 0;
  std::map<TensorRole, uint64_t> by_role;
  // What decoding keeps touching, so what stays resident.
  uint64_t resident() const { return file - gathered; }
};

// How one tensor is stored: its dtype and, for integer codes, columns per scale (0 = one per row).
struct StoredAs {
  DType dtype = DType::F32;
  int64_t scale_group_size = 0;
};

// Sums the tensors of `manifest`, each stored as `stored_as` says (it returns false for a tensor that
// is absent; it is not counted). Fails, naming the tensor, on a shape the dtype cannot hold. Used by
// `edgelm-inspect --estimate` and by the load-time memory budget; `tied_head` as in the config.
Status SumWeightBytes(const std::vector<TensorInfo>& manifest, bool tied_head,
                      const std::function<bool(const TensorInfo&, StoredAs*)>& stored_as, WeightBytes* out);

}  // namespace edgelm
