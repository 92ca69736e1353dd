#include "model/gemma4_tensors.h"

namespace edgelm {

const char* TensorRoleName(TensorRole role) {
  switch (role) {
    case TensorRole::kEmbedding: return "embedding";
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
  std::vector<TensorInfo> out;
  auto add = [&out](std::string name, std::vector<int64_t> shape, TensorRole role, int layer = -1,
                    bool consumer = false) {
    out.push_back(TensorInfo{std::move(name), std::move(shape), role, layer, consumer});
  };
  add("embed_tokens.weight", {c.vocab_size, H}, TensorRole::kEmbedding);
  if (P > 0) {
    add("embed_tokens_per_layer.weight", {c.ple_vocab_size, L * P}, TensorRole::kPleTable);
    add("per_layer_model_projection.weight", {L * P, H}, TensorRole::kPleProjection);
    add("per_layer_projection_norm.weight", {P}, TensorRole::kNorm);
  }
  add("norm.weight", {H}, TensorRole::kNorm);
  for (int i = 0; i < L; ++i) {
    const LayerConfig& l = c.layers[i];
    const bool consumer = !c.owns_kv(i);
    const std::string p = "layers." + std::to_string(i) + ".";
    const int64_t d = l.head_dim, q_dim = c.num_heads * d, kv_dim = l.num_kv_heads * d, I = l.intermediate_size;
    for (const char* norm : {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                             "post_feedforward_layernorm"})
      add(p + norm + ".weight", {H}, TensorRole::kNorm, i, consumer);
    add(p + "self_attn.q_proj.weight", {q_dim, H}, TensorRole::kAttention, i, consumer);
    add(p + "self_attn.q_norm.weight", {d}, TensorRole::kNorm, i, consumer);
    if (!consumer) {
      add(p + "self_attn.k_proj.weight", {kv_dim, H}, TensorRole::kAttention, i);
      add(p + "self_attn.v_proj.weight", {kv_dim, H}, TensorRole::kAttention, i);
      add(p + "self_attn.k_norm.weight", {d}, TensorRole::kNorm, i);
    }
    add(p + "self_attn.o_proj.weight", {H, q_dim}, TensorRole::kAttention, i, consumer);
    add(p + "mlp.gate_proj.weight", {I, H}, TensorRole::kMlp, i, consumer);
    add(p + "mlp.up_proj.weight", {I, H}, TensorRole::kMlp, i, consumer);
    add(p + "mlp.down_proj.weight", {H, I}, TensorRole::kMlp, i, consumer);
    if (P > 0) {
      add(p + "per_layer_input_gate.weight", {P, H}, TensorRole::kPleLayer, i, consumer);
      add(p + "per_layer_projection.weight", {H, P}, TensorRole::kPleLayer, i, consumer);
      add(p + "post_per_layer_input_norm.weight", {H}, TensorRole::kNorm, i, consumer);
    }
    add(p + "layer_scalar", {1}, TensorRole::kNorm, i, consumer);
  }
  return out;
}

Status SumWeightBytes(const std::vector<TensorInfo>& manifest,
                      const std::function<bool(const TensorInfo&, DType*)>& dtype_of, WeightBytes* out) {
  WeightBytes sum;
  for (const TensorInfo& t : manifest) {
    DType dtype;
    if (!dtype_of(t, &dtype)) continue;
    uint64_t bytes = 0;
    const Status s = TensorBytes(dtype, t.shape, &bytes);
    if (!s.ok()) return Status(s.code(), "tensor '" + t.name + "': " + s.message());
    if (dtype == DType::I8 || dtype == DType::I4 || dtype == DType::I2) {
      const int64_t rows = t.shape.size() == 2 ? t.shape[0] : 1;
      bytes += static_cast<uint64_t>(rows) * sizeof(float);
    }
    sum.file += bytes;
    sum.by_role[t.role] += bytes;
    if (t.role == TensorRole::kPleTable) sum.ple_table += bytes;
  }
  *out = std::move(sum);
  return Status::Ok();
}

}  // namespace edgelm
