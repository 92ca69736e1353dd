#include "convert/ct_import.h"

#include <cmath>
#include <cstring>
#include <fstream>

#include "convert/checkpoint_tokenizer.h"
#include "convert/hf_config.h"
#include "convert/importer.h"
#include "convert/quantize.h"

namespace edgelm {
namespace {

using nlohmann::json;

Status Prefixed(const Status& s, const std::string& where) {
  return s.ok() ? s : Status(s.code(), where + ": " + s.message());
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string r = "[";
  for (size_t i = 0; i < shape.size(); ++i) r += (i ? "," : "") + std::to_string(shape[i]);
  return r + "]";
}

bool IsFloat(StDType d) { return d == StDType::kF32 || d == StDType::kF16 || d == StDType::kBF16; }

// compressed-tensors' precedence when targets of several groups match one module (vLLM _match_score).
enum class MatchLevel { kNone, kClass, kRegex, kExact };

const char* MatchLevelName(MatchLevel level) {
  switch (level) {
    case MatchLevel::kExact: return "exact name";
    case MatchLevel::kRegex: return "regex";
    case MatchLevel::kClass: return "class name";
    case MatchLevel::kNone: break;
  }
  return "none";
}

MatchLevel BestMatch(const std::vector<CtTarget>& targets, const std::string& module, const char* class_name) {
  MatchLevel best = MatchLevel::kNone;
  for (const CtTarget& t : targets) {
    MatchLevel level = MatchLevel::kNone;
    if (t.is_regex)
      level = std::regex_search(module, t.regex, std::regex_constants::match_continuous) ? MatchLevel::kRegex : level;
    else if (t.text == module)
      level = MatchLevel::kExact;
    else if (t.text == class_name)
      level = MatchLevel::kClass;
    best = std::max(best, level);
  }
  return best;
}

// The torch module class a target may name: HF Gemma 4 builds tables as (subclasses of) Embedding.
const char* ModuleClass(TensorRole role) {
  return role == TensorRole::kEmbedding || role == TensorRole::kPleTable ? "Embedding" : "Linear";
}

Status ParseTargets(const json& list, const std::string& where, std::vector<CtTarget>* out) {
  if (!list.is_array()) return InvalidArgument(where + " must be a list of module names");
  for (const json& item : list) {
    CtTarget t;
    t.text = item.get<std::string>();
    t.is_regex = t.text.rfind("re:", 0) == 0;
    if (t.is_regex) {
      try {
        t.regex = std::regex(t.text.substr(3), std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return InvalidArgument(where + ": bad regex '" + t.text + "': " + e.what());
      }
    }
    out->push_back(std::move(t));
  }
  return Status::Ok();
}

// `args[key]` (or `fallback` when absent or null) must equal `want`; `why` says what else is unsupported.
Status Expect(const json& args, const char* key, const json& want, const json& fallback, const std::string& where,
              const char* why) {
  const auto it = args.find(key);
  const json& got = it == args.end() || it->is_null() ? fallback : *it;
  if (got == want) return Status::Ok();
  return Unsupported(where + ": " + key + " " + got.dump() + " (" + why + ")");
}

Status ParseActivations(const json& group, const char* key, const std::string& where, bool* present) {
  const auto it = group.find(key);
  *present = it != group.end() && !it->is_null();
  if (!*present) return Status::Ok();
  const std::string at = where + " " + key;
  const char* only = "only static symmetric int8 per-tensor activations are supported";
  EDGELM_RETURN_IF_ERROR(Expect(*it, "num_bits", 8, nullptr, at, only));
  EDGELM_RETURN_IF_ERROR(Expect(*it, "type", "int", "int", at, only));
  EDGELM_RETURN_IF_ERROR(Expect(*it, "symmetric", true, true, at, only));
  EDGELM_RETURN_IF_ERROR(Expect(*it, "dynamic", false, false, at, only));
  return Expect(*it, "strategy", "tensor", nullptr, at, only);
}

Status ParseGroup(const std::string& name, const json& g, const std::string& default_format, CtGroup* out) {
  const std::string where = "config group '" + name + "'";
  out->name = name;
  EDGELM_RETURN_IF_ERROR(ParseTargets(g.at("targets"), where + " targets", &out->targets));
  const std::string format = g.contains("format") && !g.at("format").is_null() ? g.at("format").get<std::string>()
                                                                                : default_format;
  if (format != "pack-quantized" && format != "int-quantized")
    return Unsupported(where + ": format '" + format + "' (pack-quantized or int-quantized)");
  out->packed = format == "pack-quantized";

  const auto w = g.find("weights");
  if (w == g.end() || !w->is_object()) return Unsupported(where + " has no weights scheme");
  const std::string at = where + " weights";
  out->bits = w->value("num_bits", 0);
  if (out->bits != 2 && out->bits != 4 && out->bits != 8)
    return Unsupported(at + ": num_bits " + std::to_string(out->bits) + " (2, 4 or 8)");
  EDGELM_RETURN_IF_ERROR(Expect(*w, "type", "int", "int", at, "integer weights only"));
  EDGELM_RETURN_IF_ERROR(Expect(*w, "symmetric", true, true, at, "asymmetric weights are not supported"));
  EDGELM_RETURN_IF_ERROR(Expect(*w, "dynamic", false, false, at, "weights must be stored quantized"));
  EDGELM_RETURN_IF_ERROR(Expect(*w, "actorder", nullptr, nullptr, at, "activation reordering is not supported"));
  const std::string strategy = w->value("strategy", "");
  if (strategy == "group") {
    out->group_size = w->value("group_size", int64_t{0});
    if (out->group_size <= 0) return InvalidArgument(at + ": strategy group needs a positive group_size");
  } else if (strategy != "channel") {
    return Unsupported(at + ": strategy '" + strategy + "' (channel or group)");
  }
  EDGELM_RETURN_IF_ERROR(ParseActivations(g, "input_activations", where, &out->input_activations));
  EDGELM_RETURN_IF_ERROR(ParseActivations(g, "output_activations", where, &out->output_activations));
  if (out->output_activations && !out->input_activations)
    return Unsupported(where + ": output activations without input activations");
  return Status::Ok();
}

Status ParseQuantizationConfig(const json& q, std::vector<CtGroup>* groups, std::vector<CtTarget>* ignore) {
  if (!q.is_object() || q.value("quant_method", "") != "compressed-tensors")
    return InvalidArgument("quantization_config.quant_method is not compressed-tensors");
  const auto kv = q.find("kv_cache_scheme");
  if (kv != q.end() && !kv->is_null())
    return Unsupported("quantization_config.kv_cache_scheme: quantized KV caches are not supported");
  const auto sparsity = q.find("sparsity_config");
  if (sparsity != q.end() && sparsity->is_object() && !sparsity->empty() && sparsity->value("format", "dense") != "dense")
    return Unsupported("quantization_config.sparsity_config: sparse weights are not supported");
  const auto list = q.find("config_groups");
  if (list == q.end() || !list->is_object() || list->empty())
    return InvalidArgument("quantization_config has no config_groups");
  const std::string default_format = q.value("format", "pack-quantized");
  for (const auto& item : list->items()) {
    CtGroup g;
    EDGELM_RETURN_IF_ERROR(ParseGroup(item.key(), item.value(), default_format, &g));
    groups->push_back(std::move(g));
  }
  if (q.contains("ignore") && !q.at("ignore").is_null())
    EDGELM_RETURN_IF_ERROR(ParseTargets(q.at("ignore"), "quantization_config.ignore", ignore));
  return Status::Ok();
}

// Integer codes of one module, row by row: compressed-tensors pack_to_int32 (offset binary, element j
// at bits [j*bits, j*bits+bits) of the row's little-endian int32 stream, rows padded to whole words)
// or plain int8.
struct CodeReader {
  const StTensor* tensor = nullptr;
  bool packed = false;
  int bits = 8;
  int64_t cols = 0;

  static int64_t WordsPerRow(int64_t cols, int bits) { return (cols * bits + 31) / 32; }

  void Row(int64_t r, int8_t* out) const {
    if (!packed) {
      std::memcpy(out, tensor->data + r * cols, static_cast<size_t>(cols));
      return;
    }
    const uint8_t* row = tensor->data + r * WordsPerRow(cols, bits) * 4;
    const uint32_t mask = (1u << bits) - 1;
    const int offset = 1 << (bits - 1);
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t bit = c * bits;
      uint32_t word;
      std::memcpy(&word, row + (bit / 32) * 4, 4);
      out[c] = static_cast<int8_t>(static_cast<int>((word >> (bit % 32)) & mask) - offset);
    }
  }
};

DType CodeDType(int bits) { return bits == 8 ? DType::I8 : bits == 4 ? DType::I4 : DType::I2; }

// A scalar activation scale `module`.`kind`_scale: present exactly when the group quantizes that side,
// one positive finite float, zero point (if stored) 0.
Status ActivationScale(const SafetensorsCheckpoint& ck, const std::string& module, const std::string& kind, bool expected,
                       float* scale) {
  const StTensor* t = ck.Find(module + "." + kind + "_scale");
  if (!expected) {
    if (t) return InvalidArgument(kind + "_scale is stored but the group has no " + kind + "_activations");
    return Status::Ok();
  }
  if (!t) return NotFound("no " + kind + "_scale, although the group has " + kind + "_activations");
  if (!IsFloat(t->dtype) || t->numel() != 1) return InvalidArgument(kind + "_scale must be one float");
  *scale = t->Get(0);
  if (!(std::isfinite(*scale) && *scale > 0.0f))
    return InvalidArgument(kind + "_scale " + std::to_string(*scale) + " must be positive and finite");
  if (const StTensor* zp = ck.Find(module + "." + kind + "_zero_point"))
    for (int64_t i = 0; i < zp->numel(); ++i)
      if (zp->Get(i) != 0.0f) return Unsupported(kind + "_zero_point is not 0 (asymmetric activations)");
  return Status::Ok();
}

std::string Describe(const std::vector<CtGroup>& groups, bool tied) {
  std::string d = "compressed-tensors checkpoint; integer codes and scales are the checkpoint's own (bf16/f16 scales "
                  "widened exactly to fp32). Groups:";
  for (const CtGroup& g : groups) {
    d += " " + g.name + " " + std::to_string(g.bits) + "-bit " +
         (g.group_size > 0 ? "groups of " + std::to_string(g.group_size) : std::string("per channel")) +
         (g.input_activations ? ", static int8 input [-128,127]" : "") +
         (g.output_activations ? " and output requantization" : "") + ";";
  }
  d += std::string(" The output head (") + (tied ? "tied embed_tokens" : "lm_head") +
       ") and any linear without activation scales quantize their input per token, asymmetric int8 (LiteRT's CT "
       "path keeps the head's activations float). The checkpoint has no KV-cache scales: sessions use their own KV type.";
  return d;
}

}  // namespace

Status CtCheckpoint::Open(const std::string& dir, std::unique_ptr<CtCheckpoint>* out) {
  const std::string path = dir + "/config.json";
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open");
  const json config = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) return InvalidArgument(path + ": not valid JSON");
  std::unique_ptr<CtCheckpoint> ck(new CtCheckpoint());
  ck->dir_ = dir;
  const auto q = config.find("quantization_config");
  if (q == config.end()) return InvalidArgument(path + ": no quantization_config");
  ck->quantization_config_ = *q;
  try {
    EDGELM_RETURN_IF_ERROR(Prefixed(ParseQuantizationConfig(*q, &ck->groups_, &ck->ignore_), path));
  } catch (const std::exception& e) {
    return InvalidArgument(path + ": quantization_config: " + e.what());
  }
  EDGELM_RETURN_IF_ERROR(SafetensorsCheckpoint::Open(dir, &ck->tensors_));
  ck->text_prefix_ = "model.";
  for (const auto& kv : ck->tensors_->tensors())
    if (kv.first.rfind("model.language_model.", 0) == 0) {
      ck->text_prefix_ = "model.language_model.";
      break;
    }
  *out = std::move(ck);
  return Status::Ok();
}

