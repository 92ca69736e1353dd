#include "model/gemma4_tensors.h"

namespace edgelm {

const char* TensorRoleName(TensorRole role) {
  switch (role) {
    case TensorRole::kEmbedding: return "embedding";
    case TensorRole::kLmHead: return "lm_head";
    case TensorRole::kPleTable: return "ple_table";
    case TensorRole::kPleProjection: return "ple_projection";
    case TensorRole::kAttention: return "attention";
    case TensorRole::kMlp: return "mlp";
    case TensorRole::kPleLayer: return "ple_layer";
    case TensorRole::kNorm: return "norm";
  }
  return "?";
}

std::vector<TensorInfo> Gemma4TensorManifest(const ModelConfig& c) {
  const int64_t H = c.hidden_size, P = c.ple_dim, L = c.num_layers();
  using S = TensorSlot;
  using R = TensorRole;
  std::vector<TensorInfo> out;
  auto add = [&out](std::string name, std::vector<int64_t> shape, R role, S slot, int layer = -1, bool consumer = false) {
    out.push_back(TensorInfo{std::move(name), std::move(shape), role, slot, layer, consumer});
  };
  add("embed_tokens.weight", {c.vocab_size, H}, R::kEmbedding, S::kEmbed);
  if (P > 0) {
    add("embed_tokens_per_layer.weight", {c.ple_vocab_size, L * P}, R::kPleTable, S::kPleTable);
    out.back().slice_cols = P;
    add("per_layer_model_projection.weight", {L * P, H}, R::kPleProjection, S::kPleProjection);
    add("per_layer_projection_norm.weight", {P}, R::kNorm, S::kPleProjectionNorm);
  }
  add("norm.weight", {H}, R::kNorm, S::kFinalNorm);
  if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, H}, R::kLmHead, S::kLmHead);
  for (int i = 0; i < L; ++i) {
    const LayerConfig& l = c.layers[i];
    const bool consumer = !c.owns_kv(i);
    const std::string p = "layers." + std::to_string(i) + ".";
    const int64_t d = l.head_dim, q_dim = c.num_heads * d, kv_dim = l.num_kv_heads * d, I = l.intermediate_size;
    auto layer = [&](const char* name, std::vector<int64_t> shape, R role, S slot) {
      add(p + name, std::move(shape), role, slot, i, consumer);
    };
    layer("input_layernorm.weight", {H}, R::kNorm, S::kInputNorm);
    layer("post_attention_layernorm.weight", {H}, R::kNorm, S::kPostAttentionNorm);
    layer("pre_feedforward_layernorm.weight", {H}, R::kNorm, S::kPreFfnNorm);
    layer("post_feedforward_layernorm.weight", {H}, R::kNorm, S::kPostFfnNorm);
    layer("self_attn.q_proj.weight", {q_dim, H}, R::kAttention, S::kQProj);
    layer("self_attn.q_norm.weight", {d}, R::kNorm, S::kQNorm);
    if (!consumer) {
      layer("self_attn.k_proj.weight", {kv_dim, H}, R::kAttention, S::kKProj);
      layer("self_attn.v_proj.weight", {kv_dim, H}, R::kAttention, S::kVProj);
      layer("self_attn.k_norm.weight", {d}, R::kNorm, S::kKNorm);
    }
    layer("self_attn.o_proj.weight", {H, q_dim}, R::kAttention, S::kOProj);
    layer("mlp.gate_proj.weight", {I, H}, R::kMlp, S::kGateProj);
    layer("mlp.up_proj.weight", {I, H}, R::kMlp, S::kUpProj);
    layer("mlp.down_proj.weight", {H, I}, R::kMlp, S::kDownProj);
    if (P > 0) {
      layer("per_layer_input_gate.weight", {P, H}, R::kPleLayer, S::kPleGate);
      layer("per_layer_projection.weight", {H, P}, R::kPleLayer, S::kPleLayerProjection);
      layer("post_per_layer_input_norm.weight", {H}, R::kNorm, S::kPostPleNorm);
    }
    layer("layer_scalar", {1}, R::kNorm, S::kLayerScalar);
  }
  return out;
}

Status SumWeightBytes(const std::vector<TensorInfo>& manifest, bool tied_head,
                      const std::function<bool(const TensorInfo&, StoredAs*)>& stored_as, WeightBytes* out) {
  WeightBytes sum;
  for (const TensorInfo& t : manifest) {
    StoredAs how;
    if (!stored_as(t, &how)) continue;
    uint64_t bytes = 0;
    const Status s = TensorBytes(how.dtype, t.shape, &bytes);
    if (!s.ok()) return Status(s.code(), "tensor '" + t.name + "': " + s.message());
    if (how.dtype == DType::I8 || how.dtype == DType::I4 || how.dtype == DType::I2) {
      const int64_t rows = t.shape.size() == 2 ? t.shape[0] : 1;
      const int64_t per_row = how.scale_group_size > 0 ? t.shape.back() / how.scale_group_size : 1;
      bytes += static_cast<uint64_t>(rows * per_row) * sizeof(float);
    }
    sum.file += bytes;
    sum.by_role[t.role] += bytes;
    if (t.role == TensorRole::kPleTable || (t.role == TensorRole::kEmbedding && !tied_head)) sum.gathered += bytes;
  }
  *out = std::move(sum);
  return Status::Ok();
}

}  // namespace edgelm
