#include "convert/converter.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "convert/calibrate.h"
#include "convert/checkpoint_tokenizer.h"
#include "convert/hf_config.h"
#include "convert/importer.h"
#include "convert/recipe.h"
#include "convert/safetensors.h"
#include "model/gemma4_tensors.h"

namespace edgelm {
namespace {

using nlohmann::json;

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Status ReadText(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return Status::Ok();
}

// Checkpoint tensor name for a manifest name: text-only exports use "model.", multimodal ones
// "model.language_model.".
const StTensor* FindCheckpointTensor(const SafetensorsCheckpoint& ck, const std::string& name,
                                     const std::string& suffix = "") {
  for (const char* prefix : {"model.", "model.language_model.", ""}) {
    std::string full = prefix + name;
    if (!suffix.empty()) {
      const size_t dot = full.rfind(".weight");
      full = (dot != std::string::npos ? full.substr(0, dot) : full) + suffix;
    }
    if (const StTensor* t = ck.Find(full)) return t;
  }
  return nullptr;
}

Status CheckShape(const std::string& name, const std::vector<int64_t>& got, const std::vector<int64_t>& want) {
  if (got == want) return Status::Ok();
  auto str = [](const std::vector<int64_t>& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
    return r + "]";
  };
  return InvalidArgument("tensor '" + name + "' has shape " + str(got) + ", the config implies " + str(want));
}

// Counter-based generator: the value of (tensor, row, col) does not depend on chunking.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void SyntheticRows(uint64_t seed, size_t tensor_index, const TensorInfo& t, int64_t r0, int64_t r1, float* out) {
  const int64_t cols = t.shape.back();
  if (t.role == TensorRole::kNorm) {
    for (int64_t i = 0; i < (r1 - r0) * cols; ++i) out[i] = 1.0f;
    return;
  }
  // Uniform with the variance of N(0, 1/fan_in): a = sqrt(3 / fan_in).
  const float a = std::sqrt(3.0f / static_cast<float>(cols));
  for (int64_t r = r0; r < r1; ++r) {
    uint64_t state = Mix(seed ^ Mix(tensor_index * 0x100000001b3ull + static_cast<uint64_t>(r)));
    float* row = out + (r - r0) * cols;
    for (int64_t c = 0; c < cols; ++c) {
      state = Mix(state);
      row[c] = a * (static_cast<float>(state >> 40) * (2.0f / 16777216.0f) - 1.0f);
    }
  }
}

// Static scale of synthetic models: RMS-normalized activations of magnitude ~1, max ~4.
constexpr float kSyntheticScale = 4.0f / 127.0f;

// Builds one TensorSpec that reads float rows from `read` and encodes them.
TensorSpec FloatTensorSpec(const TensorInfo& info, const TensorEncoding& enc, float input_scale, float output_scale,
                           ScaleSearch search, std::function<Status(int64_t, int64_t, float*)> read) {
  TensorSpec spec;
  spec.name = info.name;
  spec.shape = info.shape;
  spec.dtype = enc.dtype;
  spec.per_row_scales = enc.dtype == DType::I8 || enc.dtype == DType::I4 || enc.dtype == DType::I2;
  spec.activation = enc.activation;
  spec.input_scale = enc.static_input() ? input_scale : 0.0f;
  spec.output_scale = enc.output_scale ? output_scale : 0.0f;
  const int64_t cols = info.shape.back();
  const DType dtype = enc.dtype;
  // Grouped scales: each group is encoded as a row of its own, so it must start on a byte boundary.
  uint64_t group_bytes = 0;
  const bool grouped = spec.per_row_scales && enc.scale_group_size > 0 && cols % enc.scale_group_size == 0 &&
                       RowBytes(dtype, enc.scale_group_size, &group_bytes).ok() &&
                       group_bytes * 8 == static_cast<uint64_t>(enc.scale_group_size) * (dtype == DType::I8 ? 8 : dtype == DType::I4 ? 4 : 2);
  const int64_t group = grouped ? enc.scale_group_size : cols;
  spec.scale_group_size = grouped ? group : 0;
  spec.fill = [read, cols, dtype, search, group, group_bytes](int64_t r0, int64_t r1, uint8_t* data, float* scales) -> Status {
    std::vector<float> rows(static_cast<size_t>((r1 - r0) * cols));
    EDGELM_RETURN_IF_ERROR(read(r0, r1, rows.data()));
    uint64_t row_bytes = 0;
    EDGELM_RETURN_IF_ERROR(RowBytes(dtype, cols, &row_bytes));
    const int64_t groups = cols / group;
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t g = 0; g < groups; ++g)
        EDGELM_RETURN_IF_ERROR(EncodeRow(dtype, rows.data() + (r - r0) * cols + g * group, group, search,
                                         data + (r - r0) * row_bytes + g * (groups > 1 ? group_bytes : 0),
                                         scales ? scales + (r - r0) * groups + g : nullptr));
    return Status::Ok();
  };
  return spec;
}

