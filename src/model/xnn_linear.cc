#include "model/xnn_linear.h"

#include <cpuinfo.h>
#include <sys/mman.h>
#include <xnnpack.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>

#include "common/hash.h"
#include "common/log.h"
#include "dispatch.h"
#include "format/model_file.h"
#include "format/packed_weights_file.h"
#include "model/linear.h"

namespace edgelm {

static_assert(sizeof(xnn_quantization_params) == 8 && offsetof(xnn_quantization_params, scale) == 4,
              "XnnOperators::RowParams mirrors xnn_quantization_params");

namespace {

bool InitializeXnnpack() {
  static const bool ok = xnn_initialize(nullptr) == xnn_status_success;
  return ok;
}

// XNNPACK's 2-bit operators have SIMD kernels on x86 (qdu8 / qs8: SSSE3 and up) and on arm64 only
// with the dot-product extension; elsewhere they are scalar, far slower than ours.
bool HasSimdTwoBitKernels() {
  cpuinfo_initialize();
#if defined(__x86_64__) || defined(_M_X64)
  return cpuinfo_has_x86_ssse3();
#elif defined(__aarch64__)
  return cpuinfo_has_arm_neon_dot();
#else
  return false;
#endif
}

// The qs8 operators write int8 codes (dequantized with the tensor's output scale afterwards).
bool Int8Output(XnnOperator op) {
  return op == XnnOperator::kQs8Qc8w || op == XnnOperator::kQs8Qc4w || op == XnnOperator::kQs8Qc2w;
}

int Bits(DType dtype) {
  switch (dtype) {
    case DType::I8: return 8;
    case DType::I4: return 4;
    case DType::I2: return 2;
    default: return 0;
  }
}

// Is XNNPACK faster than our kernels for this operator on this CPU, at the decode and prefill shapes
// of E2B? One engine per tensor serves both, so the answer weighs decode (bandwidth-bound for 8-bit
// weights on both) and prefill. The measurements behind it: docs/performance.md, "Which engine is
// faster: the rule".
bool XnnpackIsFaster(XnnOperator op) {
#if defined(__aarch64__)
  // With dotprod: XNNPACK's tuned assembly streams one packed panel per tile (what llvm-mca cannot
  // rate). Without it XNNPACK's 4- and 2-bit operators are scalar and ours are NEON.
  (void)op;
  cpuinfo_initialize();
  return cpuinfo_has_arm_neon_dot();
#elif defined(__x86_64__) || defined(_M_X64)
  // Without VNNI, ours matches or beats every XNNPACK operator (AVX2, measured on AMD Zen). With
  // AVX-512 VNNI, our channel-strip kernels (the avx512vnni variant) match or beat all of them, its
  // int8-output 8- and 4-bit operators included (Zen 5). With only AVX-VNNI, which our kernels do not
  // use, those two prefill faster in XNNPACK (1.7x on a Xeon against our kernels without strips) and
  // decode at the same bandwidth; its float-output (qd8) ones prefill slower than ours.
  cpuinfo_initialize();
  const bool ours_vnni = std::strcmp(edgelm_kernels_select()->name, "avx512vnni") == 0;
  const bool vnni = cpuinfo_has_x86_avx512vnni() || cpuinfo_has_x86_avxvnni();
  return vnni && !ours_vnni && (op == XnnOperator::kQs8Qc8w || op == XnnOperator::kQs8Qc4w);
#else
  (void)op;
  return false;
#endif
}

// TFLite's static int8 over the full range: sat(rne(x / scale)) in [-128, 127]. The kernels'
// quantizer stops at -127; only inputs below -127 * scale can reach -128.
void QuantizeStaticFull(const edgelm_kernels& k, const float* x, size_t K, float scale, int8_t* q) {
  k.qs8_quantize(K, x, scale, q);
  const float candidate = -127.0f * scale;
  for (size_t i = 0; i < K; ++i)
    if (x[i] < candidate && std::nearbyint(x[i] / scale) <= -128.0f) q[i] = -128;
}

}  // namespace

LinearEngine LinearEngineFromEnvironment() {
  const char* forced = std::getenv("EDGELM_KERNELS");
  if (!forced || !*forced || std::strcmp(forced, "auto") == 0) return LinearEngine::kAuto;
  return std::strcmp(forced, "xnnpack") == 0 ? LinearEngine::kXnnpack : LinearEngine::kEdgelm;
}

const char* LinearEngineName(LinearEngine engine) {
  switch (engine) {
    case LinearEngine::kAuto: return "auto";
    case LinearEngine::kEdgelm: return "edgelm";
    case LinearEngine::kXnnpack: return "xnnpack";
  }
  return "?";
}

const char* XnnOperatorName(XnnOperator op) {
  switch (op) {
    case XnnOperator::kNone: return "edgelm";
    case XnnOperator::kQd8F32Qc8w: return "xnnpack qd8_f32_qc8w";
    case XnnOperator::kQd8F32Qc4w: return "xnnpack qd8_f32_qc4w";
    case XnnOperator::kQd8F32Qc2w: return "xnnpack qd8_f32_qc2w";
    case XnnOperator::kQdu8F32Qc2w: return "xnnpack qdu8_f32_qc2w";
    case XnnOperator::kQs8Qc8w: return "xnnpack qs8_qc8w";
    case XnnOperator::kQs8Qc4w: return "xnnpack qs8_qc4w";
    case XnnOperator::kQs8Qc2w: return "xnnpack qs8_qc2w";
  }
  return "?";
}

XnnOperator ChooseXnnOperator(const TensorView& w, LinearEngine engine) {
  if (engine == LinearEngine::kEdgelm) return XnnOperator::kNone;
  const int bits = Bits(w.dtype);
  const int64_t K = w.cols(), N = w.rows();
  if (bits == 0 || !w.scales || w.scale_group_size != 0 || w.shape.size() != 2 || K <= 0 || N <= 0)
    return XnnOperator::kNone;
  // XNNPACK reads a row-major [N][K] stream: rows must not be padded to whole bytes. The 2-bit x86
  // kernels also read activations in steps of 8.
  uint64_t row_bytes = 0;
  if (!RowBytes(w.dtype, K, &row_bytes).ok() || row_bytes * 8 != static_cast<uint64_t>(K) * bits) return XnnOperator::kNone;
  if (bits == 2 && (K % 8 != 0 || !HasSimdTwoBitKernels())) return XnnOperator::kNone;

  XnnOperator op;
  if (w.output_scale > 0.0f) {
    if (!w.static_input()) return XnnOperator::kNone;
    // XNNPACK requantizes with input_scale * w_scale / output_scale, which must be in (0, 256).
    for (int64_t n = 0; n < N; ++n) {
      const float requantization = w.input_scale * w.scales[n] / w.output_scale;
      if (!(requantization > 0.0f && requantization < 256.0f)) return XnnOperator::kNone;
    }
    op = bits == 8 ? XnnOperator::kQs8Qc8w : bits == 4 ? XnnOperator::kQs8Qc4w : XnnOperator::kQs8Qc2w;
  } else if (bits == 2) {
#if defined(__x86_64__) || defined(_M_X64)
    op = XnnOperator::kQdu8F32Qc2w;  // qd8_f32_qc2w is scalar on x86
#else
    op = XnnOperator::kQd8F32Qc2w;
#endif
  } else {
    op = bits == 8 ? XnnOperator::kQd8F32Qc8w : XnnOperator::kQd8F32Qc4w;
  }
  if (engine == LinearEngine::kAuto && !XnnpackIsFaster(op)) return XnnOperator::kNone;
  return op;
}

// A weights-cache provider that keeps each packed matrix in its own anonymous mapping (page-aligned:
// the x86 kernels use aligned loads; and unmapped when the model goes, where malloc would keep
// hundreds of MB of a freed model in its heap), or serves it from a mapped cache file; an "offset" is
// the index of the buffer. Filled while the model loads (one thread); afterwards only looked up, from
// any thread, and it refuses new entries, so an unexpected miss makes operator creation fail instead
// of packing a second copy.
struct XnnWeights::Cache {
  struct Key {
    uint32_t seed, fingerprint;
    const void* kernel;
    const void* bias;
    bool operator==(const Key& o) const {
      return seed == o.seed && fingerprint == o.fingerprint && kernel == o.kernel && bias == o.bias;
    }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<const void*>()(k.kernel) ^ (size_t{k.seed} * 0x9E3779B97F4A7C15ull) ^ k.fingerprint ^
             std::hash<const void*>()(k.bias);
    }
  };
  struct Buffer {
    void* data;
    size_t size;
    bool owned;         // an anonymous mapping of ours; else pages of `file`
    bool cacheable;     // `entry` describes it (XNNPACK keyed it by the tensor's codes, no bias)
    PackedEntry entry;  // what a cache file records of it
  };

