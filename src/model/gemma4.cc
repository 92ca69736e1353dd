#include "model/gemma4.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/activations.h"
#include "model/gemma4_tensors.h"

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

namespace {

// Attention work: the query heads of a row (from q_offset) that share KV head kv_head, over key positions
// [first, last]. Its output goes straight to the attention output (kWholeRow), or, for one span of a
// split row, to attention_spans at `span_offset` until the spans are merged.
struct AttentionItem {
  size_t q_offset, span_offset;
  int kv_head, first, last;
};
constexpr size_t kWholeRow = ~size_t{0};
// Decode (one row) splits each row's keys into spans of this many positions, so every thread has work.
// The spans depend only on the positions, never on the thread count, and so do the results.
constexpr int kAttentionSpan = 256;

}  // namespace

struct Workspace {
  std::vector<float> x, normed, q, k, v, attn, branch, gate, up, ple, pli, scores, cos, sin, head_in;
  std::vector<float> attention_spans, attention_stats;
  std::vector<AttentionItem> attention_items;
  LinearScratch linear;
};

namespace {

constexpr float kSqrtHalf = 0.70710678118654752f;

template <typename T>
T* Grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

const float* F32(const TensorView* t) { return reinterpret_cast<const float*>(t->data); }

// out = x * (mean(x²) + eps)^-1/2 * w (w may be null: weightless norm). In place allowed.
void RmsNorm(const float* x, const float* w, int n, float eps, float* out) {
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(sum / n + eps));
  for (int i = 0; i < n; ++i) out[i] = w ? x[i] * inv * w[i] : x[i] * inv;
}

