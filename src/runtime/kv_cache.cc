#include "runtime/kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/dot.h"
#include "format/container.h"
#include "format/tensor.h"

namespace edgelm {

struct KvCache::Page {
  std::unique_ptr<uint8_t[]> bytes;
  size_t size = 0;
};

namespace {

constexpr int kInt4Group = 32;
constexpr char kStateMagic[8] = {'E', 'D', 'G', 'E', 'K', 'V', 0x1a, 0x0a};
constexpr uint32_t kStateVersion = 1;

float LoadF32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}

int8_t RoundCode(float v, float inv_scale, int lo, int hi) {
  return static_cast<int8_t>(std::min<float>(hi, std::max<float>(lo, std::nearbyint(v * inv_scale))));
}

// One stored head as floats: f32 heads are used in place, others are dequantized into `buffer`.
const float* HeadAsFloat(KvType type, const uint8_t* head, int d, float int8_scale, float* buffer) {
  switch (type) {
    case KvType::kF32: return reinterpret_cast<const float*>(head);
    case KvType::kBF16:
      for (int e = 0; e < d; ++e) buffer[e] = BF16ToFloat(static_cast<uint16_t>(head[2 * e] | (head[2 * e + 1] << 8)));
      return buffer;
    case KvType::kInt8: {
      const int8_t* codes = reinterpret_cast<const int8_t*>(head);
      for (int e = 0; e < d; ++e) buffer[e] = static_cast<float>(codes[e]) * int8_scale;
      return buffer;
    }
    case KvType::kInt4:
      for (int g = 0; g < d / kInt4Group; ++g) {
        const float scale = LoadF32(head + d / 2 + 4 * g);
        for (int e = g * kInt4Group; e < (g + 1) * kInt4Group; ++e) {
          const int nib = (head[e >> 1] >> ((e & 1) * 4)) & 0xf;
          buffer[e] = static_cast<float>((nib ^ 8) - 8) * scale;
        }
      }
      return buffer;
  }
  return buffer;
}

// Per-token int8 scale of a head: stored after its codes unless the layer has a static scale.
float Int8Scale(const uint8_t* head, int d, float static_scale) { return static_scale > 0.0f ? static_scale : LoadF32(head + d); }

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
  kv->layers_.resize(config.layers.size());
  for (int i = 0; i < config.num_layers(); ++i) {
    if (!config.owns_kv(i)) continue;
    const LayerConfig& lc = config.layers[i];
    Layer& l = kv->layers_[i];
    l.head_dim = lc.head_dim;
    l.kv_heads = lc.num_kv_heads;
    l.k_scale = lc.kv_k_scale;
    l.v_scale = lc.kv_v_scale;
    const size_t d = static_cast<size_t>(lc.head_dim);
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
    l.ring = window > 0 && window + options.max_chunk - 1 < options.context_length;
    l.capacity = l.ring ? window + options.max_chunk - 1 : options.context_length;
    l.pages.resize(static_cast<size_t>((l.capacity + kPageTokens - 1) / kPageTokens));
  }
  *out = std::move(kv);
  return Status::Ok();
}

std::unique_ptr<KvCache> KvCache::Fork() const { return std::unique_ptr<KvCache>(new KvCache(*this)); }

int KvCache::rewind_floor() const {
  // Resuming at n needs positions n-W+1 .. n-1; a ring of W + C - 1 slots holds length-(W+C-1) ..
  // length-1, so n >= length - C.
  for (const Layer& l : layers_)
    if (l.ring) return std::max(0, length_ - options_.max_chunk);
  return 0;
}

