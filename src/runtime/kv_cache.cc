#include "runtime/kv_cache.h"

#include <algorithm>

namespace edgelm {

Status KvCache::Create(const ModelConfig& config, const KvCacheOptions& options, std::unique_ptr<KvCache>* out) {
  if (options.context_length <= 0) return InvalidArgument("context length must be positive");
  if (options.max_chunk <= 0) return InvalidArgument("prefill chunk must be positive");
  std::unique_ptr<KvCache> kv(new KvCache());
  kv->options_ = options;
  const int L = config.num_layers();
  kv->capacity_.assign(L, 0);
  kv->ring_.assign(L, false);
  kv->slot_floats_.assign(L, 0);
  kv->keys_.resize(L);
  kv->values_.resize(L);
  for (int i = 0; i < L; ++i) {
    if (!config.owns_kv(i)) continue;
    const LayerConfig& l = config.layers[i];
    const int window = l.sliding_window;
    // A chunk of C tokens at positions p..p+C-1 needs keys from p-W+1: W + C - 1 distinct slots.
    const bool ring = window > 0 && window + options.max_chunk - 1 < options.context_length;
    kv->ring_[i] = ring;
    kv->capacity_[i] = ring ? window + options.max_chunk - 1 : options.context_length;
    kv->slot_floats_[i] = static_cast<size_t>(l.num_kv_heads) * l.head_dim;
    const size_t floats = kv->slot_floats_[i] * kv->capacity_[i];
    try {
      kv->keys_[i].assign(floats, 0.0f);
      kv->values_[i].assign(floats, 0.0f);
    } catch (const std::bad_alloc&) {
      return Status(StatusCode::kOutOfMemory, "KV cache allocation failed");
    }
  }
  *out = std::move(kv);
  return Status::Ok();
}

int KvCache::rewind_floor() const {
  // Resuming at n needs positions n-W+1 .. n-1; a ring of W + C - 1 slots holds length-(W+C-1) ..
  // length-1, so n >= length - C.
  int floor = 0;
  for (size_t i = 0; i < ring_.size(); ++i)
    if (ring_[i]) floor = std::max(floor, length_ - options_.max_chunk);
  return floor;
}

size_t KvCache::allocated_bytes() const {
  size_t bytes = 0;
  for (size_t i = 0; i < keys_.size(); ++i) bytes += (keys_[i].size() + values_[i].size()) * sizeof(float);
  return bytes;
}

}  // namespace edgelm
