// Causal attention of one layer over the KV cache, split into work items over a thread pool: prefill
// rows are interleaved over the tasks; a decode row's keys are split into spans merged
// flash-decoding style. The split depends only on positions, never on the thread count, so results
// are identical for any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <pthreadpool.h>

#include "format/model_config.h"
#include "model/kv_cache.h"

namespace edgelm {

// The query heads of a row (from q_offset) that share KV head kv_head, over key positions
// [first, last]. Its output goes straight to the attention output (kWholeRow), or, for one span of a
// split row, to the span buffer at span_offset until the spans are merged.
struct AttentionItem {
  size_t q_offset, span_offset;
  int kv_head, first, last;
};

// Buffers one session reuses across calls (grown, never shrunk, until released).
struct AttentionScratch {
  std::vector<float> scores, spans, stats;
  std::vector<AttentionItem> items;
  size_t capacity_bytes() const;
  void Release();
};

struct AttentionShape {
  int kv_layer;     // the layer whose cache is read (the KV source)
  int num_heads, num_kv_heads, head_dim;
  int window;       // 0 = unlimited
};

// out[rows][num_heads * head_dim] = softmax(q kᵀ) v for rows at positions first_pos.. (scale 1: the
// q/k norm weights carry the temperature). q: [rows][num_heads * head_dim].
void Attend(const KvCache& kv, const AttentionShape& shape, int rows, int first_pos, const float* q, float* out,
            AttentionScratch* scratch, pthreadpool_t pool);

// Bytes AttentionScratch grows to for chunks of up to `chunk` tokens over `context` positions with
// `tasks` threads, for the widest layer of `config`.
uint64_t AttentionScratchBytes(const ModelConfig& config, int chunk, int context, int tasks);

}  // namespace edgelm