bool CtCheckpoint::HasLmHead() const {
  return tensors_->Find("lm_head.weight") || tensors_->Find("lm_head.weight_packed");
}

std::string CtCheckpoint::ModuleName(const TensorInfo& info) const {
  if (info.role == TensorRole::kLmHead) return "lm_head";  // HF keeps the head outside the text model
  const std::string& n = info.name;
  const bool has_suffix = n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0;
  return text_prefix_ + n.substr(0, n.size() - (has_suffix ? 7 : 0));
}

Status CtCheckpoint::SelectGroup(const std::string& module, const TensorInfo& info, const CtGroup** group) const {
  *group = nullptr;
  const char* class_name = ModuleClass(info.role);
  if (BestMatch(ignore_, module, class_name) != MatchLevel::kNone) return Status::Ok();
  MatchLevel best = MatchLevel::kNone;
  std::vector<const CtGroup*> best_groups;
  for (const CtGroup& g : groups_) {
    const MatchLevel level = BestMatch(g.targets, module, class_name);
    if (level == MatchLevel::kNone || level < best) continue;
    if (level > best) best_groups.clear();
    best = level;
    best_groups.push_back(&g);
  }
  if (best_groups.size() > 1)
    return InvalidArgument("module '" + module + "' matches config groups '" + best_groups[0]->name + "' and '" +
                           best_groups[1]->name + "' (both by " + MatchLevelName(best) + ")");
  if (!best_groups.empty()) *group = best_groups[0];
  return Status::Ok();
}

