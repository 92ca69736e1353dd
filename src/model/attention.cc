#include "model/attention.h"

#include <algorithm>
#include <cmath>

#include "model/scratch.h"
#include "model/thread_pool.h"

namespace edgelm {
namespace {

constexpr size_t kWholeRow = ~size_t{0};
// Decode (one row) splits each row's keys into spans of this many positions, so every thread has work.
constexpr int kAttentionSpan = 256;
// Attention with fewer multiply-adds (QK and PV) runs on the calling thread: for a decode row, under
// 512 keys of E2B's 8 query heads per KV head. Sharing from 64 keys measured no faster.
constexpr size_t kMinParallelAttentionMacs = size_t{1} << 21;

struct AttentionJob {
  const KvCache* kv;
  int layer, group, d;
  const float* q;
  float* out;          // [rows][q_dim]
  float* spans;        // unnormalized outputs of split rows' spans
  float* stats;        // per item: group score maxima, then group exp sums
  float* scores;       // per thread: scores_per_task floats
  size_t scores_per_task;
  const AttentionItem* items;
  size_t count;
};

// Items [first, first + count) on thread `thread`, which owns one slice of the scores. The pool hands
// out items as threads come free, so a thread slowed by another app or a slower core takes fewer.
void AttendItems(void* context, uint32_t thread, size_t first, size_t count) {
  const AttentionJob& job = *static_cast<const AttentionJob*>(context);
  float* scores = job.scores + thread * job.scores_per_task;
  for (size_t i = first; i < first + count; ++i) {
    const AttentionItem& it = job.items[i];
    float* out = it.span_offset == kWholeRow ? job.out + it.q_offset : job.spans + it.span_offset;
    float* stats = job.stats + i * 2 * job.group;
    job.kv->Attend(job.layer, it.kv_head, job.group, job.q + it.q_offset, it.first, it.last, scores, out, stats,
                   stats + job.group);
  }
}

// Normalizes whole rows; merges the spans of split rows (each rescaled to the largest maximum score)
// in position order.
void MergeAttentionSpans(const AttentionJob& job) {
  const size_t d = static_cast<size_t>(job.d), G = static_cast<size_t>(job.group);
  for (size_t i = 0; i < job.count;) {
    const AttentionItem& head = job.items[i];
    size_t end = i + 1;
    while (end < job.count && job.items[end].q_offset == head.q_offset) ++end;
    float* out = job.out + head.q_offset;
    for (size_t g = 0; g < G; ++g) {
      float* og = out + g * d;
      if (head.span_offset == kWholeRow) {
        const float inv_sum = 1.0f / job.stats[i * 2 * G + G + g];
        for (size_t e = 0; e < d; ++e) og[e] *= inv_sum;
        continue;
      }
      float max_score = -INFINITY;
      for (size_t k = i; k < end; ++k) max_score = std::max(max_score, job.stats[k * 2 * G + g]);
      float total = 0.0f;
      std::fill(og, og + d, 0.0f);
      for (size_t k = i; k < end; ++k) {
        const float weight = std::exp(job.stats[k * 2 * G + g] - max_score);
        total += weight * job.stats[k * 2 * G + G + g];
        const float* span = job.spans + job.items[k].span_offset + g * d;
        for (size_t e = 0; e < d; ++e) og[e] += weight * span[e];
      }
      const float inv_total = 1.0f / total;
      for (size_t e = 0; e < d; ++e) og[e] *= inv_total;
    }
    i = end;
  }
}

}  // namespace

size_t AttentionScratch::capacity_bytes() const {
  return (scores.capacity() + spans.capacity() + stats.capacity()) * sizeof(float) + items.capacity() * sizeof(AttentionItem);
}

void AttentionScratch::Release() {
  std::vector<float>().swap(scores);
  std::vector<float>().swap(spans);
  std::vector<float>().swap(stats);
  std::vector<AttentionItem>().swap(items);
}

void Attend(const KvCache& kv, const AttentionShape& shape, int rows, int first_pos, const float* q, float* out,
            AttentionScratch* scratch, pthreadpool_t pool) {
  const int d = shape.head_dim, n_kv = shape.num_kv_heads, group = shape.num_heads / n_kv;
  const int q_dim = shape.num_heads * d;
  std::vector<AttentionItem>& items = scratch->items;
  items.clear();
  size_t split_floats = 0, longest = 0, keys = 0;
  for (int r = 0; r < rows; ++r) {
    const int pos = first_pos + r, first_key = shape.window > 0 ? std::max(0, pos - shape.window + 1) : 0;
    const int span = rows == 1 ? kAttentionSpan : pos - first_key + 1;
    for (int kvh = 0; kvh < n_kv; ++kvh) {
      const size_t q_off = static_cast<size_t>(r) * q_dim + static_cast<size_t>(kvh) * group * d;
      const bool whole = pos - first_key + 1 <= span;
      for (int first = first_key; first <= pos; first += span) {
        const int last = std::min(pos, first + span - 1);
        items.push_back({q_off, whole ? kWholeRow : split_floats, kvh, first, last});
        if (!whole) split_floats += static_cast<size_t>(group) * d;
        longest = std::max(longest, static_cast<size_t>(last - first + 1));
        keys += static_cast<size_t>(last - first + 1);
      }
    }
  }
  const size_t macs = 2 * keys * static_cast<size_t>(group) * d;  // QK and PV
  if (macs < kMinParallelAttentionMacs) pool = nullptr;
  const size_t tasks = pool ? pthreadpool_get_threads_count(pool) : size_t{1};  // one scores slice per thread
  const size_t scores_per_task = static_cast<size_t>(group) * longest;
  AttentionJob job{&kv, shape.kv_layer, group, d, q, out,
                   GrowScratch(scratch->spans, split_floats),
                   GrowScratch(scratch->stats, items.size() * 2 * group),
                   GrowScratch(scratch->scores, tasks * scores_per_task), scores_per_task,
                   items.data(), items.size()};
  ParallelizeTilesWithThread(pool, AttendItems, &job, items.size(), 1);
  MergeAttentionSpans(job);
}

uint64_t AttentionScratchBytes(const ModelConfig& c, int chunk, int context, int tasks) {
  const uint64_t spans = static_cast<uint64_t>(context + kAttentionSpan - 1) / kAttentionSpan;
  uint64_t bytes = 0;
  for (const LayerConfig& l : c.layers) {
    const uint64_t group = static_cast<uint64_t>(c.num_heads / l.num_kv_heads), kv_heads = l.num_kv_heads;
    const uint64_t items = std::max<uint64_t>(static_cast<uint64_t>(chunk), spans) * kv_heads;
    const uint64_t floats = static_cast<uint64_t>(tasks) * group * static_cast<uint64_t>(context)  // scores
                            + kv_heads * spans * group * l.head_dim                                // decode spans
                            + items * 2 * group;                                                   // maxima and sums
    bytes = std::max(bytes, floats * sizeof(float) + items * sizeof(AttentionItem));
  }
  return bytes;
}

}  // namespace edgelm