  xnn_weights_cache_provider provider{};
  std::vector<Buffer> buffers;
  std::unordered_map<Key, size_t, KeyHash> index;
  void* pending = nullptr;  // reserved, not yet inserted
  size_t pending_size = 0;
  bool sealed = false;
  // A packing that did not land in the cache (out of memory) since the last load-time operator creation.
  bool insert_failed = false;
  std::unique_ptr<PackedWeightsFile> file;  // the cache file the buffers not owned lie in
  // Load time only: the cache file's entries this CPU can use, by the key XNNPACK will look up, and
  // the tensor being packed (what a new buffer is recorded as).
  std::unordered_map<Key, PackedEntry, KeyHash> from_file;
  const TensorView* packing = nullptr;
  PackedEntry packing_entry;
  bool packing_cacheable = false;
  // XNNPACK does not say how many bytes a packed matrix takes when it finds it in the cache, so before
  // a cache file's entry can be used, a creation that is refused its space tells (`measuring`): an
  // entry shorter than that (a damaged or hostile file) would have the kernels read past it.
  bool measuring = false;
  size_t measured = 0, needed = SIZE_MAX;

  Cache() {
    provider.context = this;
    provider.look_up = LookUp;
    provider.reserve_space = ReserveSpace;
    provider.look_up_or_insert = LookUpOrInsert;
    provider.is_finalized = [](void*) { return true; };  // every entry is complete once inserted
    provider.offset_to_addr = [](void* c, size_t offset) { return static_cast<Cache*>(c)->buffers[offset].data; };
    provider.delete_cache = [](void*) { return xnn_status_success; };  // owned by XnnWeights
    provider.alias_data = nullptr;
  }

