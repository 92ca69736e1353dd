#include "runtime/memory_budget.h"

#include <algorithm>
#include <cstdio>

namespace edgelm {

uint64_t KvLayerBytesAtFullContext(const KvCache& kv, int layer) {
  return static_cast<uint64_t>(std::min(kv.context_length(), kv.capacity(layer))) * kv.row_bytes(layer);
}

uint64_t KvBytesAtFullContext(const ModelConfig& config, const KvCache& kv) {
  uint64_t bytes = 0;
  for (int layer = 0; layer < config.num_layers(); ++layer) bytes += KvLayerBytesAtFullContext(kv, layer);
  return bytes;
}

uint64_t SessionScratchBytes(const Gemma4Model& model, int chunk, int context) {
  const ModelConfig& c = model.config();
  uint64_t head_dim = 0, q_dim = 0, kv_dim = 0, mlp = 0;
  for (const LayerConfig& l : c.layers) {
    head_dim = std::max<uint64_t>(head_dim, l.head_dim);
    q_dim = std::max<uint64_t>(q_dim, static_cast<uint64_t>(c.num_heads) * l.head_dim);
    kv_dim = std::max<uint64_t>(kv_dim, static_cast<uint64_t>(l.num_kv_heads) * l.head_dim);
    mlp = std::max<uint64_t>(mlp, l.intermediate_size);
  }
  const uint64_t rows = static_cast<uint64_t>(chunk), H = c.hidden_size;
  const uint64_t ple_width = static_cast<uint64_t>(c.num_layers()) * c.ple_dim;
  const uint64_t floats = rows * (4 * H            // residual, normed, branch, head input
                                  + 2 * q_dim      // queries, attention output
                                  + 2 * kv_dim     // new keys and values
                                  + 2 * mlp        // gate, up
                                  + ple_width      // per-layer inputs
                                  + head_dim       // RoPE cos and sin
                                  + 1)             // per-token activation scales
                          + std::max(ple_width, rows * c.ple_dim)                   // PLE table row / gate
                          + static_cast<uint64_t>(c.vocab_size);                    // logits
  const uint64_t widest_input = std::max({H, q_dim, mlp, static_cast<uint64_t>(c.ple_dim)});
  return floats * sizeof(float) + rows * widest_input  // + int8 linear inputs
         + model.attention_scratch_bytes(chunk, context);
}

std::string Megabytes(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f MB", static_cast<double>(bytes) / 1e6);
  return text;
}

Status CheckMemoryBudget(const std::string& what, uint64_t needed, const std::string& breakdown, uint64_t budget) {
  if (budget == 0 || needed <= budget) return Status::Ok();
  return Status(StatusCode::kOutOfMemory, what + " needs " + Megabytes(needed) + " (" + breakdown +
                                              "), over the max_memory_bytes budget of " + Megabytes(budget));
}

}  // namespace edgelm