// QAT export: codes and scales are copied exactly as trained.
Status QatTensorSpec(const SafetensorsCheckpoint& ck, const json& recipe, const TensorInfo& info, TensorSpec* spec) {
  std::string hf = "model." + info.name;
  const std::string key = hf.substr(0, hf.size() - (hf.size() > 7 && hf.compare(hf.size() - 7, 7, ".weight") == 0 ? 7 : 0));
  const json& entries = recipe.at("tensors");
  spec->name = info.name;
  spec->shape = info.shape;
  if (!entries.contains(key)) {  // float tensor (norms, scalars)
    const StTensor* t = FindCheckpointTensor(ck, info.name);
    if (!t) return NotFound("tensor '" + hf + "' missing from the QAT checkpoint");
    EDGELM_RETURN_IF_ERROR(CheckShape(hf, t->shape, info.shape));
    spec->dtype = DType::F32;
    spec->fill = [t, cols = info.shape.back()](int64_t r0, int64_t r1, uint8_t* data, float*) {
      t->Read(r0 * cols, (r1 - r0) * cols, reinterpret_cast<float*>(data));
      return Status::Ok();
    };
    return Status::Ok();
  }
  const json& e = entries.at(key);
  const StTensor* q = ck.Find(e.at("qweight").get<std::string>());
  const StTensor* s = ck.Find(e.at("scale").get<std::string>());
  if (!q || !s || q->dtype != StDType::kI8) return NotFound("QAT codes or scales of '" + key + "' missing or not int8");
  EDGELM_RETURN_IF_ERROR(CheckShape(key + ".qweight", q->shape, info.shape));
  const int bits = e.at("bits").get<int>();
  const std::string granularity = e.at("granularity").get<std::string>();
  const int64_t rows = info.shape.size() == 2 ? info.shape[0] : 1, cols = info.shape.back();
  if (granularity == "q4_0_block32") {
    if (s->numel() != rows * (cols / kQ4_0BlockSize)) return InvalidArgument("Q4_0 scales of '" + key + "' have the wrong size");
    spec->dtype = DType::Q4_0;
  } else if (granularity == "per_channel" || granularity == "per_row") {
    if (s->numel() != rows) return InvalidArgument("per-row scales of '" + key + "' have the wrong size");
    if (bits == 8) spec->dtype = DType::I8;
    else if (bits == 4) spec->dtype = DType::I4;
    else if (bits == 2) spec->dtype = DType::I2;
    else return Unsupported("'" + key + "': " + std::to_string(bits) + "-bit weights");
    spec->per_row_scales = true;
  } else {
    return Unsupported("'" + key + "': granularity " + granularity);
  }
  int qmin = -8, qmax = 7;
  if (spec->dtype != DType::Q4_0) CodeRange(spec->dtype, &qmin, &qmax);
  const int8_t* codes = reinterpret_cast<const int8_t*>(q->data);
  for (int64_t i = 0; i < q->numel(); ++i)
    if (codes[i] < qmin || codes[i] > qmax) return InvalidArgument("'" + key + "': code out of range for its bit width");

  const std::string act = e.value("activation", "none");
  if (act == "static") {
    const StTensor* in = ck.Find(e.at("input_scale").get<std::string>());
    if (!in || in->numel() != 1) return NotFound("static input scale of '" + key + "' missing");
    spec->activation = ActivationQuant::StaticInt8;
    spec->input_scale = in->Get(0);
  } else if (info.role == TensorRole::kEmbedding && recipe.at("tied_lm_head").value("activation", "none") == "dynamic") {
    spec->activation = ActivationQuant::DynamicInt8;  // the tied head quantizes its input per token
  }
  const DType dtype = spec->dtype;
  spec->fill = [q, s, dtype, cols](int64_t r0, int64_t r1, uint8_t* data, float* scales) -> Status {
    uint64_t row_bytes = 0;
    EDGELM_RETURN_IF_ERROR(RowBytes(dtype, cols, &row_bytes));
    const int8_t* codes = reinterpret_cast<const int8_t*>(q->data);
    const int64_t blocks = cols / kQ4_0BlockSize;
    std::vector<float> block_scales(static_cast<size_t>(blocks));
    for (int64_t r = r0; r < r1; ++r) {
      uint8_t* dst = data + (r - r0) * row_bytes;
      if (dtype == DType::Q4_0) {
        s->Read(r * blocks, blocks, block_scales.data());
        PackQ4_0(codes + r * cols, block_scales.data(), cols, dst);
      } else {
        PackCodes(dtype, codes + r * cols, cols, dst);
        scales[r - r0] = s->Get(r);
      }
    }
    return Status::Ok();
  };
  return Status::Ok();
}

}  // namespace

