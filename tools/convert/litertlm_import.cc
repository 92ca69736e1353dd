// Google's published Gemma 4 mobile bundle (.litertlm) -> .edgelm. Three TFLite sections hold the
// text model: tf_lite_prefill_decode (decoder, LM head, activation and KV scales; read from its
// `decode` signature), tf_lite_embedder (token table) and tf_lite_per_layer_embedder (one PLE table
// per layer). Weights are mapped by Google's names and checked by shape and by what consumes them;
// codes and scales are copied bit for bit. Facts: ../shared/docs/published_mobile_format.md §1-3, §5.
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "convert/hf_config.h"
#include "convert/importer.h"
#include "convert/litertlm_reader.h"
#include "convert/tflite_reader.h"
#include "convert/tokenizer_import.h"
#include "model/gemma4_tensors.h"

namespace edgelm {
namespace {

namespace fb = tflite::fb;
using litertlm::Bundle;
using litertlm::Section;
using litertlm::SectionType;

constexpr char kDecoderType[] = "tf_lite_prefill_decode";
constexpr char kEmbedderType[] = "tf_lite_embedder";
constexpr char kPleEmbedderType[] = "tf_lite_per_layer_embedder";
constexpr uint64_t kMaxTokenizerJsonBytes = 1ull << 30;  // LiteRT-LM's own cap

// Gemma 4's published values for facts a graph does not record (masks are inputs; RoPE tables are
// computed in the graph): window 512, theta 10k local / 1M global, partial rotary 0.25 on global layers.
constexpr int kDefaultSlidingWindow = 512;
constexpr double kDefaultLocalTheta = 1e4;
constexpr double kDefaultGlobalTheta = 1e6;
constexpr float kDefaultGlobalPartialRotary = 0.25f;
constexpr float kDefaultRmsNormEps = 1e-6f;

// Google's FC weight names (§3.2) -> manifest names (per layer: after "layers.L.").
struct FcName {
  const char* substring;
  const char* manifest;
  bool per_layer;
};
constexpr FcName kFcNames[] = {
    {"per_layer_model_projection/", "per_layer_model_projection.weight", false},
    {"decode_softmax/", "lm_head.weight", false},
    {"/q_einsum/", "self_attn.q_proj.weight", true},
    {"/k_einsum/", "self_attn.k_proj.weight", true},
    {"/v_einsum/", "self_attn.v_proj.weight", true},
    {"/attn_vec_einsum/", "self_attn.o_proj.weight", true},
    {"/gating_einsum1/", "mlp.gate_proj.weight", true},
    {"/gating_einsum2/", "mlp.up_proj.weight", true},
    {"/mlp/linear/", "mlp.down_proj.weight", true},
    {"/per_layer_embedding_gate/", "per_layer_input_gate.weight", true},
    {"/per_layer_embedding_projection/", "per_layer_projection.weight", true},
};

// odml.rms_norm roles: the second-to-last component of the output name (§3.4) -> manifest name.
struct NormName {
  const char* role;
  const char* manifest;
};
constexpr NormName kNormNames[] = {
    {"pre_attention_norm", "input_layernorm.weight"},
    {"query_norm", "self_attn.q_norm.weight"},
    {"key_norm", "self_attn.k_norm.weight"},
    {"post_attention_norm", "post_attention_layernorm.weight"},
    {"pre_ffw_norm", "pre_feedforward_layernorm.weight"},
    {"post_ffw_norm", "post_feedforward_layernorm.weight"},
    {"post_per_layer_input_norm", "post_per_layer_input_norm.weight"},
};

bool Contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// L of ".../layer_L/..." or -1.
int LayerOf(std::string_view name) {
  for (size_t at = name.find("layer_"); at != std::string_view::npos; at = name.find("layer_", at + 1)) {
    if (at > 0 && name[at - 1] != '/') continue;
    size_t i = at + 6;
    int layer = 0, digits = 0;
    for (; i < name.size() && name[i] >= '0' && name[i] <= '9' && digits < 6; ++i, ++digits) layer = layer * 10 + (name[i] - '0');
    if (digits > 0 && i < name.size() && name[i] == '/') return layer;
  }
  return -1;
}

// Cache kind ('k'/'v') and number of a name containing "kv_cache_k_<n>" / "kv_cache_v_<n>".
bool ParseCacheName(std::string_view name, char* kind, int* number) {
  const size_t at = name.find("kv_cache_");
  if (at == std::string_view::npos || at + 11 >= name.size()) return false;
  *kind = name[at + 9];
  if ((*kind != 'k' && *kind != 'v') || name[at + 10] != '_') return false;
  int n = 0, digits = 0;
  for (size_t i = at + 11; i < name.size() && name[i] >= '0' && name[i] <= '9' && digits < 6; ++i, ++digits) n = n * 10 + (name[i] - '0');
  *number = n;
  return digits > 0;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string LayerName(int layer, const char* suffix) { return "layers." + std::to_string(layer) + "." + suffix; }

// A tensor of one of the bundle's models, by subgraph and index.
struct TensorRef {
  const tflite::Model* model = nullptr;
  const fb::SubGraph* sg = nullptr;
  int index = -1;
  const fb::Tensor& tensor() const { return model->tensor(*sg, index); }
  std::string name() const { return std::string(tflite::Model::Name(tensor())); }
};

// A static or dynamic fully connected layer found in `decode`.
struct FcWeight {
  TensorRef weight;
  int op = -1;
  float input_scale = 0, output_scale = 0;  // static FCs only
  bool head = false;
  bool asymmetric_inputs = false;           // the head's FullyConnectedOptions
};

struct LayerFacts {
  int head_dim = 0;
  int cache_k = -1, cache_v = -1;  // cache numbers this layer writes (owners)
  int reads_k = -1, reads_v = -1;  // cache numbers this layer's attention reads
  float k_scale = 0, v_scale = 0;
};

class LitertlmImporter {
 public:
  LitertlmImporter(const std::string& path, const ImportOptions& options) : path_(path), options_(options) {}

  Status Run(ImportedModel* out);

 private:
  Status Error(const std::string& what) const { return CorruptModel(path_ + ": " + what); }
  Status OpenModel(const char* model_type, tflite::Model* model);
  Status WalkDecode();
  Status AddFc(int op_index, const fb::Operator& op);
  Status AddNorm(const fb::Operator& op);
  Status AddCacheUpdate(int op_index, const fb::Operator& op, int layer);
  Status AddCacheRead(int op_index, const fb::Operator& op, int layer);
  Status CheckConsumers();
  Status ReadSoftcap();
  Status ReadEmbedders();
  Status DeriveConfig(const ModelConfig* hf, ModelConfig* config);
  Status ApplyHfConfig(const ModelConfig& hf, ModelConfig* config) const;
  Status IntegerSpec(const TensorRef& ref, const TensorInfo& info, TensorSpec* spec) const;
  Status PleTableSpec(const TensorInfo& info, TensorSpec* spec) const;
  Status BuildSpecs(const ModelConfig& config, std::vector<TensorSpec>* specs) const;
  Status ImportTokenizer(int vocab_size, ImportedModel* out) const;

  const fb::Tensor& Decoded(int index) const { return decode_.tensor(*sg_, index); }
  // True if some op reached from `tensor` through DEQUANTIZE/QUANTIZE/RESHAPE satisfies `is`.
  bool FeedsInto(int tensor, const std::function<bool(const fb::Operator&)>& is) const;
  // The fp32 scalar constant among `op`'s inputs, if exactly one input is constant.
  bool ScalarConstant(const fb::Operator& op, float* value) const;

  std::string path_;
  ImportOptions options_;
  std::shared_ptr<const Bundle> bundle_;
  tflite::Model decode_, embedder_, ple_embedder_;
  const fb::SubGraph* sg_ = nullptr;
  std::map<int, std::vector<int>> consumers_;   // decode tensor -> ops that read it
  std::map<int, std::pair<char, int>> caches_;  // decode tensor -> KV cache (kind, number), incl. updated copies

  std::map<std::string, FcWeight> fcs_;         // manifest name -> FC
  std::map<std::string, TensorRef> floats_;     // manifest name -> fp32 tensor (norms, layer scalars)
  std::map<int, LayerFacts> layers_;
  std::map<int, int> cache_owner_;              // cache number -> layer writing it
  int head_op_ = -1;
  float softcap_ = 0, softcap_reciprocal_ = 0;

  TensorRef embed_table_;
  float embed_scale_ = 0;
  std::vector<TensorRef> ple_tables_;
  float ple_table_scale_ = 0;
};

Status LitertlmImporter::OpenModel(const char* model_type, tflite::Model* model) {
  const Section* section = nullptr;
  const Section* weights = nullptr;
  EDGELM_RETURN_IF_ERROR(bundle_->Find(SectionType::kTFLiteModel, model_type, &section));
  EDGELM_RETURN_IF_ERROR(bundle_->Find(SectionType::kTFLiteWeights, model_type, &weights));
  if (!section) {
    std::string seen;
    for (const Section& s : bundle_->sections())
      seen += std::string(seen.empty() ? "" : ", ") + litertlm::SectionTypeName(s.data_type) +
              (s.model_type.empty() ? "" : " " + s.model_type);
    return InvalidArgument(path_ + ": no " + model_type + " section, so no Gemma 4 text model to import (sections: " + seen + ")");
  }
  const tflite::Bytes external = weights ? tflite::Bytes{bundle_->data(*weights), weights->size()} : tflite::Bytes{};
  return tflite::Model::Open(path_ + ": " + model_type, tflite::Bytes{bundle_->data(*section), section->size()}, external, model);
}

bool LitertlmImporter::FeedsInto(int tensor, const std::function<bool(const fb::Operator&)>& is) const {
  std::vector<int> frontier = {tensor};
  for (int depth = 0; depth < 4 && !frontier.empty(); ++depth) {
    std::vector<int> next;
    for (int t : frontier) {
      const auto it = consumers_.find(t);
      if (it == consumers_.end()) continue;
      for (int o : it->second) {
        const fb::Operator& op = *sg_->operators()->Get(static_cast<uint32_t>(o));
        if (is(op)) return true;
        const int code = decode_.OpCode(op);
        if (code == tflite::kOpDequantize || code == tflite::kOpQuantize || code == tflite::kOpReshape)
          for (int out : *op.outputs()) next.push_back(out);
      }
    }
    frontier = std::move(next);
  }
  return false;
}

bool LitertlmImporter::ScalarConstant(const fb::Operator& op, float* value) const {
  int constants = 0;
  for (int in : *op.inputs()) {
    if (in < 0 || !decode_.HasData(Decoded(in))) continue;
    std::vector<float> v;
    if (++constants > 1 || !decode_.Floats(Decoded(in), 1, &v).ok()) return false;
    *value = v[0];
  }
  return constants == 1;
}

Status LitertlmImporter::AddFc(int op_index, const fb::Operator& op) {
  if (!op.inputs() || op.inputs()->size() < 2 || !op.outputs() || op.outputs()->size() < 1 || op.inputs()->Get(1) < 0)
    return Error("decode FULLY_CONNECTED op " + std::to_string(op_index) + " lacks a weight input or an output");
  FcWeight fc;
  fc.op = op_index;
  fc.weight = TensorRef{&decode_, sg_, op.inputs()->Get(1)};
  const std::string name = fc.weight.name();
  const FcName* match = nullptr;
  for (const FcName& n : kFcNames)
    if (Contains(name, n.substring)) match = &n;
  if (!match)
    return Error("FULLY_CONNECTED weight '" + name + "' (decode op " + std::to_string(op_index) +
                 ") matches none of Google's Gemma 4 weight names");
  const int layer = LayerOf(name);
  if (match->per_layer != (layer >= 0))
    return Error("FULLY_CONNECTED weight '" + name + "' has " + (layer >= 0 ? "a" : "no") + " layer number");
  const std::string manifest = match->per_layer ? LayerName(layer, match->manifest) : match->manifest;
  if (fcs_.count(manifest)) return Error("two FULLY_CONNECTED weights map to '" + manifest + "' (the second is '" + name + "')");
  if (layer >= 0) layers_[layer];
  fc.head = std::string_view(match->manifest) == "lm_head.weight";
  const fb::FullyConnectedOptions* options = decode_.FullyConnectedOptions(op);
  if (fc.head) {
    head_op_ = op_index;
    fc.asymmetric_inputs = options && options->asymmetric_quantize_inputs();
  } else {
    const int in = op.inputs()->Get(0), out = op.outputs()->Get(0);
    if (in < 0 || Decoded(in).type() != tflite::kInt8 || Decoded(out).type() != tflite::kInt8)
      return Error("FULLY_CONNECTED '" + name + "' should have static INT8 input and output tensors");
    EDGELM_RETURN_IF_ERROR(decode_.PerTensorScale(Decoded(in), &fc.input_scale));
    EDGELM_RETURN_IF_ERROR(decode_.PerTensorScale(Decoded(out), &fc.output_scale));
  }
  fcs_[manifest] = fc;
  return Status::Ok();
}

Status LitertlmImporter::AddNorm(const fb::Operator& op) {
  if (!op.inputs() || op.inputs()->size() < 2 || op.inputs()->Get(1) < 0 || !op.outputs() || op.outputs()->size() < 1)
    return Error("an odml.rms_norm composite lacks its weight input or output");
  const TensorRef weight{&decode_, sg_, op.inputs()->Get(1)};
  const int out = op.outputs()->Get(0);
  const std::string out_name(tflite::Model::Name(Decoded(out)));
  std::vector<float> w;
  EDGELM_RETURN_IF_ERROR(decode_.Floats(weight.tensor(), tflite::Model::NumElements(weight.tensor()), &w));
  if (Contains(out_name, "/value_norm/")) {  // V's norm has no learned weight: the composite computes x·1
    for (float v : w)
      if (v != 1.0f) return Error("value_norm weight '" + weight.name() + "' is not all ones");
    return Status::Ok();
  }
  std::string manifest;
  const bool feeds_head = FeedsInto(out, [this](const fb::Operator& o) {
    return decode_.OpCode(o) == tflite::kOpFullyConnected && o.inputs()->size() >= 2 && o.inputs()->Get(1) >= 0 &&
           Contains(tflite::Model::Name(Decoded(o.inputs()->Get(1))), "decode_softmax/");
  });
  if (feeds_head) {
    manifest = "norm.weight";
  } else if (Contains(out_name, "per_layer_embedding_projection_norm/")) {
    manifest = "per_layer_projection_norm.weight";
  } else {
    // The role is the second-to-last path component: ".../layer_3/pre_ffw_norm/rms_norm".
    const size_t last = out_name.rfind('/');
    const size_t prev = last == std::string::npos || last == 0 ? std::string::npos : out_name.rfind('/', last - 1);
    const std::string role = last == std::string::npos ? "" : out_name.substr(prev + 1, last - prev - 1);
    for (const NormName& n : kNormNames)
      if (role == n.role) manifest = n.manifest;
    const int named_layer = LayerOf(out_name);
    if (manifest.empty() || named_layer < 0)
      return Error("odml.rms_norm output '" + out_name + "' has no known role (weight '" + weight.name() + "')");
    manifest = LayerName(named_layer, manifest.c_str());
    if (role == "query_norm") layers_[named_layer].head_dim = static_cast<int>(w.size());
  }
  if (floats_.count(manifest)) return Error("two odml.rms_norm weights map to '" + manifest + "' (the second is '" + weight.name() + "')");
  floats_[manifest] = weight;
  return Status::Ok();
}

Status LitertlmImporter::AddCacheUpdate(int op_index, const fb::Operator& op, int layer) {
  if (layer < 0) return Error("an odml.cache_update composite (decode op " + std::to_string(op_index) + ") comes before any layer");
  LayerFacts& facts = layers_[layer];
  std::vector<std::pair<char, int>> updated;  // the caches this composite writes, in input order
  for (int in : *op.inputs()) {
    const auto it = caches_.find(in);
    if (it == caches_.end()) continue;
    const auto [kind, number] = it->second;
    updated.push_back(it->second);
    int& written = kind == 'k' ? facts.cache_k : facts.cache_v;
    if (written >= 0 && written != number) return Error("layer " + std::to_string(layer) + " writes two " + kind + " caches");
    written = number;
    if (cache_owner_.count(number) && cache_owner_[number] != layer)
      return Error("KV cache " + std::to_string(number) + " is written by layers " + std::to_string(cache_owner_[number]) +
                   " and " + std::to_string(layer));
    cache_owner_[number] = layer;
    EDGELM_RETURN_IF_ERROR(decode_.PerTensorScale(Decoded(in), kind == 'k' ? &facts.k_scale : &facts.v_scale));
  }
  if (facts.cache_k < 0 || facts.cache_v < 0 || facts.cache_k != facts.cache_v)
    return Error("the odml.cache_update of layer " + std::to_string(layer) + " does not update one K and one V cache of the same number");
  // Its INT8 outputs are the updated caches, in the order of its cache inputs; later attention reads them.
  std::vector<int> outputs;
  for (int out : *op.outputs())
    if (out >= 0 && Decoded(out).type() == tflite::kInt8) outputs.push_back(out);
  if (outputs.size() == updated.size())
    for (size_t i = 0; i < outputs.size(); ++i) caches_.emplace(outputs[i], updated[i]);
  // The decomposition quantizes K and V with the caches' static scales: exactly two QUANTIZE ops.
  const fb::StableHLOCompositeOptions* composite = op.builtin_options_2_as_StableHLOCompositeOptions();
  const int decomposition = composite ? composite->decomposition_subgraph_index() : -1;
  if (decomposition >= 0 && static_cast<uint32_t>(decomposition) < decode_.num_subgraphs()) {
    int quantizes = 0;
    const fb::SubGraph& body = decode_.subgraph(static_cast<uint32_t>(decomposition));
    if (body.operators())
      for (const fb::Operator* o : *body.operators()) quantizes += decode_.OpCode(*o) == tflite::kOpQuantize;
    if (quantizes != 2)
      return Error("the odml.cache_update of layer " + std::to_string(layer) + " quantizes " + std::to_string(quantizes) +
                   " tensors, expected K and V");
  }
  return Status::Ok();
}

Status LitertlmImporter::AddCacheRead(int op_index, const fb::Operator& op, int layer) {
  if (layer < 0) return Error("an odml.runtime_bmm composite (decode op " + std::to_string(op_index) + ") comes before any layer");
  LayerFacts& facts = layers_[layer];
  for (int in : *op.inputs()) {
    const auto it = caches_.find(in);
    if (it == caches_.end()) continue;
    int& read = it->second.first == 'k' ? facts.reads_k : facts.reads_v;
    if (read >= 0 && read != it->second.second) return Error("layer " + std::to_string(layer) + " reads two different KV caches");
    read = it->second.second;
  }
  return Status::Ok();
}

Status LitertlmImporter::WalkDecode() {
  uint32_t index = 0;
  EDGELM_RETURN_IF_ERROR(decode_.FindSubgraph("decode", &index));
  sg_ = &decode_.subgraph(index);
  if (!sg_->operators() || sg_->operators()->size() == 0) return Error("the decode subgraph has no operators");
  const auto& ops = *sg_->operators();
  for (uint32_t o = 0; o < ops.size(); ++o)
    for (int in : *ops.Get(o)->inputs())
      if (in >= 0) consumers_[in].push_back(static_cast<int>(o));
  // KV caches by name: the signature's kv_cache_{k,v}_<n> inputs and outputs, or tensors so named.
  const auto note_cache = [this](std::string_view name, int tensor) {
    char kind;
    int number;
    if (ParseCacheName(name, &kind, &number)) caches_.emplace(tensor, std::make_pair(kind, number));
  };
  if (const auto* sigs = decode_.root().signature_defs())
    for (const fb::SignatureDef* sig : *sigs)
      if (sig->subgraph_index() == index)
        for (const auto* maps : {sig->inputs(), sig->outputs()})
          if (maps)
            for (const fb::TensorMap* m : *maps)
              if (m->name()) note_cache(m->name()->string_view(), static_cast<int>(m->tensor_index()));
  for (uint32_t t = 0; t < sg_->tensors()->size(); ++t) note_cache(tflite::Model::Name(Decoded(static_cast<int>(t))), static_cast<int>(t));

  int layer = -1;  // the layer whose ops are being walked: from the last layer-numbered weight or norm
  for (uint32_t o = 0; o < ops.size(); ++o) {
    const fb::Operator& op = *ops.Get(o);
    const int code = decode_.OpCode(op);
    const std::string_view composite = decode_.CompositeName(op);
    if (code == tflite::kOpFullyConnected) {
      EDGELM_RETURN_IF_ERROR(AddFc(static_cast<int>(o), op));
      const int named = op.inputs()->Get(1) >= 0 ? LayerOf(tflite::Model::Name(Decoded(op.inputs()->Get(1)))) : -1;
      if (named >= 0) layer = named;
    } else if (composite == "odml.rms_norm") {
      EDGELM_RETURN_IF_ERROR(AddNorm(op));
      const int named = op.outputs()->size() > 0 ? LayerOf(tflite::Model::Name(Decoded(op.outputs()->Get(0)))) : -1;
      if (named >= 0) layer = named;
    } else if (composite == "odml.cache_update") {
      EDGELM_RETURN_IF_ERROR(AddCacheUpdate(static_cast<int>(o), op, layer));
    } else if (composite == "odml.runtime_bmm") {
      EDGELM_RETURN_IF_ERROR(AddCacheRead(static_cast<int>(o), op, layer));
    } else if (code == tflite::kOpMul && op.outputs()->size() == 1 &&
               Contains(tflite::Model::Name(Decoded(op.outputs()->Get(0))), "._maybe_apply_skip_scale/mul")) {
      const std::string out_name(tflite::Model::Name(Decoded(op.outputs()->Get(0))));
      const int named = LayerOf(out_name);
      int scalar = -1;
      for (int in : *op.inputs())
        if (in >= 0 && decode_.HasData(Decoded(in))) scalar = in;
      if (named < 0 || scalar < 0) return Error("layer-scalar MUL '" + out_name + "' has no layer number or no constant input");
      const std::string manifest = LayerName(named, "layer_scalar");
      if (floats_.count(manifest)) return Error("two layer-scalar MULs for layer " + std::to_string(named));
      floats_[manifest] = TensorRef{&decode_, sg_, scalar};
    }
  }
  if (fcs_.empty())
    return InvalidArgument(path_ + ": the decode graph has no FULLY_CONNECTED layers: not a Gemma 4 text decoder");
  if (head_op_ < 0) return Error("no LM head (a FULLY_CONNECTED weight named '.../decode_softmax/...') in decode");
  return Status::Ok();
}

// §3.8: names alone could be swapped; k feeds the learned key norm and v the unit value norm, gate
// feeds GELU and up the MUL with it.
Status LitertlmImporter::CheckConsumers() {
  const auto composite_output_named = [this](const char* part) {
    return [this, part](const fb::Operator& op) {
      return decode_.CompositeName(op) == "odml.rms_norm" && op.outputs()->size() >= 1 &&
             Contains(tflite::Model::Name(Decoded(op.outputs()->Get(0))), part);
    };
  };
  const auto op_is = [this](int code) { return [this, code](const fb::Operator& op) { return decode_.OpCode(op) == code; }; };
  struct Rule {
    const char* suffix;
    std::function<bool(const fb::Operator&)> is;
    const char* what;
  };
  const Rule rules[] = {
      {"self_attn.k_proj.weight", composite_output_named("/key_norm/"), "the key norm"},
      {"self_attn.v_proj.weight", composite_output_named("/value_norm/"), "the value norm"},
      {"mlp.gate_proj.weight", op_is(tflite::kOpGelu), "GELU"},
      {"mlp.up_proj.weight", op_is(tflite::kOpMul), "a MUL"},
  };
  for (const auto& [name, fc] : fcs_)
    for (const Rule& rule : rules)
      if (name.size() > std::strlen(rule.suffix) && name.compare(name.size() - std::strlen(rule.suffix), std::string::npos, rule.suffix) == 0) {
        const fb::Operator& op = *sg_->operators()->Get(static_cast<uint32_t>(fc.op));
        if (!FeedsInto(op.outputs()->Get(0), rule.is))
          return Error("FULLY_CONNECTED weight '" + fc.weight.name() + "' is named as " + name + ", but its output does not feed " + rule.what);
      }
  return Status::Ok();
}

// The head's logits go MUL(1/cap) -> TANH -> MUL(cap): both constants are stored fp32 values.
Status LitertlmImporter::ReadSoftcap() {
  const fb::Operator& head = *sg_->operators()->Get(static_cast<uint32_t>(head_op_));
  const auto sole_consumer = [this](int tensor, int code) -> const fb::Operator* {
    const auto it = consumers_.find(tensor);
    if (it == consumers_.end() || it->second.size() != 1) return nullptr;
    const fb::Operator* op = sg_->operators()->Get(static_cast<uint32_t>(it->second[0]));
    return decode_.OpCode(*op) == code && op->outputs()->size() == 1 ? op : nullptr;
  };
  const fb::Operator* scale = sole_consumer(head.outputs()->Get(0), tflite::kOpMul);
  const fb::Operator* tanh = scale ? sole_consumer(scale->outputs()->Get(0), tflite::kOpTanh) : nullptr;
  const fb::Operator* cap = tanh ? sole_consumer(tanh->outputs()->Get(0), tflite::kOpMul) : nullptr;
  if (!cap) return Error("the LM head's output does not go MUL -> TANH -> MUL (the logit soft-cap)");
  if (!ScalarConstant(*scale, &softcap_reciprocal_) || !ScalarConstant(*cap, &softcap_) ||
      !(softcap_ > 0 && softcap_reciprocal_ > 0 && std::isfinite(softcap_) && std::isfinite(softcap_reciprocal_)))
    return Error("the logit soft-cap MULs should each have one positive fp32 scalar constant");
  return Status::Ok();
}

// Token table: the one integer tensor of tf_lite_embedder, scaled by the MUL constant (√H). PLE
// tables: the integer tensors of tf_lite_per_layer_embedder in tensor order = layer order (§3.5).
Status LitertlmImporter::ReadEmbedders() {
  const auto tables = [](const tflite::Model& model, std::vector<TensorRef>* out, float* scale) -> Status {
    const fb::SubGraph& sg = model.subgraph(0);
    for (uint32_t t = 0; t < sg.tensors()->size(); ++t) {
      const fb::Tensor& tensor = *sg.tensors()->Get(t);
      if (tflite::IntegerBits(tensor.type()) > 0 && tensor.shape() && tensor.shape()->size() == 2 && model.HasData(tensor))
        out->push_back(TensorRef{&model, &sg, static_cast<int>(t)});
    }
    int muls = 0;
    if (sg.operators())
      for (const fb::Operator* op : *sg.operators()) {
        if (model.OpCode(*op) != tflite::kOpMul) continue;
        for (int in : *op->inputs())
          if (in >= 0 && model.HasData(model.tensor(sg, in))) {
            std::vector<float> v;
            EDGELM_RETURN_IF_ERROR(model.Floats(model.tensor(sg, in), 1, &v));
            *scale = v[0];
            ++muls;
          }
      }
    if (muls != 1) return CorruptModel(model.where() + ": expected one MUL by a constant scalar, found " + std::to_string(muls));
    return Status::Ok();
  };
  std::vector<TensorRef> embed;
  EDGELM_RETURN_IF_ERROR(tables(embedder_, &embed, &embed_scale_));
  if (embed.size() != 1)
    return Error(std::string(kEmbedderType) + " should hold exactly one integer table, it holds " + std::to_string(embed.size()));
  embed_table_ = embed[0];
  EDGELM_RETURN_IF_ERROR(tables(ple_embedder_, &ple_tables_, &ple_table_scale_));
  if (ple_tables_.empty()) return Error(std::string(kPleEmbedderType) + " holds no integer tables");
  const std::vector<int64_t> shape = tflite::Model::Shape(ple_tables_[0].tensor());
  for (const TensorRef& t : ple_tables_)
    if (tflite::Model::Shape(t.tensor()) != shape || t.tensor().type() != ple_tables_[0].tensor().type())
      return Error("per-layer embedding table '" + t.name() + "' differs in shape or type from '" + ple_tables_[0].name() + "'");
  return Status::Ok();
}

Status LitertlmImporter::DeriveConfig(const ModelConfig* hf, ModelConfig* out) {
  const auto fc_shape = [this](const std::string& name, std::vector<int64_t>* shape) -> Status {
    const auto it = fcs_.find(name);
    if (it == fcs_.end()) return Error("decode has no FULLY_CONNECTED weight for '" + name + "'");
    *shape = tflite::Model::Shape(it->second.weight.tensor());
    if (shape->size() != 2) return Error("FULLY_CONNECTED weight '" + it->second.weight.name() + "' is not a matrix");
    return Status::Ok();
  };
  const int L = static_cast<int>(layers_.size());
  if (L == 0 || layers_.rbegin()->first != L - 1) return Error("decode's layer numbers are not 0.." + std::to_string(L - 1));
  if (hf && hf->num_layers() != L)
    return InvalidArgument(path_ + " and " + options_.hf_config + " disagree on num_hidden_layers: the bundle has " +
                           std::to_string(L) + ", the config " + std::to_string(hf->num_layers()));
  std::vector<int64_t> q0, embed = tflite::Model::Shape(embed_table_.tensor()), ple = tflite::Model::Shape(ple_tables_[0].tensor());
  EDGELM_RETURN_IF_ERROR(fc_shape(LayerName(0, "self_attn.q_proj.weight"), &q0));
  ModelConfig c;
  c.hidden_size = static_cast<int>(q0[1]);
  c.vocab_size = static_cast<int>(embed[0]);
  c.ple_vocab_size = static_cast<int>(ple[0]);
  c.ple_dim = static_cast<int>(ple[1]);
  if (embed[1] != c.hidden_size)
    return Error("token table '" + embed_table_.name() + "' " + ShapeText(embed) + " does not match hidden size " + std::to_string(c.hidden_size));
  if (static_cast<int>(ple_tables_.size()) != L)
    return Error(std::string(kPleEmbedderType) + " holds " + std::to_string(ple_tables_.size()) + " tables for " + std::to_string(L) + " layers");
  if (ple_table_scale_ != std::sqrt(static_cast<float>(c.ple_dim)))
    return Error("the per-layer embedder scales its tables by " + std::to_string(ple_table_scale_) + ", not sqrt(" + std::to_string(c.ple_dim) + ")");
  if (layers_.at(0).head_dim <= 0) return Error("layer 0 has no query_norm to tell its head size");
  c.num_heads = static_cast<int>(q0[0] / layers_.at(0).head_dim);

  int min_head_dim = layers_.at(0).head_dim, max_head_dim = min_head_dim;
  for (const auto& [i, facts] : layers_) {
    min_head_dim = std::min(min_head_dim, facts.head_dim);
    max_head_dim = std::max(max_head_dim, facts.head_dim);
  }
  if (min_head_dim == max_head_dim && !hf)
    return InvalidArgument(path_ + ": every layer has head size " + std::to_string(min_head_dim) +
                           ", so global and local layers cannot be told apart; pass the model's config.json (--config)");
  for (int i = 0; i < L; ++i) {
    const LayerFacts& facts = layers_.at(i);
    const std::string at = "layer " + std::to_string(i);
    LayerConfig l;
    l.head_dim = facts.head_dim;
    std::vector<int64_t> q, gate;
    EDGELM_RETURN_IF_ERROR(fc_shape(LayerName(i, "self_attn.q_proj.weight"), &q));
    EDGELM_RETURN_IF_ERROR(fc_shape(LayerName(i, "mlp.gate_proj.weight"), &gate));
    if (l.head_dim <= 0 || q[0] != static_cast<int64_t>(c.num_heads) * l.head_dim)
      return Error(at + ": q_proj " + ShapeText(q) + " is not " + std::to_string(c.num_heads) + " heads of its query_norm size " + std::to_string(l.head_dim));
    l.intermediate_size = static_cast<int>(gate[0]);
    l.attention = hf ? hf->layers[i].attention : l.head_dim > min_head_dim ? AttentionType::Full : AttentionType::Sliding;
    const bool full = l.attention == AttentionType::Full;
    l.sliding_window = full ? 0 : kDefaultSlidingWindow;
    l.rope.type = full ? RopeType::Proportional : RopeType::Default;
    l.rope.theta = full ? kDefaultGlobalTheta : kDefaultLocalTheta;
    l.rope.partial_rotary_factor = full ? kDefaultGlobalPartialRotary : 1.0f;
    l.kv_int8_full_range = true;  // TFLite's static int8 clamps to [-128, 127]
    if (facts.reads_k < 0 || facts.reads_k != facts.reads_v)
      return Error(at + ": its attention does not read one K and one V cache of the same number");
    const auto owner = cache_owner_.find(facts.reads_k);
    if (owner == cache_owner_.end() || owner->second > i)
      return Error(at + ": reads KV cache " + std::to_string(facts.reads_k) + ", which no earlier layer writes");
    l.kv_source = owner->second;
    if (l.kv_source == i) {
      std::vector<int64_t> k;
      EDGELM_RETURN_IF_ERROR(fc_shape(LayerName(i, "self_attn.k_proj.weight"), &k));
      l.num_kv_heads = static_cast<int>(k[0] / l.head_dim);
      l.kv_k_scale = facts.k_scale;
      l.kv_v_scale = facts.v_scale;
    } else {
      if (facts.cache_k >= 0) return Error(at + ": writes KV cache " + std::to_string(facts.cache_k) + " but reads another");
      l.num_kv_heads = c.layers[l.kv_source].num_kv_heads;
    }
    c.layers.push_back(l);
  }
  c.rms_norm_eps = kDefaultRmsNormEps;
  c.final_logit_softcap = softcap_;
  c.final_logit_softcap_reciprocal = softcap_reciprocal_;
  c.embed_scale = embed_scale_;
  c.tie_word_embeddings = false;   // the head is its own tensor (decode_softmax)
  c.ple_projection_scale = 1.0f;   // the bundle projects the √H-scaled embedding as is
  *out = std::move(c);
  return Status::Ok();
}

// Everything the bundle records must agree with config.json; it supplies what the graph lacks.
Status LitertlmImporter::ApplyHfConfig(const ModelConfig& hf, ModelConfig* c) const {
  std::string mismatch;
  const auto same = [&mismatch](const std::string& what, double bundle, double config) {
    if (mismatch.empty() && bundle != config)
      mismatch = what + ": the bundle has " + std::to_string(bundle) + ", the config " + std::to_string(config);
  };
  same("vocab_size", c->vocab_size, hf.vocab_size);
  same("hidden_size", c->hidden_size, hf.hidden_size);
  same("num_attention_heads", c->num_heads, hf.num_heads);
  same("hidden_size_per_layer_input", c->ple_dim, hf.ple_dim);
  same("vocab_size_per_layer_input", c->ple_vocab_size, hf.ple_vocab_size);
  same("final_logit_softcapping", c->final_logit_softcap, hf.final_logit_softcap);
  same("num_hidden_layers", c->num_layers(), hf.num_layers());
  for (int i = 0; i < std::min(c->num_layers(), hf.num_layers()); ++i) {
    const LayerConfig &l = c->layers[i], &h = hf.layers[i];
    const std::string at = "layer " + std::to_string(i) + " ";
    same(at + "head_dim", l.head_dim, h.head_dim);
    same(at + "num_key_value_heads", l.num_kv_heads, h.num_kv_heads);
    same(at + "KV source layer", l.kv_source, h.kv_source);
    same(at + "intermediate_size", l.intermediate_size, h.intermediate_size);
    if (l.head_dim != h.head_dim) continue;
    LayerConfig& out = c->layers[i];
    out.sliding_window = h.sliding_window;
    out.rope = h.rope;
  }
  if (!mismatch.empty()) return InvalidArgument(path_ + " and " + options_.hf_config + " disagree on " + mismatch);
  c->rms_norm_eps = hf.rms_norm_eps;
  c->max_position_embeddings = hf.max_position_embeddings;
  return Status::Ok();
}

DType CodeDType(int bits) { return bits == 8 ? DType::I8 : bits == 4 ? DType::I4 : DType::I2; }

// Codes copied as stored (repacked only when TFLite's flattened packing leaves rows unaligned).
Status LitertlmImporter::IntegerSpec(const TensorRef& ref, const TensorInfo& info, TensorSpec* spec) const {
  const fb::Tensor& t = ref.tensor();
  const int bits = tflite::IntegerBits(t.type());
  if (bits == 0)
    return Unsupported(path_ + ": tensor '" + ref.name() + "' for '" + info.name + "' is " + tflite::TensorTypeName(t.type()) +
                       ", expected INT8, INT4 or INT2");
  if (tflite::Model::Shape(t) != info.shape)
    return Error("tensor '" + ref.name() + "' has shape " + ShapeText(tflite::Model::Shape(t)) + ", but '" + info.name +
                 "' of this model is " + ShapeText(info.shape));
  tflite::Bytes codes;
  auto scales = std::make_shared<std::vector<float>>();
  EDGELM_RETURN_IF_ERROR(ref.model->Data(t, &codes));
  EDGELM_RETURN_IF_ERROR(ref.model->PerRowScales(t, scales.get()));
  spec->name = info.name;
  spec->shape = info.shape;
  spec->dtype = CodeDType(bits);
  spec->per_row_scales = true;
  const int64_t cols = info.shape[1];
  spec->fill = [codes, scales, bits, cols](int64_t r0, int64_t r1, uint8_t* data, float* row_scales) {
    tflite::CopyPackedRows(codes.data, bits, cols, r0, r1, data);
    std::copy(scales->begin() + r0, scales->begin() + r1, row_scales);
    return Status::Ok();
  };
  return Status::Ok();
}

// One [vocab, L·P] table from the L per-layer tables, token-major, with one scale per token and
// layer (scale groups of P).
Status LitertlmImporter::PleTableSpec(const TensorInfo& info, TensorSpec* spec) const {
  struct Table {
    tflite::Bytes codes;
    std::vector<float> scales;
  };
  auto tables = std::make_shared<std::vector<Table>>(ple_tables_.size());
  const int bits = tflite::IntegerBits(ple_tables_[0].tensor().type());
  const std::vector<int64_t> shape = tflite::Model::Shape(ple_tables_[0].tensor());
  const int64_t P = shape[1], layers = static_cast<int64_t>(tables->size());
  if (info.shape != std::vector<int64_t>{shape[0], layers * P})
    return Error("per-layer tables " + ShapeText(shape) + " x " + std::to_string(layers) + " do not make '" + info.name + "' " + ShapeText(info.shape));
  for (size_t l = 0; l < tables->size(); ++l) {
    EDGELM_RETURN_IF_ERROR(ple_tables_[l].model->Data(ple_tables_[l].tensor(), &(*tables)[l].codes));
    EDGELM_RETURN_IF_ERROR(ple_tables_[l].model->PerRowScales(ple_tables_[l].tensor(), &(*tables)[l].scales));
  }
  spec->name = info.name;
  spec->shape = info.shape;
  spec->dtype = CodeDType(bits);
  spec->per_row_scales = true;
  spec->scale_group_size = P;
  const int64_t per_byte = 8 / bits, row_elements = (layers * P + per_byte - 1) / per_byte * per_byte;
  spec->fill = [tables, bits, P, layers, row_elements](int64_t r0, int64_t r1, uint8_t* data, float* scales) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t l = 0; l < layers; ++l) {
        const Table& table = (*tables)[static_cast<size_t>(l)];
        tflite::CopyCodes(table.codes.data, r * P, data, (r - r0) * row_elements + l * P, P, bits);
        scales[(r - r0) * layers + l] = table.scales[static_cast<size_t>(r)];
      }
    return Status::Ok();
  };
  return Status::Ok();
}

Status LitertlmImporter::BuildSpecs(const ModelConfig& config, std::vector<TensorSpec>* specs) const {
  std::set<std::string> used;
  for (const TensorInfo& info : Gemma4TensorManifest(config)) {
    TensorSpec spec;
    if (info.role == TensorRole::kEmbedding) {
      EDGELM_RETURN_IF_ERROR(IntegerSpec(embed_table_, info, &spec));  // a gathered table: no activation quantization
    } else if (info.role == TensorRole::kPleTable) {
      EDGELM_RETURN_IF_ERROR(PleTableSpec(info, &spec));
    } else if (info.role == TensorRole::kNorm) {
      const auto it = floats_.find(info.name);
      if (it == floats_.end()) return Error("decode has no weight for '" + info.name + "'");
      auto values = std::make_shared<std::vector<float>>();
      int64_t count = 1;
      for (int64_t d : info.shape) count *= d;
      EDGELM_RETURN_IF_ERROR(it->second.model->Floats(it->second.tensor(), count, values.get()));
      spec.name = info.name;
      spec.shape = info.shape;
      spec.fill = [values](int64_t r0, int64_t r1, uint8_t* data, float*) {
        std::memcpy(data, values->data(), values->size() * sizeof(float));
        return Status::Ok();
      };
    } else {
      const auto it = fcs_.find(info.name);
      if (it == fcs_.end()) return Error("decode has no FULLY_CONNECTED weight for '" + info.name + "'");
      const FcWeight& fc = it->second;
      EDGELM_RETURN_IF_ERROR(IntegerSpec(fc.weight, info, &spec));
      if (fc.head) {
        spec.activation = fc.asymmetric_inputs ? ActivationQuant::DynamicInt8Asymmetric : ActivationQuant::DynamicInt8;
      } else {
        spec.activation = ActivationQuant::StaticInt8Full;
        spec.input_scale = fc.input_scale;
        spec.output_scale = fc.output_scale;
      }
    }
    used.insert(info.name);
    specs->push_back(std::move(spec));
  }
  for (const auto& [name, fc] : fcs_)
    if (!used.count(name)) return Error("FULLY_CONNECTED weight '" + fc.weight.name() + "' (" + name + ") has no place in a Gemma 4 model of this shape");
  for (const auto& [name, ref] : floats_)
    if (!used.count(name)) return Error("weight '" + ref.name() + "' (" + name + ") has no place in a Gemma 4 model of this shape");
  return Status::Ok();
}

// HF_Tokenizer_Zlib: u64 LE uncompressed size, then a zlib stream of tokenizer.json.
Status InflateTokenizerJson(const std::string& where, std::string_view section, std::string* json) {
  uint64_t size = 0;
  if (section.size() < sizeof size) return CorruptModel(where + ": shorter than its 8-byte size prefix");
  std::memcpy(&size, section.data(), sizeof size);
  if (size == 0 || size > kMaxTokenizerJsonBytes) return CorruptModel(where + ": declared size " + std::to_string(size) + " is out of range");
  json->resize(static_cast<size_t>(size));
  uLongf produced = static_cast<uLongf>(size);
  const int rc = uncompress(reinterpret_cast<Bytef*>(&(*json)[0]), &produced,
                            reinterpret_cast<const Bytef*>(section.data() + sizeof size), static_cast<uLong>(section.size() - sizeof size));
  if (rc != Z_OK || produced != size)
    return CorruptModel(where + ": the zlib stream does not inflate to the declared " + std::to_string(size) + " bytes");
  return Status::Ok();
}

// A TokenUnion as an id: ids as given (one id expected), text looked up in the vocabulary.
Status ResolveToken(const std::string& where, const litertlm::TokenRef& token, const TokenizerData& tok, std::vector<int>* ids) {
  if (!token.is_text) {
    for (int id : token.ids)
      if (id < 0 || id >= static_cast<int>(tok.pieces.size())) return CorruptModel(where + ": token id " + std::to_string(id) + " is outside the vocabulary");
    ids->insert(ids->end(), token.ids.begin(), token.ids.end());
    return Status::Ok();
  }
  const auto it = std::find(tok.pieces.begin(), tok.pieces.end(), token.text);
  if (it == tok.pieces.end()) return CorruptModel(where + ": token '" + token.text + "' is not in the vocabulary");
  ids->push_back(static_cast<int>(it - tok.pieces.begin()));
  return Status::Ok();
}

Status LitertlmImporter::ImportTokenizer(int vocab_size, ImportedModel* out) const {
  const Section *sp = nullptr, *hf = nullptr, *metadata = nullptr;
  EDGELM_RETURN_IF_ERROR(bundle_->Find(SectionType::kSpTokenizer, "", &sp));
  EDGELM_RETURN_IF_ERROR(bundle_->Find(SectionType::kHfTokenizerZlib, "", &hf));
  EDGELM_RETURN_IF_ERROR(bundle_->Find(SectionType::kLlmMetadataProto, "", &metadata));
  TokenizerData tok;
  if (sp) {
    EDGELM_RETURN_IF_ERROR(ImportSentencePieceModelBytes(path_ + ": SP_Tokenizer section", bundle_->bytes(*sp), &tok));
  } else if (hf) {
    const std::string where = path_ + ": HF_Tokenizer_Zlib section";
    std::string json;
    EDGELM_RETURN_IF_ERROR(InflateTokenizerJson(where, bundle_->bytes(*hf), &json));
    EDGELM_RETURN_IF_ERROR(ImportTokenizerJsonText(where, json, &tok));
  } else {
    return InvalidArgument(path_ + ": no tokenizer section (SP_Tokenizer or HF_Tokenizer_Zlib)");
  }

  // LlmMetadata names the start and stop tokens, by id or by text of the bundle's own vocabulary.
  ConfigTokenIds ids;
  if (metadata) {
    const std::string where = path_ + ": LlmMetadata section";
    litertlm::LlmMetadata md;
    const Status s = litertlm::ParseLlmMetadata(bundle_->bytes(*metadata), &md);
    if (!s.ok()) return Status(s.code(), path_ + ": " + s.message());
    std::vector<int> start;
    if (md.has_start_token) EDGELM_RETURN_IF_ERROR(ResolveToken(where, md.start_token, tok, &start));
    if (start.size() > 1) return CorruptModel(where + ": the start token is several ids");
    if (!start.empty()) ids.bos_id = start[0];
    for (const litertlm::TokenRef& stop : md.stop_tokens) EDGELM_RETURN_IF_ERROR(ResolveToken(where, stop, tok, &ids.eos_ids));
  }
  if (tok.pieces.size() >= 262144) {
    EDGELM_RETURN_IF_ERROR(ApplyGemma4Overlay(&tok));
    if (ids.bos_id >= 0) tok.bos_id = ids.bos_id;
    for (int id : ids.eos_ids)
      if (std::find(tok.stop_ids.begin(), tok.stop_ids.end(), id) == tok.stop_ids.end()) tok.stop_ids.push_back(id);
  } else {
    const Status s = ApplyGemma4TurnTokens(ids, &tok);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return Status(s.code(), path_ + ": " + s.message());
  }
  const Status valid = tok.Validate();
  if (!valid.ok()) return Status(valid.code(), path_ + ": tokenizer: " + valid.message());
  if (static_cast<int>(tok.pieces.size()) > vocab_size)
    return CorruptModel(path_ + ": the tokenizer has " + std::to_string(tok.pieces.size()) + " pieces, the model's vocabulary " +
                        std::to_string(vocab_size));
  out->tokenizer = std::move(tok);
  return Status::Ok();
}

Status LitertlmImporter::Run(ImportedModel* out) {
  EDGELM_RETURN_IF_ERROR(Bundle::Open(path_, &bundle_));
  EDGELM_RETURN_IF_ERROR(OpenModel(kDecoderType, &decode_));
  EDGELM_RETURN_IF_ERROR(WalkDecode());
  EDGELM_RETURN_IF_ERROR(CheckConsumers());
  EDGELM_RETURN_IF_ERROR(ReadSoftcap());
  EDGELM_RETURN_IF_ERROR(OpenModel(kEmbedderType, &embedder_));
  EDGELM_RETURN_IF_ERROR(OpenModel(kPleEmbedderType, &ple_embedder_));
  EDGELM_RETURN_IF_ERROR(ReadEmbedders());

  ModelConfig hf;
  const bool has_hf = !options_.hf_config.empty();
  if (has_hf) EDGELM_RETURN_IF_ERROR(ParseHfConfigFile(options_.hf_config, &hf, nullptr));
  ModelConfig& config = out->meta.config;
  EDGELM_RETURN_IF_ERROR(DeriveConfig(has_hf ? &hf : nullptr, &config));
  if (has_hf) EDGELM_RETURN_IF_ERROR(ApplyHfConfig(hf, &config));
  if (config.max_position_embeddings == 0) {
    const Section* metadata = nullptr;
    litertlm::LlmMetadata md;
    EDGELM_RETURN_IF_ERROR(bundle_->Find(SectionType::kLlmMetadataProto, "", &metadata));
    if (metadata && litertlm::ParseLlmMetadata(bundle_->bytes(*metadata), &md).ok()) config.max_position_embeddings = md.max_num_tokens;
  }
  const Status valid = config.Validate();
  if (!valid.ok()) return Status(valid.code(), path_ + ": the derived architecture is invalid: " + valid.message());

  EDGELM_RETURN_IF_ERROR(BuildSpecs(config, &out->specs));
  EDGELM_RETURN_IF_ERROR(ImportTokenizer(config.vocab_size, out));
  out->meta.source = path_;
  out->meta.source_format = "litertlm";
  out->meta.recipe = "published:litertlm";
  out->meta.recipe_description = "Google's mobile QAT bundle: static int8 activations (input and output scales) around "
                                 "int8/int4/int2 weights, dynamic int8 LM head, static int8 KV cache";
  out->keep_alive.push_back(bundle_);
  return Status::Ok();
}

}  // namespace

Status ImportLitertlm(const std::string& path, const ImportOptions& options, ImportedModel* out) {
  return LitertlmImporter(path, options).Run(out);
}

}  // namespace edgelm
