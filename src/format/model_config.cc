#include "format/model_config.h"

#include <cmath>

namespace edgelm {
namespace {

// Limits far above any Gemma 4 model, low enough that products of them cannot overflow int64.
constexpr int kMaxHidden = 1 << 16;
constexpr int kMaxVocab = 1 << 22;
constexpr int kMaxLayers = 1024;
constexpr int kMaxHeads = 1024;
constexpr int kMaxHeadDim = 4096;
constexpr int kMaxIntermediate = 1 << 20;

bool InRange(int v, int lo, int hi) { return v >= lo && v <= hi; }

}  // namespace

Status ModelConfig::Validate() const {
  if (family.empty()) return CorruptModel("architecture without a family name");
  if (!InRange(vocab_size, 1, kMaxVocab)) return CorruptModel("vocab_size out of range");
  if (!InRange(hidden_size, 1, kMaxHidden)) return CorruptModel("hidden_size out of range");
  if (!InRange(num_heads, 1, kMaxHeads)) return CorruptModel("num_heads out of range");
  if (!InRange(ple_dim, 0, kMaxHidden)) return CorruptModel("ple_dim out of range");
  if (ple_dim > 0 && !InRange(ple_vocab_size, 1, kMaxVocab)) return CorruptModel("ple_vocab_size out of range");
  if (!(rms_norm_eps > 0.0f && rms_norm_eps < 1.0f)) return CorruptModel("rms_norm_eps out of range");
  if (!(final_logit_softcap >= 0.0f && std::isfinite(final_logit_softcap)))
    return CorruptModel("final_logit_softcap out of range");
  if (!(std::isfinite(embed_scale) && embed_scale > 0.0f)) return CorruptModel("embed_scale out of range");
  if (!(std::isfinite(final_logit_softcap_reciprocal) && final_logit_softcap_reciprocal >= 0.0f))
    return CorruptModel("final_logit_softcap_reciprocal out of range");
  if (!(std::isfinite(ple_projection_scale) && ple_projection_scale >= 0.0f))
    return CorruptModel("ple_projection_scale out of range");
  if (!InRange(num_layers(), 1, kMaxLayers)) return CorruptModel("number of layers out of range");
  for (int i = 0; i < num_layers(); ++i) {
    const LayerConfig& l = layers[i];
    const std::string where = "layer " + std::to_string(i) + ": ";
    if (!InRange(l.head_dim, 2, kMaxHeadDim) || l.head_dim % 2 != 0) return CorruptModel(where + "bad head_dim");
    if (!InRange(l.num_kv_heads, 1, num_heads) || num_heads % l.num_kv_heads != 0)
      return CorruptModel(where + "num_kv_heads must divide num_heads");
    if (!InRange(l.intermediate_size, 1, kMaxIntermediate)) return CorruptModel(where + "bad intermediate_size");
    if (l.sliding_window < 0) return CorruptModel(where + "negative sliding_window");
    if (l.attention == AttentionType::Sliding && l.sliding_window == 0)
      return CorruptModel(where + "sliding layer without a window");
    if (!(l.rope.theta > 1.0 && std::isfinite(l.rope.theta))) return CorruptModel(where + "bad rope theta");
    if (!(l.rope.partial_rotary_factor > 0.0f && l.rope.partial_rotary_factor <= 1.0f))
      return CorruptModel(where + "bad partial_rotary_factor");
    if (!(l.rope.factor > 0.0f && std::isfinite(l.rope.factor))) return CorruptModel(where + "bad rope factor");
    if (!(l.kv_k_scale >= 0.0f && l.kv_v_scale >= 0.0f && std::isfinite(l.kv_k_scale) && std::isfinite(l.kv_v_scale)))
      return CorruptModel(where + "KV scale out of range");
    if (l.kv_source < 0 || l.kv_source > i) return CorruptModel(where + "kv_source must be an earlier layer");
    const LayerConfig& src = layers[l.kv_source];
    if (src.kv_source != l.kv_source) return CorruptModel(where + "kv_source is not a KV owner");
    if (src.attention != l.attention || src.head_dim != l.head_dim || src.num_kv_heads != l.num_kv_heads)
      return CorruptModel(where + "KV source has a different attention geometry");
  }
  return Status::Ok();
}

Status ConfigFromSchema(const schema::Architecture& arch, ModelConfig* config) {
  ModelConfig c;
  c.family = arch.family() ? arch.family()->str() : "";
  c.vocab_size = static_cast<int>(std::min<uint32_t>(arch.vocab_size(), INT32_MAX));
  c.hidden_size = static_cast<int>(std::min<uint32_t>(arch.hidden_size(), INT32_MAX));
  c.num_heads = static_cast<int>(std::min<uint32_t>(arch.num_heads(), INT32_MAX));
  c.ple_dim = static_cast<int>(std::min<uint32_t>(arch.ple_dim(), INT32_MAX));
  c.ple_vocab_size = static_cast<int>(std::min<uint32_t>(arch.ple_vocab_size(), INT32_MAX));
  c.rms_norm_eps = arch.rms_norm_eps();
  c.final_logit_softcap = arch.final_logit_softcap();
  c.embed_scale = arch.embed_scale();
  c.tie_word_embeddings = arch.tie_word_embeddings();
  c.final_logit_softcap_reciprocal = arch.final_logit_softcap_reciprocal();
  c.ple_projection_scale = arch.ple_projection_scale();
  c.max_position_embeddings = static_cast<int>(std::min<uint32_t>(arch.max_position_embeddings(), INT32_MAX));
  if (!arch.layers() || arch.layers()->size() > static_cast<uint32_t>(kMaxLayers))
    return CorruptModel("architecture has no layer list or too many layers");
  for (const schema::LayerConfig* l : *arch.layers()) {
    if (!l || !l->rope()) return CorruptModel("layer entry without rope parameters");
    LayerConfig lc;
    lc.attention = l->attention();
    lc.head_dim = static_cast<int>(std::min<uint32_t>(l->head_dim(), INT32_MAX));
    lc.num_kv_heads = static_cast<int>(std::min<uint32_t>(l->num_kv_heads(), INT32_MAX));
    lc.kv_source = l->kv_source();
    lc.intermediate_size = static_cast<int>(std::min<uint32_t>(l->intermediate_size(), INT32_MAX));
    lc.sliding_window = static_cast<int>(std::min<uint32_t>(l->sliding_window(), INT32_MAX));
    lc.rope.type = l->rope()->type();
    lc.rope.theta = l->rope()->theta();
    lc.rope.partial_rotary_factor = l->rope()->partial_rotary_factor();
    lc.rope.factor = l->rope()->factor();
    lc.kv_k_scale = l->kv_k_scale();
    lc.kv_v_scale = l->kv_v_scale();
    lc.kv_int8_full_range = l->kv_int8_full_range();
    if (lc.attention != AttentionType::Sliding && lc.attention != AttentionType::Full)
      return CorruptModel("unknown attention type");
    if (lc.rope.type != RopeType::Default && lc.rope.type != RopeType::Proportional)
      return CorruptModel("unknown RoPE type");
    c.layers.push_back(lc);
  }
  EDGELM_RETURN_IF_ERROR(c.Validate());
  *config = std::move(c);
  return Status::Ok();
}

flatbuffers::Offset<schema::Architecture> ConfigToSchema(flatbuffers::FlatBufferBuilder& fbb,
                                                         const ModelConfig& c) {
  std::vector<flatbuffers::Offset<schema::LayerConfig>> layers;
  for (const LayerConfig& l : c.layers) {
    auto rope = schema::CreateRopeParams(fbb, l.rope.type, l.rope.theta, l.rope.partial_rotary_factor,
                                         l.rope.factor);
    layers.push_back(schema::CreateLayerConfig(fbb, l.attention, l.head_dim, l.num_kv_heads, l.kv_source,
                                               l.intermediate_size, l.sliding_window, rope, l.kv_k_scale,
                                               l.kv_v_scale, l.kv_int8_full_range));
  }
  return schema::CreateArchitectureDirect(fbb, c.family.c_str(), c.vocab_size, c.hidden_size, c.num_heads,
                                          c.ple_dim, c.ple_vocab_size, c.rms_norm_eps, c.final_logit_softcap,
                                          c.embed_scale, c.max_position_embeddings, &layers,
                                          c.tie_word_embeddings, c.final_logit_softcap_reciprocal,
                                          c.ple_projection_scale);
}

}  // namespace edgelm