bool IsQatCheckpoint(const std::string& dir) { return FileExists(dir + "/quant_recipe.json"); }

SourceFormat DetectSourceFormat(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return SourceFormat::kUnknown;
  if (S_ISREG(st.st_mode)) {
    char magic[8] = {};
    std::ifstream in(path, std::ios::binary);
    in.read(magic, sizeof magic);
    if (in.gcount() == 8 && std::memcmp(magic, "LITERTLM", 8) == 0) return SourceFormat::kLitertlm;
    if (in.gcount() >= 4 && std::memcmp(magic, "GGUF", 4) == 0) return SourceFormat::kGguf;
    return SourceFormat::kUnknown;
  }
  if (!S_ISDIR(st.st_mode)) return SourceFormat::kUnknown;
  if (IsQatCheckpoint(path)) return SourceFormat::kQatExport;
  std::string text;
  if (!ReadText(path + "/config.json", &text).ok()) return SourceFormat::kUnknown;
  const json config = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_object()) {
    const auto q = config.find("quantization_config");
    if (q != config.end() && q->is_object() && q->value("quant_method", "") == "compressed-tensors")
      return SourceFormat::kCompressedTensors;
  }
  return SourceFormat::kHfCheckpoint;
}

const char* SourceFormatName(SourceFormat format) {
  switch (format) {
    case SourceFormat::kUnknown: return "unknown";
    case SourceFormat::kHfCheckpoint: return "safetensors";
    case SourceFormat::kQatExport: return "qat-export";
    case SourceFormat::kCompressedTensors: return "compressed-tensors";
    case SourceFormat::kLitertlm: return "litertlm";
    case SourceFormat::kGguf: return "gguf";
  }
  return "unknown";
}

