// llama.cpp GGUF files of Gemma 4 (arch "gemma4") -> ImportedModel. The architecture comes from the
// gemma4.* keys (array-or-scalar per-layer values, true = sliding, KV sharing derived as llama.cpp does,
// partial RoPE from the rope_freqs tensor), the tensors are renamed to the manifest and their bytes
// copied exactly as stored: F32/F16/BF16 and the Q4_0, Q8_0 and Q6_K blocks (the .edgelm layouts are
// GGUF's), so decoded weights are bit-identical to ggml's. Other ggml types are refused by name.
// Facts: ../shared/docs/gguf_and_published_artifacts.md, sections B.1-B.7.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include "convert/gguf_reader.h"
#include "convert/importer.h"
#include "convert/tokenizer_import.h"
#include "model/gemma4_tensors.h"

namespace edgelm {
namespace {

const char kArch[] = "gemma4.";

// Typed, range-checked reads of metadata; messages name the key.
class Keys {
 public:
  explicit Keys(const GgufFile& f) : f_(f) {}

  bool Has(const std::string& key) const { return f_.Find(key) != nullptr; }

  // A scalar integer in [lo, hi]; `fallback` when absent (nullptr: the key is required).
  Status Int(const std::string& key, int64_t lo, int64_t hi, const int64_t* fallback, int64_t* out) const {
    const GgufValue* v = f_.Find(key);
    if (!v) {
      if (!fallback) return CorruptModel("missing metadata '" + key + "'");
      *out = *fallback;
      return Status::Ok();
    }
    if (v->is_array() || !v->is_integer()) return CorruptModel("metadata '" + key + "' is not an integer");
    return InRange(key, v->integer, lo, hi, out);
  }
  Status Int(const std::string& key, int64_t lo, int64_t hi, int64_t* out) const { return Int(key, lo, hi, nullptr, out); }
  Status IntOr(const std::string& key, int64_t lo, int64_t hi, int64_t fallback, int64_t* out) const {
    return Int(key, lo, hi, &fallback, out);
  }

  Status RealOr(const std::string& key, double fallback, double* out) const {
    const GgufValue* v = f_.Find(key);
    if (!v) {
      *out = fallback;
      return Status::Ok();
    }
    if (v->is_array() || (!v->is_real() && !v->is_integer())) return CorruptModel("metadata '" + key + "' is not a number");
    *out = v->is_real() ? v->real : static_cast<double>(v->integer);
    if (!std::isfinite(*out)) return CorruptModel("metadata '" + key + "' is not finite");
    return Status::Ok();
  }

  Status String(const std::string& key, std::string* out) const {
    const GgufValue* v = f_.Find(key);
    if (!v) return CorruptModel("missing metadata '" + key + "'");
    if (v->type != GgufType::kString) return CorruptModel("metadata '" + key + "' is not a string");
    *out = v->text;
    return Status::Ok();
  }

  // One integer (or bool) per layer: an array of `layers` values, or a scalar that applies to all.
  Status PerLayer(const std::string& key, int layers, int64_t lo, int64_t hi, std::vector<int>* out) const {
    const GgufValue* v = f_.Find(key);
    if (!v) return CorruptModel("missing metadata '" + key + "'");
    if (!v->is_integer()) return CorruptModel("metadata '" + key + "' is not an integer or an integer array");
    std::vector<int64_t> values = v->is_array() ? v->integers : std::vector<int64_t>(layers, v->integer);
    if (static_cast<int>(values.size()) != layers)
      return CorruptModel("metadata '" + key + "' has " + std::to_string(values.size()) + " entries for " +
                          std::to_string(layers) + " layers");
    out->clear();
    for (int64_t value : values) {
      int64_t checked;
      EDGELM_RETURN_IF_ERROR(InRange(key, value, lo, hi, &checked));
      out->push_back(static_cast<int>(checked));
    }
    return Status::Ok();
  }