Status CtCheckpoint::Spec(const TensorInfo& info, bool is_head, TensorSpec* out) const {
  Status s;
  if (!info.is_matrix()) {
    s = FloatSpec(text_prefix_ + info.name, info, /*is_matrix=*/false, out);
  } else {
    const std::string module = ModuleName(info);
    const CtGroup* group = nullptr;
    s = SelectGroup(module, info, &group);
    if (s.ok() && group) {
      s = Prefixed(QuantizedSpec(module, info, *group, is_head, out),
                   "module '" + module + "' (config group '" + group->name + "')");
    } else if (s.ok()) {
      const StTensor* w = tensors_->Find(module + ".weight");
      if (tensors_->Find(module + ".weight_packed") || (w && !IsFloat(w->dtype)))
        s = InvalidArgument("module '" + module + "' is stored quantized but matches no config group (or is ignored)");
      else
        s = FloatSpec(module + ".weight", info, /*is_matrix=*/true, out);
    }
  }
  return Prefixed(s, dir_);
}

// Unquantized tensors: norms and layer scalars become f32 (exact); an ignored linear keeps its float dtype.
Status CtCheckpoint::FloatSpec(const std::string& tensor_name, const TensorInfo& info, bool is_matrix,
                               TensorSpec* out) const {
  const StTensor* t = tensors_->Find(tensor_name);
  if (!t) return NotFound("tensor '" + tensor_name + "' is missing");
  if (!IsFloat(t->dtype)) return InvalidArgument("tensor '" + tensor_name + "' is not a float tensor");
  if (t->shape != info.shape)
    return InvalidArgument("tensor '" + tensor_name + "' has shape " + ShapeString(t->shape) + ", the config implies " +
                           ShapeString(info.shape));
  out->name = info.name;
  out->shape = info.shape;
  out->dtype = !is_matrix || t->dtype == StDType::kF32 ? DType::F32 : t->dtype == StDType::kBF16 ? DType::BF16 : DType::F16;
  const bool copy = is_matrix || t->dtype == StDType::kF32;
  const int64_t cols = info.shape.back();
  out->fill = [t, cols, copy](int64_t r0, int64_t r1, uint8_t* data, float*) {
    if (copy) {
      const uint64_t row_bytes = static_cast<uint64_t>(cols) * (t->size / static_cast<uint64_t>(t->numel()));
      std::memcpy(data, t->data + r0 * row_bytes, static_cast<size_t>(r1 - r0) * row_bytes);
    } else {
      t->Read(r0 * cols, (r1 - r0) * cols, reinterpret_cast<float*>(data));
    }
    return Status::Ok();
  };
  return Status::Ok();
}