namespace {

// Published files carry their own codes, scales and tokenizer: no recipe or calibration applies.
Status ConvertPublished(const ConvertOptions& o, SourceFormat format, const WriteProgress& progress) {
  if (o.format_given || !o.tensor_types.empty() || !o.calibration_text.empty())
    return InvalidArgument(o.input + ": a " + SourceFormatName(format) +
                           " file keeps its published quantization; --format, --tensor-type and --calibration do not apply");
  ImportedModel model;
  ImportOptions options;
  options.hf_config = o.hf_config;
  Status s = format == SourceFormat::kLitertlm ? ImportLitertlm(o.input, options, &model)
           : format == SourceFormat::kGguf     ? ImportGguf(o.input, options, &model)
                                               : ImportCompressedTensors(o.input, options, &model);
  EDGELM_RETURN_IF_ERROR(s);
  if (!o.tokenizer.empty()) return InvalidArgument("--tokenizer does not apply: " + o.input + " brings its own");
  model.meta.source_format = SourceFormatName(format);
  // The file a user downloaded, to match against the publisher's hash (a CT checkpoint: its weights).
  const std::string hashed = format == SourceFormat::kCompressedTensors ? o.input + "/model.safetensors" : o.input;
  if (FileExists(hashed)) EDGELM_RETURN_IF_ERROR(Sha256File(hashed, &model.meta.source_sha256));
  if (model.meta.source.empty()) model.meta.source = o.input;
  model.meta.command_line = o.command_line;
  if (!model.tokenizer.pieces.empty()) model.meta.tokenizer = &model.tokenizer;
  return WriteModelFile(o.output, model.meta, model.specs, progress);
}

}  // namespace

