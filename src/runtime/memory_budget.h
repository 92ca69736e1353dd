// Up-front memory estimates, so that a model or session that would not fit the caller's budget
// (max_memory_bytes in the C API) is refused before anything large is allocated.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "format/model_config.h"
#include "model/gemma4.h"
#include "runtime/kv_cache.h"

namespace edgelm {

// Bytes `layer` of `kv` holds once the context is full: its ring on sliding-window layers, the whole
// context on full-attention layers, nothing on KV-sharing layers.
uint64_t KvLayerBytesAtFullContext(const KvCache& kv, int layer);
// The same summed over every layer of `config`, the model `kv` was created for.
uint64_t KvBytesAtFullContext(const ModelConfig& config, const KvCache& kv);

// Scratch one session grows to while running chunks of up to `chunk` tokens over a context of
// `context` tokens: activations, attention scores, quantized linear inputs and the logits. An upper
// bound of the buffers Gemma4Model::Forward grows (every layer's widest shape at once).
uint64_t SessionScratchBytes(const Gemma4Model& model, int chunk, int context);

// "12.3 MB" (10^6 bytes, as file sizes are shown).
std::string Megabytes(uint64_t bytes);

// kOutOfMemory when `needed` exceeds `budget` (0 = no limit): "<what> needs X MB (<breakdown>), over
// the max_memory_bytes budget of Y MB".
Status CheckMemoryBudget(const std::string& what, uint64_t needed, const std::string& breakdown, uint64_t budget);

}  // namespace edgelm
