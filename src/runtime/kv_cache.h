// Per-session key/value cache. Only KV-owner layers allocate (KV-sharing layers read their source's
// cache). Sliding-window layers keep a ring of window + max_chunk - 1 slots, so memory is
// O(window), not O(context); full-attention layers keep one slot per position up to the context
// length. K is stored post-norm post-RoPE, V post-norm, f32 [num_kv_heads * head_dim] per slot.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "common/status.h"
#include "format/model_config.h"

namespace edgelm {

struct KvCacheOptions {
  int context_length = 0;  // tokens
  int max_chunk = 0;       // most tokens one forward call appends
};

class KvCache {
 public:
  static Status Create(const ModelConfig& config, const KvCacheOptions& options, std::unique_ptr<KvCache>* out);

  int context_length() const { return options_.context_length; }
  int max_chunk() const { return options_.max_chunk; }
  // Tokens whose K/V are stored (positions 0 .. length-1).
  int length() const { return length_; }
  void set_length(int length) { length_ = length; }

  // Smallest length the cache can be cut back to without losing sliding-window K/V that later
  // positions still need (ring buffers overwrite the oldest slots).
  int rewind_floor() const;

  // Slot of `position` in `layer`'s cache (layer must own KV).
  float* key(int layer, int position) { return Slot(keys_, layer, position); }
  float* value(int layer, int position) { return Slot(values_, layer, position); }
  const float* key(int layer, int position) const { return const_cast<KvCache*>(this)->key(layer, position); }
  const float* value(int layer, int position) const { return const_cast<KvCache*>(this)->value(layer, position); }

  size_t allocated_bytes() const;

 private:
  float* Slot(std::vector<std::vector<float>>& store, int layer, int position) {
    const int slot = ring_[layer] ? position % capacity_[layer] : position;
    return store[layer].data() + static_cast<size_t>(slot) * slot_floats_[layer];
  }

  KvCacheOptions options_;
  int length_ = 0;
  std::vector<int> capacity_;       // slots per layer (0 for KV-sharing layers)
  std::vector<bool> ring_;
  std::vector<size_t> slot_floats_;
  std::vector<std::vector<float>> keys_, values_;
};

}  // namespace edgelm
