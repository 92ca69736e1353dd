// The resolved decoder architecture as stored in a .edgelm file: every per-layer quantity is
// explicit, so the runtime never re-derives defaults (head dims, KV sharing, MLP widths). The format
// checks bounds and consistency; the family's own rules live with its graph (model/gemma4.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "edgelm_generated.h"

namespace edgelm {

using schema::AttentionType;
using schema::RopeType;

struct RopeConfig {
  RopeType type = RopeType::Default;
  double theta = 10000.0;
  float partial_rotary_factor = 1.0f;
  float factor = 1.0f;
};

struct LayerConfig {
  AttentionType attention = AttentionType::Sliding;
  int head_dim = 0;
  int num_kv_heads = 0;
  int kv_source = 0;         // layer whose K/V cache this layer reads (itself for KV owners)
  int intermediate_size = 0;
  int sliding_window = 0;    // 0 = unlimited
  RopeConfig rope;
  float kv_k_scale = 0.0f;   // static KV scales from QAT, 0 = none
  float kv_v_scale = 0.0f;
  bool kv_int8_full_range = false;  // static KV codes clamp to [-128,127] instead of [-127,127]
};

struct ModelConfig {
  std::string family = "gemma4";
  int vocab_size = 0;
  int hidden_size = 0;
  int num_heads = 0;
  int ple_dim = 0;
  int ple_vocab_size = 0;
  float rms_norm_eps = 1e-6f;
  float final_logit_softcap = 0.0f;
  float embed_scale = 1.0f;
  int max_position_embeddings = 0;
  std::vector<LayerConfig> layers;
  bool tie_word_embeddings = true;            // false: a separate lm_head.weight tensor
  float final_logit_softcap_reciprocal = 0;   // > 0: multiply by this stored value instead of dividing by the cap
  float ple_projection_scale = 0;             // 0 = 1/sqrt(hidden_size)

  int num_layers() const { return static_cast<int>(layers.size()); }
  bool owns_kv(int layer) const { return layers[layer].kv_source == layer; }

  // Bounds and cross-layer consistency (KV sources, head mapping): what makes the file safe to
  // index. Called on every load.
  Status Validate() const;
};

// Reads/writes the flatbuffer form.
Status ConfigFromSchema(const schema::Architecture& arch, ModelConfig* config);
flatbuffers::Offset<schema::Architecture> ConfigToSchema(flatbuffers::FlatBufferBuilder& fbb,
                                                         const ModelConfig& config);

}  // namespace edgelm