  ~Cache() {
    Unmap(pending, pending_size);
    for (Buffer& b : buffers)
      if (b.owned) Unmap(b.data, b.size);
  }
  static void Unmap(void* p, size_t n) {
    if (p) munmap(p, n);
  }
  uint64_t bytes() const {
    uint64_t n = 0;
    for (const Buffer& b : buffers) n += b.size;
    return n;
  }
  // Inserts `b` under `k`; its index, or SIZE_MAX when there is no memory for the bookkeeping.
  size_t Insert(const Key& k, const Buffer& b) noexcept {
    try {
      buffers.reserve(buffers.size() + 1);
      index[k] = buffers.size();
    } catch (const std::bad_alloc&) {
      return SIZE_MAX;
    }
    buffers.push_back(b);  // cannot throw: reserved
    return buffers.size() - 1;
  }

  static Key MakeKey(const xnn_weights_cache_look_up_key* k) { return {k->seed, k->fingerprint_id, k->kernel, k->bias}; }
  // Called from XNNPACK's C code, like the rest: nothing may throw through them. While the model
  // loads, a key the cache file holds is taken from it, so XNNPACK packs nothing.
  static size_t LookUp(void* context, const xnn_weights_cache_look_up_key* key) noexcept {
    Cache* c = static_cast<Cache*>(context);
    const Key k = MakeKey(key);
    auto it = c->index.find(k);
    if (it != c->index.end()) return it->second;
    if (c->sealed || c->measuring) return SIZE_MAX;
    auto cached = c->from_file.find(k);
    if (cached == c->from_file.end() || cached->second.size < c->needed) return SIZE_MAX;
    const PackedEntry& e = cached->second;
    return c->Insert(k, {const_cast<uint8_t*>(e.data), static_cast<size_t>(e.size), false, true, e});
  }
  static void* ReserveSpace(void* context, size_t n) noexcept {
    Cache* c = static_cast<Cache*>(context);
    if (c->measuring) c->measured = n;
    if (c->sealed || c->measuring) return nullptr;
    Unmap(c->pending, c->pending_size);
    c->pending = nullptr;
    void* p = mmap(nullptr, std::max<size_t>(n, 1), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    c->pending = p;
    c->pending_size = std::max<size_t>(n, 1);
    return p;
  }
  // XNNPACK does not check the result, so a failure is recorded for CreateOperator instead.
  static size_t LookUpOrInsert(void* context, const xnn_weights_cache_look_up_key* key, void* ptr, size_t size) noexcept {
    Cache* c = static_cast<Cache*>(context);
    const Key k = MakeKey(key);
    auto it = c->index.find(k);
    if (it != c->index.end()) return it->second;
    if (ptr != c->pending || !ptr) {
      c->insert_failed = true;
      return SIZE_MAX;
    }
    PackedEntry entry = c->packing_entry;
    entry.seed = k.seed;
    entry.fingerprint = k.fingerprint;
    entry.size = size;
    const bool cacheable = c->packing_cacheable && c->packing && k.kernel == c->packing->data && !k.bias;
    const size_t offset = c->Insert(k, {ptr, c->pending_size, true, cacheable, entry});
    if (offset == SIZE_MAX) {
      c->insert_failed = true;
      return SIZE_MAX;
    }
    c->pending = nullptr;
    return offset;
  }
};

namespace {

// XNNPACK's fully-connected operator `op` over `w`, packed through `cache`.
xnn_status CreateFullyConnected(XnnOperator op, const TensorView& w, xnn_weights_cache_t cache, xnn_operator** out) {
  const size_t K = static_cast<size_t>(w.cols()), N = static_cast<size_t>(w.rows());
  const float inf = INFINITY;
  switch (op) {
    case XnnOperator::kQd8F32Qc8w:
      return xnn_create_fully_connected_nc_qd8_f32_qc8w(K, N, K, N, w.scales, reinterpret_cast<const int8_t*>(w.data), nullptr,
                                                        -inf, inf, 0, cache, out);
    case XnnOperator::kQd8F32Qc4w:
      return xnn_create_fully_connected_nc_qd8_f32_qc4w(K, N, K, N, 0, w.scales, w.data, nullptr, -inf, inf, 0, cache, out);
    case XnnOperator::kQd8F32Qc2w:
      return xnn_create_fully_connected_nc_qd8_f32_qc2w(K, N, K, N, nullptr, w.scales, w.data, nullptr, -inf, inf, 0, cache, out);
    case XnnOperator::kQdu8F32Qc2w:
      return xnn_create_fully_connected_nc_qdu8_f32_qc2w(K, N, K, N, nullptr, w.scales, w.data, nullptr, -inf, inf, 0, cache, out);
    case XnnOperator::kQs8Qc8w:
      return xnn_create_fully_connected_nc_qs8_qc8w(K, N, K, N, 0, w.input_scale, w.scales, reinterpret_cast<const int8_t*>(w.data),
                                                    nullptr, 0, w.output_scale, -128, 127, 0, cache, out);
    case XnnOperator::kQs8Qc4w:
      return xnn_create_fully_connected_nc_qs8_qc4w(K, N, K, N, 0, w.input_scale, 0, w.scales, w.data, nullptr, 0, w.output_scale,
                                                    -128, 127, 0, cache, out);
    case XnnOperator::kQs8Qc2w:
      return xnn_create_fully_connected_nc_qs8_qc2w(K, N, K, N, 0, w.input_scale, w.scales, w.data, nullptr, 0, w.output_scale,
                                                    -128, 127, 0, cache, out);
    case XnnOperator::kNone: break;
  }
  return xnn_status_invalid_parameter;
}

// How XNNPACK lays out `op`'s packed weights on this CPU: a hash of a small probe matrix packed by
// it. The tile sizes XNNPACK picks for a CPU decide the layout, and its cache key (a xor of them with
// the shape) cannot tell every choice apart, so a cache file from another CPU is recognized by this.
// 0: unknown (XNNPACK did not take the probe).
uint64_t PackingLayout(XnnOperator op) {
  constexpr int64_t N = 37, K = 72;  // ragged against every tile width; K in whole 2-bit groups of 8
  TensorView w;
  w.name = "packing probe";
  const bool int8_output = Int8Output(op);
  const bool eight = op == XnnOperator::kQd8F32Qc8w || op == XnnOperator::kQs8Qc8w;
  const bool four = op == XnnOperator::kQd8F32Qc4w || op == XnnOperator::kQs8Qc4w;
  w.dtype = eight ? DType::I8 : four ? DType::I4 : DType::I2;
  w.shape = {N, K};
  std::vector<uint8_t> codes(static_cast<size_t>(N * K * (eight ? 8 : four ? 4 : 2) / 8));
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<uint8_t>(i * 131 + 7);
  std::vector<float> scales(static_cast<size_t>(N));
  for (size_t n = 0; n < scales.size(); ++n) scales[n] = 0.01f + 1e-4f * static_cast<float>(n);
  w.data = codes.data();
  w.size = codes.size();
  w.scales = scales.data();
  w.activation = ActivationQuant::StaticInt8;
  w.input_scale = 0.02f;
  w.output_scale = int8_output ? 0.05f : 0.0f;
  XnnWeights::Cache probe;
  xnn_operator* o = nullptr;
  if (CreateFullyConnected(op, w, &probe.provider, &o) != xnn_status_success) return 0;
  xnn_delete_operator(o);
  if (probe.buffers.size() != 1) return 0;
  const XnnWeights::Cache::Buffer& b = probe.buffers[0];
  const uint32_t key[3] = {static_cast<uint32_t>(op), b.entry.seed, b.entry.fingerprint};
  const uint64_t h = Fnv1a64(static_cast<const uint8_t*>(b.data), b.entry.size,
                             Fnv1a64(reinterpret_cast<const uint8_t*>(key), sizeof key));
  return h ? h : 1;
}

bool CacheIdentity(const ModelFile& file, PackedWeightsIdentity* id) {
  if (xnn_experimental_get_build_identifier_size() != sizeof id->engine_build) return false;
  std::memcpy(id->engine_build, xnn_experimental_get_build_identifier_data(), sizeof id->engine_build);
  id->model_checksum = file.header().metadata_checksum;
  id->model_bytes = file.file_size();
  return true;
}

}  // namespace

XnnWeights::~XnnWeights() = default;

uint64_t XnnWeights::packed_bytes() const { return cache_ ? cache_->bytes() : 0; }

int XnnWeights::Find(const TensorView* w) const {
  auto it = index_.find(w);
  return it == index_.end() ? -1 : it->second;
}

uint64_t XnnWeights::ScratchBytes(int rows) const {
  uint64_t bytes = 0;
  const uint64_t M = static_cast<uint64_t>(rows);
  for (const Plan& p : plans_) {
    const uint64_t K = static_cast<uint64_t>(p.w->cols()), N = static_cast<uint64_t>(p.w->rows());
    uint64_t b = M * K + XNN_EXTRA_BYTES + (M + XNN_EXTRA_QUANTIZATION_PARAMS) * (8 + sizeof(float));
    if (Int8Output(p.op)) b += M * N;
    bytes = std::max(bytes, b);
  }
  return bytes;
}

Status XnnWeights::CreateOperator(int index, xnn_operator** out) const {
  const TensorView& w = *plans_[index].w;
  if (!cache_->sealed) cache_->insert_failed = false;  // load time: one thread
  const xnn_status s = CreateFullyConnected(plans_[index].op, w, &cache_->provider, out);
  if (s == xnn_status_success && !cache_->sealed && cache_->insert_failed) {  // packed, but not cached
    xnn_delete_operator(*out);
    *out = nullptr;
    return Status(StatusCode::kOutOfMemory, "no memory to keep XNNPACK's packed weights of '" + w.name + "'");
  }
  if (s != xnn_status_success) {
    *out = nullptr;
    return Status(StatusCode::kInternal, "XNNPACK could not create " + std::string(XnnOperatorName(plans_[index].op)) +
                                             " for '" + w.name + "' (status " + std::to_string(s) + ")");
  }
  return Status::Ok();
}

namespace {

// The entries of the cache file at `path` this model, XNNPACK build and CPU can use, keyed as
// XNNPACK will look them up; the file stays mapped in `cache`.
void OpenCacheFile(const std::string& path, const PackedWeightsIdentity& identity, bool verify, const ModelFile& file,
                   const std::function<uint64_t(XnnOperator)>& layout_of, XnnWeights::Cache* cache) {
  const Status s = PackedWeightsFile::Open(path, identity, verify, &cache->file);
  if (!s.ok()) {
    Log(s.code() == StatusCode::kNotFound ? LogLevel::kInfo : LogLevel::kWarn, s.message() + ": packing the weights");
    return;
  }
  const std::vector<TensorView>& tensors = file.tensors();
  size_t usable = 0;
  for (const PackedEntry& e : cache->file->entries()) {
    if (e.tensor >= tensors.size() || e.op < static_cast<uint32_t>(XnnOperator::kQd8F32Qc8w) ||
        e.op > static_cast<uint32_t>(XnnOperator::kQs8Qc2w))
      continue;
    const uint64_t layout = layout_of(static_cast<XnnOperator>(e.op));
    if (layout == 0 || layout != e.layout) continue;
    cache->from_file.emplace(XnnWeights::Cache::Key{e.seed, e.fingerprint, tensors[e.tensor].data, nullptr}, e);
    ++usable;
  }
  if (usable < cache->file->entries().size())
    Log(LogLevel::kInfo, path + ": " + std::to_string(cache->file->entries().size() - usable) +
                             " packed tensors are for another CPU or model layout: packing those again");
}

// Writes every packed buffer of `cache` to `path`, then serves them from that file: its pages are
// clean and evictable, where the anonymous copies were not.
Status RewriteCacheFile(const std::string& path, const PackedWeightsIdentity& identity, XnnWeights::Cache* cache) {
  std::vector<PackedEntry> entries;
  for (const XnnWeights::Cache::Buffer& b : cache->buffers) {
    if (!b.cacheable) return Unsupported("XNNPACK keyed a packed tensor by something other than its weights: not cached");
    entries.push_back(b.entry);
    entries.back().data = static_cast<const uint8_t*>(b.data);
  }
  EDGELM_RETURN_IF_ERROR(WritePackedWeightsFile(path, identity, entries));
  std::unique_ptr<PackedWeightsFile> written;
  EDGELM_RETURN_IF_ERROR(PackedWeightsFile::Open(path, identity, /*verify_data=*/false, &written));
  const std::vector<PackedEntry>& mapped = written->entries();
  bool same = mapped.size() == cache->buffers.size();
  for (size_t i = 0; same && i < mapped.size(); ++i) same = mapped[i].size == cache->buffers[i].entry.size;
  if (!same) return CorruptModel(path + " changed while it was written");
  for (size_t i = 0; i < cache->buffers.size(); ++i) {
    XnnWeights::Cache::Buffer& b = cache->buffers[i];
    if (b.owned) XnnWeights::Cache::Unmap(b.data, b.size);
    b.data = const_cast<uint8_t*>(mapped[i].data);
    b.size = static_cast<size_t>(b.entry.size);
    b.owned = false;
  }
  cache->file = std::move(written);  // the previous file, if any, is no longer read
  return Status::Ok();
}

}  // namespace

bool XnnWeights::served_from_cache_file() const {
  if (!cache_ || cache_->buffers.empty()) return false;
  for (const Cache::Buffer& b : cache_->buffers)
    if (b.owned) return false;
  return true;
}

Status XnnWeights::Create(const ModelFile* file, const std::vector<const TensorView*>& tensors, LinearEngine engine,
                          const PackedWeightsCache& cache_options, std::unique_ptr<XnnWeights>* out) {
  std::unique_ptr<XnnWeights> x(new XnnWeights());
  x->cache_.reset(new Cache());
  Cache& cache = *x->cache_;
  if (engine != LinearEngine::kEdgelm && !InitializeXnnpack()) {
    Log(LogLevel::kWarn, "XNNPACK does not initialize on this CPU: every linear runs on edgelm's kernels");
    engine = LinearEngine::kEdgelm;
  }
  PackedWeightsIdentity identity;
  const bool cached = file && !cache_options.path.empty() && engine != LinearEngine::kEdgelm && CacheIdentity(*file, &identity);
  std::unordered_map<int, uint64_t> layouts;  // per XnnOperator, probed once
  auto layout_of = [&layouts](XnnOperator op) {
    auto it = layouts.find(static_cast<int>(op));
    return it != layouts.end() ? it->second : (layouts[static_cast<int>(op)] = PackingLayout(op));
  };
  if (cached) OpenCacheFile(cache_options.path, identity, cache_options.verify, *file, layout_of, &cache);

  // Largest first: while a tensor is packed its original is resident too, so the peak is the packed
  // copies so far plus one original, smallest when the big originals go while little is packed yet.
  std::vector<const TensorView*> by_size(tensors);
  std::stable_sort(by_size.begin(), by_size.end(), [](const TensorView* a, const TensorView* b) { return a->size > b->size; });
  for (const TensorView* w : by_size) {
    const XnnOperator op = ChooseXnnOperator(*w, engine);
    if (op == XnnOperator::kNone || x->index_.count(w)) continue;
    const int index = static_cast<int>(x->plans_.size());
    x->plans_.push_back({w, op});
    // What the cache file would record of w's packed weights.
    const std::vector<TensorView>* all = file ? &file->tensors() : nullptr;
    const bool in_file = all && w >= all->data() && w < all->data() + all->size();
    cache.packing = w;
    cache.packing_cacheable = cached && in_file;
    cache.packing_entry = PackedEntry{};
    if (cache.packing_cacheable) {
      cache.packing_entry.tensor = static_cast<uint32_t>(w - all->data());
      cache.packing_entry.op = static_cast<uint32_t>(op);
      cache.packing_entry.layout = layout_of(op);
      cache.packing_cacheable = cache.packing_entry.layout != 0;
    }
    cache.needed = SIZE_MAX;
    if (cache.packing_cacheable && !cache.from_file.empty()) {  // how many bytes XNNPACK will read
      cache.measuring = true;
      cache.measured = 0;
      xnn_operator* refused = nullptr;
      (void)CreateFullyConnected(op, *w, &cache.provider, &refused);
      if (refused) xnn_delete_operator(refused);
      cache.measuring = false;
      if (cache.measured > 0) cache.needed = cache.measured;
    }
    // Packing (or finding in the cache file): the operator is deleted at once, its packed weights stay.
    xnn_operator* probe = nullptr;
    const Status s = x->CreateOperator(index, &probe);
    if (!s.ok()) {  // this tensor stays with our kernels
      Log(LogLevel::kWarn, s.message());
      x->plans_.pop_back();
      continue;
    }
    xnn_delete_operator(probe);
    x->index_[w] = index;
    x->source_bytes_ += w->size;
    if (file) file->DropFromMemory(*w);
  }
  cache.packing = nullptr;
  cache.from_file.clear();
  for (const Cache::Buffer& b : cache.buffers) x->cached_tensors_ += b.owned ? 0 : 1;
  if (cached && x->cached_tensors_ < static_cast<int>(cache.buffers.size())) {
    const Status s = RewriteCacheFile(cache_options.path, identity, &cache);
    if (s.ok())
      Log(LogLevel::kInfo, "XNNPACK's packed weights written to " + cache_options.path);
    else
      Log(LogLevel::kWarn, "cannot keep XNNPACK's packed weights in " + cache_options.path + ": " + s.message());
  }
  if (x->cached_tensors_ == 0 && !x->served_from_cache_file()) cache.file.reset();  // none of it is used
  if (cache_options.populate && cache.file) cache.file->Populate();
  cache.sealed = true;
  *out = std::move(x);
  return Status::Ok();
}

XnnOperators::~XnnOperators() {
  for (Slot& s : slots_)
    if (s.op) xnn_delete_operator(s.op);
}

size_t XnnOperators::ReleaseScratch() {
  const size_t bytes = input_.capacity() + output_.capacity() + row_sum_.capacity() * sizeof(float) +
                       params_.capacity() * sizeof(RowParams) + workspace_.capacity();
  std::vector<int8_t>().swap(input_);
  std::vector<int8_t>().swap(output_);
  std::vector<float>().swap(row_sum_);
  std::vector<RowParams>().swap(params_);
  std::vector<uint8_t>().swap(workspace_);
  return bytes;
}

bool XnnOperators::Prepare(int index, size_t M, pthreadpool_t pool, Slot* slot) {
  if (!slot->op) {
    const Status s = weights_->CreateOperator(index, &slot->op);
    if (!s.ok()) {
      Log(LogLevel::kWarn, s.message() + "; edgelm's kernels run it");
      slot->failed = true;
      return false;
    }
    slot->batch = 0;
  }
  if (slot->batch == M && slot->pool == pool) return true;
  size_t workspace_size = 0;
  xnn_status s = xnn_status_success;
  switch (weights_->op(index)) {
    case XnnOperator::kQd8F32Qc8w: s = xnn_reshape_fully_connected_nc_qd8_f32_qc8w(slot->op, M, &workspace_size, pool); break;
    case XnnOperator::kQd8F32Qc4w: s = xnn_reshape_fully_connected_nc_qd8_f32_qc4w(slot->op, M, &workspace_size, pool); break;
    case XnnOperator::kQd8F32Qc2w: s = xnn_reshape_fully_connected_nc_qd8_f32_qc2w(slot->op, M, &workspace_size, pool); break;
    case XnnOperator::kQdu8F32Qc2w: s = xnn_reshape_fully_connected_nc_qdu8_f32_qc2w(slot->op, M, &workspace_size, pool); break;
    case XnnOperator::kQs8Qc8w: s = xnn_reshape_fully_connected_nc_qs8_qc8w(slot->op, M, pool); break;
    case XnnOperator::kQs8Qc4w: s = xnn_reshape_fully_connected_nc_qs8_qc4w(slot->op, M, pool); break;
    case XnnOperator::kQs8Qc2w: s = xnn_reshape_fully_connected_nc_qs8_qc2w(slot->op, M, pool); break;
    case XnnOperator::kNone: s = xnn_status_invalid_parameter; break;
  }
  if (s != xnn_status_success) {
    Log(LogLevel::kWarn, "XNNPACK could not reshape " + std::string(XnnOperatorName(weights_->op(index))) + " for '" +
                                weights_->tensor(index).name + "'; edgelm's kernels run it");
    slot->failed = true;
    return false;
  }
  if (workspace_.size() < workspace_size + 64) workspace_.resize(workspace_size + 64);
  slot->batch = M;
  slot->pool = pool;
  return true;
}

bool XnnOperators::Run(const TensorView& w, const float* x, int rows, float* y, pthreadpool_t pool) {
  const int index = weights_->Find(&w);
  if (index < 0) return false;
  if (rows <= 0) return true;
  if (slots_.empty()) slots_.resize(weights_->size());
  Slot& slot = slots_[index];
  if (slot.failed) return false;
  const size_t M = static_cast<size_t>(rows), K = static_cast<size_t>(w.cols()), N = static_cast<size_t>(w.rows());
  if (M * N * K < kMinParallelMacs) pool = nullptr;
  if (!Prepare(index, M, pool, &slot)) return false;

  // Activations: codes and XNNPACK's per-row {zero point, scale}.
  const edgelm_kernels& kernels = *edgelm_kernels_select();
  if (input_.size() < M * K + XNN_EXTRA_BYTES) input_.resize(M * K + XNN_EXTRA_BYTES);
  params_.resize(M + XNN_EXTRA_QUANTIZATION_PARAMS);
  for (size_t m = 0; m < M; ++m) {
    const float* xm = x + m * K;
    int8_t* qm = input_.data() + m * K;
    RowParams& p = params_[m];
    p.zero_point = 0;
    switch (w.activation) {
      case ActivationQuant::StaticInt8:
        p.scale = w.input_scale;
        kernels.qs8_quantize(K, xm, p.scale, qm);
        break;
      case ActivationQuant::StaticInt8Full:
        p.scale = w.input_scale;
        QuantizeStaticFull(kernels, xm, K, p.scale, qm);
        break;
      case ActivationQuant::DynamicInt8Asymmetric: {
        const AsymmetricQuant a = QuantizeAsymmetric(xm, K, qm);
        p.scale = a.scale;
        p.zero_point = a.zero_point;
        break;
      }
      default:  // integer weights without a static scale: per token, symmetric
        p.scale = edgelm_qs8_dynamic_scale_scalar(K, xm);
        kernels.qs8_quantize(K, xm, p.scale, qm);
        break;
    }
  }
  std::fill(params_.begin() + static_cast<std::ptrdiff_t>(M), params_.end(), params_[M - 1]);  // see row_sum_

  const XnnOperator op = weights_->op(index);
  const bool two_bit_f32 = op == XnnOperator::kQd8F32Qc2w || op == XnnOperator::kQdu8F32Qc2w;
  if (two_bit_f32) {
    // The 2-bit kernels multiply by the unsigned crumb (w + 2) and take 2 * sum(x) back out.
    row_sum_.assign(M + XNN_EXTRA_QUANTIZATION_PARAMS, 0.0f);
    const bool unsigned_input = op == XnnOperator::kQdu8F32Qc2w;
    for (size_t m = 0; m < M; ++m) {
      int8_t* qm = input_.data() + m * K;
      int32_t sum = 0;
      for (size_t k = 0; k < K; ++k) {
        if (unsigned_input) qm[k] = static_cast<int8_t>(static_cast<uint8_t>(qm[k]) ^ 0x80);  // x + 128
        sum += unsigned_input ? static_cast<uint8_t>(qm[k]) : qm[k];
      }
      row_sum_[m] = static_cast<float>(sum);
      if (unsigned_input) params_[m].zero_point += 128;
    }
    // Kernels compute the rows past M of a tile as copies of the last row and write them over it:
    // the padding must repeat the last row's parameters.
    std::fill(row_sum_.begin() + static_cast<std::ptrdiff_t>(M), row_sum_.end(), row_sum_[M - 1]);
    if (unsigned_input)
      for (size_t m = M; m < params_.size(); ++m) params_[m].zero_point = params_[M - 1].zero_point;
  }

  void* workspace = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(workspace_.data()) + 63) & ~uintptr_t{63});
  const auto* qp = reinterpret_cast<const xnn_quantization_params*>(params_.data());
  const bool int8_output = Int8Output(op);
  if (int8_output && output_.size() < M * N) output_.resize(M * N);
  xnn_status s = xnn_status_invalid_parameter;
  switch (op) {
    case XnnOperator::kQd8F32Qc8w: s = xnn_setup_fully_connected_nc_qd8_f32_qc8w(slot.op, input_.data(), y, workspace, qp); break;
    case XnnOperator::kQd8F32Qc4w: s = xnn_setup_fully_connected_nc_qd8_f32_qc4w(slot.op, input_.data(), y, workspace, qp); break;
    case XnnOperator::kQd8F32Qc2w:
      s = xnn_setup_fully_connected_nc_qd8_f32_qc2w(slot.op, input_.data(), y, workspace, row_sum_.data(), qp);
      break;
    case XnnOperator::kQdu8F32Qc2w:
      s = xnn_setup_fully_connected_nc_qdu8_f32_qc2w(slot.op, reinterpret_cast<const uint8_t*>(input_.data()), y, workspace,
                                                     row_sum_.data(), qp);
      break;
    case XnnOperator::kQs8Qc8w: s = xnn_setup_fully_connected_nc_qs8_qc8w(slot.op, input_.data(), output_.data()); break;
    case XnnOperator::kQs8Qc4w: s = xnn_setup_fully_connected_nc_qs8_qc4w(slot.op, input_.data(), output_.data()); break;
    case XnnOperator::kQs8Qc2w: s = xnn_setup_fully_connected_nc_qs8_qc2w(slot.op, input_.data(), output_.data()); break;
    case XnnOperator::kNone: break;
  }
  if (s == xnn_status_success) s = xnn_run_operator(slot.op, pool);
  if (s != xnn_status_success) {
    Log(LogLevel::kWarn, "XNNPACK failed to run " + std::string(XnnOperatorName(op)) + " for '" + w.name +
                                "' (status " + std::to_string(s) + "); edgelm's kernels run it");
    slot.failed = true;
    return false;
  }
  if (int8_output)
    for (size_t i = 0; i < M * N; ++i) y[i] = static_cast<float>(output_[i]) * w.output_scale;
  return true;
}

}  // namespace edgelm