Status Convert(const ConvertOptions& o, const WriteProgress& progress) {
  const bool synthetic = !o.synthesize_config.empty();
  if (!synthetic) {
    const SourceFormat format = DetectSourceFormat(o.input);
    if (format == SourceFormat::kUnknown)
      return InvalidArgument(o.input + ": not a checkpoint directory, .litertlm bundle or GGUF file");
    if (format == SourceFormat::kLitertlm || format == SourceFormat::kGguf || format == SourceFormat::kCompressedTensors)
      return ConvertPublished(o, format, progress);
  }
  const bool qat = !synthetic && IsQatCheckpoint(o.input);
  ModelMetadata meta;
  HfSpecialIds ids;
  EDGELM_RETURN_IF_ERROR(ParseHfConfigFile(synthetic ? o.synthesize_config : o.input + "/config.json", &meta.config, &ids));
  if (o.embed_scale_bf16) meta.config.embed_scale = BF16ToFloat(FloatToBF16(meta.config.embed_scale));

  TokenizerData tokenizer;
  const std::string tokenizer_path = !o.tokenizer.empty() ? o.tokenizer : synthetic ? "" : FindCheckpointTokenizer(o.input);
  if (!tokenizer_path.empty()) {
    EDGELM_RETURN_IF_ERROR(ImportCheckpointTokenizer(tokenizer_path, ids, meta.config.vocab_size, &tokenizer));
    meta.tokenizer = &tokenizer;
  }
  meta.source = synthetic ? "synthetic:" + o.synthesize_config : o.input;
  meta.source_format = synthetic ? "synthetic" : SourceFormatName(qat ? SourceFormat::kQatExport : SourceFormat::kHfCheckpoint);
  meta.command_line = o.command_line;

  std::unique_ptr<SafetensorsCheckpoint> ck;
  if (!synthetic) EDGELM_RETURN_IF_ERROR(SafetensorsCheckpoint::Open(o.input, &ck));

  const std::vector<TensorInfo> manifest = Gemma4TensorManifest(meta.config);
  std::vector<TensorSpec> specs;
  if (qat) {
    json recipe;
    std::string text;
    EDGELM_RETURN_IF_ERROR(ReadText(o.input + "/quant_recipe.json", &text));
    try {
      recipe = json::parse(text);
      meta.recipe = "qat:" + recipe.at("recipe").get<std::string>();
      meta.recipe_description = recipe.value("description", "");
      for (const TensorInfo& info : manifest) {
        TensorSpec spec;
        Status s = QatTensorSpec(*ck, recipe, info, &spec);
        if (!s.ok()) return Status(s.code(), o.input + ": " + s.message());
        specs.push_back(std::move(spec));
      }
    } catch (const std::exception& e) {
      return InvalidArgument(o.input + "/quant_recipe.json: " + e.what());
    }
    meta.recipe_json = text;
  } else {
    Recipe recipe;
    EDGELM_RETURN_IF_ERROR(Recipe::Create(o.format, o.tensor_types, &recipe));
    CalibratedScales calibrated;
    if (recipe.needs_static_scales() && !synthetic) {
      if (o.calibration_text.empty())
        return InvalidArgument("format '" + o.format + "' from float weights needs --calibration TEXTFILE "
                               "(static activation scales)");
      ConvertOptions f32 = o;
      f32.format = "f32";
      f32.tensor_types.clear();
      f32.calibration_text.clear();
      f32.output = o.output + ".calibration-f32";
      Status s = Convert(f32, nullptr);
      if (s.ok()) s = CalibrateStaticScales(f32.output, o.calibration_text, CalibrationOptions{}, &calibrated);
      std::remove(f32.output.c_str());
      EDGELM_RETURN_IF_ERROR(s);
    }
    meta.recipe = recipe.name();
    meta.recipe_description = recipe.description();
    if (recipe.published()) {  // static int8 KV in TFLite's range, with calibrated per-owner scales
      for (int l = 0; l < meta.config.num_layers(); ++l) {
        if (!meta.config.owns_kv(l)) continue;
        LayerConfig& lc = meta.config.layers[l];
        lc.kv_k_scale = synthetic ? kSyntheticScale : calibrated.key.count(l) ? calibrated.key.at(l) : 0.0f;
        lc.kv_v_scale = synthetic ? kSyntheticScale : calibrated.value.count(l) ? calibrated.value.at(l) : 0.0f;
        lc.kv_int8_full_range = true;
      }
      for (LayerConfig& lc : meta.config.layers) {  // KV-sharing layers read their owner's scales
        lc.kv_k_scale = meta.config.layers[lc.kv_source].kv_k_scale;
        lc.kv_v_scale = meta.config.layers[lc.kv_source].kv_v_scale;
        lc.kv_int8_full_range = true;
      }
    }
    for (size_t i = 0; i < manifest.size(); ++i) {
      const TensorInfo& info = manifest[i];
      const TensorEncoding enc = recipe.Choose(info);
      // Synthetic models: RMS-normalized inputs and outputs of magnitude ~1 (max ~4) take fixed scales.
      float input_scale = kSyntheticScale, output_scale = kSyntheticScale;
      if (!synthetic && enc.static_input()) {
        auto it = calibrated.input.find(info.name);
        if (it == calibrated.input.end()) return Status(StatusCode::kInternal, "calibration saw no input of '" + info.name + "'");
        input_scale = it->second;
      }
      if (!synthetic && enc.output_scale) {
        auto it = calibrated.output.find(info.name);
        if (it == calibrated.output.end()) return Status(StatusCode::kInternal, "calibration saw no output of '" + info.name + "'");
        output_scale = it->second;
      }
      std::function<Status(int64_t, int64_t, float*)> read;
      if (synthetic) {
        read = [seed = o.seed, i, info](int64_t r0, int64_t r1, float* out) {
          SyntheticRows(seed, i, info, r0, r1, out);
          return Status::Ok();
        };
      } else {
        const StTensor* t = FindCheckpointTensor(*ck, info.name);
        if (!t) return NotFound(o.input + ": tensor 'model." + info.name + "' missing from the checkpoint");
        const std::vector<int64_t> want = info.shape;
        EDGELM_RETURN_IF_ERROR(CheckShape(info.name, t->shape, want));
        read = [t, cols = info.shape.back()](int64_t r0, int64_t r1, float* out) {
          t->Read(r0 * cols, (r1 - r0) * cols, out);
          return Status::Ok();
        };
      }
      specs.push_back(FloatTensorSpec(info, enc, input_scale, output_scale, synthetic ? ScaleSearch::kAbsMax : o.scale_search,
                                      read));
    }
  }
  return WriteModelFile(o.output, meta, specs, progress);
}

}  // namespace edgelm