Status CtCheckpoint::QuantizedSpec(const std::string& module, const TensorInfo& info, const CtGroup& group, bool is_head,
                                   TensorSpec* out) const {
  const SafetensorsCheckpoint& ck = *tensors_;
  const int64_t rows = info.shape[0], cols = info.shape[1];
  // Tables are gathered by row: they take no activations, and only they may carry group scales.
  const bool gathered = !is_head && (info.role == TensorRole::kEmbedding || info.role == TensorRole::kPleTable);
  if (gathered && group.input_activations)
    return InvalidArgument("is a gathered table, but its group quantizes activations");
  if (is_head && group.input_activations)
    return Unsupported("is the output head, whose input edgelm quantizes per token; its group gives it a static "
                       "activation scale");
  int64_t scales_per_row = 1;
  if (group.group_size > 0 && group.group_size != cols) {
    if (cols % group.group_size != 0)
      return InvalidArgument(std::to_string(cols) + " columns do not split into groups of " +
                             std::to_string(group.group_size));
    if (!gathered)
      return Unsupported("group-wise scales on a linear: edgelm's linears take one scale per row");
    scales_per_row = cols / group.group_size;
  }
  if (ck.Find(module + ".weight_g_idx")) return Unsupported("has weight_g_idx (activation reordering is not supported)");

  CodeReader codes{nullptr, group.packed, group.bits, cols};
  if (group.packed) {
    codes.tensor = ck.Find(module + ".weight_packed");
    const StTensor* shape = ck.Find(module + ".weight_shape");
    if (!codes.tensor || !shape) return NotFound("weight_packed or weight_shape is missing (pack-quantized)");
    if ((shape->dtype != StDType::kI64 && shape->dtype != StDType::kI32) || shape->numel() != 2)
      return InvalidArgument("weight_shape must be two integers");
    const bool wide = shape->dtype == StDType::kI64;
    std::vector<int64_t> logical(2);
    for (int i = 0; i < 2; ++i) {
      int64_t v = 0;
      std::memcpy(&v, shape->data + i * (wide ? 8 : 4), wide ? 8 : 4);
      logical[i] = wide ? v : static_cast<int32_t>(v);
    }
    if (logical != info.shape)
      return InvalidArgument("weight_shape " + ShapeString(logical) + " differs from the config's " + ShapeString(info.shape));
    const std::vector<int64_t> packed_shape{rows, CodeReader::WordsPerRow(cols, group.bits)};
    if (codes.tensor->dtype != StDType::kI32 || codes.tensor->shape != packed_shape)
      return InvalidArgument("weight_packed must be I32 " + ShapeString(packed_shape) + " for " + std::to_string(group.bits) +
                             "-bit codes of " + ShapeString(info.shape) + ", got " + ShapeString(codes.tensor->shape));
  } else {
    codes.tensor = ck.Find(module + ".weight");
    if (!codes.tensor) return NotFound("weight is missing (int-quantized)");
    if (codes.tensor->dtype != StDType::kI8 || codes.tensor->shape != info.shape)
      return InvalidArgument("weight must be I8 " + ShapeString(info.shape) + " (int-quantized), got " +
                             ShapeString(codes.tensor->shape));
  }

  const StTensor* scales = ck.Find(module + ".weight_scale");
  if (!scales) return NotFound("weight_scale is missing");
  const bool scale_shape_ok = scales_per_row == 1 ? scales->shape == std::vector<int64_t>{rows, 1} ||
                                                        scales->shape == std::vector<int64_t>{rows}
                                                  : scales->shape == std::vector<int64_t>{rows, scales_per_row};
  if (!IsFloat(scales->dtype) || !scale_shape_ok)
    return InvalidArgument("weight_scale must be float [" + std::to_string(rows) + "," + std::to_string(scales_per_row) +
                           "], got " + ShapeString(scales->shape));
  for (int64_t i = 0; i < scales->numel(); ++i) {
    const float s = scales->Get(i);
    if (!(std::isfinite(s) && s > 0.0f))
      return InvalidArgument("weight_scale[" + std::to_string(i) + "] = " + std::to_string(s) + ": scales must be positive and finite");
  }
  if (const StTensor* zp = ck.Find(module + ".weight_zero_point"))
    for (int64_t i = 0; i < zp->numel(); ++i)
      if (zp->Get(i) != 0.0f) return Unsupported("weight_zero_point is not 0 (asymmetric weights)");

  float input_scale = 0.0f, output_scale = 0.0f;
  EDGELM_RETURN_IF_ERROR(ActivationScale(ck, module, "input", group.input_activations, &input_scale));
  EDGELM_RETURN_IF_ERROR(ActivationScale(ck, module, "output", group.output_activations, &output_scale));

  // Packed 2/4-bit codes always fit; int8 storage and packed 8-bit can hold -128 (or, int-quantized,
  // anything): refuse rather than clamp, since clamping would change the trained weights.
  const DType dtype = CodeDType(group.bits);
  if (!group.packed || group.bits == 8) {
    int qmin, qmax;
    CodeRange(dtype, &qmin, &qmax);
    int64_t outside = 0;
    std::vector<int8_t> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      codes.Row(r, row.data());
      for (int8_t q : row) outside += q < qmin || q > qmax;
    }
    if (outside > 0)
      return InvalidArgument(std::to_string(outside) + " of its " + std::to_string(group.bits) + "-bit codes lie outside [" +
                             std::to_string(qmin) + ", " + std::to_string(qmax) + "]" +
                             (group.bits == 8 ? " (-128: edgelm's int8 kernels are symmetric; not clamped)" : ""));
  }

  out->name = info.name;
  out->shape = info.shape;
  out->dtype = dtype;
  out->per_row_scales = true;
  out->scale_group_size = scales_per_row > 1 ? group.group_size : 0;
  out->activation = group.input_activations ? ActivationQuant::StaticInt8Full
                    : gathered              ? ActivationQuant::None
                                            : ActivationQuant::DynamicInt8Asymmetric;
  out->input_scale = input_scale;
  out->output_scale = output_scale;
  out->fill = [codes, scales, dtype, cols, scales_per_row](int64_t r0, int64_t r1, uint8_t* data, float* row_scales) {
    uint64_t row_bytes = 0;
    EDGELM_RETURN_IF_ERROR(RowBytes(dtype, cols, &row_bytes));
    std::vector<int8_t> row(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      codes.Row(r, row.data());
      PackCodes(dtype, row.data(), cols, data + (r - r0) * row_bytes);
    }
    scales->Read(r0 * scales_per_row, (r1 - r0) * scales_per_row, row_scales);
    return Status::Ok();
  };
  return Status::Ok();
}

