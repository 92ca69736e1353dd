// compressed-tensors import (published_mobile_format.md §4-§6): the §6.2 bit-packing vectors as tiny
// checkpoints checked code by code, brown-tiny's CT checkpoint against its QAT export (codes identical,
// scales bf16-rounded), and checkpoints that must be refused with a message naming the problem.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/npy.h"
#include "convert/ct_import.h"
#include "convert/safetensors.h"
#include "support/test_models.h"

namespace edgelm {
namespace {

using nlohmann::json;
using testing::SharedPath;

const std::string kCtDir = "models/brown-tiny/published/ct";
const std::string kQatDir = "models/brown-tiny/qat-mobile";

// --- A small safetensors reader/writer: the fixtures are built and mutated through it. ---------------

struct StEntry {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
using StFile = std::map<std::string, StEntry>;

template <typename T>
StEntry Entry(const char* dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  StEntry e{dtype, std::move(shape), std::vector<uint8_t>(values.size() * sizeof(T))};
  std::memcpy(e.bytes.data(), values.data(), e.bytes.size());
  return e;
}

void WriteSafetensors(const std::string& path, const StFile& file) {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& kv : file) {
    header[kv.first] = {{"dtype", kv.second.dtype}, {"shape", kv.second.shape},
                        {"data_offsets", {offset, offset + kv.second.bytes.size()}}};
    offset += kv.second.bytes.size();
  }
  const std::string text = header.dump();
  const uint64_t len = text.size();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(text.data(), static_cast<std::streamsize>(len));
  for (const auto& kv : file)
    out.write(reinterpret_cast<const char*>(kv.second.bytes.data()), static_cast<std::streamsize>(kv.second.bytes.size()));
}

StFile ReadSafetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint64_t len = 0;
  in.read(reinterpret_cast<char*>(&len), 8);
  std::string text(len, '\0');
  in.read(&text[0], static_cast<std::streamsize>(len));
  const std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const json header = json::parse(text);
  StFile file;
  for (const auto& kv : header.items()) {
    if (kv.key() == "__metadata__") continue;
    const uint64_t begin = kv.value()["data_offsets"][0], end = kv.value()["data_offsets"][1];
    file[kv.key()] = {kv.value()["dtype"], kv.value()["shape"].get<std::vector<int64_t>>(),
                      std::vector<uint8_t>(data.begin() + static_cast<std::ptrdiff_t>(begin),
                                           data.begin() + static_cast<std::ptrdiff_t>(end))};
  }
  return file;
}

json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::string WriteCheckpoint(const std::string& name, const json& config, const StFile& tensors) {
  const std::string dir = testing::TempDir() + "/" + name;
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << config.dump(1);
  WriteSafetensors(dir + "/model.safetensors", tensors);
  return dir;
}

// --- Single modules ---------------------------------------------------------------------------------

const std::string kModule = "model.language_model.layers.0.mlp.down_proj";

json Scheme(int bits, const std::string& strategy = "channel", int group_size = 0) {
  return {{"num_bits", bits}, {"type", "int"}, {"symmetric", true}, {"dynamic", false}, {"strategy", strategy},
          {"group_size", group_size > 0 ? json(group_size) : json(nullptr)}, {"actorder", nullptr}};
}

json StaticActivations() {
  return {{"num_bits", 8}, {"type", "int"}, {"symmetric", true}, {"dynamic", false}, {"strategy", "tensor"}};
}

json QuantConfig(const json& groups) {
  return {{"quantization_config",
           {{"quant_method", "compressed-tensors"}, {"format", "pack-quantized"}, {"kv_cache_scheme", nullptr},
            {"ignore", json::array()}, {"config_groups", groups}}}};
}

json OneGroup(const json& weights, bool activations = false, const std::string& format = "pack-quantized") {
  json g = {{"targets", {"re:.*mlp\\.down_proj$"}}, {"format", format}, {"weights", weights}};
  if (activations) g["input_activations"] = g["output_activations"] = StaticActivations();
  return QuantConfig({{"group_0", g}});
}

TensorInfo Module(int64_t rows, int64_t cols, TensorRole role = TensorRole::kMlp) {
  return TensorInfo{"layers.0.mlp.down_proj.weight", {rows, cols}, role, TensorSlot::kDownProj, 0, false};
}

StEntry Words(int64_t rows, std::vector<uint32_t> words) {
  const int64_t per_row = static_cast<int64_t>(words.size()) / rows;
  return Entry("I32", {rows, per_row}, words);
}
StEntry LogicalShape(int64_t rows, int64_t cols) { return Entry("I64", {2}, std::vector<int64_t>{rows, cols}); }
StEntry Bf16(std::vector<int64_t> shape, std::vector<uint16_t> bits) { return Entry("BF16", std::move(shape), bits); }

struct ImportedModule {
  TensorSpec spec;
  std::vector<uint8_t> data;  // the .edgelm row bytes
  std::vector<float> scales;
  std::vector<int> codes;     // decoded from `data` with the .edgelm dtype's rules
};

// Codes of the .edgelm dtypes: I8 bytes, I4 two's complement nibbles low first, I2 crumbs LSB first.
int CodeAt(DType dtype, const uint8_t* row, int64_t c) {
  if (dtype == DType::I8) return static_cast<int8_t>(row[c]);
  const int bits = dtype == DType::I4 ? 4 : 2, per_byte = 8 / bits;
  const int raw = (row[c / per_byte] >> ((c % per_byte) * bits)) & ((1 << bits) - 1);
  return raw >= (1 << (bits - 1)) ? raw - (1 << bits) : raw;
}

Status ImportModule(const std::string& dir, const TensorInfo& info, ImportedModule* out, bool is_head = false) {
  std::unique_ptr<CtCheckpoint> ck;
  EDGELM_RETURN_IF_ERROR(CtCheckpoint::Open(dir, &ck));
  EDGELM_RETURN_IF_ERROR(ck->Spec(info, is_head, &out->spec));
  const int64_t rows = info.shape[0], cols = info.shape[1];
  uint64_t row_bytes = 0;
  EDGELM_RETURN_IF_ERROR(RowBytes(out->spec.dtype, cols, &row_bytes));
  const int64_t groups = out->spec.scale_group_size > 0 ? cols / out->spec.scale_group_size : 1;
  out->data.assign(static_cast<size_t>(rows * row_bytes), 0);
  out->scales.assign(static_cast<size_t>(rows * groups), 0.0f);
  EDGELM_RETURN_IF_ERROR(out->spec.fill(0, rows, out->data.data(), out->scales.data()));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out->codes.push_back(CodeAt(out->spec.dtype, out->data.data() + r * row_bytes, c));
  return Status::Ok();
}

ImportedModule RequireImport(const std::string& dir, const TensorInfo& info, bool is_head = false) {
  ImportedModule m;
  const Status s = ImportModule(dir, info, &m, is_head);
  INFO(s.message());
  REQUIRE(s.ok());
  return m;
}

Status ImportError(const std::string& dir, const TensorInfo& info) {
  ImportedModule m;
  return ImportModule(dir, info, &m);
}

TEST_CASE("ct 2-bit: one packed word holds sixteen offset-binary codes, bf16 channel scale") {
  const std::string dir = WriteCheckpoint("ct-2bit", OneGroup(Scheme(2)),
                                          {{kModule + ".weight_packed", Words(1, {0xE4E4E4E4u})},
                                           {kModule + ".weight_shape", LogicalShape(1, 16)},
                                           {kModule + ".weight_scale", Bf16({1, 1}, {0x3F00})}});
  const ImportedModule m = RequireImport(dir, Module(1, 16));
  CHECK(m.spec.dtype == DType::I2);
  CHECK(m.codes == std::vector<int>{-2, -1, 0, 1, -2, -1, 0, 1, -2, -1, 0, 1, -2, -1, 0, 1});
  CHECK(m.scales == std::vector<float>{0.5f});
  CHECK(m.spec.scale_group_size == 0);
  // No activation scales on a linear: per-token asymmetric int8 inputs.
  CHECK(m.spec.activation == ActivationQuant::DynamicInt8Asymmetric);
}

TEST_CASE("ct 4-bit: group scales on a gathered table, rows of one word each") {
  const std::string dir = WriteCheckpoint("ct-4bit", OneGroup(Scheme(4, "group", 4)),
                                          {{kModule + ".weight_packed", Words(2, {0x76543210u, 0xFEDCBA98u})},
                                           {kModule + ".weight_shape", LogicalShape(2, 8)},
                                           {kModule + ".weight_scale", Bf16({2, 2}, {0x3F80, 0x4000, 0x4080, 0x4100})}});
  const ImportedModule m = RequireImport(dir, Module(2, 8, TensorRole::kPleTable));
  CHECK(m.spec.dtype == DType::I4);
  CHECK(m.codes == std::vector<int>{-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(m.data == std::vector<uint8_t>{0x98, 0xBA, 0xDC, 0xFE, 0x10, 0x32, 0x54, 0x76});
  CHECK(m.spec.scale_group_size == 4);
  CHECK(m.scales == std::vector<float>{1.0f, 2.0f, 4.0f, 8.0f});
  CHECK(m.spec.activation == ActivationQuant::None);

  // The same group scales on a linear have no kernel: refused, naming the module.
  const Status s = ImportError(dir, Module(2, 8));
  CHECK(s.code() == StatusCode::kUnsupported);
  CHECK(s.message().find(kModule) != std::string::npos);
  CHECK(s.message().find("group-wise scales") != std::string::npos);
}

TEST_CASE("ct row padding: each row starts a new int32, padding bits are dropped") {
  const std::string dir = WriteCheckpoint("ct-padding", OneGroup(Scheme(2)),
                                          {{kModule + ".weight_packed", Words(2, {0x000000E4u, 0x0000031Bu})},
                                           {kModule + ".weight_shape", LogicalShape(2, 5)},
                                           {kModule + ".weight_scale", Bf16({2, 1}, {0x3F80, 0x4000})}});
  const ImportedModule m = RequireImport(dir, Module(2, 5));
  CHECK(m.codes == std::vector<int>{-2, -1, 0, 1, -2, 1, 0, -1, -2, 1});
  CHECK(m.scales == std::vector<float>{1.0f, 2.0f});
}

TEST_CASE("ct 8-bit: int8 codes, channel scales, static input and output scales, and -128 refused") {
  auto write = [](const std::string& name, int8_t first) {
    return WriteCheckpoint(name, OneGroup(Scheme(8), /*activations=*/true, "int-quantized"),
                           {{kModule + ".weight", Entry("I8", {2, 3}, std::vector<int8_t>{first, -1, 127, 0, 64, -64})},
                            {kModule + ".weight_scale", Entry("F32", {2, 1}, std::vector<float>{0.25f, 0.5f})},
                            {kModule + ".input_scale", Entry("F32", {}, std::vector<float>{0.125f})},
                            {kModule + ".output_scale", Entry("F32", {}, std::vector<float>{0.25f})}});
  };
  const Status s = ImportError(write("ct-8bit-min", -128), Module(2, 3));
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find(kModule) != std::string::npos);
  CHECK(s.message().find("1 of its 8-bit codes") != std::string::npos);
  CHECK(s.message().find("-128") != std::string::npos);

  const ImportedModule m = RequireImport(write("ct-8bit", -127), Module(2, 3));
  CHECK(m.spec.dtype == DType::I8);
  CHECK(m.codes == std::vector<int>{-127, -1, 127, 0, 64, -64});
  CHECK(m.scales == std::vector<float>{0.25f, 0.5f});
  CHECK(m.spec.activation == ActivationQuant::StaticInt8Full);
  CHECK(m.spec.input_scale == 0.125f);
  CHECK(m.spec.output_scale == 0.25f);
}

TEST_CASE("TFLite INT4/INT2 vectors: the .edgelm bytes of CT codes") {
  struct Case { int bits; uint32_t word; std::vector<int> codes; uint8_t first_byte, second_byte; };
  // INT4 {0x12,0x34} = {2,1,4,3}; INT2 0x12 = {-2,0,1,0}; the packer's {0,1,0,2} = 0x84 (raw 2 is -2).
  // The CT words hold the same codes offset by 2^(bits-1).
  for (const Case& c : {Case{4, 0xBC9Au, {2, 1, 4, 3}, 0x12, 0x34}, Case{2, 0xB8u, {-2, 0, 1, 0}, 0x12, 0},
                        Case{2, 0x2Eu, {0, 1, 0, -2}, 0x84, 0}}) {
    const std::string dir = WriteCheckpoint("ct-tflite-" + std::to_string(c.word), OneGroup(Scheme(c.bits)),
                                            {{kModule + ".weight_packed", Words(1, {c.word})},
                                             {kModule + ".weight_shape", LogicalShape(1, 4)},
                                             {kModule + ".weight_scale", Bf16({1}, {0x3F80})}});
    const ImportedModule m = RequireImport(dir, Module(1, 4));
    CHECK(m.codes == c.codes);
    CHECK(m.data[0] == c.first_byte);
    if (c.bits == 4) CHECK(m.data[1] == c.second_byte);
  }
}

// A valid 2-bit module [1,16] under `config`, with `extra` tensors added or replaced.
std::string TwoBitCheckpoint(const std::string& name, const json& config, const StFile& extra = {}) {
  StFile tensors = {{kModule + ".weight_packed", Words(1, {0xE4E4E4E4u})},
                    {kModule + ".weight_shape", LogicalShape(1, 16)},
                    {kModule + ".weight_scale", Bf16({1, 1}, {0x3F00})}};
  for (const auto& kv : extra) tensors[kv.first] = kv.second;
  return WriteCheckpoint(name, config, tensors);
}

TEST_CASE("target precedence: exact name over regex over class name, a tie is an error") {
  const json two_bit = {{"targets", {"re:.*down_proj$"}}, {"weights", Scheme(2)}};
  const json four_bit_exact = {{"targets", {kModule}}, {"weights", Scheme(4)}};
  const json eight_bit_class = {{"targets", {"Linear"}}, {"weights", Scheme(8)}};
  // The regex group (2-bit) wins over the class; the exact group would need 4-bit words.
  CHECK(RequireImport(TwoBitCheckpoint("ct-regex-over-class", QuantConfig({{"a", two_bit}, {"b", eight_bit_class}})),
                      Module(1, 16)).spec.dtype == DType::I2);
  const Status exact = ImportError(TwoBitCheckpoint("ct-exact-over-regex", QuantConfig({{"a", two_bit}, {"b", four_bit_exact}})),
                                   Module(1, 16));
  CHECK(exact.message().find("group 'b'") != std::string::npos);  // judged as 4-bit: wrong word count
  CHECK(exact.message().find("weight_packed") != std::string::npos);
  const Status tie = ImportError(TwoBitCheckpoint("ct-tie", QuantConfig({{"a", two_bit}, {"b", two_bit}})), Module(1, 16));
  CHECK(tie.code() == StatusCode::kInvalidArgument);
  CHECK(tie.message().find("matches config groups 'a' and 'b'") != std::string::npos);
  const json two_bit_exact = {{"targets", {kModule}}, {"weights", Scheme(2)}};
  CHECK(RequireImport(TwoBitCheckpoint("ct-tie-settled", QuantConfig({{"a", two_bit}, {"b", two_bit}, {"c", two_bit_exact}})),
                      Module(1, 16)).spec.dtype == DType::I2);
  // Regexes are anchored at the start only (re.match): "re:layers" does not match "model.language_model.layers...".
  const json unanchored = {{"targets", {"re:layers\\.0"}}, {"weights", Scheme(2)}};
  const Status none = ImportError(TwoBitCheckpoint("ct-anchored", QuantConfig({{"a", unanchored}})), Module(1, 16));
  CHECK(none.message().find("matches no config group") != std::string::npos);
  // ignore wins over every group.
  json ignored = QuantConfig({{"a", two_bit}});
  ignored["quantization_config"]["ignore"] = {kModule};
  CHECK(ImportError(TwoBitCheckpoint("ct-ignored", ignored), Module(1, 16)).message().find("matches no config group") !=
        std::string::npos);
}

TEST_CASE("unsupported schemes and tensors are refused with the group or module named") {
  struct Bad { const char* what; std::function<void(json&)> edit; StFile extra; const char* expect; };
  const std::vector<Bad> cases = {
      {"no groups", [](json& c) { c["quantization_config"].erase("config_groups"); }, {}, "no config_groups"},
      {"3-bit", [](json& c) { c["quantization_config"]["config_groups"]["group_0"]["weights"]["num_bits"] = 3; }, {}, "num_bits 3"},
      {"asymmetric", [](json& c) { c["quantization_config"]["config_groups"]["group_0"]["weights"]["symmetric"] = false; }, {},
       "asymmetric"},
      {"actorder", [](json& c) { c["quantization_config"]["config_groups"]["group_0"]["weights"]["actorder"] = "group"; }, {},
       "actorder"},
      {"dynamic activations",
       [](json& c) {
         json a = StaticActivations();
         a["dynamic"] = true;
         c["quantization_config"]["config_groups"]["group_0"]["input_activations"] = a;
       },
       {}, "input_activations: dynamic"},
      {"kv cache scheme", [](json& c) { c["quantization_config"]["kv_cache_scheme"] = StaticActivations(); }, {}, "kv_cache_scheme"},
      {"bad regex", [](json& c) { c["quantization_config"]["config_groups"]["group_0"]["targets"] = {"re:("}; }, {}, "bad regex"},
      {"g_idx", [](json&) {}, {{kModule + ".weight_g_idx", Entry("I32", {16}, std::vector<int32_t>(16, 0))}}, "weight_g_idx"},
      {"zero point", [](json&) {}, {{kModule + ".weight_zero_point", Entry("I8", {1, 1}, std::vector<int8_t>{1})}},
       "weight_zero_point"},
      {"wrong weight_shape", [](json&) {}, {{kModule + ".weight_shape", LogicalShape(1, 15)}}, "weight_shape [1,15]"},
      {"zero scale", [](json&) {}, {{kModule + ".weight_scale", Bf16({1, 1}, {0x0000})}}, "weight_scale[0] = 0"},
      {"NaN scale", [](json&) {}, {{kModule + ".weight_scale", Bf16({1, 1}, {0x7FC0})}}, "weight_scale[0] = nan"},
      {"scale shape", [](json&) {}, {{kModule + ".weight_scale", Bf16({2, 1}, {0x3F80, 0x3F80})}}, "weight_scale must be"},
      {"stray input scale", [](json&) {}, {{kModule + ".input_scale", Entry("F32", {1}, std::vector<float>{0.5f})}},
       "input_scale is stored"},
  };
  for (const Bad& b : cases) {
    INFO(b.what);
    json config = OneGroup(Scheme(2));
    b.edit(config);
    const Status s = ImportError(TwoBitCheckpoint(std::string("ct-bad-") + b.what, config, b.extra), Module(1, 16));
    INFO(s.message());
    CHECK(!s.ok());
    CHECK(s.message().find(b.expect) != std::string::npos);
  }
}

// --- brown-tiny: the CT checkpoint against the QAT export it was made from --------------------------

std::string ConvertCt(const std::string& input, Status* status) {
  ConvertOptions o;
  o.input = input;
  o.output = testing::TempDir() + "/" + std::filesystem::path(input).filename().string() + ".edgelm";
  *status = Convert(o, nullptr);
  return o.output;
}

TEST_CASE("brown-tiny CT: every code is the QAT export's, scales are its bf16-rounded fp32, the model runs") {
  Status s;
  const std::string path = ConvertCt(SharedPath(kCtDir), &s);
  INFO(s.message());
  REQUIRE(s.ok());
  const std::shared_ptr<const ModelFile> file = testing::OpenFile(path, &s);
  REQUIRE(s.ok());
  const ModelConfig& config = file->config();
  CHECK(config.tie_word_embeddings);
  CHECK(config.ple_projection_scale == 1.0f);  // the bundle's graph (ct_import.cc)
  CHECK(config.final_logit_softcap == 30.0f);
  for (const LayerConfig& l : config.layers) CHECK((l.kv_k_scale == 0.0f && l.kv_v_scale == 0.0f));
  CHECK(file->recipe() == "compressed-tensors");
  REQUIRE(file->tokenizer() != nullptr);

  std::unique_ptr<SafetensorsCheckpoint> qat, ct;
  REQUIRE(SafetensorsCheckpoint::Open(SharedPath(kQatDir), &qat).ok());
  REQUIRE(SafetensorsCheckpoint::Open(SharedPath(kCtDir), &ct).ok());
  int quantized = 0, static_inputs = 0;
  for (const TensorInfo& info : Gemma4TensorManifest(config)) {
    INFO(info.name);
    const TensorView* t = file->FindTensor(info.name);
    REQUIRE(t != nullptr);
    const std::string module = info.name.substr(0, info.name.rfind(".weight"));
    const StTensor* codes = qat->Find("model." + module + ".qweight");
    if (!codes) {  // norms and layer scalars: the exact fp32 values
      const StTensor* ref = qat->Find("model." + info.name);
      REQUIRE(ref != nullptr);
      REQUIRE(t->dtype == DType::F32);
      CHECK(std::memcmp(t->data, ref->data, ref->size) == 0);
      continue;
    }
    ++quantized;
    REQUIRE(codes->shape == t->shape);
    uint64_t row_bytes = 0;
    REQUIRE(RowBytes(t->dtype, t->cols(), &row_bytes).ok());
    int64_t mismatches = 0;
    for (int64_t r = 0; r < t->rows(); ++r)
      for (int64_t c = 0; c < t->cols(); ++c)
        mismatches += CodeAt(t->dtype, t->data + r * row_bytes, c) != static_cast<int8_t>(codes->data[r * t->cols() + c]);
    CHECK(mismatches == 0);
    const StTensor* scales = qat->Find("model." + module + ".scale");
    int64_t scale_mismatches = 0;
    for (int64_t r = 0; r < t->rows(); ++r)
      for (int64_t g = 0; g < t->scales_per_row(); ++g)
        scale_mismatches += t->scales[r * t->scales_per_row() + g] != BF16ToFloat(FloatToBF16(scales->Get(r)));
    CHECK(scale_mismatches == 0);
    if (const StTensor* in = qat->Find("model." + module + ".input_scale")) {
      ++static_inputs;
      CHECK(t->activation == ActivationQuant::StaticInt8Full);
      CHECK(t->input_scale == in->Get(0));
      CHECK(t->output_scale == ct->Find("model.language_model." + module + ".output_scale")->Get(0));
      CHECK(t->output_scale > 0.0f);
    } else {
      CHECK(t->activation == (info.role == TensorRole::kEmbedding ? ActivationQuant::DynamicInt8Asymmetric
                                                                  : ActivationQuant::None));
    }
  }
  CHECK(quantized == 67);      // 53 int8 + 12 int2 + the two int4 tables
  CHECK(static_inputs == 65);  // every linear but the (tied) head
  CHECK(file->FindTensor("embed_tokens_per_layer.weight")->scale_group_size == config.ple_dim);
  CHECK(file->FindTensor("layers.4.mlp.up_proj.weight")->dtype == DType::I2);

  std::unique_ptr<LoadedModel> model = testing::LoadModel(path, &s);
  INFO(s.message());
  REQUIRE(s.ok());
  SessionOptions o;
  o.context_length = 16;
  std::unique_ptr<Session> session;
  REQUIRE(Session::Create(model->model(), nullptr, nullptr, o, &session).ok());
  const std::vector<int> tokens = {2, 266, 462, 2173, 4035};
  REQUIRE(session->AppendTokens(tokens.data(), tokens.size()).ok());
  std::vector<float> logits;
  REQUIRE(testing::EvaluateAll(*session, config.vocab_size, &logits).ok());
  int64_t non_finite = 0;
  for (float v : logits) non_finite += !std::isfinite(v);
  CHECK(non_finite == 0);
}

TEST_CASE("brown-tiny CT runs LiteRT's CT semantics; its codes are the .litertlm bundle's") {
  Status s;
  const std::string ct_path = ConvertCt(SharedPath(kCtDir), &s);
  REQUIRE(s.ok());
  std::unique_ptr<LoadedModel> model = testing::LoadModel(ct_path, &s);
  INFO(s.message());
  REQUIRE(s.ok());

  // Logits against the reference of the CT checkpoint (bf16 scales, float KV, float head): CT has no KV
  // scales, so a float KV cache; our head takes per-token asymmetric int8 inputs where LiteRT's CT path
  // keeps them float (0.007 mean |Δ| on the bundle's reference). Measured: 0.021 mean |Δ|, 63/64 argmax.
  const std::string ref = SharedPath("models/brown-tiny/published/reference/");
  NpyArray ids, expected;
  REQUIRE(ReadNpy(ref + "ids_seq64.npy", &ids).ok());
  REQUIRE(ReadNpy(ref + "ct_logits_seq64.npy", &expected).ok());
  SessionOptions so;
  so.context_length = 64;
  so.prefill_chunk = 64;
  so.kv_type = KvType::kF32;
  std::unique_ptr<Session> session;
  REQUIRE(Session::Create(model->model(), nullptr, nullptr, so, &session).ok());
  const std::vector<int> tokens(ids.ints.begin(), ids.ints.end());
  REQUIRE(session->AppendTokens(tokens.data(), tokens.size()).ok());
  std::vector<float> logits;
  REQUIRE(testing::EvaluateAll(*session, model->config().vocab_size, &logits).ok());
  REQUIRE(logits.size() == expected.floats.size());
  const testing::LogitComparison c =
      testing::CompareLogits(logits, expected.floats, static_cast<size_t>(model->config().vocab_size));
  INFO("CT seq64: mean |Δ| " << c.mean_abs << ", argmax " << c.argmax_agree << "/64");
  CHECK(c.mean_abs <= 0.03);
  CHECK(c.argmax_agree >= 62);

  // The same QAT run published twice: every tensor both files hold has the same integer codes.
  ConvertOptions o;
  o.input = SharedPath("models/brown-tiny/published/brown-tiny-mobile.litertlm");
  o.hf_config = SharedPath("models/brown-tiny/float/config.json");
  o.output = testing::TempDir() + "/brown-tiny-bundle-for-ct.edgelm";
  REQUIRE(Convert(o, nullptr).ok());
  const std::shared_ptr<const ModelFile> bundle = testing::OpenFile(o.output, &s);
  REQUIRE(s.ok());
  size_t compared = 0;
  for (const TensorView& t : model->file().tensors()) {
    if (t.dtype != DType::I8 && t.dtype != DType::I4 && t.dtype != DType::I2) continue;
    const TensorView* u = bundle->FindTensor(t.name);
    REQUIRE(u);
    INFO(t.name);
    CHECK(u->dtype == t.dtype);
    CHECK(u->shape == t.shape);
    CHECK(u->size == t.size);
    CHECK(std::memcmp(u->data, t.data, std::min(u->size, t.size)) == 0);
    ++compared;
  }
  CHECK(compared == 67);  // 65 static linears, the token table and the PLE table
}

// Copies brown-tiny's CT checkpoint with its config and tensors edited, converts it, returns the status
// (and the output path).
Status ConvertEdited(const std::string& name, const std::function<void(json&)>& edit_config,
                     const std::function<void(StFile&)>& edit_tensors, std::string* output = nullptr) {
  const std::string src = SharedPath(kCtDir);
  json config = ReadJson(src + "/config.json");
  edit_config(config);
  StFile tensors = ReadSafetensors(src + "/model.safetensors");
  edit_tensors(tensors);
  const std::string dir = WriteCheckpoint(name, config, tensors);
  std::filesystem::copy_file(src + "/tokenizer.json", dir + "/tokenizer.json", std::filesystem::copy_options::overwrite_existing);
  Status s;
  const std::string path = ConvertCt(dir, &s);
  if (output) *output = path;
  return s;
}

TEST_CASE("brown-tiny CT with a stored lm_head: an untied head with per-token inputs, a plain gathered table") {
  const std::string p = "model.language_model.embed_tokens";
  std::string path;
  const Status s = ConvertEdited(
      "brown-ct-lm-head",
      [](json& c) { c["quantization_config"]["config_groups"]["group_2"]["targets"].push_back("lm_head"); },
      [&](StFile& t) {
        for (const char* suffix : {".weight_packed", ".weight_scale", ".weight_shape"}) t[std::string("lm_head") + suffix] = t[p + suffix];
      },
      &path);
  INFO(s.message());
  REQUIRE(s.ok());
  Status open;
  const std::shared_ptr<const ModelFile> file = testing::OpenFile(path, &open);
  REQUIRE(open.ok());
  CHECK(!file->config().tie_word_embeddings);
  const TensorView* head = file->FindTensor("lm_head.weight");
  const TensorView* embed = file->FindTensor("embed_tokens.weight");
  REQUIRE((head && embed));
  CHECK(head->activation == ActivationQuant::DynamicInt8Asymmetric);
  CHECK(embed->activation == ActivationQuant::None);
  CHECK((head->size == embed->size && std::memcmp(head->data, embed->data, head->size) == 0));
  std::unique_ptr<LoadedModel> model = testing::LoadModel(path, &open);
  INFO(open.message());
  CHECK(open.ok());
}

void SetBf16(StEntry& e, size_t index, uint16_t bits) { std::memcpy(e.bytes.data() + 2 * index, &bits, 2); }

TEST_CASE("brown-tiny CT edited into bad checkpoints: refused, naming the module and the problem") {
  const std::string p = "model.language_model.";
  auto keep_config = [](json&) {};
  auto keep_tensors = [](StFile&) {};
  auto groups = [](json& c) -> json& { return c["quantization_config"]["config_groups"]; };
  struct Bad { const char* what; std::function<void(json&)> config; std::function<void(StFile&)> tensors; std::vector<std::string> expect; };
  const std::vector<Bad> cases = {
      {"no-groups", [](json& c) { c["quantization_config"].erase("config_groups"); }, keep_tensors, {"no config_groups"}},
      {"unmatched", [&](json& c) { groups(c)["group_1"]["targets"] = {"re:.*\\.layers\\.(4|5|6)\\.mlp\\.(gate|up|down)_proj$"}; },
       keep_tensors, {p + "layers.7.mlp.gate_proj", "matches no config group"}},
      {"two-groups", [&](json& c) { groups(c)["group_1"]["targets"].push_back("re:.*\\.layers\\.0\\.self_attn\\.q_proj$"); },
       keep_tensors, {p + "layers.0.self_attn.q_proj", "'group_0' and 'group_1'"}},
      {"missing", keep_config, [&](StFile& t) { t.erase(p + "layers.2.self_attn.o_proj.weight"); },
       {p + "layers.2.self_attn.o_proj", "weight is missing"}},
      {"weight-shape", keep_config,
       [&](StFile& t) { t[p + "layers.5.mlp.down_proj.weight_shape"] = LogicalShape(256, 1023); },
       {p + "layers.5.mlp.down_proj", "weight_shape [256,1023]"}},
      {"zero-scale", keep_config, [&](StFile& t) { SetBf16(t[p + "layers.0.self_attn.q_proj.weight_scale"], 3, 0x0000); },
       {p + "layers.0.self_attn.q_proj", "weight_scale[3] = 0"}},
      {"nan-scale", keep_config, [&](StFile& t) { SetBf16(t[p + "embed_tokens_per_layer.weight_scale"], 17, 0x7FC0); },
       {p + "embed_tokens_per_layer", "weight_scale[17] = nan"}},
      {"int8-min", keep_config,
       [&](StFile& t) {
         StEntry& w = t[p + "layers.1.mlp.up_proj.weight"];
         w.bytes[5] = w.bytes[700] = 0x80;
       },
       {p + "layers.1.mlp.up_proj", "2 of its 8-bit codes", "-128"}},
      {"norm-dtype", keep_config,
       [&](StFile& t) { t[p + "norm.weight"] = Entry("I32", {256}, std::vector<int32_t>(256, 1)); },
       {p + "norm.weight", "not a float tensor"}},
  };
  for (const Bad& b : cases) {
    INFO(b.what);
    const Status s = ConvertEdited(std::string("brown-ct-") + b.what, b.config, b.tensors);
    INFO(s.message());
    CHECK(!s.ok());
    for (const std::string& e : b.expect) CHECK(s.message().find(e) != std::string::npos);
  }

  // A truncated safetensors file.
  const std::string dir = testing::TempDir() + "/brown-ct-truncated";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(SharedPath(kCtDir) + "/config.json", dir + "/config.json",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(SharedPath(kCtDir) + "/model.safetensors", dir + "/model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(dir + "/model.safetensors", 3000000);
  Status s;
  ConvertCt(dir, &s);
  INFO(s.message());
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("model.safetensors") != std::string::npos);
}

}  // namespace
}  // namespace edgelm
