#include "model/gemma4.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "dispatch.h"
#include "model/activations.h"
#include "model/attention.h"
#include "model/gemma4_tensors.h"
#include "model/scratch.h"

namespace edgelm {

struct Gemma4Model::LayerWeights {
  const TensorView* input_norm = nullptr;
  const TensorView* q_proj = nullptr;
  const TensorView* q_norm = nullptr;
  const TensorView* k_proj = nullptr;  // null on KV-sharing layers
  const TensorView* v_proj = nullptr;
  const TensorView* k_norm = nullptr;
  const TensorView* o_proj = nullptr;
  const TensorView* post_attention_norm = nullptr;
  const TensorView* pre_ffn_norm = nullptr;
  const TensorView* gate_proj = nullptr;
  const TensorView* up_proj = nullptr;
  const TensorView* down_proj = nullptr;
  const TensorView* post_ffn_norm = nullptr;
  const TensorView* ple_gate = nullptr;  // null without PLE
  const TensorView* ple_projection = nullptr;
  const TensorView* post_ple_norm = nullptr;
  const TensorView* layer_scalar = nullptr;
};

struct Workspace {
  pthreadpool_t pool = nullptr;
  std::vector<float> x, normed, q, k, v, attn, branch, gate, up, ple, pli, cos, sin, head_in;
  AttentionScratch attention;
  LinearScratch linear;
  std::unique_ptr<XnnOperators> xnn;  // null when XNNPACK runs no linear
  const StripWeights* strips = nullptr;  // the model's
  std::vector<uint8_t> gathered;      // one row of a gathered table, as stored
};

namespace {

constexpr float kSqrtHalf = 0.70710678118654752f;

const float* F32(const TensorView* t) { return reinterpret_cast<const float*>(t->data); }

// y = x Wᵀ through XNNPACK when the model gave it `w`, else through our kernels (over w's strips if it
// has them).
void RunLinear(const TensorView& w, const float* x, int rows, float* y, Workspace* ws) {
  if (!ws->xnn || !ws->xnn->Run(w, x, rows, y, ws->pool)) Linear(w, ws->strips->Find(&w), x, rows, y, &ws->linear, ws->pool);
}

// RunLinear with the observer told its input and output (calibration records both).
void ObservedLinear(const TensorView& w, const float* x, int rows, float* y, Workspace* ws, ForwardObserver* observer) {
  if (observer) observer->OnLinearInput(w, x, rows);
  RunLinear(w, x, rows, y, ws);
  if (observer) observer->OnLinearOutput(w, y, rows);
}

// out = x * (mean(x²) + eps)^-1/2 * w (w may be null: weightless norm). In place allowed. The squares
// are summed in double on eight independent chains: on one chain each add waited for the last, and the
// ~375k values an E2B decode step normalizes took 0.25 instead of 0.08 ms of serial time (Zen 5, -O3).
void RmsNorm(const float* x, const float* w, int n, float eps, float* out) {
  constexpr int kChains = 8;
  double chain[kChains] = {};
  int i = 0;
  for (; i + kChains <= n; i += kChains)
    for (int c = 0; c < kChains; ++c) chain[c] += static_cast<double>(x[i + c]) * x[i + c];
  for (; i < n; ++i) chain[0] += static_cast<double>(x[i]) * x[i];
  const double sum = ((chain[0] + chain[1]) + (chain[2] + chain[3])) + ((chain[4] + chain[5]) + (chain[6] + chain[7]));
  const float inv = static_cast<float>(1.0 / std::sqrt(sum / n + eps));
  for (int k = 0; k < n; ++k) out[k] = w ? x[k] * inv * w[k] : x[k] * inv;
}

// Rows of a prefill chunk per pool task: a 1536-wide norm row is about a microsecond.
constexpr size_t kMinRowsPerTask = 8;

void RmsNormRows(const float* x, const TensorView* w, int rows, int n, float eps, float* out, pthreadpool_t pool) {
  ForEachRowTile(pool, static_cast<size_t>(rows), kMinRowsPerTask, [&](size_t first, size_t count) {
    for (size_t r = first; r < first + count; ++r) RmsNorm(x + r * n, w ? F32(w) : nullptr, n, eps, out + r * n);
  });
}

// Rotate-half RoPE on one head vector of size d with precomputed cos/sin of its d/2 pairs.
void ApplyRope(float* v, int d, const float* cos, const float* sin) {
  const int half = d / 2;
  for (int j = 0; j < half; ++j) {
    const float a = v[j], b = v[j + half];
    v[j] = a * cos[j] - b * sin[j];
    v[j + half] = b * cos[j] + a * sin[j];
  }
}

// Frequencies as the reference computes them in f32: theta^(-2j/d); proportional RoPE rotates only
// the first floor(partial * d / 2) pairs and keeps the full d in the exponent.
std::vector<float> InverseFrequencies(const LayerConfig& l) {
  const int half = l.head_dim / 2;
  int rotated = half;
  if (l.rope.type == RopeType::Proportional)
    rotated = static_cast<int>(std::floor(l.rope.partial_rotary_factor * l.head_dim / 2.0f));
  std::vector<float> inv(static_cast<size_t>(half), 0.0f);
  for (int j = 0; j < rotated; ++j) {
    const float exponent = static_cast<float>(2 * j) / static_cast<float>(l.head_dim);
    inv[j] = 1.0f / std::pow(static_cast<float>(l.rope.theta), exponent) / l.rope.factor;
  }
  return inv;
}

Status Expect(const ModelFile& f, const TensorInfo& info, const TensorView** out) {
  const TensorView* t = f.FindTensor(info.name);
  if (!t) return CorruptModel("missing tensor '" + info.name + "'");
  if (t->shape != info.shape) return CorruptModel("tensor '" + info.name + "' has the wrong shape for the architecture");
  if (info.role == TensorRole::kNorm && t->dtype != DType::F32)
    return CorruptModel("norm tensor '" + info.name + "' must be f32");
  if (info.role == TensorRole::kNorm && t->activation != ActivationQuant::None)
    return CorruptModel("norm tensor '" + info.name + "' cannot quantize activations");
  *out = t;
  return Status::Ok();
}

}  // namespace

Status CheckGemma4Config(const ModelConfig& c) {
  if (c.family != "gemma4") return Unsupported("architecture family '" + c.family + "' (expected gemma4)");
  bool seen_consumer = false;
  for (int i = 0; i < c.num_layers(); ++i) {
    if (seen_consumer && c.owns_kv(i))
      return Unsupported("layer " + std::to_string(i) + ": a KV owner after a KV-sharing layer (Gemma 4 puts them last)");
    seen_consumer |= !c.owns_kv(i);
  }
  return Status::Ok();
}

Gemma4Model::~Gemma4Model() = default;

WorkspacePtr Gemma4Model::NewWorkspace(pthreadpool_t pool) const {
  WorkspacePtr ws(new Workspace());
  ws->pool = pool;
  ws->strips = strips_.get();
  if (xnn_->size() > 0) ws->xnn.reset(new XnnOperators(xnn_.get()));
  return ws;
}

void WorkspaceDeleter::operator()(Workspace* ws) const { delete ws; }

size_t Gemma4Model::ReleaseWorkspace(Workspace* ws) {
  size_t bytes = ws->attention.capacity_bytes() + ws->linear.capacity_bytes();
  for (std::vector<float>* v : {&ws->x, &ws->normed, &ws->q, &ws->k, &ws->v, &ws->attn, &ws->branch, &ws->gate, &ws->up,
                                &ws->ple, &ws->pli, &ws->cos, &ws->sin, &ws->head_in}) {
    bytes += v->capacity() * sizeof(float);
    std::vector<float>().swap(*v);
  }
  ws->attention.Release();
  ws->linear.Release();
  if (ws->xnn) bytes += ws->xnn->ReleaseScratch();
  return bytes;
}

uint64_t Gemma4Model::WorkspaceBytes(int chunk, int context, int threads) const {
  const ModelConfig& c = config();
  uint64_t head_dim = 0, q_dim = 0, kv_dim = 0, mlp = 0;
  for (const LayerConfig& l : c.layers) {
    head_dim = std::max<uint64_t>(head_dim, l.head_dim);
    q_dim = std::max<uint64_t>(q_dim, static_cast<uint64_t>(c.num_heads) * l.head_dim);
    kv_dim = std::max<uint64_t>(kv_dim, static_cast<uint64_t>(l.num_kv_heads) * l.head_dim);
    mlp = std::max<uint64_t>(mlp, l.intermediate_size);
  }
  // One term per Workspace buffer, at every layer's widest shape at once.
  const uint64_t rows = static_cast<uint64_t>(chunk), H = c.hidden_size;
  const uint64_t ple_width = static_cast<uint64_t>(c.num_layers()) * c.ple_dim;
  const uint64_t floats = rows * (3 * H            // x, normed, branch
                                  + 2 * q_dim      // q, attn
                                  + 2 * kv_dim     // k, v
                                  + 2 * mlp        // gate, up
                                  + ple_width      // pli
                                  + head_dim)      // cos and sin (half a head each)
                          + std::max(ple_width, rows * c.ple_dim)   // ple: table row / gate
                          + rows * H                                // head_in (kAll)
                          + static_cast<uint64_t>(c.vocab_size);    // the session's logits
  LinearScratchEstimate linear;  // every linear: XNNPACK hands back to our kernels what it cannot run
  for (const TensorView* t : multiplied_) linear.Add(*t, strips_->Find(t), chunk);
  return floats * sizeof(float) + linear.bytes() + xnn_->ScratchBytes(chunk) + AttentionScratchBytes(c, chunk, context, threads);
}

Status Gemma4Model::Create(std::shared_ptr<const ModelFile> file, std::unique_ptr<Gemma4Model>* out, int num_threads,
                           LinearEngine engine, const PackedWeightsCache& packed_cache) {
  std::unique_ptr<Gemma4Model> m(new Gemma4Model());
  m->file_ = std::move(file);
  Status s = CheckGemma4Config(m->config());
  if (s.ok()) s = m->Bind();
  if (!s.ok()) return Status(s.code(), m->file_->path() + ": " + s.message());
  if (engine == LinearEngine::kAuto) engine = LinearEngineFromEnvironment();
  EDGELM_RETURN_IF_ERROR(XnnWeights::Create(m->file_.get(), m->multiplied_, engine, packed_cache, &m->xnn_));
  EDGELM_RETURN_IF_ERROR(ThreadPool::Create(num_threads, &m->shared_pool_));
  m->strips_ = StripWeights::Create(m->file_.get(), m->multiplied_, *m->xnn_, m->shared_pool_->threads());
  *out = std::move(m);
  return Status::Ok();
}

Status Gemma4Model::Bind() {
  const ModelConfig& c = config();
  layers_.assign(c.num_layers(), LayerWeights());
  const TensorView** model_slots[kFirstLayerSlot] = {&embed_, &ple_table_, &ple_projection_, &ple_projection_norm_,
                                                     &final_norm_, &lm_head_};
  using Slot = const TensorView* LayerWeights::*;
  static constexpr Slot kLayerSlots[kTensorSlotCount - kFirstLayerSlot] = {
      &LayerWeights::input_norm, &LayerWeights::q_proj, &LayerWeights::q_norm, &LayerWeights::k_proj,
      &LayerWeights::v_proj, &LayerWeights::k_norm, &LayerWeights::o_proj, &LayerWeights::post_attention_norm,
      &LayerWeights::pre_ffn_norm, &LayerWeights::gate_proj, &LayerWeights::up_proj, &LayerWeights::down_proj,
      &LayerWeights::post_ffn_norm, &LayerWeights::ple_gate, &LayerWeights::ple_projection,
      &LayerWeights::post_ple_norm, &LayerWeights::layer_scalar};
  for (const TensorInfo& info : Gemma4TensorManifest(c)) {
    const TensorView* t = nullptr;
    EDGELM_RETURN_IF_ERROR(Expect(*file_, info, &t));
    const bool gathered = info.role == TensorRole::kEmbedding || info.role == TensorRole::kPleTable;
    const bool multiplied = info.is_matrix() && info.role != TensorRole::kPleTable &&
                            (info.role != TensorRole::kEmbedding || c.tie_word_embeddings);
    if (multiplied && !LinearSupports(*t))
      return Unsupported("tensor '" + info.name + "': no kernel multiplies " + DTypeName(t->dtype) +
                         (t->scale_group_size > 0 ? " with grouped scales" : ""));
    if (t->scale_group_size > 0 && !gathered)
      return CorruptModel("tensor '" + info.name + "': grouped scales are for gathered tables only");
    if (multiplied) multiplied_.push_back(t);
    // Norms are read every token, a few KB each between large matrices: kept on the heap, so that
    // their page faults do not map the neighbouring weights (whole large folios) back into memory
    // after XNNPACK packed those.
    if (info.role == TensorRole::kNorm) {
      auto norm = std::make_unique<OwnedTensor>(OwnedTensor{*t, std::vector<uint8_t>(t->data, t->data + t->size)});
      norm->view.data = norm->bytes.data();
      t = &norm->view;
      norms_.push_back(std::move(norm));  // owned before the vector may fail to grow: nothing leaks
    }
    const int slot = static_cast<int>(info.slot);
    if (info.layer < 0)
      *model_slots[slot] = t;
    else
      layers_[info.layer].*kLayerSlots[slot - kFirstLayerSlot] = t;
  }
  if (c.tie_word_embeddings) lm_head_ = embed_;
  if (lm_head_->static_input()) return CorruptModel("the output head cannot use a static activation scale");
  for (const LayerConfig& l : c.layers) inv_freq_.push_back(InverseFrequencies(l));
  return Status::Ok();
}

uint64_t Gemma4Model::decode_weight_bytes() const {
  uint64_t bytes = 0;
  // Gathered tables contribute the rows a token reads; everything else is read whole.
  auto row_bytes = [](const TensorView& t) {
    return t.size / static_cast<uint64_t>(t.rows()) + (t.scales ? static_cast<uint64_t>(t.scales_per_row()) * 4 : 0);
  };
  for (const TensorView& t : file_->tensors()) {
    const bool gathered = &t == ple_table_ || (&t == embed_ && lm_head_ != embed_);
    bytes += gathered ? row_bytes(t) : t.size + (t.scales ? static_cast<uint64_t>(t.rows() * t.scales_per_row()) * 4 : 0);
  }
  return bytes;
}

void Gemma4Model::Attention(int layer, int rows, int first_pos, KvCache* kv, Workspace* ws, ForwardObserver* observer) const {
  const ModelConfig& c = config();
  const LayerConfig& lc = c.layers[layer];
  const LayerWeights& lw = layers_[layer];
  const int d = lc.head_dim, n_heads = c.num_heads, n_kv = lc.num_kv_heads;
  const int q_dim = n_heads * d, kv_dim = n_kv * d, half = d / 2;
  const float eps = c.rms_norm_eps;

  float* q = GrowScratch(ws->q, static_cast<size_t>(rows) * q_dim);
  ObservedLinear(*lw.q_proj, ws->normed.data(), rows, q, ws, observer);
  float* cos = GrowScratch(ws->cos, static_cast<size_t>(rows) * half);
  float* sin = GrowScratch(ws->sin, static_cast<size_t>(rows) * half);
  const std::vector<float>& inv = inv_freq_[layer];
  ForEachRowTile(ws->pool, static_cast<size_t>(rows), kMinRowsPerTask, [&](size_t first, size_t count) {
    for (size_t r = first; r < first + count; ++r) {
      for (int j = 0; j < half; ++j) {
        const float angle = static_cast<float>(first_pos + static_cast<int>(r)) * inv[j];
        cos[r * half + j] = std::cos(angle);
        sin[r * half + j] = std::sin(angle);
      }
      for (int h = 0; h < n_heads; ++h) {
        float* qh = q + r * q_dim + h * d;
        RmsNorm(qh, F32(lw.q_norm), d, eps, qh);
        ApplyRope(qh, d, cos + r * half, sin + r * half);
      }
    }
  });

  if (lw.k_proj) {  // KV owner: project, normalize, rotate and store this chunk's keys and values
    float* k = GrowScratch(ws->k, static_cast<size_t>(rows) * kv_dim);
    float* v = GrowScratch(ws->v, static_cast<size_t>(rows) * kv_dim);
    ObservedLinear(*lw.k_proj, ws->normed.data(), rows, k, ws, observer);
    ObservedLinear(*lw.v_proj, ws->normed.data(), rows, v, ws, observer);
    ForEachRowTile(ws->pool, static_cast<size_t>(rows), kMinRowsPerTask, [&](size_t first, size_t count) {
      for (size_t r = first; r < first + count; ++r) {
        float* key = k + r * kv_dim;
        float* value = v + r * kv_dim;
        for (int h = 0; h < n_kv; ++h) {
          RmsNorm(key + h * d, F32(lw.k_norm), d, eps, key + h * d);
          ApplyRope(key + h * d, d, cos + r * half, sin + r * half);
          RmsNorm(value + h * d, nullptr, d, eps, value + h * d);
        }
      }
    });
    if (observer) observer->OnKeysValues(layer, k, v, rows, kv_dim);
    for (int r = 0; r < rows; ++r)
      kv->Store(layer, first_pos + r, k + static_cast<size_t>(r) * kv_dim, v + static_cast<size_t>(r) * kv_dim);
  }

  const AttentionShape shape{lc.kv_source, n_heads, n_kv, d, lc.sliding_window};
  float* attn = GrowScratch(ws->attn, static_cast<size_t>(rows) * q_dim);
  Attend(*kv, shape, rows, first_pos, q, attn, &ws->attention, ws->pool);
}

void Gemma4Model::Embed(const int* tokens, int count, Workspace* ws, ForwardObserver* observer) const {
  const ModelConfig& c = config();
  const int H = c.hidden_size;
  float* x = GrowScratch(ws->x, static_cast<size_t>(count) * H);
  for (int t = 0; t < count; ++t) {
    float* row = x + static_cast<size_t>(t) * H;
    file_->GatherRow(*embed_, tokens[t], &ws->gathered, row);
    for (int i = 0; i < H; ++i) row[i] *= c.embed_scale;
  }
  if (observer) observer->OnHidden(0, x, count);
}

// Per-layer inputs: context part from the scaled embedding, token part from the table row.
void Gemma4Model::PerLayerInputs(const int* tokens, int count, Workspace* ws, ForwardObserver* observer) const {
  const ModelConfig& c = config();
  const int H = c.hidden_size, L = c.num_layers(), P = c.ple_dim;
  const size_t width = static_cast<size_t>(L) * P;
  float* pli = GrowScratch(ws->pli, count * width);
  ObservedLinear(*ple_projection_, ws->x.data(), count, pli, ws, observer);
  float* table_row = GrowScratch(ws->ple, width);
  const float proj_scale = c.ple_projection_scale > 0.0f ? c.ple_projection_scale : 1.0f / std::sqrt(static_cast<float>(H));
  const float table_scale = std::sqrt(static_cast<float>(P));
  for (int t = 0; t < count; ++t) {
    file_->GatherRow(*ple_table_, tokens[t], &ws->gathered, table_row);
    for (int l = 0; l < L; ++l) {
      float* slice = pli + t * width + static_cast<size_t>(l) * P;
      for (int i = 0; i < P; ++i) slice[i] *= proj_scale;
      RmsNorm(slice, F32(ple_projection_norm_), P, c.rms_norm_eps, slice);
      for (int i = 0; i < P; ++i) slice[i] = (slice[i] + table_row[l * P + i] * table_scale) * kSqrtHalf;
    }
  }
  if (observer) observer->OnPleInputs(pli, count);
}

void Gemma4Model::DecoderLayer(int i, int rows, int first_row, int first_pos, KvCache* kv, Workspace* ws,
                               ForwardObserver* observer) const {
  const ModelConfig& c = config();
  const LayerWeights& lw = layers_[i];
  const int H = c.hidden_size, L = c.num_layers(), P = c.ple_dim, I = c.layers[i].intermediate_size;
  const float eps = c.rms_norm_eps;
  const size_t n = static_cast<size_t>(rows) * H;
  auto linear = [&](const TensorView* w, const float* in, float* out) { ObservedLinear(*w, in, rows, out, ws, observer); };
  float* x = ws->x.data();
  float* normed = GrowScratch(ws->normed, n);
  RmsNormRows(x, lw.input_norm, rows, H, eps, normed, ws->pool);
  Attention(i, rows, first_pos, kv, ws, observer);
  float* branch = GrowScratch(ws->branch, n);
  linear(lw.o_proj, ws->attn.data(), branch);
  if (observer) observer->OnAttentionOutput(i, branch, rows);
  RmsNormRows(branch, lw.post_attention_norm, rows, H, eps, branch, ws->pool);
  for (size_t e = 0; e < n; ++e) x[e] += branch[e];

  RmsNormRows(x, lw.pre_ffn_norm, rows, H, eps, normed, ws->pool);
  float* gate = GrowScratch(ws->gate, static_cast<size_t>(rows) * I);
  float* up = GrowScratch(ws->up, static_cast<size_t>(rows) * I);
  linear(lw.gate_proj, normed, gate);
  linear(lw.up_proj, normed, up);
  GeluTanhMul(gate, up, static_cast<size_t>(rows) * I, gate, ws->pool);
  linear(lw.down_proj, gate, branch);
  if (observer) observer->OnMlpOutput(i, branch, rows);
  RmsNormRows(branch, lw.post_ffn_norm, rows, H, eps, branch, ws->pool);
  for (size_t e = 0; e < n; ++e) x[e] += branch[e];

  if (P > 0) {
    float* g = GrowScratch(ws->ple, static_cast<size_t>(rows) * P);
    linear(lw.ple_gate, x, g);
    const float* pli = ws->pli.data();
    for (int r = 0; r < rows; ++r)
      GeluTanhMul(g + r * P, pli + (static_cast<size_t>(first_row + r) * L + i) * P, static_cast<size_t>(P), g + r * P);
    linear(lw.ple_projection, g, branch);
    RmsNormRows(branch, lw.post_ple_norm, rows, H, eps, branch, ws->pool);
    for (size_t e = 0; e < n; ++e) x[e] += branch[e];
  }
  const float scalar = F32(lw.layer_scalar)[0];
  for (size_t e = 0; e < n; ++e) x[e] *= scalar;
  if (observer) observer->OnHidden(i + 1, x, rows);
}

void Gemma4Model::Head(int rows, int out_rows, Workspace* ws, float* logits, ForwardObserver* observer) const {
  const ModelConfig& c = config();
  const int H = c.hidden_size;
  const float* last = ws->x.data() + static_cast<size_t>(rows - out_rows) * H;
  float* head_in = GrowScratch(ws->head_in, static_cast<size_t>(out_rows) * H);
  RmsNormRows(last, final_norm_, out_rows, H, c.rms_norm_eps, head_in, ws->pool);
  if (observer) observer->OnHidden(c.num_layers() + 1, head_in, out_rows);
  RunLinear(*lm_head_, head_in, out_rows, logits, ws);
  if (c.final_logit_softcap > 0.0f) {
    const float reciprocal = c.final_logit_softcap_reciprocal > 0.0f ? c.final_logit_softcap_reciprocal
                                                                     : 1.0f / c.final_logit_softcap;
    SoftCap(logits, static_cast<size_t>(out_rows) * c.vocab_size, c.final_logit_softcap, reciprocal, ws->pool);
  }
}

Status Gemma4Model::Forward(const int* tokens, int count, LogitsMode mode, KvCache* kv, Workspace* ws, float* logits,
                            ForwardObserver* observer) const {
  const ModelConfig& c = config();
  if (count <= 0) return InvalidArgument("no tokens to process");
  // A damaged tensor found by the background verification stops every session from computing on it.
  EDGELM_RETURN_IF_ERROR(file_->integrity());
  if (count > kv->max_chunk()) return InvalidArgument("chunk larger than the session's prefill chunk");
  const int pos0 = kv->length();
  if (count > kv->context_length() - pos0)
    return Status(StatusCode::kContextFull, "context full: " + std::to_string(pos0) + " + " + std::to_string(count) +
                                                " tokens exceed the context length " + std::to_string(kv->context_length()));
  const int limit = c.ple_dim > 0 ? std::min(c.vocab_size, c.ple_vocab_size) : c.vocab_size;
  for (int t = 0; t < count; ++t)
    if (tokens[t] < 0 || tokens[t] >= limit)
      return OutOfRange("token id " + std::to_string(tokens[t]) + " outside the vocabulary [0, " + std::to_string(limit) + ")");

  Embed(tokens, count, ws, observer);
  if (c.ple_dim > 0) PerLayerInputs(tokens, count, ws, observer);
  int rows = count, first_row = 0;
  for (int i = 0; i < c.num_layers(); ++i) {
    if (!c.owns_kv(i) && mode == LogitsMode::kNone) break;  // nothing left that writes the cache
    if (!c.owns_kv(i) && mode != LogitsMode::kAll && rows > 1) {
      // KV-sharing layers write no cache: only the last token's output can still matter.
      std::memmove(ws->x.data(), ws->x.data() + static_cast<size_t>(rows - 1) * c.hidden_size,
                   c.hidden_size * sizeof(float));
      first_row += rows - 1;
      rows = 1;
    }
    DecoderLayer(i, rows, first_row, pos0 + first_row, kv, ws, observer);
  }
  kv->set_length(pos0 + count);
  if (mode != LogitsMode::kNone) Head(rows, mode == LogitsMode::kAll ? rows : 1, ws, logits, observer);
  // The kernels have no error path: one whose scratch could not be allocated wrote zeros.
  if (edgelm_kernels_take_scratch_failure()) {
    kv->set_length(pos0);
    return Status(StatusCode::kOutOfMemory, "out of memory for the kernels' scratch");
  }
  return Status::Ok();
}

}  // namespace edgelm