void RmsNormRows(const float* x, const TensorView* w, int rows, int n, float eps, float* out) {
  for (int r = 0; r < rows; ++r) RmsNorm(x + static_cast<size_t>(r) * n, w ? F32(w) : nullptr, n, eps, out + static_cast<size_t>(r) * n);
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

struct AttentionJob {
  const KvCache* kv;
  int layer, group, d;
  const float* q;
  float* out;          // [rows][q_dim]
  float* spans;        // unnormalized outputs of split rows' spans
  float* stats;        // per item: group score maxima, then group exp sums
  float* scores;       // per task: scores_per_task floats
  size_t scores_per_task;
  const AttentionItem* items;
  size_t count, tasks;
};

// Task t runs items t, t + tasks, ...: interleaving balances the rows of a causal prefill chunk, whose
// key counts grow with the position.
void AttendItems(void* context, size_t task) {
  const AttentionJob& job = *static_cast<const AttentionJob*>(context);
  float* scores = job.scores + task * job.scores_per_task;
  for (size_t i = task; i < job.count; i += job.tasks) {
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

Gemma4Model::~Gemma4Model() {
  if (pool_) pthreadpool_destroy(pool_);
}

WorkspacePtr Gemma4Model::NewWorkspace() { return WorkspacePtr(new Workspace()); }

void WorkspaceDeleter::operator()(Workspace* ws) const { delete ws; }

Status Gemma4Model::Create(std::shared_ptr<const ModelFile> file, std::unique_ptr<Gemma4Model>* out, int num_threads) {
  if (num_threads < 0 || num_threads > 1024) return InvalidArgument("thread count must be in [0, 1024]");
  std::unique_ptr<Gemma4Model> m(new Gemma4Model());
  m->file_ = std::move(file);
  if (num_threads != 1) {
    m->pool_ = pthreadpool_create(static_cast<size_t>(num_threads));
    if (!m->pool_) return Status(StatusCode::kOutOfMemory, "cannot create the thread pool");
  }
  Status s = m->Bind();
  if (!s.ok()) return Status(s.code(), m->file_->path() + ": " + s.message());
  *out = std::move(m);
  return Status::Ok();
}

Status Gemma4Model::Bind() {
  const ModelConfig& c = config();
  layers_.assign(c.num_layers(), LayerWeights());
  for (const TensorInfo& info : Gemma4TensorManifest(c)) {
    const TensorView* t = nullptr;
    EDGELM_RETURN_IF_ERROR(Expect(*file_, info, &t));
    const std::string& n = info.name;
    auto ends = [&n](const char* suffix) {
      const size_t k = std::strlen(suffix);
      return n.size() >= k && n.compare(n.size() - k, k, suffix) == 0;
    };
    if (info.layer < 0) {
      if (n == "embed_tokens.weight") embed_ = t;
      else if (n == "embed_tokens_per_layer.weight") ple_table_ = t;
      else if (n == "per_layer_model_projection.weight") ple_projection_ = t;
      else if (n == "per_layer_projection_norm.weight") ple_projection_norm_ = t;
      else if (n == "norm.weight") final_norm_ = t;
      continue;
    }
    LayerWeights& l = layers_[info.layer];
    const std::pair<const char*, const TensorView**> slots[] = {
        {".input_layernorm.weight", &l.input_norm}, {".self_attn.q_proj.weight", &l.q_proj},
        {".self_attn.q_norm.weight", &l.q_norm}, {".self_attn.k_proj.weight", &l.k_proj},
        {".self_attn.v_proj.weight", &l.v_proj}, {".self_attn.k_norm.weight", &l.k_norm},
        {".self_attn.o_proj.weight", &l.o_proj}, {".post_attention_layernorm.weight", &l.post_attention_norm},
        {".pre_feedforward_layernorm.weight", &l.pre_ffn_norm}, {".mlp.gate_proj.weight", &l.gate_proj},
        {".mlp.up_proj.weight", &l.up_proj}, {".mlp.down_proj.weight", &l.down_proj},
        {".post_feedforward_layernorm.weight", &l.post_ffn_norm}, {".per_layer_input_gate.weight", &l.ple_gate},
        {".per_layer_projection.weight", &l.ple_projection}, {".post_per_layer_input_norm.weight", &l.post_ple_norm},
        {".layer_scalar", &l.layer_scalar}};
    for (const auto& slot : slots)
      if (ends(slot.first)) *slot.second = t;
  }
  if (embed_->dtype != DType::Q4_0 && embed_->activation == ActivationQuant::StaticInt8)
    return CorruptModel("the tied head cannot use a static activation scale");
  for (const LayerConfig& l : c.layers) inv_freq_.push_back(InverseFrequencies(l));
  return Status::Ok();
}

uint64_t Gemma4Model::decode_weight_bytes() const {
  uint64_t bytes = 0;
  for (const TensorView& t : file_->tensors())
    if (&t != ple_table_) bytes += t.size + (t.scales ? static_cast<uint64_t>(t.rows()) * 4 : 0);
  if (ple_table_) bytes += ple_table_->size / static_cast<uint64_t>(ple_table_->rows());
  return bytes;
}

uint64_t Gemma4Model::attention_scratch_bytes(int chunk, int context) const {
  const ModelConfig& c = config();
  const uint64_t tasks = pool_ ? pthreadpool_get_threads_count(pool_) : 1;
  const uint64_t spans = static_cast<uint64_t>(context + kAttentionSpan - 1) / kAttentionSpan;
  uint64_t bytes = 0;
  for (const LayerConfig& l : c.layers) {
    const uint64_t group = static_cast<uint64_t>(c.num_heads / l.num_kv_heads), kv_heads = l.num_kv_heads;
    const uint64_t items = std::max<uint64_t>(static_cast<uint64_t>(chunk), spans) * kv_heads;
    const uint64_t floats = tasks * group * static_cast<uint64_t>(context)    // scores
                            + kv_heads * spans * group * l.head_dim          // decode spans
                            + items * 2 * group;                             // maxima and sums
    bytes = std::max(bytes, floats * sizeof(float) + items * sizeof(AttentionItem));
  }
  return bytes;
}

void Gemma4Model::Attention(int layer, int rows, int first_pos, KvCache* kv, Workspace* ws) const {
  const ModelConfig& c = config();
  const LayerConfig& lc = c.layers[layer];
  const LayerWeights& lw = layers_[layer];
  const int d = lc.head_dim, n_heads = c.num_heads, n_kv = lc.num_kv_heads, group = n_heads / n_kv;
  const int q_dim = n_heads * d, kv_dim = n_kv * d, half = d / 2;
  const float eps = c.rms_norm_eps;

  float* q = Grow(ws->q, static_cast<size_t>(rows) * q_dim);
  Linear(*lw.q_proj, ws->normed.data(), rows, q, &ws->linear, pool_);
  float* cos = Grow(ws->cos, static_cast<size_t>(rows) * half);
  float* sin = Grow(ws->sin, static_cast<size_t>(rows) * half);
  const std::vector<float>& inv = inv_freq_[layer];
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < half; ++j) {
      const float angle = static_cast<float>(first_pos + r) * inv[j];
      cos[r * half + j] = std::cos(angle);
      sin[r * half + j] = std::sin(angle);
    }
  for (int r = 0; r < rows; ++r)
    for (int h = 0; h < n_heads; ++h) {
      float* qh = q + static_cast<size_t>(r) * q_dim + h * d;
      RmsNorm(qh, F32(lw.q_norm), d, eps, qh);
      ApplyRope(qh, d, cos + r * half, sin + r * half);
    }

  if (lw.k_proj) {  // KV owner: project, normalize, rotate and store this chunk's keys and values
    float* k = Grow(ws->k, static_cast<size_t>(rows) * kv_dim);
    float* v = Grow(ws->v, static_cast<size_t>(rows) * kv_dim);
    Linear(*lw.k_proj, ws->normed.data(), rows, k, &ws->linear, pool_);
    Linear(*lw.v_proj, ws->normed.data(), rows, v, &ws->linear, pool_);
    for (int r = 0; r < rows; ++r) {
      float* key = k + static_cast<size_t>(r) * kv_dim;
      float* value = v + static_cast<size_t>(r) * kv_dim;
      for (int h = 0; h < n_kv; ++h) {
        RmsNorm(key + h * d, F32(lw.k_norm), d, eps, key + h * d);
        ApplyRope(key + h * d, d, cos + r * half, sin + r * half);
        RmsNorm(value + h * d, nullptr, d, eps, value + h * d);
      }
      kv->Store(layer, first_pos + r, key, value);
    }
  }

  // Scale 1.0: the q/k norm weights carry the temperature.
  const int window = lc.sliding_window;
  std::vector<AttentionItem>& items = ws->attention_items;
  items.clear();
  size_t split_floats = 0, longest = 0, keys = 0;
  for (int r = 0; r < rows; ++r) {
    const int pos = first_pos + r, first_key = window > 0 ? std::max(0, pos - window + 1) : 0;
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
  pthreadpool_t pool = macs >= kMinParallelMacs ? pool_ : nullptr;
  const size_t tasks = std::min(items.size(), pool ? pthreadpool_get_threads_count(pool) : size_t{1});
  const size_t scores_per_task = static_cast<size_t>(group) * longest;
  AttentionJob job{kv, lc.kv_source, group, d, q, Grow(ws->attn, static_cast<size_t>(rows) * q_dim),
                   Grow(ws->attention_spans, split_floats), Grow(ws->attention_stats, items.size() * 2 * group),
                   Grow(ws->scores, tasks * scores_per_task), scores_per_task, items.data(), items.size(), tasks};
  pthreadpool_parallelize_1d(pool, AttendItems, &job, tasks, 0);
  MergeAttentionSpans(job);
}

Status Gemma4Model::Forward(const int* tokens, int count, LogitsMode mode, KvCache* kv, Workspace* ws, float* logits,
                            ForwardObserver* observer) const {
  const ModelConfig& c = config();
  if (count <= 0) return InvalidArgument("no tokens to process");
  if (count > kv->max_chunk()) return InvalidArgument("chunk larger than the session's prefill chunk");
  const int pos0 = kv->length();
  if (count > kv->context_length() - pos0)
    return Status(StatusCode::kContextFull, "context full: " + std::to_string(pos0) + " + " + std::to_string(count) +
                                                " tokens exceed the context length " + std::to_string(kv->context_length()));
  for (int t = 0; t < count; ++t) {
    const int limit = c.ple_dim > 0 ? std::min(c.vocab_size, c.ple_vocab_size) : c.vocab_size;
    if (tokens[t] < 0 || tokens[t] >= limit)
      return OutOfRange("token id " + std::to_string(tokens[t]) + " outside the vocabulary [0, " + std::to_string(limit) + ")");
  }
  const int H = c.hidden_size, L = c.num_layers(), P = c.ple_dim;
  const float eps = c.rms_norm_eps;

  float* x = Grow(ws->x, static_cast<size_t>(count) * H);
  for (int t = 0; t < count; ++t) {
    float* row = x + static_cast<size_t>(t) * H;
    DequantizeRow(*embed_, tokens[t], row);
    for (int i = 0; i < H; ++i) row[i] *= c.embed_scale;
  }
  if (observer) observer->OnHidden(0, x, count);

  // Per-layer inputs: context part from the scaled embedding, token part from the table row.
  float* pli = nullptr;
  if (P > 0) {
    const size_t width = static_cast<size_t>(L) * P;
    pli = Grow(ws->pli, count * width);
    if (observer) observer->OnLinearInput(*ple_projection_, x, count);
    Linear(*ple_projection_, x, count, pli, &ws->linear, pool_);
    float* table_row = Grow(ws->ple, width);
    const float proj_scale = 1.0f / std::sqrt(static_cast<float>(H));
    const float table_scale = std::sqrt(static_cast<float>(P));
    for (int t = 0; t < count; ++t) {
      DequantizeRow(*ple_table_, tokens[t], table_row);
      for (int l = 0; l < L; ++l) {
        float* slice = pli + t * width + static_cast<size_t>(l) * P;
        for (int i = 0; i < P; ++i) slice[i] *= proj_scale;
        RmsNorm(slice, F32(ple_projection_norm_), P, eps, slice);
        for (int i = 0; i < P; ++i) slice[i] = (slice[i] + table_row[l * P + i] * table_scale) * kSqrtHalf;
      }
    }
    if (observer) observer->OnPleInputs(pli, count);
  }

  int rows = count, first_row = 0;
  auto linear = [&](const TensorView* w, const float* in, float* out) {
    if (observer) observer->OnLinearInput(*w, in, rows);
    Linear(*w, in, rows, out, &ws->linear, pool_);
  };
  for (int i = 0; i < L; ++i) {
    const LayerWeights& lw = layers_[i];
    const LayerConfig& lc = c.layers[i];
    if (!c.owns_kv(i) && mode != LogitsMode::kAll && rows > 1) {
      // KV-sharing layers write no cache: only the last token's output can still matter.
      std::memmove(x, x + static_cast<size_t>(rows - 1) * H, H * sizeof(float));
      first_row += rows - 1;
      rows = 1;
    }
    if (!c.owns_kv(i) && mode == LogitsMode::kNone) break;  // nothing left that writes the cache
    float* normed = Grow(ws->normed, static_cast<size_t>(rows) * H);
    RmsNormRows(x, lw.input_norm, rows, H, eps, normed);
    if (observer) {
      observer->OnLinearInput(*lw.q_proj, normed, rows);
      if (lw.k_proj) {
        observer->OnLinearInput(*lw.k_proj, normed, rows);
        observer->OnLinearInput(*lw.v_proj, normed, rows);
      }
    }
    Attention(i, rows, pos0 + first_row, kv, ws);
    float* branch = Grow(ws->branch, static_cast<size_t>(rows) * H);
    linear(lw.o_proj, ws->attn.data(), branch);
    if (observer) observer->OnAttentionOutput(i, branch, rows);
    RmsNormRows(branch, lw.post_attention_norm, rows, H, eps, branch);
    for (size_t e = 0; e < static_cast<size_t>(rows) * H; ++e) x[e] += branch[e];

    const int I = lc.intermediate_size;
    RmsNormRows(x, lw.pre_ffn_norm, rows, H, eps, normed);
    float* gate = Grow(ws->gate, static_cast<size_t>(rows) * I);
    float* up = Grow(ws->up, static_cast<size_t>(rows) * I);
    linear(lw.gate_proj, normed, gate);
    linear(lw.up_proj, normed, up);
    GeluTanhMul(gate, up, static_cast<size_t>(rows) * I, gate);
    linear(lw.down_proj, gate, branch);
    if (observer) observer->OnMlpOutput(i, branch, rows);
    RmsNormRows(branch, lw.post_ffn_norm, rows, H, eps, branch);
    for (size_t e = 0; e < static_cast<size_t>(rows) * H; ++e) x[e] += branch[e];

    if (P > 0) {
      float* g = Grow(ws->ple, static_cast<size_t>(rows) * P);
      linear(lw.ple_gate, x, g);
      for (int r = 0; r < rows; ++r)
        GeluTanhMul(g + r * P, pli + (static_cast<size_t>(first_row + r) * L + i) * P, static_cast<size_t>(P), g + r * P);
      linear(lw.ple_projection, g, branch);
      RmsNormRows(branch, lw.post_ple_norm, rows, H, eps, branch);
      for (size_t e = 0; e < static_cast<size_t>(rows) * H; ++e) x[e] += branch[e];
    }
    const float scalar = F32(lw.layer_scalar)[0];
    for (size_t e = 0; e < static_cast<size_t>(rows) * H; ++e) x[e] *= scalar;
    if (observer) observer->OnHidden(i + 1, x, rows);
  }
  kv->set_length(pos0 + count);
  if (mode == LogitsMode::kNone) return Status::Ok();

  const int out_rows = mode == LogitsMode::kAll ? rows : 1;
  const float* last = x + static_cast<size_t>(rows - out_rows) * H;
  float* head_in = Grow(ws->head_in, static_cast<size_t>(out_rows) * H);
  RmsNormRows(last, final_norm_, out_rows, H, eps, head_in);
  if (observer) observer->OnHidden(L + 1, head_in, out_rows);
  Linear(*embed_, head_in, out_rows, logits, &ws->linear, pool_);
  const float cap = c.final_logit_softcap;
  if (cap > 0.0f) SoftCap(logits, static_cast<size_t>(out_rows) * c.vocab_size, cap);
  return Status::Ok();
}

}  // namespace edgelm
