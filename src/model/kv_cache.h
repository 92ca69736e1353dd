// Per-session key/value cache.
//
// - Only KV-owner layers store anything; KV-sharing layers attend over their source layer's cache.
// - Sliding-window layers keep a ring of window + max_chunk - 1 slots (memory O(window), not
//   O(context)); full-attention layers grow in pages of kPageTokens up to the context length, and
//   attention touches only live positions.
// - K is stored post-norm post-RoPE and V post-norm, one row per token: all K heads, then all V heads.
//   Types: f32 (reference), bf16, int8 with one scale per token and head (or the model's static
//   per-layer scale, then no scale is stored), int4 with one scale per 32 values.
// - Pages are shared copy-on-write between forks, so a prompt prefilled once can seed many sessions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/byte_stream.h"
#include "common/status.h"
#include "format/model_config.h"

struct edgelm_kernels;

namespace edgelm {

enum class KvType { kF32 = 0, kBF16 = 1, kInt8 = 2, kInt4 = 3 };

const char* KvTypeName(KvType type);
bool KvTypeFromName(const std::string& name, KvType* type);

struct KvCacheOptions {
  int context_length = 0;   // tokens
  int max_chunk = 0;        // most tokens one forward call appends
  KvType type = KvType::kInt8;
};

class KvCache {
 public:
  static constexpr int kPageTokens = 256;

  static Status Create(const ModelConfig& config, const KvCacheOptions& options, std::unique_ptr<KvCache>* out);
  // A cache with the same contents whose pages are shared until either side writes to them.
  std::unique_ptr<KvCache> Fork() const;

  const KvCacheOptions& options() const { return options_; }
  int context_length() const { return options_.context_length; }
  int max_chunk() const { return options_.max_chunk; }
  // Tokens whose K/V are stored (positions 0 .. length-1).
  int length() const { return length_; }
  void set_length(int length) {
    length_ = length;
    written_ = length == 0 ? 0 : std::max(written_, length);
  }
  // Smallest length the cache can be cut back to without losing sliding-window K/V that later
  // positions still need (ring buffers overwrite the oldest slots, and a cache cut back keeps in
  // them what it wrote past its new length).
  int rewind_floor() const;

  // Stores the K and V of one token ([num_kv_heads * head_dim] floats each) of owner `layer`.
  void Store(int layer, int position, const float* k, const float* v);

  // The `group` query heads that share kv head `kv_head` of `layer` (GQA/MQA), over positions
  // [first, last], unnormalized so that spans of positions can be merged (flash-decoding):
  //   max_score[g] = max_j s_gj,  sum[g] = sum_j exp(s_gj - max_score[g]),
  //   out[g][head_dim] = sum_j exp(s_gj - max_score[g]) v_j,  with s_gj = q[g] . k_j (scale 1).
  // q and out hold the group's heads contiguously. The kernels (kernels/attention.h) read each K/V
  // row once for the whole group and dequantize it in registers. `scores`: scratch of
  // group * (last-first+1) floats.
  void Attend(int layer, int kv_head, int group, const float* q, int first, int last, float* scores, float* out,
              float* max_score, float* sum) const;

  // Bytes of K+V stored per token for `layer` (0 for KV-sharing layers), and in all layers.
  size_t row_bytes(int layer) const { return layers_[layer].row_bytes; }
  // Token slots `layer` holds at most (ring size, or the context length).
  int capacity(int layer) const { return layers_[layer].capacity; }
  size_t bytes_per_token() const;
  // Memory held by this cache's pages (shared pages count in full).
  size_t allocated_bytes() const;
  // Bytes the pages of `layer` take once the context is full: its ring on sliding-window layers,
  // the whole context on full-attention layers, nothing on KV-sharing layers; and of every layer.
  uint64_t layer_bytes_at_full_context(int layer) const {
    return static_cast<uint64_t>(std::min(options_.context_length, layers_[layer].capacity)) * layers_[layer].row_bytes;
  }
  uint64_t bytes_at_full_context() const;
  // Frees the pages that hold no position below length() (they are allocated again when written);
  // returns the bytes freed.
  size_t ReleaseUnusedPages();

  // The K/V rows of positions [0, length), with the options they depend on; part of a session
  // state, which carries the version and the checksum. `model_checksum` ties the rows to the model
  // they were computed with. Load validates everything and leaves the cache unchanged on failure.
  bool Save(ByteSink* out, uint64_t model_checksum) const;
  Status Load(ByteSource* in, uint64_t model_checksum);

 private:
  struct Page;
  struct Layer {
    int head_dim = 0, kv_heads = 0;
    size_t head_bytes = 0;    // one head's codes + scales
    size_t row_bytes = 0;     // K and V of one token
    int capacity = 0;         // slots (positions modulo capacity when ring)
    bool ring = false;
    float k_scale = 0.0f, v_scale = 0.0f;  // static scales, 0 = per token
    int static_min = -127;                  // lowest static code: -128 for TFLite-range scales
    std::vector<std::shared_ptr<Page>> pages;
  };

  KvCache() = default;
  uint8_t* WritableRow(int layer, int position);
  const uint8_t* Row(int layer, int position) const;
  void EncodeHead(const float* x, int d, float static_scale, int static_min, uint8_t* dst) const;
  // Calls visit(j, count, row) for each run of positions first+j .. first+j+count-1 (within [first,
  // last]) whose rows are contiguous: one page, no ring wrap-around.
  template <class Visit>
  void ForEachRun(int layer, int first, int last, Visit visit) const;

  KvCacheOptions options_;
  const edgelm_kernels* kernels_ = nullptr;
  int length_ = 0;
  int written_ = 0;  // positions 0 .. written_-1 were stored since the cache was last emptied
  std::vector<Layer> layers_;
};

}  // namespace edgelm