Status ImportCompressedTensors(const std::string& dir, const ImportOptions& options, ImportedModel* out) {
  if (!options.hf_config.empty())
    return InvalidArgument("--config does not apply: " + dir + "/config.json is the checkpoint's own Hugging Face config");
  ModelMetadata& meta = out->meta;
  HfSpecialIds ids;
  EDGELM_RETURN_IF_ERROR(ParseHfConfigFile(dir + "/config.json", &meta.config, &ids));
  std::unique_ptr<CtCheckpoint> opened;
  EDGELM_RETURN_IF_ERROR(CtCheckpoint::Open(dir, &opened));
  const std::shared_ptr<const CtCheckpoint> ck(std::move(opened));
  // HF ties the head to embed_tokens exactly when the checkpoint stores no lm_head.
  meta.config.tie_word_embeddings = !ck->HasLmHead();
  // The mobile QAT run calibrated per_layer_model_projection's output scale on W·(√H·e), the bundle's
  // graph, which then normalizes without HF's 1/√H factor (the factor only moves eps; brown-tiny's CT
  // reference: 0.031 -> 0.021 mean |Δ| logits at seq64 without it).
  meta.config.ple_projection_scale = 1.0f;
  for (const TensorInfo& info : Gemma4TensorManifest(meta.config)) {
    const bool is_head = info.role == TensorRole::kLmHead ||
                         (info.role == TensorRole::kEmbedding && meta.config.tie_word_embeddings);
    TensorSpec spec;
    EDGELM_RETURN_IF_ERROR(ck->Spec(info, is_head, &spec));
    out->specs.push_back(std::move(spec));
  }
  out->keep_alive.push_back(ck);

  const std::string tokenizer = FindCheckpointTokenizer(dir);
  if (!tokenizer.empty()) {
    EDGELM_RETURN_IF_ERROR(ImportCheckpointTokenizer(tokenizer, ids, meta.config.vocab_size, &out->tokenizer));
    meta.tokenizer = &out->tokenizer;
  }
  meta.recipe = "compressed-tensors";
  meta.recipe_description = Describe(ck->groups(), meta.config.tie_word_embeddings);
  meta.recipe_json = ck->quantization_config().dump(2);
  meta.source = dir;
  meta.source_format = SourceFormatName(SourceFormat::kCompressedTensors);
  return Status::Ok();
}

}  // namespace edgelm