uint8_t* KvCache::WritableRow(int layer, int position) {
  Layer& l = layers_[layer];
  const int slot = l.ring ? position % l.capacity : position;
  std::shared_ptr<Page>& page = l.pages[static_cast<size_t>(slot / kPageTokens)];
  const size_t page_bytes = static_cast<size_t>(std::min(kPageTokens, l.capacity)) * l.row_bytes;
  if (!page) {
    page = std::make_shared<Page>();
    page->bytes.reset(new uint8_t[page_bytes]());
    page->size = page_bytes;
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

void KvCache::EncodeHead(const float* x, int d, float static_scale, uint8_t* dst) const {
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
      float scale = static_scale;
      if (scale <= 0.0f) {
        float amax = 0.0f;
        for (int e = 0; e < d; ++e) amax = std::max(amax, std::fabs(x[e]));
        scale = amax > 0.0f ? amax / 127.0f : 1.0f;
        std::memcpy(dst + d, &scale, 4);
      }
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
    EncodeHead(k + h * l.head_dim, l.head_dim, static_int8 ? l.k_scale : 0.0f, row + h * l.head_bytes);
    EncodeHead(v + h * l.head_dim, l.head_dim, static_int8 ? l.v_scale : 0.0f, row + (l.kv_heads + h) * l.head_bytes);
  }
}

void KvCache::Attend(int layer, int kv_head, int group, const float* q, int first, int last, float* scratch,
                     float* out) const {
  const Layer& l = layers_[layer];
  const int d = l.head_dim, n = last - first + 1;
  const KvType type = options_.type;
  const bool static_int8 = type == KvType::kInt8 && l.head_bytes == static_cast<size_t>(d);
  const size_t k_off = static_cast<size_t>(kv_head) * l.head_bytes;
  const size_t v_off = static_cast<size_t>(l.kv_heads + kv_head) * l.head_bytes;
  float* scores = scratch;  // [group][n]
  float* row = scratch + static_cast<size_t>(group) * n;
  auto int8_scale = [&](const uint8_t* head, float static_scale) {
    return type == KvType::kInt8 ? Int8Scale(head, d, static_int8 ? static_scale : 0.0f) : 1.0f;
  };
  for (int j = 0; j < n; ++j) {
    const uint8_t* k = Row(layer, first + j) + k_off;
    const float* key = HeadAsFloat(type, k, d, int8_scale(k, l.k_scale), row);
    for (int g = 0; g < group; ++g) scores[g * n + j] = edgelm_dot_f32(q + g * d, key, static_cast<size_t>(d));
  }
  for (int g = 0; g < group; ++g) {
    float* sg = scores + static_cast<size_t>(g) * n;
    const float max_score = *std::max_element(sg, sg + n);
    float total = 0.0f;
    for (int j = 0; j < n; ++j) {
      sg[j] = std::exp(sg[j] - max_score);
      total += sg[j];
    }
    const float inv_total = 1.0f / total;
    for (int j = 0; j < n; ++j) sg[j] *= inv_total;
  }
  std::fill(out, out + static_cast<size_t>(group) * d, 0.0f);
  for (int j = 0; j < n; ++j) {
    const uint8_t* v = Row(layer, first + j) + v_off;
    const float* value = HeadAsFloat(type, v, d, int8_scale(v, l.v_scale), row);
    for (int g = 0; g < group; ++g) {
      const float p = scores[g * n + j];
      float* og = out + g * d;
      for (int e = 0; e < d; ++e) og[e] += p * value[e];
    }
  }
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

namespace {

struct StateHeader {
  char magic[8];
  uint32_t version;
  uint32_t kv_type;
  uint64_t model_checksum;
  int32_t context_length;
  int32_t max_chunk;
  int32_t length;
  int32_t num_layers;
};

bool WriteAll(std::FILE* f, const void* p, size_t n, uint64_t* hash) {
  if (hash) *hash = Fnv1a64(static_cast<const uint8_t*>(p), n, *hash);
  return std::fwrite(p, 1, n, f) == n;
}

bool ReadAll(std::FILE* f, void* p, size_t n, uint64_t* hash) {
  if (std::fread(p, 1, n, f) != n) return false;
  if (hash) *hash = Fnv1a64(static_cast<const uint8_t*>(p), n, *hash);
  return true;
}

}  // namespace

Status KvCache::Save(std::FILE* out, uint64_t model_checksum) const {
  StateHeader h{};
  std::memcpy(h.magic, kStateMagic, 8);
  h.version = kStateVersion;
  h.kv_type = static_cast<uint32_t>(options_.type);
  h.model_checksum = model_checksum;
  h.context_length = options_.context_length;
  h.max_chunk = options_.max_chunk;
  h.length = length_;
  h.num_layers = static_cast<int32_t>(layers_.size());
  uint64_t hash = kFnv1a64Start;
  bool ok = WriteAll(out, &h, sizeof h, &hash);
  for (size_t i = 0; ok && i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    const uint64_t row_bytes = l.row_bytes;
    ok = WriteAll(out, &row_bytes, sizeof row_bytes, &hash);
    const int first = l.ring ? std::max(0, length_ - l.capacity) : 0;
    for (int p = first; ok && l.row_bytes > 0 && p < length_; ++p) ok = WriteAll(out, Row(static_cast<int>(i), p), l.row_bytes, &hash);
  }
  if (ok) ok = WriteAll(out, &hash, sizeof hash, nullptr);
  return ok ? Status::Ok() : IoError("writing the KV cache failed");
}

Status KvCache::Load(std::FILE* in, uint64_t model_checksum) {
  StateHeader h;
  uint64_t hash = kFnv1a64Start;
  if (!ReadAll(in, &h, sizeof h, &hash) || std::memcmp(h.magic, kStateMagic, 8) != 0)
    return CorruptModel("not an edgelm KV state (bad magic or truncated)");
  if (h.version != kStateVersion) return Unsupported("KV state version " + std::to_string(h.version));
  if (h.model_checksum != model_checksum) return InvalidArgument("the state was saved with a different model");
  if (h.kv_type != static_cast<uint32_t>(options_.type) || h.context_length != options_.context_length ||
      h.max_chunk != options_.max_chunk || h.num_layers != static_cast<int32_t>(layers_.size()))
    return InvalidArgument("the state was saved with other session options (KV type " +
                           std::string(h.kv_type <= 3 ? KvTypeName(static_cast<KvType>(h.kv_type)) : "?") +
                           ", context " + std::to_string(h.context_length) + ", chunk " + std::to_string(h.max_chunk) + ")");
  if (h.length < 0 || h.length > options_.context_length) return CorruptModel("KV state length out of range");
  KvCache fresh(*this);  // fill a copy, so a bad file leaves this cache untouched
  for (Layer& l : fresh.layers_) std::fill(l.pages.begin(), l.pages.end(), nullptr);
  fresh.length_ = h.length;
  for (size_t i = 0; i < fresh.layers_.size(); ++i) {
    const Layer& l = fresh.layers_[i];
    uint64_t row_bytes;
    if (!ReadAll(in, &row_bytes, sizeof row_bytes, &hash) || row_bytes != l.row_bytes)
      return CorruptModel("KV state layer " + std::to_string(i) + " has a different row size");
    const int first = l.ring ? std::max(0, h.length - l.capacity) : 0;
    for (int p = first; l.row_bytes > 0 && p < h.length; ++p)
      if (!ReadAll(in, fresh.WritableRow(static_cast<int>(i), p), l.row_bytes, &hash)) return CorruptModel("KV state is truncated");
  }
  uint64_t stored;
  if (!ReadAll(in, &stored, sizeof stored, nullptr)) return CorruptModel("KV state is truncated");
  if (stored != hash) return CorruptModel("KV state checksum mismatch");
  *this = std::move(fresh);
  return Status::Ok();
}

}  // namespace edgelm
