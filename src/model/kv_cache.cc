#include "model/kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "dispatch.h"
#include "format/tensor.h"

namespace edgelm {

struct KvCache::Page {
  std::unique_ptr<uint8_t[]> bytes;
  size_t size = 0;
};

namespace {

constexpr int kInt4Group = 32;

int8_t RoundCode(float v, float inv_scale, int lo, int hi) {
  return static_cast<int8_t>(std::min<float>(hi, std::max<float>(lo, std::nearbyint(v * inv_scale))));
}

}  // namespace

const char* KvTypeName(KvType type) {
  switch (type) {
    case KvType::kF32: return "f32";
    case KvType::kBF16: return "bf16";
    case KvType::kInt8: return "int8";
    case KvType::kInt4: return "int4";
  }
  return "?";
}

bool KvTypeFromName(const std::string& name, KvType* type) {
  for (KvType t : {KvType::kF32, KvType::kBF16, KvType::kInt8, KvType::kInt4})
    if (name == KvTypeName(t)) {
      *type = t;
      return true;
    }
  return false;
}

Status KvCache::Create(const ModelConfig& config, const KvCacheOptions& options, std::unique_ptr<KvCache>* out) {
  if (options.context_length <= 0) return InvalidArgument("context length must be positive");
  if (options.max_chunk <= 0) return InvalidArgument("prefill chunk must be positive");
  if (static_cast<int>(options.type) < 0 || options.type > KvType::kInt4) return InvalidArgument("unknown KV cache type");
  std::unique_ptr<KvCache> kv(new KvCache());
  kv->options_ = options;
  kv->kernels_ = edgelm_kernels_select();
  kv->layers_.resize(config.layers.size());
  for (int i = 0; i < config.num_layers(); ++i) {
    if (!config.owns_kv(i)) continue;
    const LayerConfig& lc = config.layers[i];
    Layer& l = kv->layers_[i];
    l.head_dim = lc.head_dim;
    l.kv_heads = lc.num_kv_heads;
    l.k_scale = lc.kv_k_scale;
    l.v_scale = lc.kv_v_scale;
    l.static_min = lc.kv_int8_full_range ? -128 : -127;
    const size_t d = static_cast<size_t>(lc.head_dim);
    if (d % 8 != 0) return Unsupported("the KV cache needs head_dim to be a multiple of 8");
    switch (options.type) {
      case KvType::kF32: l.head_bytes = 4 * d; break;
      case KvType::kBF16: l.head_bytes = 2 * d; break;
      case KvType::kInt8: l.head_bytes = d + (l.k_scale > 0.0f && l.v_scale > 0.0f ? 0 : 4); break;
      case KvType::kInt4:
        if (d % kInt4Group != 0) return Unsupported("int4 KV needs head_dim to be a multiple of 32");
        l.head_bytes = d / 2 + 4 * (d / kInt4Group);
        break;
    }
    // Keep f32 rows 4-byte aligned (the other types read scales with memcpy).
    l.row_bytes = (2 * static_cast<size_t>(l.kv_heads) * l.head_bytes + 3) / 4 * 4;
    const int window = lc.sliding_window;
    // A chunk of C tokens at positions p..p+C-1 needs keys from p-W+1: W + C - 1 distinct slots.
    // In 64 bits: a hostile file may declare a window near INT_MAX (found by fuzz_model_file).
    l.ring = window > 0 && static_cast<int64_t>(window) + options.max_chunk - 1 < options.context_length;
    l.capacity = l.ring ? window + options.max_chunk - 1 : options.context_length;
    l.pages.resize(static_cast<size_t>((l.capacity + kPageTokens - 1) / kPageTokens));
  }
  *out = std::move(kv);
  return Status::Ok();
}

std::unique_ptr<KvCache> KvCache::Fork() const { return std::unique_ptr<KvCache>(new KvCache(*this)); }

int KvCache::rewind_floor() const {
  // Cut back to n, the session recomputes position n-1 (for its logits, after a rewind) unless new
  // tokens come first, and that needs positions n-W .. n-2. A ring of W + C - 1 slots holds the
  // newest positions written, written-(W+C-1) .. written-1 (after an earlier cut, written is past
  // the length), so n >= written - C + 1. (Resuming at n alone would allow one less.)
  for (const Layer& l : layers_)
    if (l.ring) return std::max(0, written_ - options_.max_chunk + 1);
  return 0;
}

uint8_t* KvCache::WritableRow(int layer, int position) {
  Layer& l = layers_[layer];
  const int slot = l.ring ? position % l.capacity : position;
  std::shared_ptr<Page>& page = l.pages[static_cast<size_t>(slot / kPageTokens)];
  const size_t page_bytes = static_cast<size_t>(std::min(kPageTokens, l.capacity)) * l.row_bytes;
  if (!page) {  // built whole before it is installed: a failed allocation leaves no empty page behind
    auto fresh = std::make_shared<Page>();
    fresh->bytes.reset(new uint8_t[page_bytes]());
    fresh->size = page_bytes;
    page = std::move(fresh);
  } else if (page.use_count() > 1) {  // shared with a fork: copy before writing
    auto copy = std::make_shared<Page>();
    copy->bytes.reset(new uint8_t[page_bytes]);
    std::memcpy(copy->bytes.get(), page->bytes.get(), page_bytes);
    copy->size = page_bytes;
    page = std::move(copy);
  }
  return page->bytes.get() + static_cast<size_t>(slot % kPageTokens) * l.row_bytes;
}

const uint8_t* KvCache::Row(int layer, int position) const {
  const Layer& l = layers_[layer];
  const int slot = l.ring ? position % l.capacity : position;
  return l.pages[static_cast<size_t>(slot / kPageTokens)]->bytes.get() + static_cast<size_t>(slot % kPageTokens) * l.row_bytes;
}

void KvCache::EncodeHead(const float* x, int d, float static_scale, int static_min, uint8_t* dst) const {
  switch (options_.type) {
    case KvType::kF32: std::memcpy(dst, x, static_cast<size_t>(d) * 4); return;
    case KvType::kBF16:
      for (int e = 0; e < d; ++e) {
        const uint16_t b = FloatToBF16(x[e]);
        dst[2 * e] = static_cast<uint8_t>(b & 0xff);
        dst[2 * e + 1] = static_cast<uint8_t>(b >> 8);
      }
      return;
    case KvType::kInt8: {
      if (static_scale > 0.0f) {  // Q8(t, s) = sat(rne(t / s)): a division, as the published graph does
        for (int e = 0; e < d; ++e)
          dst[e] = static_cast<uint8_t>(static_cast<int8_t>(
              std::min(127.0f, std::max(static_cast<float>(static_min), std::nearbyint(x[e] / static_scale)))));
        return;
      }
      float amax = 0.0f;
      for (int e = 0; e < d; ++e) amax = std::max(amax, std::fabs(x[e]));
      const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
      std::memcpy(dst + d, &scale, 4);
      const float inv = 1.0f / scale;
      for (int e = 0; e < d; ++e) dst[e] = static_cast<uint8_t>(RoundCode(x[e], inv, -127, 127));
      return;
    }
    case KvType::kInt4:
      std::memset(dst, 0, static_cast<size_t>(d) / 2);
      for (int g = 0; g < d / kInt4Group; ++g) {
        float amax = 0.0f;
        for (int e = g * kInt4Group; e < (g + 1) * kInt4Group; ++e) amax = std::max(amax, std::fabs(x[e]));
        const float scale = amax > 0.0f ? amax / 7.0f : 1.0f;
        std::memcpy(dst + d / 2 + 4 * g, &scale, 4);
        for (int e = g * kInt4Group; e < (g + 1) * kInt4Group; ++e)
          dst[e >> 1] |= static_cast<uint8_t>((RoundCode(x[e], 1.0f / scale, -8, 7) & 0xf) << ((e & 1) * 4));
      }
      return;
  }
}

void KvCache::Store(int layer, int position, const float* k, const float* v) {
  const Layer& l = layers_[layer];
  uint8_t* row = WritableRow(layer, position);
  const bool static_int8 = options_.type == KvType::kInt8 && l.head_bytes == static_cast<size_t>(l.head_dim);
  for (int h = 0; h < l.kv_heads; ++h) {
    EncodeHead(k + h * l.head_dim, l.head_dim, static_int8 ? l.k_scale : 0.0f, l.static_min, row + h * l.head_bytes);
    EncodeHead(v + h * l.head_dim, l.head_dim, static_int8 ? l.v_scale : 0.0f, l.static_min,
               row + (l.kv_heads + h) * l.head_bytes);
  }
}

template <class Visit>
void KvCache::ForEachRun(int layer, int first, int last, Visit visit) const {
  const Layer& l = layers_[layer];
  for (int pos = first; pos <= last;) {
    const int slot = l.ring ? pos % l.capacity : pos;
    int count = std::min(last - pos + 1, kPageTokens - slot % kPageTokens);
    if (l.ring) count = std::min(count, l.capacity - slot);
    visit(pos - first, count, Row(layer, pos));
    pos += count;
  }
}

void KvCache::Attend(int layer, int kv_head, int group, const float* q, int first, int last, float* scores,
                     float* out, float* max_score, float* sum) const {
  static_assert(static_cast<int>(KvType::kF32) == EDGELM_KV_FORMAT_F32 && static_cast<int>(KvType::kBF16) == EDGELM_KV_FORMAT_BF16 &&
                    static_cast<int>(KvType::kInt8) == EDGELM_KV_FORMAT_I8 && static_cast<int>(KvType::kInt4) == EDGELM_KV_FORMAT_I4,
                "KvType values index the kernels' record formats");
  const Layer& l = layers_[layer];
  const size_t d = static_cast<size_t>(l.head_dim), n = static_cast<size_t>(last - first + 1);
  const int format = static_cast<int>(options_.type);
  const bool static_int8 = options_.type == KvType::kInt8 && l.head_bytes == d;
  const size_t k_off = static_cast<size_t>(kv_head) * l.head_bytes;
  const size_t v_off = static_cast<size_t>(l.kv_heads + kv_head) * l.head_bytes;
  ForEachRun(layer, first, last, [&](int j, int count, const uint8_t* row) {
    kernels_->kv_scores[format](static_cast<size_t>(count), d, static_cast<size_t>(group), q, row + k_off, l.row_bytes,
                                static_int8 ? l.k_scale : 0.0f, scores + j, n);
  });
  for (int g = 0; g < group; ++g) {
    float* sg = scores + static_cast<size_t>(g) * n;
    max_score[g] = *std::max_element(sg, sg + n);
    float total = 0.0f;
    for (size_t j = 0; j < n; ++j) {
      sg[j] = std::exp(sg[j] - max_score[g]);
      total += sg[j];
    }
    sum[g] = total;
  }
  std::fill(out, out + static_cast<size_t>(group) * d, 0.0f);
  ForEachRun(layer, first, last, [&](int j, int count, const uint8_t* row) {
    kernels_->kv_accumulate[format](static_cast<size_t>(count), d, static_cast<size_t>(group), scores + j, n,
                                    row + v_off, l.row_bytes, static_int8 ? l.v_scale : 0.0f, out);
  });
}

size_t KvCache::bytes_per_token() const {
  size_t bytes = 0;
  for (const Layer& l : layers_) bytes += l.row_bytes;
  return bytes;
}

size_t KvCache::allocated_bytes() const {
  size_t bytes = 0;
  for (const Layer& l : layers_)
    for (const auto& page : l.pages)
      if (page) bytes += page->size;
  return bytes;
}

uint64_t KvCache::bytes_at_full_context() const {
  uint64_t bytes = 0;
  for (size_t i = 0; i < layers_.size(); ++i) bytes += layer_bytes_at_full_context(static_cast<int>(i));
  return bytes;
}

size_t KvCache::ReleaseUnusedPages() {
  size_t freed = 0;
  for (Layer& l : layers_) {
    // Ring layers reuse every slot once the ring has wrapped; before that, slots >= length are unused.
    const int live = l.ring ? std::min(length_, l.capacity) : length_;
    for (size_t p = static_cast<size_t>((live + kPageTokens - 1) / kPageTokens); p < l.pages.size(); ++p)
      if (l.pages[p]) {
        freed += l.pages[p]->size;
        l.pages[p].reset();
      }
  }
  return freed;
}

namespace {

struct StateHeader {
  uint32_t kv_type;
  int32_t context_length;
  uint64_t model_checksum;
  int32_t max_chunk;
  int32_t length;
  int32_t num_layers;
  int32_t reserved;
};

}  // namespace

bool KvCache::Save(ByteSink* out, uint64_t model_checksum) const {
  StateHeader h{};
  h.kv_type = static_cast<uint32_t>(options_.type);
  h.model_checksum = model_checksum;
  h.context_length = options_.context_length;
  h.max_chunk = options_.max_chunk;
  h.length = length_;
  h.num_layers = static_cast<int32_t>(layers_.size());
  bool ok = out->Write(&h, sizeof h);
  for (size_t i = 0; ok && i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    const uint64_t row_bytes = l.row_bytes;
    ok = out->Write(&row_bytes, sizeof row_bytes);
    const int first = l.ring ? std::max(0, length_ - l.capacity) : 0;
    for (int p = first; ok && l.row_bytes > 0 && p < length_; ++p) ok = out->Write(Row(static_cast<int>(i), p), l.row_bytes);
  }
  return ok;
}

Status KvCache::Load(ByteSource* in, uint64_t model_checksum) {
  StateHeader h;
  if (!in->Read(&h, sizeof h)) return CorruptModel("the KV cache section is truncated");
  if (h.model_checksum != model_checksum) return InvalidArgument("the state was saved with a different model");
  if (h.kv_type != static_cast<uint32_t>(options_.type) || h.context_length != options_.context_length ||
      h.max_chunk != options_.max_chunk || h.num_layers != static_cast<int32_t>(layers_.size()))
    return InvalidArgument("the state was saved with other session options (KV type " +
                           std::string(h.kv_type <= 3 ? KvTypeName(static_cast<KvType>(h.kv_type)) : "?") +
                           ", context " + std::to_string(h.context_length) + ", chunk " + std::to_string(h.max_chunk) + ")");
  if (h.length < 0 || h.length > options_.context_length) return CorruptModel("KV state length out of range");
  KvCache fresh(*this);  // fill a copy, so a bad state leaves this cache untouched
  for (Layer& l : fresh.layers_) std::fill(l.pages.begin(), l.pages.end(), nullptr);
  fresh.length_ = h.length;
  // The saving cache may have been cut back by up to max_chunk - 1 positions (its rewind floor),
  // after writing them: the oldest ring rows of the state may hold newer positions than theirs.
  fresh.written_ = h.length > 0 ? h.length + options_.max_chunk - 1 : 0;
  for (size_t i = 0; i < fresh.layers_.size(); ++i) {
    const Layer& l = fresh.layers_[i];
    uint64_t row_bytes;
    if (!in->Read(&row_bytes, sizeof row_bytes) || row_bytes != l.row_bytes)
      return CorruptModel("KV state layer " + std::to_string(i) + " has a different row size");
    const int first = l.ring ? std::max(0, h.length - l.capacity) : 0;
    for (int p = first; l.row_bytes > 0 && p < h.length; ++p)
      if (!in->Read(fresh.WritableRow(static_cast<int>(i), p), l.row_bytes)) return CorruptModel("KV state is truncated");
  }
  *this = std::move(fresh);
  return Status::Ok();
}

}  // namespace edgelm