 private:
  static Status InRange(const std::string& key, int64_t value, int64_t lo, int64_t hi, int64_t* out) {
    if (value < lo || value > hi)
      return CorruptModel("metadata '" + key + "' = " + std::to_string(value) + " is outside [" + std::to_string(lo) +
                          ", " + std::to_string(hi) + "]");
    *out = value;
    return Status::Ok();
  }

  const GgufFile& f_;
};

constexpr int64_t kMaxDim = int64_t{1} << 24;  // widths, counts and windows: generous, and int-safe in products

// Partial RoPE of full-attention layers, which GGUF encodes only in rope_freqs (hd_full / 2 frequency
// divisors): a prefix of 1.0 (rotate) then 1e30 (no rotation) is HF's "proportional" RoPE with factor
// 2 * prefix / hd_full; no tensor means every pair rotates.
Status FullLayerRope(const GgufFile& f, int head_dim, double theta, RopeConfig* rope) {
  rope->type = RopeType::Default;
  rope->theta = theta;
  rope->partial_rotary_factor = 1.0f;
  const GgufTensor* t = f.FindTensor("rope_freqs.weight");
  if (!t) return Status::Ok();
  if (t->type != 0 || t->ne.size() != 1 || t->ne[0] != head_dim / 2)
    return CorruptModel("rope_freqs.weight must be F32 {" + std::to_string(head_dim / 2) + "} (half the full head dim)");
  std::vector<float> divisors(static_cast<size_t>(t->ne[0]));
  std::memcpy(divisors.data(), t->data, divisors.size() * sizeof(float));
  size_t rotated = 0;
  while (rotated < divisors.size() && divisors[rotated] == 1.0f) ++rotated;
  for (size_t j = rotated; j < divisors.size(); ++j)
    if (!(divisors[j] >= 1e29f))
      return Unsupported("rope_freqs.weight[" + std::to_string(j) + "] = " + std::to_string(divisors[j]) +
                         ": only a prefix of 1.0 followed by 1e30 (proportional partial RoPE) is supported");
  if (rotated == divisors.size()) return Status::Ok();
  rope->type = RopeType::Proportional;
  rope->partial_rotary_factor = static_cast<float>(2.0 * static_cast<double>(rotated) / head_dim);
  // The graph rotates floor(factor * head_dim / 2) pairs: that must be the count the file gives.
  if (static_cast<size_t>(std::floor(rope->partial_rotary_factor * head_dim / 2.0f)) != rotated)
    return Unsupported("rope_freqs.weight rotates " + std::to_string(rotated) + " of " + std::to_string(head_dim / 2) +
                       " pairs, which a float partial rotary factor cannot express");
  return Status::Ok();
}

// The number of rows of a 2-D tensor (ggml ne[1]), or an error naming it.
Status TableRows(const GgufFile& f, const std::string& name, int64_t* rows) {
  const GgufTensor* t = f.FindTensor(name);
  if (!t) return CorruptModel("missing tensor '" + name + "'");
  if (t->ne.size() != 2 || t->ne[1] > kMaxDim) return CorruptModel("tensor '" + name + "' is not a table of at most 2^24 rows");
  *rows = t->ne[1];
  return Status::Ok();
}

Status BuildConfig(const GgufFile& f, ModelConfig* out) {
  const Keys keys(f);
  const std::string a = kArch;
  if (keys.Has(a + "expert_count") || keys.Has(a + "expert_feed_forward_length"))
    return Unsupported("mixture-of-experts Gemma 4 (expert layers) is not supported");
  ModelConfig c;
  int64_t L, H, P, ctx, hd_full, hd_swa, v_full, v_swa, window, shared, rot_full, rot_swa, vocab, ple_vocab = 0;
  EDGELM_RETURN_IF_ERROR(keys.Int(a + "block_count", 1, 1024, &L));
  EDGELM_RETURN_IF_ERROR(keys.Int(a + "embedding_length", 1, kMaxDim, &H));
  EDGELM_RETURN_IF_ERROR(keys.IntOr(a + "embedding_length_per_layer_input", 0, kMaxDim, 0, &P));
  EDGELM_RETURN_IF_ERROR(keys.IntOr(a + "context_length", 1, INT32_MAX, 131072, &ctx));
  EDGELM_RETURN_IF_ERROR(keys.Int(a + "attention.key_length", 2, kMaxDim, &hd_full));
  EDGELM_RETURN_IF_ERROR(keys.Int(a + "attention.key_length_swa", 2, kMaxDim, &hd_swa));
  EDGELM_RETURN_IF_ERROR(keys.IntOr(a + "attention.value_length", 0, kMaxDim, hd_full, &v_full));
  EDGELM_RETURN_IF_ERROR(keys.IntOr(a + "attention.value_length_swa", 0, kMaxDim, hd_swa, &v_swa));
  if (v_full != hd_full || v_swa != hd_swa) return Unsupported("value head dims differ from key head dims");
  EDGELM_RETURN_IF_ERROR(keys.IntOr(a + "rope.dimension_count", 0, kMaxDim, hd_full, &rot_full));
  EDGELM_RETURN_IF_ERROR(keys.IntOr(a + "rope.dimension_count_swa", 0, kMaxDim, hd_swa, &rot_swa));
  if (rot_full != hd_full || rot_swa != hd_swa)
    return Unsupported("rope.dimension_count differs from the head dim (partial RoPE is read from rope_freqs only)");
  EDGELM_RETURN_IF_ERROR(keys.Int(a + "attention.sliding_window", 0, kMaxDim, &window));
  EDGELM_RETURN_IF_ERROR(keys.IntOr(a + "attention.shared_kv_layers", 0, L - 1, 0, &shared));
  double eps, softcap, theta_full, theta_swa;
  EDGELM_RETURN_IF_ERROR(keys.RealOr(a + "attention.layer_norm_rms_epsilon", 1e-6, &eps));
  EDGELM_RETURN_IF_ERROR(keys.RealOr(a + "final_logit_softcapping", 0.0, &softcap));
  EDGELM_RETURN_IF_ERROR(keys.RealOr(a + "rope.freq_base", 1e6, &theta_full));
  EDGELM_RETURN_IF_ERROR(keys.RealOr(a + "rope.freq_base_swa", 1e4, &theta_swa));
  const int layers = static_cast<int>(L);
  std::vector<int> heads, kv_heads, widths, sliding;
  EDGELM_RETURN_IF_ERROR(keys.PerLayer(a + "attention.head_count", layers, 1, 4096, &heads));
  for (int h : heads)
    if (h != heads.front()) return Unsupported("attention.head_count differs between layers");
  EDGELM_RETURN_IF_ERROR(keys.PerLayer(a + "attention.head_count_kv", layers, 1, 4096, &kv_heads));
  EDGELM_RETURN_IF_ERROR(keys.PerLayer(a + "feed_forward_length", layers, 1, kMaxDim, &widths));
  EDGELM_RETURN_IF_ERROR(keys.PerLayer(a + "attention.sliding_window_pattern", layers, 0, 1, &sliding));
  EDGELM_RETURN_IF_ERROR(TableRows(f, "token_embd.weight", &vocab));
  if (P > 0) EDGELM_RETURN_IF_ERROR(TableRows(f, "per_layer_token_embd.weight", &ple_vocab));

  c.vocab_size = static_cast<int>(vocab);
  c.hidden_size = static_cast<int>(H);
  c.num_heads = heads.front();
  c.ple_dim = static_cast<int>(P);
  c.ple_vocab_size = static_cast<int>(ple_vocab);
  c.rms_norm_eps = static_cast<float>(eps);
  c.final_logit_softcap = static_cast<float>(softcap);
  c.embed_scale = static_cast<float>(std::sqrt(static_cast<double>(H)));  // as hf_config.cc
  c.max_position_embeddings = static_cast<int>(ctx);
  c.tie_word_embeddings = f.FindTensor("output.weight") == nullptr;

  RopeConfig full_rope, sliding_rope;
  EDGELM_RETURN_IF_ERROR(FullLayerRope(f, static_cast<int>(hd_full), theta_full, &full_rope));
  sliding_rope.theta = theta_swa;
  // Layers >= L - shared read the KV cache of the last earlier layer of their attention type (llama.cpp
  // takes n_kv_start - 1 / - 2, which is the same layer for Gemma 4's layouts).
  const int first_shared = layers - static_cast<int>(shared);
  for (int i = 0; i < layers; ++i) {
    LayerConfig l;
    const bool is_sliding = sliding[i] != 0;
    l.attention = is_sliding ? AttentionType::Sliding : AttentionType::Full;
    l.head_dim = static_cast<int>(is_sliding ? hd_swa : hd_full);
    l.num_kv_heads = kv_heads[i];
    l.intermediate_size = widths[i];
    l.sliding_window = is_sliding ? static_cast<int>(window) : 0;
    l.rope = is_sliding ? sliding_rope : full_rope;
    l.kv_source = i;
    if (i >= first_shared) {
      l.kv_source = -1;
      for (int j = first_shared - 1; j >= 0 && l.kv_source < 0; --j)
        if ((sliding[j] != 0) == is_sliding) l.kv_source = j;
      if (l.kv_source < 0) return CorruptModel("KV-shared layer " + std::to_string(i) + " has no earlier layer of its type");
    }
    c.layers.push_back(l);
  }
  EDGELM_RETURN_IF_ERROR(c.Validate());
  *out = std::move(c);
  return Status::Ok();
}

// Manifest names (HF names without "model.") and their GGUF names (B.3).
struct NamePair {
  const char* ours;
  const char* gguf;
};
constexpr NamePair kModelNames[] = {
    {"embed_tokens.weight", "token_embd.weight"},
    {"embed_tokens_per_layer.weight", "per_layer_token_embd.weight"},
    {"per_layer_model_projection.weight", "per_layer_model_proj.weight"},
    {"per_layer_projection_norm.weight", "per_layer_proj_norm.weight"},
    {"norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};
constexpr NamePair kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"post_attention_layernorm.weight", "post_attention_norm.weight"},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"per_layer_input_gate.weight", "inp_gate.weight"},
    {"per_layer_projection.weight", "proj.weight"},
    {"post_per_layer_input_norm.weight", "post_norm.weight"},
    {"layer_scalar", "layer_output_scale.weight"},
};

std::string GgufName(const TensorInfo& info) {
  if (info.layer < 0) {
    for (const NamePair& n : kModelNames)
      if (info.name == n.ours) return n.gguf;
  } else {
    const std::string prefix = "layers." + std::to_string(info.layer) + ".";
    for (const NamePair& n : kLayerNames)
      if (info.name == prefix + n.ours) return "blk." + std::to_string(info.layer) + "." + n.gguf;
  }
  return "";  // unreachable for manifest names: the tables cover Gemma4TensorManifest
}

// ggml types kept as stored, and their .edgelm dtypes.
bool DTypeOf(uint32_t ggml_type, DType* out) {
  switch (ggml_type) {
    case 0: *out = DType::F32; return true;
    case 1: *out = DType::F16; return true;
    case 2: *out = DType::Q4_0; return true;
    case 8: *out = DType::Q8_0; return true;
    case 14: *out = DType::Q6_K; return true;
    case 30: *out = DType::BF16; return true;
    default: return false;
  }
}

std::string GgmlShape(const std::vector<int64_t>& ne) {
  std::string s = "{";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "}";
}

// The spec of one manifest tensor whose bytes are `t`'s, after checking its shape and type.
Status CopySpec(const GgufTensor& t, const TensorInfo& info, TensorSpec* spec) {
  std::vector<int64_t> ne = t.ne;
  while (ne.size() > info.shape.size() && ne.back() == 1) ne.pop_back();  // ggml pads shapes with 1s
  const std::vector<int64_t> shape(ne.rbegin(), ne.rend());                // {ne0, ne1} -> [ne1, ne0]
  if (shape != info.shape) {
    const std::vector<int64_t> want(info.shape.rbegin(), info.shape.rend());
    return CorruptModel("tensor '" + t.name + "' has ggml shape " + GgmlShape(t.ne) + ", the config gives " +
                        GgmlShape(want) + " (" + info.name + ")");
  }
  DType dtype;
  if (!DTypeOf(t.type, &dtype))
    return Unsupported("tensor '" + t.name + "' has ggml type " + GgmlTypeName(t.type) +
                       "; edgelm keeps F32, F16, BF16, Q4_0, Q8_0 and Q6_K as stored (re-quantize the GGUF to one of those)");
  if (info.role == TensorRole::kNorm && dtype != DType::F32)
    return Unsupported("norm tensor '" + t.name + "' is " + GgmlTypeName(t.type) + "; edgelm needs norms in F32");
  uint64_t row_bytes = 0, total = 0;
  EDGELM_RETURN_IF_ERROR(RowBytes(dtype, info.shape.back(), &row_bytes));
  EDGELM_RETURN_IF_ERROR(TensorBytes(dtype, info.shape, &total));
  if (total != t.size) return CorruptModel("tensor '" + t.name + "': size differs from its shape");  // same layouts
  spec->name = info.name;
  spec->shape = info.shape;
  spec->dtype = dtype;
  const uint8_t* data = t.data;
  spec->fill = [data, row_bytes](int64_t begin, int64_t end, uint8_t* out, float*) {
    std::memcpy(out, data + static_cast<uint64_t>(begin) * row_bytes, static_cast<uint64_t>(end - begin) * row_bytes);
    return Status::Ok();
  };
  return Status::Ok();
}

// A layer without layer_output_scale (optional in GGUF) scales by 1.
TensorSpec UnitLayerScalar(const TensorInfo& info) {
  TensorSpec spec;
  spec.name = info.name;
  spec.shape = info.shape;
  spec.dtype = DType::F32;
  spec.fill = [](int64_t, int64_t, uint8_t* out, float*) {
    const float one = 1.0f;
    std::memcpy(out, &one, sizeof one);
    return Status::Ok();
  };
  return spec;
}

Status BuildSpecs(const GgufFile& f, const ModelConfig& c, std::vector<TensorSpec>* specs,
                  std::map<std::string, int>* type_counts) {
  std::set<std::string> used = {"rope_freqs.weight"};  // read into the config
  for (const TensorInfo& info : Gemma4TensorManifest(c)) {
    const std::string name = GgufName(info);
    const GgufTensor* t = f.FindTensor(name);
    if (!t && info.slot == TensorSlot::kLayerScalar) {
      specs->push_back(UnitLayerScalar(info));
      continue;
    }
    if (!t) return CorruptModel("missing tensor '" + name + "' (" + info.name + ")");
    TensorSpec spec;
    EDGELM_RETURN_IF_ERROR(CopySpec(*t, info, &spec));
    specs->push_back(std::move(spec));
    ++(*type_counts)[GgmlTypeName(t->type)];
    used.insert(name);
  }
  // KV-sharing layers may still carry K/V projections that nothing reads (B.7); anything else unknown
  // would be a part of the model this graph does not run.
  for (const GgufTensor& t : f.tensors()) {
    if (used.count(t.name)) continue;
    bool unused_kv = false;
    for (int i = 0; i < c.num_layers() && !unused_kv; ++i)
      if (!c.owns_kv(i))
        for (const char* kv : {"attn_k.weight", "attn_v.weight", "attn_k_norm.weight"})
          unused_kv |= t.name == "blk." + std::to_string(i) + "." + kv;
    if (!unused_kv) return Unsupported("tensor '" + t.name + "' has no place in edgelm's Gemma 4 graph");
  }
  return Status::Ok();
}

// tokenizer.ggml.token_type values (llama.cpp's token types) as piece types.
bool PieceTypeOf(int64_t type, PieceType* out) {
  switch (type) {
    case 1: *out = PieceType::Normal; return true;
    case 2: *out = PieceType::Unknown; return true;
    case 3: *out = PieceType::Control; return true;
    case 4: *out = PieceType::UserDefined; return true;
    case 5: *out = PieceType::Unused; return true;
    case 6: *out = PieceType::Byte; return true;
    default: return false;
  }
}

Status BuildTokenizer(const GgufFile& f, int vocab_size, TokenizerData* out) {
  const Keys keys(f);
  std::string model;
  EDGELM_RETURN_IF_ERROR(keys.String("tokenizer.ggml.model", &model));
  if (model != "gemma4") return Unsupported("tokenizer.ggml.model '" + model + "' (Gemma 4's is 'gemma4', a BPE)");
  const GgufValue* tokens = f.Find("tokenizer.ggml.tokens");
  if (!tokens || !tokens->is_array() || tokens->element_type != GgufType::kString)
    return CorruptModel("tokenizer.ggml.tokens is missing or not a string array");
  if (static_cast<int64_t>(tokens->texts.size()) != vocab_size)
    return CorruptModel("tokenizer.ggml.tokens has " + std::to_string(tokens->texts.size()) + " pieces, token_embd " +
                        std::to_string(vocab_size) + " rows");
  TokenizerData data;
  data.pieces = tokens->texts;
  data.types.assign(data.pieces.size(), PieceType::Normal);
  if (const GgufValue* types = f.Find("tokenizer.ggml.token_type")) {
    if (!types->is_array() || !types->is_integer() || types->integers.size() != data.pieces.size())
      return CorruptModel("tokenizer.ggml.token_type is not an integer array parallel to the tokens");
    for (size_t i = 0; i < data.types.size(); ++i)
      if (!PieceTypeOf(types->integers[i], &data.types[i]))
        return CorruptModel("tokenizer.ggml.token_type[" + std::to_string(i) + "] = " + std::to_string(types->integers[i]));
  }
  std::unordered_map<std::string, int> ids;
  ids.reserve(data.pieces.size());
  for (size_t i = 0; i < data.pieces.size(); ++i) ids.emplace(data.pieces[i], static_cast<int>(i));
  if (const GgufValue* merges = f.Find("tokenizer.ggml.merges")) {
    if (!merges->is_array() || merges->element_type != GgufType::kString)
      return CorruptModel("tokenizer.ggml.merges is not a string array");
    data.merges.reserve(merges->texts.size());
    for (const std::string& merge : merges->texts) {
      // "left right", split at the first space after the first character (a piece may be a lone space).
      const size_t space = merge.find(' ', 1);
      if (space == std::string::npos) return CorruptModel("tokenizer.ggml.merges: no space in '" + merge + "'");
      // Merges are stored as id pairs; one of pieces outside the vocabulary (small test vocabularies
      // have them) has no id pair and is left out.
      const auto left = ids.find(merge.substr(0, space)), right = ids.find(merge.substr(space + 1));
      if (left != ids.end() && right != ids.end()) data.merges.emplace_back(left->second, right->second);
    }
  }
  // Byte fallback needs all 256 pieces <0x00>..<0xFF> in a row; a vocabulary without them has none.
  const auto byte0 = ids.find("<0x00>");
  bool all_bytes = byte0 != ids.end() && byte0->second + 256 <= static_cast<int>(data.pieces.size());
  for (int b = 0; all_bytes && b < 256; ++b) {
    char piece[8];
    std::snprintf(piece, sizeof piece, "<0x%02X>", b);
    all_bytes = data.pieces[byte0->second + b] == piece;
  }
  if (all_bytes) data.byte_fallback_base = byte0->second;
  const int64_t n = static_cast<int64_t>(data.pieces.size()) - 1;
  int64_t bos, eos, pad, unk, add_bos;
  EDGELM_RETURN_IF_ERROR(keys.IntOr("tokenizer.ggml.bos_token_id", -1, n, -1, &bos));
  EDGELM_RETURN_IF_ERROR(keys.IntOr("tokenizer.ggml.eos_token_id", -1, n, -1, &eos));
  EDGELM_RETURN_IF_ERROR(keys.IntOr("tokenizer.ggml.padding_token_id", -1, n, -1, &pad));
  EDGELM_RETURN_IF_ERROR(keys.IntOr("tokenizer.ggml.unknown_token_id", -1, n, -1, &unk));
  EDGELM_RETURN_IF_ERROR(keys.IntOr("tokenizer.ggml.add_bos_token", 0, 1, 1, &add_bos));
  data.bos_id = static_cast<int>(bos);
  data.eos_id = static_cast<int>(eos);
  data.pad_id = static_cast<int>(pad);
  data.unk_id = static_cast<int>(unk);
  data.add_bos = add_bos != 0;
  if (eos >= 0) data.stop_ids = {data.eos_id};
  // With the turn markers in the vocabulary: Gemma 4 chat (built-in template), stop on <eos> and <turn|>.
  if (ids.count("<|turn>") && ids.count("<turn|>")) {
    ConfigTokenIds config;
    config.bos_id = data.bos_id;
    config.pad_id = data.pad_id;
    if (eos >= 0) config.eos_ids = {data.eos_id};
    EDGELM_RETURN_IF_ERROR(ApplyGemma4TurnTokens(config, &data));
  }
  const Status s = data.Validate();
  if (!s.ok()) return Status(s.code(), "tokenizer: " + s.message());
  *out = std::move(data);
  return Status::Ok();
}

// llama.cpp's file types (general.file_type), for the recipe name.
std::string FileTypeName(const GgufFile& f) {
  const GgufValue* v = f.Find("general.file_type");
  if (!v || v->is_array() || !v->is_integer()) return "unknown";
  static const std::map<int64_t, const char*> kNames = {
      {0, "f32"},     {1, "f16"},     {2, "q4_0"},    {3, "q4_1"},    {7, "q8_0"},    {8, "q5_0"},
      {9, "q5_1"},    {10, "q2_k"},   {11, "q3_k_s"}, {12, "q3_k_m"}, {13, "q3_k_l"}, {14, "q4_k_s"},
      {15, "q4_k_m"}, {16, "q5_k_s"}, {17, "q5_k_m"}, {18, "q6_k"},   {32, "bf16"}};
  const auto it = kNames.find(v->integer);
  return it == kNames.end() ? "file_type_" + std::to_string(v->integer) : it->second;
}

Status Import(const GgufFile& f, ImportedModel* out) {
  std::string arch;
  EDGELM_RETURN_IF_ERROR(Keys(f).String("general.architecture", &arch));
  if (arch != "gemma4") return Unsupported("general.architecture is '" + arch + "'; only 'gemma4' is imported");
  EDGELM_RETURN_IF_ERROR(BuildConfig(f, &out->meta.config));
  std::map<std::string, int> type_counts;
  EDGELM_RETURN_IF_ERROR(BuildSpecs(f, out->meta.config, &out->specs, &type_counts));
  EDGELM_RETURN_IF_ERROR(BuildTokenizer(f, out->meta.config.vocab_size, &out->tokenizer));
  out->meta.recipe = "gguf:" + FileTypeName(f);
  std::string types;
  for (const auto& [type, count] : type_counts) types += (types.empty() ? "" : ", ") + std::to_string(count) + " " + type;
  out->meta.recipe_description = "llama.cpp GGUF v" + std::to_string(f.version()) + " (file_type " + FileTypeName(f) +
                                 "), blocks kept as stored; tensors: " + types;
  return Status::Ok();
}

}  // namespace

Status ImportGguf(const std::string& path, const ImportOptions& options, ImportedModel* out) {
  if (!options.hf_config.empty())
    return InvalidArgument(path + ": --config does not apply to GGUF files, which record every fact of the architecture");
  std::unique_ptr<GgufFile> file;
  EDGELM_RETURN_IF_ERROR(GgufFile::Open(path, &file));
  const Status s = Import(*file, out);
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  out->keep_alive.push_back(std::shared_ptr<const GgufFile>(std::move(file)));  // the specs read its mapping
  return Status::Ok();
}

}  // namespace edgelm
